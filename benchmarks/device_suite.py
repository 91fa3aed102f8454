"""Issue 7's accelerator check in one command: the hot paths at >= 300M parameters, bfloat16.

    python -m benchmarks.device_suite --out=DIR          # on a GPU or TPU host
    python -m benchmarks.device_suite --smoke --out=DIR  # the same runs at test sizes, any host

Runs, in this order and in one process, each benchmark's `main` with the sizes
of `SUITE` (each figure against the matmul peak that benchmark measures in
the same run, at n = 8192 in bfloat16):
  1. matmul_peak: the card's peak, bfloat16 and float32, n = 4096 and 8192;
  2. sampler: Qwen2.5-0.5B's shape (494M), batch 64, 128 prompt + 128 new tokens;
  3. lm_step: Qwen2.5-0.5B's shape, 16 x 1024 tokens;
  4. rl_step: the fused RL update (process-supervision classifier of the
     policy's shape scored inside) at D 1024, L 24, V 32768 (371M params),
     64 rows of 64 + 192 tokens;
  5. grpo_iteration: one GRPO iteration (rollout, reward, monitor, update) at
     the same size, 8 prompts x 8 generations of 192 new tokens.
Not yet run on an accelerator: no device was lent to the session that wrote it.
A benchmark is started only while the elapsed time is under `--budget_s`, so
a lent machine's limited time ends with the figures already written; each
record is appended to OUT/device_suite.jsonl as soon as its benchmark ends,
and a failure is recorded there and does not stop the rest.

The printed tables and the BENCH_JSON lines are the benchmarks' own; the last
line is `DEVICE_SUITE done=<n> failed=<n> skipped=<n> elapsed_s=<x>`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
import traceback
import types
from typing import Any, Sequence

from benchmarks import common, grpo_iteration, lm_step, matmul_peak, rl_step, sampler

NAME = "device_suite"
RECORDS_FILE = "device_suite.jsonl"

_RL_SHAPE = ["--d_model=1024", "--num_layers=24", "--vocab=32768", "--dtype=bfloat16",
             "--prompt_len=64", "--new_tokens=192", "--peak_n=8192"]
# (name, benchmark module, argv at accelerator sizes, argv at test sizes)
SUITE: tuple[tuple[str, types.ModuleType, list[str], list[str]], ...] = (
    ("matmul_peak", matmul_peak,
     ["--sizes=4096,8192", "--dtypes=bfloat16,float32"],
     ["--sizes=64", "--dtypes=bfloat16,float32", "--repeats=1"]),
    ("sampler", sampler,
     ["--preset=qwen2_5_0_5b", "--dtype=bfloat16", "--batch=64", "--prompt_len=128",
      "--new_tokens=128", "--peak_n=8192"],
     ["--preset=test", "--batch=4", "--prompt_len=8", "--new_tokens=4", "--repeats=1",
      "--peak_n=64", "--bandwidth_mb=4"]),
    ("lm_step", lm_step,
     ["--preset=qwen2_5_0_5b", "--dtype=bfloat16", "--batch=16", "--seq_len=1024",
      "--peak_n=8192"],
     ["--preset=test", "--batch=2", "--seq_len=16", "--repeats=1", "--peak_n=64"]),
    ("rl_step", rl_step,
     _RL_SHAPE + ["--batch=64", "--group_size=8", "--no_splits"],
     ["--d_model=32", "--num_layers=1", "--vocab=64", "--batch=4", "--group_size=2",
      "--prompt_len=4", "--new_tokens=4", "--repeats=1", "--peak_n=64", "--no_splits"]),
    ("grpo_iteration", grpo_iteration,
     _RL_SHAPE + ["--num_prompts=8", "--group_size=8"],
     ["--d_model=32", "--num_layers=1", "--vocab=64", "--num_prompts=2", "--group_size=2",
      "--prompt_len=4", "--new_tokens=4", "--warmup=1", "--repeats=1", "--peak_n=64"]),
)
SUITE_NAMES = tuple(name for name, *_ in SUITE)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{NAME}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", required=True, help=f"directory for {RECORDS_FILE}")
  parser.add_argument("--smoke", action="store_true", help="test sizes (any host, seconds)")
  parser.add_argument("--only", default="", help=f"comma-separated subset of {SUITE_NAMES}")
  parser.add_argument("--budget_s", type=float, default=420.0,
                      help="no benchmark is started after this many seconds")
  args = parser.parse_args(argv)
  unknown = sorted(set(filter(None, args.only.split(","))) - set(SUITE_NAMES))
  if unknown:
    parser.error(f"--only: unknown {unknown}; allowed: {', '.join(SUITE_NAMES)}")
  if args.budget_s <= 0:
    parser.error(f"--budget_s={args.budget_s}; allowed: > 0")
  return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Runs the suite; returns {"done": [...], "failed": [...], "skipped": [...], "elapsed_s"}."""
  args = parse_args(argv)
  selected = set(filter(None, args.only.split(","))) or set(SUITE_NAMES)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  records = out / RECORDS_FILE
  start = time.perf_counter()
  summary: dict[str, Any] = {"done": [], "failed": [], "skipped": []}
  for name, module, full_argv, smoke_argv in SUITE:
    if name not in selected:
      continue
    elapsed = time.perf_counter() - start
    if elapsed > args.budget_s:
      summary["skipped"].append(name)
      print(f"{NAME}: {name} skipped, {elapsed:.0f} s > --budget_s={args.budget_s:.0f}", flush=True)
      continue
    bench_argv = smoke_argv if args.smoke else full_argv
    print(f"{NAME}: python -m benchmarks.{name} {' '.join(bench_argv)}", flush=True)
    began = time.perf_counter()
    try:
      record: dict[str, Any] = {"suite_status": "done", "argv": bench_argv,
                                **module.main(bench_argv)}
      summary["done"].append(name)
    except Exception as error:  # a failed benchmark is a figure too; the rest still run
      traceback.print_exc()
      record = {"benchmark": name, "suite_status": "failed", "argv": bench_argv,
                "error": f"{type(error).__name__}: {error}"[:2000],
                "machine": common.machine_info()}
      summary["failed"].append(name)
    record["suite_wall_s"] = time.perf_counter() - began
    with records.open("a") as f:
      f.write(json.dumps(record) + "\n")
  summary["elapsed_s"] = time.perf_counter() - start
  print(f"DEVICE_SUITE done={len(summary['done'])} failed={len(summary['failed'])} "
        f"skipped={len(summary['skipped'])} elapsed_s={summary['elapsed_s']:.1f}", flush=True)
  return summary


if __name__ == "__main__":
  sys.exit(1 if main()["failed"] else 0)
