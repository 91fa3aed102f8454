"""How the GRPO iteration's time grows with model width and with group size.

    python -m benchmarks.cost_growth --out=cost_growth.png
    python -m benchmarks.cost_growth --d_model=128,256,384,512 --group_size=4,8,16 --repeats=3

Two sweeps of `benchmarks.grpo_iteration` (workload W otherwise: 8 prompts
of 16 tokens, 64 new tokens, L = 4, V = 512, float32, the process_supervision
arm, one AdamW step):
  width: D in `--d_model` at group size K = 8 (B = 64);
  group: K in `--group_size` at D = 256 (B = 8 K).
Each point is the median of `--repeats` timed iterations after `--warmup`
untimed ones, with its rollout/update split and its FLOP floor
(`grpo_iteration.iteration_flops` / the matmul peak measured in the same
run, the larger of before and after). Prints a table and one BENCH_JSON line
and writes a plot of seconds against D and against K (measured and floor,
log-log) to `--out` (PNG, matplotlib's Agg backend).
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

from benchmarks import common
from benchmarks import grpo_iteration as grpo

NAME = "cost_growth"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{NAME}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--d_model", default="128,256,384,512", help="widths of the width sweep")
  parser.add_argument("--group_size", default="4,8,16", help="group sizes K of the group sweep")
  parser.add_argument("--base_d_model", type=int, default=256, help="D of the group sweep")
  parser.add_argument("--base_group_size", type=int, default=8, help="K of the width sweep")
  parser.add_argument("--num_prompts", type=int, default=8)
  parser.add_argument("--prompt_len", type=int, default=16)
  parser.add_argument("--new_tokens", type=int, default=64)
  parser.add_argument("--num_layers", type=int, default=4)
  parser.add_argument("--vocab", type=int, default=512)
  parser.add_argument("--dtype", default="float32")
  parser.add_argument("--warmup", type=int, default=1)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--peak_n", type=int, default=2048)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default="cost_growth.png", help="where the PNG plot is written")
  return parser.parse_args(argv)


def plot(rows: Sequence[dict[str, Any]], path: str) -> None:
  """Seconds per iteration against D and against K (measured and floor), log-log."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for ax, sweep, key, label in ((axes[0], "width", "d_model", "d_model (K = 8)"),
                                (axes[1], "group", "group_size", "group size K (D = 256)")):
    points = sorted((r for r in rows if r["sweep"] == sweep), key=lambda r: r[key])
    xs = [r[key] for r in points]
    for column, style, name in (("median_s", "o-", "iteration"), ("rollout_s", "s--", "rollout"),
                                ("update_s", "^--", "update"), ("floor_s", "k:", "FLOP floor")):
      ax.plot(xs, [r[column] for r in points], style, label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel(label)
    ax.set_ylabel("seconds per GRPO iteration")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
  fig.suptitle("GRPO iteration cost growth (8 prompts x K, 16 + 64 tokens, L = 4)")
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Runs both sweeps; prints a table and one BENCH_JSON line; writes the plot."""
  args = parse_args(argv)
  base = dict(num_layers=args.num_layers, vocab=args.vocab, num_prompts=args.num_prompts,
              prompt_len=args.prompt_len, new_tokens=args.new_tokens, dtype=args.dtype)
  points = [("width", grpo.Workload(d_model=int(d), group_size=args.base_group_size, **base))
            for d in args.d_model.split(",")]
  points += [("group", grpo.Workload(d_model=args.base_d_model, group_size=int(k), **base))
             for k in args.group_size.split(",")]
  dtype = points[0][1].model_config().compute_dtype
  peak_before = common.measure_matmul_peak(args.peak_n, dtype)
  measured = [(sweep, grpo.measure(w, args.warmup, args.repeats, args.seed)) for sweep, w in points]
  peak, spread = common.bracket_peak(peak_before, common.measure_matmul_peak(args.peak_n, dtype))
  rows = []
  for sweep, m in measured:
    floor_s = m["flops"]["total"] / peak
    rows.append({"sweep": sweep, "d_model": m["d_model"], "group_size": m["group_size"],
                 "batch": m["batch"], "params_m": m["params_m"], "median_s": m["median_s"],
                 "rollout_s": m["rollout_s"], "update_s": m["update_s"], "gflop": m["gflop"],
                 "floor_s": floor_s, "ratio_to_floor": m["median_s"] / floor_s,
                 "compile_s": m["compile_s"]})
  common.print_table(rows)
  plot(rows, args.out)
  print(f"matmul peak {peak / 1e9:.1f} GFLOP/s ({args.dtype}, n={args.peak_n}); plot: {args.out}")
  return common.emit_json(NAME, {"config": {**base, "warmup": args.warmup, "repeats": args.repeats},
                                 "matmul_peak_flop_per_s": peak, "matmul_peak_spread": spread,
                                 "plot": args.out, "results": rows})


if __name__ == "__main__":
  main()
