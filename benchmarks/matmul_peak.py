"""Peak FLOP/s of a jitted square matmul, per dtype and size.

    python -m benchmarks.matmul_peak
    python -m benchmarks.matmul_peak --sizes=512,2048 --dtypes=float32 --repeats=10

An n x n by n x n matmul costs 2 n^3 FLOPs; the figure is 2 n^3 divided by
the median time of `--repeats` runs. The other benchmarks divide their FLOP
counts by this peak (float32 at n = 2048 unless told otherwise) to get a floor.
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

from benchmarks import common

NAME = "matmul_peak"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{NAME}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--sizes", default="256,512,1024,2048", help="comma-separated n")
  parser.add_argument("--dtypes", default="float32,bfloat16", help="comma-separated dtypes")
  parser.add_argument("--repeats", type=int, default=5, help="timed runs per size")
  return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Measures every (dtype, size); prints a table and one BENCH_JSON line; returns the record."""
  args = parse_args(argv)
  sizes = [int(n) for n in args.sizes.split(",")]
  dtypes = args.dtypes.split(",")
  rows = []
  for dtype in dtypes:
    for n in sizes:
      flops_per_s = common.measure_matmul_peak(n, dtype, repeats=args.repeats)
      rows.append({"dtype": dtype, "n": n, "gflop_per_s": flops_per_s / 1e9,
                   "ms": common.matmul_flops(n) / flops_per_s * 1e3})
  common.print_table(rows)
  peak = {dtype: max(r["gflop_per_s"] for r in rows if r["dtype"] == dtype) for dtype in dtypes}
  return common.emit_json(NAME, {"repeats": args.repeats, "results": rows,
                                 "peak_gflop_per_s": peak})


if __name__ == "__main__":
  main()
