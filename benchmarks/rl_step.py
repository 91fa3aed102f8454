"""Speed of the fused RL update step (monitor scoring, advantages, loss, gradient, optax).

    python -m benchmarks.rl_step
    python -m benchmarks.rl_step --d_model=512 --batch=64 --prompt_len=16 --new_tokens=64

For each width D in `--d_model` the policy is the decoder of
`benchmarks.common.width_config` (E = 32, H = K = D / 32,
F = 32 ceil(8 D / 3 / 32), L = `--num_layers`, V = `--vocab`; W at D = 256)
and the scratchpad monitor a randomly initialised classifier of the same
shape. The step is `afjax.rl.step.make_rl_step` with the process_supervision
arm, GRPO advantages (group `--group_size`), PPO-clip, KL 0 and AdamW
(`afjax.config.optimizer_config()`), state donated, on a random rollout of
B = `--batch` rows of T = P + N tokens (P prompt tokens ending in
<|assistant|>, N completion tokens with loss_mask 1 and old_logp the policy's
log-probs plus noise, so the PPO ratio is not 1).

Figures (median over `--repeats` steps, compile excluded):
  tokens/s         = B T / t_step
  fraction of peak = FLOPs / t_step / peak
  FLOPs            = 3 B (T - 1) fwd(T / 2)  +  B T fwd_m((T + 1) / 2)
(the policy's forward and backward over tokens[:, :-1], the monitor's
forward; fwd_m omits the unused D V output projection; see
`benchmarks.grpo_iteration`) against the matmul peak measured in the same run.
The split columns time parts of the step compiled alone: `monitor_ms` the
monitor's score, `grad_ms` the policy loss and its gradient (no optimizer).
"""

from __future__ import annotations

import argparse
import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from afjax import config as config_lib
from afjax.models import monitor as mon
from afjax.models import transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.rl import step as step_lib
from afjax.training import optim, state as state_lib
from benchmarks import common
from benchmarks import grpo_iteration as grpo

NAME = "rl_step"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{NAME}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--d_model", default="128,256,512", help="comma-separated widths")
  parser.add_argument("--num_layers", type=int, default=4)
  parser.add_argument("--vocab", type=int, default=512)
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--group_size", type=int, default=8)
  parser.add_argument("--prompt_len", type=int, default=16)
  parser.add_argument("--new_tokens", type=int, default=64)
  parser.add_argument("--dtype", default="float32", help="model compute dtype (and peak dtype)")
  parser.add_argument("--repeats", type=int, default=5, help="timed steps per model")
  parser.add_argument("--peak_n", type=int, default=2048, help="matmul size of the peak")
  parser.add_argument("--no_splits", action="store_true", help="skip the split timings")
  parser.add_argument("--seed", type=int, default=0)
  return parser.parse_args(argv)


def random_rollout(model: tfm.Transformer, params: Any, args: argparse.Namespace,
                   mesh: jax.sharding.Mesh) -> step_lib.Rollout:
  """The rollout described in the module docstring, placed on `mesh`."""
  rng = np.random.default_rng(args.seed)
  b, p, n = args.batch, args.prompt_len, args.new_tokens
  vocab = model.cfg.vocab_size
  tokens = rng.integers(20, vocab, size=(b, p + n)).astype(np.int32)  # [B, T]
  tokens[:, p - 1] = grpo.TAGS.assistant
  mask = np.ones_like(tokens, bool)
  loss_mask = np.zeros(tokens.shape, np.float32)
  loss_mask[:, p:] = 1.0
  logp, _ = jax.jit(step_lib.token_logp_and_entropy, static_argnums=0)(
      model, params, jnp.asarray(tokens), jnp.asarray(mask))
  noise = rng.normal(0.0, 0.1, tokens.shape).astype(np.float32)
  old_logp = np.where(loss_mask > 0, np.asarray(logp) + noise, 0.0).astype(np.float32)
  arrays = dict(tokens=tokens, attention_mask=mask, first_turn_mask=mask, loss_mask=loss_mask,
                old_logp=old_logp,
                rewards=rng.uniform(0, 1, b).astype(np.float32),
                scratchpad_len=np.full(b, n, np.float32), followup_no=np.zeros(b, np.float32))
  shardings = step_lib.rollout_shardings(mesh)
  return step_lib.Rollout(**{k: jax.device_put(v, getattr(shardings, k)) for k, v in arrays.items()})


def step_flops(cfg: tfm.TransformerConfig, batch: int, length: int) -> float:
  """3 B (T - 1) fwd(T / 2) + B T fwd_m((T + 1) / 2)."""
  return (3 * common.causal_forward_flops(cfg, batch, length - 1)
          + grpo.monitor_forward_flops(cfg, batch, length))


