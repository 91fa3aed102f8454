"""Runs fused RL steps on one 8-device mesh, from one process or from several (see
test_multiprocess.py); writes the metrics and the final params to an .npz file.

    # one process, 8 fake CPU devices
    XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m tests.parallel.multiprocess_step \\
        --out=single.npz
    # two processes of 4 fake CPU devices each, one mesh over all 8
    XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m tests.parallel.multiprocess_step \\
        --num_processes=2 --process_id=0 --port=PORT --out=p0.npz   # and process_id=1

With --num_processes > 1 the process joins jax.distributed (coordinator
127.0.0.1:PORT) with CPU cross-process collectives over gloo
(`jax_cpu_collectives_implementation`, gloo is the default on jax 0.10 and
later; it is set explicitly). Every process builds the same host rollout and
places its own shards of it with `jax.make_array_from_callback`; params and
optimizer state are initialised directly into their global shardings. Final
params are gathered to every process with `multihost_utils.process_allgather`.
"""

import argparse
import sys
import traceback

import jax

from tests.rl import sharded_step as helpers

MESH = {"data": 2, "fsdp": 2, "tensor": 2}
NUM_STEPS = 2
BATCH, LENGTH = 8, 20


def parse_args():
  parser = argparse.ArgumentParser()
  parser.add_argument("--num_processes", type=int, default=1)
  parser.add_argument("--process_id", type=int, default=0)
  parser.add_argument("--port", type=int, default=0)
  parser.add_argument("--out", required=True)
  return parser.parse_args()


def initialize(args):
  if args.num_processes == 1:
    return
  try:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  except AttributeError:  # an older jax without the option (gloo needs no switch there)
    jax.config.update("jax_cpu_enable_gloo_collectives", True)
  jax.distributed.initialize(coordinator_address=f"127.0.0.1:{args.port}",
                             num_processes=args.num_processes, process_id=args.process_id,
                             initialization_timeout=120)


def global_array(host, sharding):
  """A global jax.Array from the same host array on every process: each places its own shards."""
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def run(args):
  import jax.numpy as jnp
  import numpy as np
  from jax.experimental import multihost_utils

  from afjax.parallel import mesh as mesh_lib
  from afjax.rl import step as step_lib
  from afjax.training import optim, state as state_lib

  assert jax.process_count() == args.num_processes and jax.device_count() == 8, (
      jax.process_count(), jax.device_count())
  cfg = helpers.model_config()
  rules = mesh_lib.DEFAULT_RULES
  # The host rollouts: built by every process on one of its own devices (same seeds, same values).
  local_mesh = mesh_lib.make_mesh({"data": 1}, jax.local_devices()[:1])
  model, local_params = helpers.init_policy(cfg, local_mesh, rules)
  rollouts = [helpers.make_rollout(model, local_params, BATCH, LENGTH, seed=10 + i)[0]
              for i in range(NUM_STEPS)]

  mesh = mesh_lib.make_mesh(MESH, jax.devices())
  _, params = helpers.init_policy(cfg, mesh, rules)
  ref_params = jax.tree.map(jnp.copy, params)  # the state's params are donated
  score, monitor_params = helpers.init_monitor(cfg, "scratchpad", mesh, rules, seed=3)
  tx = optim.make_optimizer(helpers.optimizer_config(), NUM_STEPS)
  state = state_lib.create_train_state(params, tx, seed=0, mesh=mesh)
  rl_cfg = step_lib.RLStepConfig(advantage="grpo", group_size=4, shaping="process_supervision",
                                 shaping_coef=0.5, kl_coef=0.05, clip_eps_high=0.28)
  step = step_lib.make_rl_step(model, {"scratchpad": score}, tx, rl_cfg,
                               state_lib.state_shardings(state, tx, mesh), mesh, rules)
  shardings = step_lib.rollout_shardings(mesh)
  keys = ("loss", "grad_norm", "monitor_scratchpad_p_mean", "entropy", "advantage_std")
  out = {key: [] for key in keys}
  for arrays in rollouts:
    rollout = step_lib.Rollout(**{k: global_array(v, getattr(shardings, k))
                                  for k, v in arrays.items()})
    state, metrics = step(state, rollout, ref_params, {"scratchpad": monitor_params})
    for key in keys:  # metrics are replicated: every process can read them
      out[key].append(float(metrics[key]))
  gathered = multihost_utils.process_allgather(state.params, tiled=True)
  flat = {jax.tree_util.keystr(path): np.asarray(leaf)
          for path, leaf in jax.tree_util.tree_leaves_with_path(gathered)}
  step_count = int(state.step)  # replicated
  if jax.process_index() == 0:
    np.savez(args.out, step=step_count,
             process_count=jax.process_count(), **{f"metric:{k}": np.asarray(v) for k, v in out.items()},
             **{f"param:{k}": v for k, v in flat.items()})
  multihost_utils.sync_global_devices("done")


def main():
  args = parse_args()
  initialize(args)
  try:
    run(args)
  except BaseException:
    traceback.print_exc()  # now: a failed shutdown barrier below may end the process
    sys.stderr.flush()
    raise
  finally:
    if args.num_processes > 1:
      jax.distributed.shutdown()
  print(f"process {args.process_id} done", flush=True)


if __name__ == "__main__":
  main()
