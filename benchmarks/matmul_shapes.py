"""The decoder's projection matmuls alone, at a train or update step's shapes.

    python -m benchmarks.matmul_shapes                 # workload W's update: 64 x 80 tokens
    python -m benchmarks.matmul_shapes --preset=tiny --tokens=2432   # the world models' LM step

A step over N tokens multiplies, in every layer, the [N, D] activations by the
q, k, v, o projections and the SwiGLU gate, up and down matrices, and once by
the output projection; the backward pass adds two matmuls per projection
(dX = dY W^T and dW = X^T dY). Each of these 3 matmuls per projection is timed
alone as a jitted dot (median of `--repeats`), so the table says how fast this
CPU runs the step's own matmul shapes, against the square n = `--peak_n`
matmul peak that the other benchmarks' floors use. The sum over all of them
(x L for the layers) is what the step's matmuls cost when each runs as well as
it runs alone: a floor at these shapes, above the FLOP floor at the peak.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import jax.numpy as jnp

from afjax.models import presets, transformer as tfm
from benchmarks import common, grpo_iteration

NAME = "matmul_shapes"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  w = grpo_iteration.Workload()
  parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{NAME}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--d_model", type=int, default=w.d_model)
  parser.add_argument("--num_layers", type=int, default=w.num_layers)
  parser.add_argument("--vocab", type=int, default=w.vocab)
  parser.add_argument("--preset", default="", help="a model preset instead of W's width config")
  parser.add_argument("--tokens", type=int, default=w.batch * w.length, help="N, rows of X")
  parser.add_argument("--dtype", default="float32")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--peak_n", type=int, default=2048)
  return parser.parse_args(argv)


def model_config(args: argparse.Namespace) -> tfm.TransformerConfig:
  if args.preset:
    return tfm.TransformerConfig(**{**presets.get_preset(args.preset), "dtype": args.dtype})
  return common.width_config(args.d_model, args.vocab, args.num_layers, dtype=args.dtype)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Times every projection's three matmuls; prints a table and one BENCH_JSON line."""
  args = parse_args(argv)
  cfg = model_config(args)
  dtype = jnp.dtype(args.dtype)
  peak_before = common.measure_matmul_peak(args.peak_n, dtype)
  n_tok = args.tokens
  rows = []
  for name, d_in, d_out, count in common.projection_shapes(cfg):
    shapes = {"forward": (n_tok, d_in, d_out), "grad_input": (n_tok, d_out, d_in),
              "grad_weight": (d_in, n_tok, d_out)}
    for kind, (m, k, n) in shapes.items():
      seconds = common.time_matmul(m, k, n, dtype, args.repeats)
      rows.append({"projection": name, "matmul": kind, "shape": f"[{m},{k}]x[{k},{n}]",
                   "count": count, "ms": seconds * 1e3, "gflop_per_s": 2 * m * k * n / seconds / 1e9})
  peak, spread = common.bracket_peak(peak_before, common.measure_matmul_peak(args.peak_n, dtype))
  flops = 3 * 2 * n_tok * common.matmul_params(cfg)  # forward, grad-input, grad-weight
  alone_s = sum(r["ms"] / 1e3 * r["count"] for r in rows)
  for row in rows:
    row["fraction_of_peak"] = row["gflop_per_s"] * 1e9 / peak
  common.print_table(rows)
  summary = {"tokens": n_tok, "gflop": flops / 1e9, "matmuls_alone_s": alone_s,
             "floor_at_peak_s": flops / peak, "fraction_of_peak": flops / alone_s / peak}
  print(f"matmul peak {peak / 1e9:.1f} GFLOP/s (n={args.peak_n}, spread {spread:.1%}); "
        f"{flops / 1e9:.1f} GFLOP of projection matmuls over {n_tok} tokens take "
        f"{alone_s:.3f} s run one by one ({summary['fraction_of_peak']:.2f} of peak; "
        f"{flops / peak:.3f} s at the peak)")
  return common.emit_json(NAME, {
      "config": {"preset": args.preset or None, "d_model": cfg.d_model,
                 "num_layers": cfg.num_layers, "vocab": cfg.vocab_size, "dtype": args.dtype,
                 "repeats": args.repeats},
      "matmul_peak_flop_per_s": peak, "matmul_peak_spread": spread,
      "summary": summary, "results": rows})


if __name__ == "__main__":
  main()