def time_rl_step(cfg: tfm.TransformerConfig, args: argparse.Namespace) -> dict[str, Any]:
  """Compile and step seconds of the fused step for `cfg`, and of its split parts."""
  mesh, rules = mesh_lib.make_mesh({"data": -1}), mesh_lib.DEFAULT_RULES
  model = tfm.Transformer(cfg)
  params = common.random_params(cfg, args.seed, mesh, rules)
  monitor_cfg = mon.MonitorConfig(cfg, mon.SCRATCHPAD_VIEW, grpo.TAGS)
  classifier = mon.MonitorClassifier(monitor_cfg)
  dummy = jnp.zeros((1, 8), jnp.int32)
  monitor_params = state_lib.init_params(
      lambda key: classifier.init(key, dummy, dummy > -1)["params"], jax.random.key(args.seed + 1),
      mesh, rules)
  score = mon.score_fn(monitor_cfg)
  rollout = random_rollout(model, params, args, mesh)
  rl_cfg = step_lib.RLStepConfig(advantage="grpo", group_size=args.group_size,
                                 shaping="process_supervision", shaping_coef=grpo.SHAPING_COEF)
  tx = optim.make_optimizer(config_lib.optimizer_config(), total_steps=1000)
  out: dict[str, Any] = {}
  if not args.no_splits:
    with mesh_lib.use_mesh(mesh, rules):
      score_jit = jax.jit(score)
      _, times = common.time_fn(score_jit, monitor_params, rollout.tokens, rollout.attention_mask,
                                repeats=args.repeats)
      out["monitor_s"] = common.median(times)
      advantages = jnp.zeros((args.batch,), jnp.float32) + 0.5
      grad = jax.jit(jax.value_and_grad(
          functools.partial(step_lib.policy_loss, model=model, cfg=rl_cfg), has_aux=True))
      _, times = common.time_fn(grad, params, None, advantages, rollout, repeats=args.repeats)
      out["grad_s"] = common.median(times)
  state = state_lib.create_train_state(params, tx, args.seed, mesh)
  step = step_lib.make_rl_step(model, {step_lib.SCRATCHPAD_MONITOR: score}, tx, rl_cfg,
                               state_lib.state_shardings(state, tx, mesh), mesh, rules)
  carry = [state]
  monitors = {step_lib.SCRATCHPAD_MONITOR: monitor_params}

  def run_step():
    carry[0], metrics = step(carry[0], rollout, None, monitors)  # the old state is donated
    return carry[0], metrics

  out["compile_s"], out["times"] = common.time_fn(run_step, repeats=args.repeats)
  return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Times the fused step of every width; prints a table and one BENCH_JSON line."""
  args = parse_args(argv)
  length = args.prompt_len + args.new_tokens
  configs = [common.width_config(int(d), args.vocab, args.num_layers, max(128, length), args.dtype)
             for d in args.d_model.split(",")]
  dtype = configs[0].compute_dtype
  peak_before = common.measure_matmul_peak(args.peak_n, dtype)
  timings = [time_rl_step(cfg, args) for cfg in configs]
  peak, spread = common.bracket_peak(peak_before, common.measure_matmul_peak(args.peak_n, dtype))
  tokens = args.batch * length
  rows = []
  for cfg, timed in zip(configs, timings):
    step_s = common.median(timed["times"])
    flops = step_flops(cfg, args.batch, length)
    row = {"d_model": cfg.d_model, "params_m": cfg.num_params() / 1e6, "step_ms": step_s * 1e3,
           "tokens_per_s": tokens / step_s, "gflop_per_step": flops / 1e9,
           "fraction_of_peak": flops / step_s / peak, "compile_s": timed["compile_s"]}
    if "monitor_s" in timed:
      row["monitor_ms"] = timed["monitor_s"] * 1e3
      row["grad_ms"] = timed["grad_s"] * 1e3
    rows.append(row)
  common.print_table(rows)
  print(f"matmul peak {peak / 1e9:.1f} GFLOP/s ({args.dtype}, n={args.peak_n}); rollout "
        f"{args.batch} x ({args.prompt_len} + {args.new_tokens}) tokens")
  return common.emit_json(NAME, {
      "config": {"num_layers": args.num_layers, "vocab": args.vocab, "batch": args.batch,
                 "group_size": args.group_size, "prompt_len": args.prompt_len,
                 "new_tokens": args.new_tokens, "dtype": args.dtype, "repeats": args.repeats,
                 "shaping": "process_supervision", "kl_coef": 0.0},
      "matmul_peak_flop_per_s": peak,
      "matmul_peak_spread": spread,
      "results": rows,
  })


if __name__ == "__main__":
  main()
