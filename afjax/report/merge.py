"""One report from several results.json files, e.g. written on different hosts.

    python -m afjax.report.merge --results A/results.json B/results.json --out C \
        [--monitor_eval PATH]

Each results.json lists its runs (organisms[NAME].arms[ARM].run_dirs). The
merge re-reads every listed run directory and aggregates them afresh, so the
merged means, intervals, pre-RL figures and curves are exactly those of one
report over all the runs (averaging averages would weight the hosts wrongly).
The run directories must therefore be readable at the listed paths (a shared
filesystem, or outputs copied to the same paths); a missing one is an error
naming the results.json that lists it. A run listed by several inputs is read
once; two different directories with the same (organism, arm, seed) are an
error. As in one report, the runs of an organism must share the eval settings
and the starting policy (results.build_results): studies on separate machines
merge when they used the same shared stages (organisms copied or on a shared
filesystem), not organisms each machine trained for itself, whose params
differ unless training was bit-identical. "monitors" is --monitor_eval when
given, else the inputs' common monitor figures (inputs that disagree are an
error); "config" records the inputs and their configs.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from typing import Any, Sequence

from afjax.report import pipeline
from afjax.report import results as results_lib


def listed_run_dirs(results: dict) -> list[str]:
  """The run directories of a results dict, by organism, arm and seed."""
  return [run_dir for _, entry in sorted(results["organisms"].items())
          for _, arm in sorted(entry["arms"].items()) for run_dir in arm["run_dirs"]]


def merge(results_paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
          monitor_eval: dict | None = None) -> dict[str, Any]:
  """Writes the merged report into `out_dir`; returns `pipeline.generate`'s paths.

  Args:
    results_paths: results.json files to merge.
    out_dir: the report folder.
    monitor_eval: monitor figures to embed; None takes the inputs' common ones.

  Raises:
    ValueError: an unreadable or invalid input, a listed run directory that is
      missing, or inputs whose monitor figures differ (without monitor_eval).
  """
  if not results_paths:
    raise ValueError("no results.json given to merge")
  inputs = {str(pathlib.Path(p)): results_lib.load_results(p) for p in results_paths}
  run_dirs: list[str] = []
  for path, results in inputs.items():
    for run_dir in listed_run_dirs(results):
      if not (pathlib.Path(run_dir) / results_lib.SUMMARY_FILE).is_file():
        raise ValueError(f"{path} lists run directory {run_dir}, which holds no "
                         f"{results_lib.SUMMARY_FILE}; the merge re-reads every run, so copy "
                         "the runs to the listed paths or mount them there")
      if run_dir not in run_dirs:
        run_dirs.append(run_dir)
  if monitor_eval is None:
    found = {path: r["monitors"] for path, r in inputs.items() if r["monitors"] is not None}
    distinct = {json.dumps(m, sort_keys=True) for m in found.values()}
    if len(distinct) > 1:
      raise ValueError(f"the monitor figures of {sorted(found)} differ; pass --monitor_eval to "
                       "choose one")
    monitor_eval = next(iter(found.values()), None)
  config = {"command": "afjax.report.merge", "merged_from": list(inputs),
            "configs": {path: r["config"] for path, r in inputs.items()}}
  return pipeline.generate(run_dirs, monitor_eval, out_dir, config)


def main(argv: list[str] | None = None) -> int:
  """Runs the CLI; returns the exit status (2 on bad input)."""
  parser = argparse.ArgumentParser(prog="python -m afjax.report.merge", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--results", nargs="+", required=True, metavar="RESULTS_JSON",
                      help="results.json files whose runs to merge")
  parser.add_argument("--monitor_eval", default=None, metavar="PATH",
                      help="monitor_eval.json to embed instead of the inputs' figures")
  parser.add_argument("--out", required=True, metavar="DIR", help="the merged report folder")
  args = parser.parse_args(argv)
  try:
    monitor_eval = pipeline.load_monitor_eval(args.monitor_eval) if args.monitor_eval else None
    written = merge(args.results, args.out, monitor_eval)
  except (ValueError, OSError) as err:
    print(f"afjax.report.merge: error: {err}", file=sys.stderr)
    return 2
  print(f"wrote {written['results']}, {written['report']} and {len(written['plots'])} plots")
  return 0


if __name__ == "__main__":
  sys.exit(main())
