"""One full GRPO iteration on workload W: rollout, reward, monitor scoring, update.

    python -m benchmarks.grpo_iteration
    python -m benchmarks.grpo_iteration --d_model=512 --group_size=16 --repeats=5

Workload W (the defaults; issue 7): a randomly initialised float32 policy
decoder with V=512, D=256, L=4, H=K=8, E=32, SwiGLU F=704 (3.48M params);
G=8 prompts of P=16 random tokens, each sampled K=8 times (B = G K = 64
completions) for exactly N=64 new tokens (temperature 1, no stop token, no
early stop); the process_supervision arm (r' = r + c log(1 - p_af)) with a
randomly initialised scratchpad monitor of the policy's shape; GRPO
advantages, PPO-clip loss, KL coefficient 0 (no reference model); one AdamW
step (`afjax.config.optimizer_config()`, clipping included).

One iteration is three compiled programs run back to back on device:
  1. rollout: `Sampler.generate` (jitted prefill + while_loop decode over a
     donated KV cache) -> tokens [B, N] and the sampler's log-probs [B, N];
  2. `assemble_rollout` (jitted): the synthetic reward and the `Rollout` of
     T = P + N tokens whose old_logp are the sampler's log-probs (no
     recomputation);
  3. the fused RL step of `afjax.rl.step.make_rl_step` (monitor scoring,
     shaping, advantages, loss, gradient, AdamW; state donated).

The synthetic reward (cheap, deterministic, on device): the share of the
completion's tokens whose id lies in the lowest quarter of the vocabulary,

    r_b = sum_t m[b, t] 1[y[b, t] < V / 4] / max(sum_t m[b, t], 1)

(y the sampled tokens, m their mask), so rewards differ within a group and
the advantages are not all zero.

FLOP count (matmuls only, see `benchmarks.common`; T = P + N):
  prefill = B P fwd((P + 1) / 2) - B (P - 1) 2 D V   (logits of the last position only)
  decode  = B N fwd(P + (N + 1) / 2)
  update  = 3 B (T - 1) fwd(T / 2)            policy forward + backward over tokens[:, :-1]
  monitor = B T fwd_m((T + 1) / 2)            monitor forward (no lm_head: its logits are unused)
with fwd(c) = 2 N_mm + 4 L H E c and fwd_m the same without the D V output
projection. For W: 6.6 + 28.2 + 103.9 + 33.7 = 172.4 GFLOP (the issue's ~140
GFLOP estimate leaves out the monitor). floor_s = FLOPs / matmul peak measured
in the same run (the model dtype, n = `--peak_n`; the larger of the peaks
before and after the timings).

Figures: the median of `--repeats` timed iterations after `--warmup` untimed
ones (the first of which, compile included, is reported as compile_s), and
the median of each phase (rollout = generate + assemble, update). The last
line printed is `GRPO_STEP median_s=<x> floor_s=<y>`.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from afjax import config as config_lib
from afjax.models import monitor as mon
from afjax.models import transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.rl import step as step_lib
from afjax.sampling import sampler as smp
from afjax.training import optim, state as state_lib
from benchmarks import common

NAME = "grpo_iteration"
# Tag ids of the monitor's view; the prompt ends with ASSISTANT, everything sampled after it is
# the watched "reasoning" region (a random policy emits no <output> tag to close it).
TAGS = mon.TagIds(assistant=5, end=6, scratchpad_open=9, scratchpad_close=10, output_open=11,
                  output_close=12, pad=0)
SHAPING_COEF = 0.5


@dataclasses.dataclass(frozen=True)
class Workload:
  """Sizes of one GRPO iteration (the defaults are workload W)."""

  d_model: int = 256
  num_layers: int = 4
  vocab: int = 512
  num_prompts: int = 8
  group_size: int = 8
  prompt_len: int = 16
  new_tokens: int = 64
  dtype: str = "float32"

  @property
  def batch(self) -> int:
    return self.num_prompts * self.group_size

  @property
  def length(self) -> int:
    return self.prompt_len + self.new_tokens

  def model_config(self) -> tfm.TransformerConfig:
    return common.width_config(self.d_model, self.vocab, self.num_layers, max(128, self.length),
                        self.dtype)


def monitor_forward_flops(cfg: tfm.TransformerConfig, batch: int, length: int) -> float:
  """B T fwd_m((T + 1) / 2): the causal forward without the D V output projection."""
  return (common.causal_forward_flops(cfg, batch, length)
          - batch * length * 2 * cfg.d_model * cfg.vocab_size)


def iteration_flops(w: Workload) -> dict[str, float]:
  """The FLOPs of each phase and their total (see the module docstring)."""
  cfg = w.model_config()
  b, p, n, t = w.batch, w.prompt_len, w.new_tokens, w.length
  flops = {
      "prefill": common.causal_forward_flops(cfg, b, p, last_logits_only=True),
      "decode": common.causal_forward_flops(cfg, b, n, start=p),
      "update": 3 * common.causal_forward_flops(cfg, b, t - 1),
      "monitor": monitor_forward_flops(cfg, b, t),
  }
  flops["total"] = sum(flops.values())
  return flops


def synthetic_reward(tokens: jax.Array, mask: jax.Array, vocab: int) -> jax.Array:
  """r_b = sum_t m[b, t] 1[y[b, t] < V / 4] / max(sum_t m[b, t], 1): [B, N] -> [B] float32."""
  hits = (tokens < vocab // 4).astype(jnp.float32) * mask  # [B, N]
  return jnp.sum(hits, axis=-1) / jnp.maximum(jnp.sum(mask, axis=-1), 1.0)


def assemble_rollout(prompt_tokens: jax.Array, prompt_mask: jax.Array, out: smp.SampleOutput,
                     vocab: int) -> step_lib.Rollout:
  """The Rollout of prompt + completion: T = P + N tokens per row.

  old_logp is the sampler's log-prob of each generated token, at its position
  (the sampler already computed it: no recomputation); loss_mask is the
  completion's mask; prompt positions hold 0.

  Args:
    prompt_tokens, prompt_mask: [B, P] left-padded prompts (int32, bool).
    out: the sampler's output for them ([B, N] arrays).
    vocab: V, for the synthetic reward.
  """
  b, p = prompt_tokens.shape
  zeros = jnp.zeros((b, p), jnp.float32)  # [B, P]
  attention = jnp.concatenate([prompt_mask, out.mask > 0], axis=1)  # [B, T]
  return step_lib.Rollout(
      tokens=jnp.concatenate([prompt_tokens, out.tokens], axis=1),  # [B, T]
      attention_mask=attention,
      first_turn_mask=attention,
      loss_mask=jnp.concatenate([zeros, out.mask], axis=1),
      old_logp=jnp.concatenate([zeros, out.logprobs], axis=1),
      rewards=synthetic_reward(out.tokens, out.mask, vocab),  # [B]
      scratchpad_len=out.lengths.astype(jnp.float32),
      followup_no=jnp.zeros((b,), jnp.float32))


def random_prompts(w: Workload, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """G random prompts ending in <|assistant|>, each repeated K times: tokens, mask [B, P]."""
  rng = np.random.default_rng(seed)
  prompts = rng.integers(20, w.vocab, size=(w.num_prompts, w.prompt_len)).astype(np.int32)
  prompts[:, -1] = TAGS.assistant
  tokens = np.repeat(prompts, w.group_size, axis=0)  # rows [g K, (g + 1) K) share prompt g
  return tokens, np.ones_like(tokens, bool)


class GRPOIteration:
  """Everything one iteration needs, built once; `run(rng)` performs one iteration."""

  def __init__(self, w: Workload, seed: int = 0, mesh: jax.sharding.Mesh | None = None,
               rules=mesh_lib.DEFAULT_RULES):
    self.w = w
    self.cfg = w.model_config()
    self.mesh = mesh or mesh_lib.make_mesh({"data": -1})
    self.rules = rules
    self.model = tfm.Transformer(self.cfg)
    params = common.random_params(self.cfg, seed, self.mesh, rules)
    self.tx = optim.make_optimizer(config_lib.optimizer_config(), total_steps=1000)
    self.state = state_lib.create_train_state(params, self.tx, seed, self.mesh)
    monitor_cfg = mon.MonitorConfig(self.cfg, mon.SCRATCHPAD_VIEW, TAGS)
    classifier = mon.MonitorClassifier(monitor_cfg)
    dummy = jnp.zeros((1, 8), jnp.int32)
    self.monitor_params = {step_lib.SCRATCHPAD_MONITOR: state_lib.init_params(
        lambda key: classifier.init(key, dummy, dummy > -1)["params"], jax.random.key(seed + 1),
        self.mesh, rules)}
    self.rl_cfg = step_lib.RLStepConfig(advantage="grpo", group_size=w.group_size,
                                        shaping="process_supervision", shaping_coef=SHAPING_COEF,
                                        loss_name="ppo_clip", kl_coef=0.0)
    self.step = step_lib.make_rl_step(
        self.model, {step_lib.SCRATCHPAD_MONITOR: mon.score_fn(monitor_cfg)}, self.tx, self.rl_cfg,
        state_lib.state_shardings(self.state, self.tx, self.mesh), self.mesh, rules)
    self.sampler = smp.Sampler(self.cfg, smp.SamplingConfig(temperature=1.0, early_stop=False))
    self.assemble = jax.jit(assemble_rollout, static_argnums=(3,),
                            out_shardings=step_lib.rollout_shardings(self.mesh))
    tokens, mask = random_prompts(w, seed)
    batch = mesh_lib.batch_sharding(self.mesh)
    self.prompt_tokens = jax.device_put(tokens, batch)
    self.prompt_mask = jax.device_put(mask, batch)

  def rollout(self, rng: jax.Array) -> step_lib.Rollout:
    with mesh_lib.use_mesh(self.mesh, self.rules):
      out = self.sampler.generate(self.state.params, self.prompt_tokens, self.prompt_mask,
                                  self.w.new_tokens, rng)
      return self.assemble(self.prompt_tokens, self.prompt_mask, out, self.w.vocab)

  def update(self, rollout: step_lib.Rollout) -> dict[str, jax.Array]:
    self.state, metrics = self.step(self.state, rollout, None, self.monitor_params)
    return metrics

  def run(self, rng: jax.Array) -> tuple[float, float, dict[str, jax.Array]]:
    """One iteration: (rollout seconds, update seconds, metrics), each phase blocked on."""
    start = time.perf_counter()
    rollout = common.block(self.rollout(rng))
    mid = time.perf_counter()
    metrics = common.block(self.update(rollout))
    return mid - start, time.perf_counter() - mid, metrics


def time_iterations(it: GRPOIteration, warmup: int, repeats: int, seed: int) -> dict[str, Any]:
  """Compile seconds (the first iteration) and per-iteration phase seconds."""
  keys = iter(jax.random.split(jax.random.key(seed + 7), warmup + repeats))
  first = it.run(next(keys))
  for _ in range(warmup - 1):
    it.run(next(keys))
  rollout_s, update_s = [], []
  metrics = None
  for _ in range(repeats):
    r, u, metrics = it.run(next(keys))
    rollout_s.append(r)
    update_s.append(u)
  return {"compile_s": first[0] + first[1], "rollout_s": rollout_s, "update_s": update_s,
          "total_s": [r + u for r, u in zip(rollout_s, update_s)],
          "metrics": {k: float(v) for k, v in jax.device_get(metrics).items()}}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{NAME}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  w = Workload()
  parser.add_argument("--d_model", type=int, default=w.d_model)
  parser.add_argument("--num_layers", type=int, default=w.num_layers)
  parser.add_argument("--vocab", type=int, default=w.vocab)
  parser.add_argument("--num_prompts", type=int, default=w.num_prompts)
  parser.add_argument("--group_size", type=int, default=w.group_size)
  parser.add_argument("--prompt_len", type=int, default=w.prompt_len)
  parser.add_argument("--new_tokens", type=int, default=w.new_tokens)
  parser.add_argument("--dtype", default=w.dtype, help="policy/monitor compute dtype (and peak dtype)")
  parser.add_argument("--warmup", type=int, default=2, help="untimed iterations, compile included")
  parser.add_argument("--repeats", type=int, default=5, help="timed iterations (>= 5 for W)")
  parser.add_argument("--peak_n", type=int, default=2048, help="matmul size of the peak")
  parser.add_argument("--seed", type=int, default=0)
  return parser.parse_args(argv)


def workload_from_args(args: argparse.Namespace) -> Workload:
  return Workload(d_model=args.d_model, num_layers=args.num_layers, vocab=args.vocab,
                  num_prompts=args.num_prompts, group_size=args.group_size,
                  prompt_len=args.prompt_len, new_tokens=args.new_tokens, dtype=args.dtype)


def measure(w: Workload, warmup: int, repeats: int, seed: int) -> dict[str, Any]:
  """Builds and times the iteration for `w`: a row of figures (no peak ratios)."""
  it = GRPOIteration(w, seed)
  timed = time_iterations(it, warmup, repeats, seed)
  flops = iteration_flops(w)
  return {"d_model": w.d_model, "group_size": w.group_size, "batch": w.batch,
          "params_m": it.cfg.num_params() / 1e6,
          "median_s": common.median(timed["total_s"]),
          "rollout_s": common.median(timed["rollout_s"]),
          "update_s": common.median(timed["update_s"]),
          "gflop": flops["total"] / 1e9, "compile_s": timed["compile_s"],
          "times_s": timed["total_s"], "flops": flops, "metrics": timed["metrics"]}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Times the iteration; prints a table, one BENCH_JSON line and the GRPO_STEP line."""
  args = parse_args(argv)
  w = workload_from_args(args)
  dtype = w.model_config().compute_dtype
  peak_before = common.measure_matmul_peak(args.peak_n, dtype)
  row = measure(w, args.warmup, args.repeats, args.seed)
  peak, spread = common.bracket_peak(peak_before, common.measure_matmul_peak(args.peak_n, dtype))
  flops = row["flops"]
  floor_s = flops["total"] / peak
  phases = [{"phase": name, "gflop": flops[name] / 1e9, "floor_ms": flops[name] / peak * 1e3}
            for name in ("prefill", "decode", "monitor", "update", "total")]
  phases[-1]["median_ms"] = row["median_s"] * 1e3
  phases[-1]["ratio_to_floor"] = row["median_s"] / floor_s
  common.print_table(phases)
  print(f"B={w.batch} ({w.num_prompts} prompts x {w.group_size}), T={w.prompt_len}+{w.new_tokens}, "
        f"{row['params_m']:.2f}M params ({w.dtype}); rollout {row['rollout_s'] * 1e3:.0f} ms "
        f"(floor {(flops['prefill'] + flops['decode']) / peak * 1e3:.0f} ms), update "
        f"{row['update_s'] * 1e3:.0f} ms (floor {(flops['update'] + flops['monitor']) / peak * 1e3:.0f}"
        f" ms); compile {row['compile_s']:.1f} s; matmul peak {peak / 1e9:.1f} GFLOP/s "
        f"(n={args.peak_n}); times {[round(t, 3) for t in row['times_s']]}")
  record = common.emit_json(NAME, {
      "config": {**dataclasses.asdict(w), "batch": w.batch, "warmup": args.warmup,
                 "repeats": args.repeats, "num_params": int(row["params_m"] * 1e6 + 0.5),
                 "shaping": "process_supervision", "kl_coef": 0.0},
      "matmul_peak_flop_per_s": peak,
      "matmul_peak_spread": spread,
      "median_s": row["median_s"],
      "floor_s": floor_s,
      "ratio_to_floor": row["median_s"] / floor_s,
      "rollout_s": row["rollout_s"],
      "update_s": row["update_s"],
      "compile_s": row["compile_s"],
      "times_s": row["times_s"],
      "flops": flops,
      "metrics": row["metrics"],
  })
  print(f"GRPO_STEP median_s={row['median_s']:.4f} floor_s={floor_s:.4f}", flush=True)
  return record


if __name__ == "__main__":
  main()
