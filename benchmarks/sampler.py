"""KV-cache sampling speed: the jitted prefill and the jitted decode loop.

    python -m benchmarks.sampler
    python -m benchmarks.sampler --preset=tiny --batch=64 --prompt_len=16 --new_tokens=64

Default workload: a randomly initialised decoder with V=512, D=256, L=4,
H=K=8, E=32, F=704 (float32), batch 64, 16-token prompts, 64 new tokens,
`SamplingConfig(early_stop=False)` so that every decode step runs.

Figures (medians over `--repeats` calls, compile excluded):
  prefill tokens/s = B * P / t_prefill
  decode tokens/s  = B * N / t_decode,   ms per step = t_decode / N
and each against its FLOP floor at the matmul peak measured in the same run
(dtype of the model, n = `--peak_n`; the larger of the peaks measured before
and after the timings, see `common.bracket_peak`): floor_s = FLOPs / peak, ratio =
measured / floor (1 = matmul-bound at peak; higher is slower). With
fwd(c) = 2 * N_mm + 4 * L * H * E * c (see `benchmarks.common`):
  prefill FLOPs = B * P * fwd((P + 1) / 2) - B (P - 1) 2 D V   (logits of the last position only)
  decode FLOPs  = B * N * fwd(P + (N + 1) / 2)
A decode step also has a byte floor: it reads every matmul weight and the
whole KV cache of P + N slots (`common.decode_step_bytes`) at the read
bandwidth measured in the same run (`common.measure_read_bandwidth`, a
streaming column sum over 256 MiB): bw floor = bytes / bandwidth per step. At
batch 64 the cache is most of the bytes, and the byte floor, not the FLOP
floor, is the larger one on a CPU with ~30-50 GB/s of read bandwidth.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from afjax.models import presets, transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.sampling import sampler as smp
from benchmarks import common

NAME = "sampler"
# The default workload (see the module docstring).
DEFAULT_MODEL = dict(vocab_size=512, d_model=256, num_layers=4, num_heads=8, num_kv_heads=8,
                     head_dim=32, mlp_hidden=704)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{NAME}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--preset", default="",
                      help=f"a model preset {sorted(presets.PRESETS)}; empty: the default workload")
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--prompt_len", type=int, default=16)
  parser.add_argument("--new_tokens", type=int, default=64)
  parser.add_argument("--dtype", default="float32", help="model compute dtype (and peak dtype)")
  parser.add_argument("--repeats", type=int, default=5, help="timed calls of each function")
  parser.add_argument("--peak_n", type=int, default=2048, help="matmul size of the peak")
  parser.add_argument("--bandwidth_mb", type=int, default=256,
                      help="MiB streamed to measure the read bandwidth")
  parser.add_argument("--seed", type=int, default=0)
  return parser.parse_args(argv)


def model_config(preset: str, dtype: str, min_seq_len: int) -> tfm.TransformerConfig:
  """The preset (or the default workload) in `dtype`, long enough for `min_seq_len`."""
  fields = presets.get_preset(preset) if preset else dict(DEFAULT_MODEL)
  fields["max_seq_len"] = max(fields.get("max_seq_len", 0), min_seq_len)
  fields["dtype"] = dtype
  return tfm.TransformerConfig(**fields)


def random_prompts(rng: np.random.Generator, vocab: int, batch: int, length: int):
  """Full-length random prompts: tokens [B, P] int32, mask [B, P] bool."""
  prompts = rng.integers(0, vocab, size=(batch, length)).tolist()
  tokens, mask = smp.left_pad(prompts, length)
  return jnp.asarray(tokens), jnp.asarray(mask)


def floor_row(name: str, flops: float, seconds: float, peak: float, tokens: int) -> dict[str, Any]:
  floor_s = flops / peak
  return {"phase": name, "tokens_per_s": tokens / seconds, "ms": seconds * 1e3,
          "gflop": flops / 1e9, "floor_ms": floor_s * 1e3, "ratio_to_floor": seconds / floor_s}


def time_sampler(sampler: smp.Sampler, params: Any, tokens: jax.Array, mask: jax.Array,
                 new_tokens: int, seed: int, repeats: int) -> dict[str, Any]:
  """Compile seconds and call seconds of `sampler.prefill` and `sampler.decode`.

  Args:
    tokens, mask: [B, P] prompts.
    new_tokens: decode steps N (the cache has P + N slots).
  """
  cache_length = tokens.shape[1] + new_tokens
  rng, limit = jax.random.key(seed), jnp.int32(new_tokens)

  def prefill():
    return sampler.prefill(params, tokens, mask, cache_length=cache_length)

  prefill_compile_s, prefill_times = common.time_fn(prefill, repeats=repeats)
  cache, cache_mask, next_position, last_logits = common.block(prefill())

  def fresh_inputs():  # decode donates the cache: every call gets its own copy (untimed).
    return jax.tree.map(jnp.copy, cache), cache_mask, next_position, last_logits

  def decode(cache, cache_mask, next_position, last_logits):
    return sampler.decode(params, cache, cache_mask, next_position, last_logits, rng, limit,
                          num_steps=new_tokens)

  decode_compile_s, decode_times = common.time_fn(decode, repeats=repeats, setup=fresh_inputs)
  return {"prefill_compile_s": prefill_compile_s, "prefill_times": prefill_times,
          "decode_compile_s": decode_compile_s, "decode_times": decode_times}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Times prefill and decode; prints a table and one BENCH_JSON line; returns the record."""
  args = parse_args(argv)
  b, p, n = args.batch, args.prompt_len, args.new_tokens
  cfg = model_config(args.preset, args.dtype, p + n)
  mesh, rules = mesh_lib.make_mesh({"data": -1}), mesh_lib.DEFAULT_RULES
  params = common.random_params(cfg, args.seed, mesh, rules)
  sampler = smp.Sampler(cfg, smp.SamplingConfig(early_stop=False))
  tokens, mask = random_prompts(np.random.default_rng(args.seed), cfg.vocab_size, b, p)

  peak_before = common.measure_matmul_peak(args.peak_n, cfg.compute_dtype)
  with mesh_lib.use_mesh(mesh, rules):
    timed = time_sampler(sampler, params, tokens, mask, n, args.seed + 1, args.repeats)
  peak, spread = common.bracket_peak(
      peak_before, common.measure_matmul_peak(args.peak_n, cfg.compute_dtype))
  bandwidth = common.measure_read_bandwidth(args.bandwidth_mb)
  step_bytes = common.decode_step_bytes(cfg, b, p + n)

  prefill_s, decode_s = common.median(timed["prefill_times"]), common.median(timed["decode_times"])
  prefill = floor_row("prefill", common.causal_forward_flops(cfg, b, p, last_logits_only=True), prefill_s, peak, b * p)
  decode = floor_row("decode", common.causal_forward_flops(cfg, b, n, start=p), decode_s, peak,
                     b * n)
  decode["ms_per_step"] = decode_s / n * 1e3
  decode["mb_per_step"] = step_bytes / 1e6
  decode["bw_floor_ms_per_step"] = step_bytes / bandwidth * 1e3
  decode["ratio_to_bw_floor"] = decode["ms_per_step"] / decode["bw_floor_ms_per_step"]
  common.print_table([prefill, decode])
  print(f"model {cfg.num_params() / 1e6:.2f}M params, matmul peak {peak / 1e9:.1f} GFLOP/s "
        f"({cfg.dtype}, n={args.peak_n}), read bandwidth {bandwidth / 1e9:.1f} GB/s; compile: "
        f"prefill {timed['prefill_compile_s']:.2f} s, decode {timed['decode_compile_s']:.2f} s")
  return common.emit_json(NAME, {
      "config": {"preset": args.preset or "default", "batch": b, "prompt_len": p, "new_tokens": n,
                 "dtype": cfg.dtype, "repeats": args.repeats, "num_params": cfg.num_params(),
                 "model": {k: getattr(cfg, k) for k in DEFAULT_MODEL}},
      "matmul_peak_flop_per_s": peak,
      "matmul_peak_spread": spread,
      "prefill_tokens_per_s": prefill["tokens_per_s"],
      "prefill_ms": prefill["ms"],
      "prefill_ratio_to_floor": prefill["ratio_to_floor"],
      "decode_tokens_per_s": decode["tokens_per_s"],
      "decode_ms_per_step": decode["ms_per_step"],
      "decode_ratio_to_floor": decode["ratio_to_floor"],
      "read_bandwidth_bytes_per_s": bandwidth,
      "decode_bytes_per_step": step_bytes,
      "decode_bw_floor_ms_per_step": decode["bw_floor_ms_per_step"],
      "decode_ratio_to_bw_floor": decode["ratio_to_bw_floor"],
      "prefill_compile_s": timed["prefill_compile_s"],
      "decode_compile_s": timed["decode_compile_s"],
  })


if __name__ == "__main__":
  main()
