"""Bytes per device of params + optimizer state: FSDP over N devices against one device.

    python -m benchmarks.memory
    python -m benchmarks.memory --d_model=256,512 --devices=8

For each width D (the decoder of `benchmarks.common.width_config`;
W at D = 256) the params are initialised directly into their shardings and
the AdamW state (`afjax.config.optimizer_config()`: clipping, mu, nu, count)
is derived from them (`afjax.training.state.create_train_state`), once on a
one-device mesh and once on the mesh {"fsdp": N} of N devices. The figure is
the bytes that the most loaded device holds (`mesh.bytes_per_device`,
addressable shards, so it is what is allocated, not a formula), and

    ratio = bytes per device on N devices / bytes on one device

against the ideal 1 / N (the issue's target: <= 1.25 / N). Parameters whose
logical axes map to no mesh axis (norm scales) and the optimizer's step count
stay replicated, which is the excess over 1 / N.

On a CPU host with fewer than N devices the benchmark reruns itself in a
subprocess with XLA_FLAGS=--xla_force_host_platform_device_count=N (N fake
CPU devices), and prints that run's output.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any, Sequence

import jax

from afjax import config as config_lib
from afjax.parallel import mesh as mesh_lib
from afjax.training import optim, state as state_lib
from benchmarks import common

NAME = "memory"
CHILD_FLAG = "--in_subprocess"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{NAME}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--d_model", default="128,256,512", help="comma-separated widths")
  parser.add_argument("--num_layers", type=int, default=4)
  parser.add_argument("--vocab", type=int, default=512)
  parser.add_argument("--devices", type=int, default=8, help="N, the FSDP mesh size")
  parser.add_argument(CHILD_FLAG, action="store_true", help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def state_bytes(cfg, mesh_shape: dict[str, int], devices: Sequence[jax.Device]) -> dict[str, int]:
  """Bytes on the most loaded device of params, optimizer state and both, on `mesh_shape`."""
  mesh, rules = mesh_lib.make_mesh(mesh_shape, devices), mesh_lib.DEFAULT_RULES
  params = common.random_params(cfg, 0, mesh, rules)
  tx = optim.make_optimizer(config_lib.optimizer_config(), total_steps=1000)
  state = state_lib.create_train_state(params, tx, 0, mesh)
  return {"params": mesh_lib.bytes_per_device(state.params),
          "opt_state": mesh_lib.bytes_per_device(state.opt_state),
          "total": mesh_lib.bytes_per_device((state.params, state.opt_state))}


def measure(args: argparse.Namespace) -> dict[str, Any]:
  """The table and BENCH_JSON record, in a process that has >= N devices."""
  devices = jax.devices()
  n = args.devices
  rows = []
  for d in args.d_model.split(","):
    cfg = common.width_config(int(d), args.vocab, args.num_layers)
    one = state_bytes(cfg, {"data": 1}, devices[:1])
    fsdp = state_bytes(cfg, {"fsdp": n}, devices[:n])
    rows.append({"d_model": cfg.d_model, "params_m": cfg.num_params() / 1e6,
                 "bytes_1_device": one["total"], f"bytes_per_device_fsdp{n}": fsdp["total"],
                 "params_bytes_1": one["params"], f"params_bytes_fsdp{n}": fsdp["params"],
                 "opt_bytes_1": one["opt_state"], f"opt_bytes_fsdp{n}": fsdp["opt_state"],
                 "ratio": fsdp["total"] / one["total"], "ratio_x_n": fsdp["total"] / one["total"] * n})
  common.print_table(rows)
  print(f"FSDP mesh {{'fsdp': {n}}} on {jax.devices()[0].platform} devices; target ratio <= "
        f"1.25 / {n} = {1.25 / n:.4f}")
  return common.emit_json(NAME, {"config": {"num_layers": args.num_layers, "vocab": args.vocab,
                                            "devices": n, "optimizer": "adamw+clip"},
                                 "results": rows})


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Measures in this process if it has N devices, else in a subprocess with N fake CPU devices."""
  args = parse_args(argv)
  if args.in_subprocess or jax.device_count() >= args.devices:
    return measure(args)
  flags = os.environ.get("XLA_FLAGS", "")
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={args.devices}".strip())
  argv = list(sys.argv[1:] if argv is None else argv) + [CHILD_FLAG]
  proc = subprocess.run([sys.executable, "-m", f"benchmarks.{NAME}", *argv], capture_output=True,
                        text=True, env=env, timeout=600,
                        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  if proc.returncode:
    raise RuntimeError(f"benchmarks.{NAME} subprocess failed:\n{proc.stderr[-4000:]}")
  print(proc.stdout, end="", flush=True)
  return common.parse_json_lines(proc.stdout)[-1]


if __name__ == "__main__":
  main()
