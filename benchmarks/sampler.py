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
(dtype of the model, n = `--peak_n`): floor_s = FLOPs / peak, ratio =
measured / floor (1 = matmul-bound at peak; higher is slower). With
fwd(c) = 2 * N_mm + 4 * L * H * E * c (see `benchmarks.common`):
  prefill FLOPs = B * P * fwd((P + 1) / 2)
  decode FLOPs  = B * N * fwd(P + (N + 1) / 2)
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
from afjax.training import state as state_lib
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


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Times prefill and decode; prints a table and one BENCH_JSON line; returns the record."""
  args = parse_args(argv)
  b, p, n = args.batch, args.prompt_len, args.new_tokens
  cfg = model_config(args.preset, args.dtype, p + n)
  mesh = mesh_lib.make_mesh({"data": -1})
  rules = mesh_lib.DEFAULT_RULES
  model = tfm.Transformer(cfg)
  dummy = jnp.zeros((1, p), jnp.int32)
  params = state_lib.init_params(lambda key: model.init(key, dummy, dummy, dummy == 0)["params"],
                                 jax.random.key(args.seed), mesh, rules)
  sampler = smp.Sampler(cfg, smp.SamplingConfig(early_stop=False))
  tokens, mask = random_prompts(np.random.default_rng(args.seed), cfg.vocab_size, b, p)
  rng, limit = jax.random.key(args.seed + 1), jnp.int32(n)

  with mesh_lib.use_mesh(mesh, rules):
    prefill = lambda: sampler.prefill(params, tokens, mask, cache_length=p + n)
    prefill_compile_s, prefill_times = common.time_fn(prefill, repeats=args.repeats)
    cache, cache_mask, next_position, last_logits = common.block(prefill())
    # decode donates the cache: every call gets a fresh copy (made untimed).
    fresh = lambda: (jax.tree.map(jnp.copy, cache), cache_mask, next_position, last_logits)
    decode = lambda c, m, pos, logits: sampler.decode(params, c, m, pos, logits, rng, limit,
                                                      num_steps=n)
    decode_compile_s, decode_times = common.time_fn(decode, repeats=args.repeats, setup=fresh)
  peak = common.measure_matmul_peak(args.peak_n, cfg.compute_dtype)

  prefill_s, decode_s = common.median(prefill_times), common.median(decode_times)
  rows = [
      floor_row("prefill", common.causal_forward_flops(cfg, b, p), prefill_s, peak, b * p),
      floor_row("decode", common.causal_forward_flops(cfg, b, n, start=p), decode_s, peak, b * n),
  ]
  rows[1]["ms_per_step"] = decode_s / n * 1e3
  common.print_table(rows)
  print(f"model {cfg.num_params() / 1e6:.2f}M params, matmul peak {peak / 1e9:.1f} GFLOP/s "
        f"({cfg.dtype}, n={args.peak_n}); compile: prefill {prefill_compile_s:.2f} s, "
        f"decode {decode_compile_s:.2f} s")
  return common.emit_json(NAME, {
      "config": {"preset": args.preset or "default", "batch": b, "prompt_len": p, "new_tokens": n,
                 "dtype": cfg.dtype, "repeats": args.repeats, "num_params": cfg.num_params(),
                 "model": {k: getattr(cfg, k) for k in DEFAULT_MODEL}},
      "matmul_peak_flop_per_s": peak,
      "prefill_tokens_per_s": rows[0]["tokens_per_s"],
      "prefill_ms": rows[0]["ms"],
      "prefill_ratio_to_floor": rows[0]["ratio_to_floor"],
      "decode_tokens_per_s": rows[1]["tokens_per_s"],
      "decode_ms_per_step": rows[1]["ms_per_step"],
      "decode_ratio_to_floor": rows[1]["ratio_to_floor"],
      "prefill_compile_s": prefill_compile_s,
      "decode_compile_s": decode_compile_s,
  })


if __name__ == "__main__":
  main()
