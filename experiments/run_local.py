"""Runs many `afjax.main` commands as parallel local processes.

    python -m experiments.run_local --jobs=2 spec.json
    python -m experiments.run_local --dry_run spec.json     # print, run nothing

`spec.json` is a list of runs (or {"runs": [...]}):

    [{"name": "lr3e-3", "config": "configs/lm.py", "workdir": "workdirs/lr3e-3",
      "overrides": {"optimizer.learning_rate": 0.003, "train.steps": 100}}]

Each run becomes

    python -m afjax.main --config=CONFIG --workdir=WORKDIR --config.a.b=V ...

started in the launcher's working directory (relative paths are relative to
it). At most `--jobs` run at once. A run's stdout and stderr are appended to
`WORKDIR/run.log`; after it exits 0 the launcher writes `WORKDIR/DONE`, and a
run whose workdir has `DONE` is skipped next time (delete the file to run it
again; afjax.main itself resumes from the workdir's checkpoints). A line is
printed as each run finishes; failures are listed at the end with their log
paths, and the exit status is 1 if any run failed. The runner itself is
`afjax.launch`, which the study job's parallel RL runs use too.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shlex
import sys
from typing import Any, Callable, Sequence

from afjax import launch

RUN_KEYS = ("name", "config", "workdir", "overrides")


def parse_runs(entries: Any) -> list[launch.Run]:
  """Runs from a decoded spec (a list, or a dict with "runs").

  Raises:
    ValueError naming the entry and field that is wrong.
  """
  if isinstance(entries, dict) and set(entries) == {"runs"}:
    entries = entries["runs"]
  if not isinstance(entries, list):
    raise ValueError('the spec must be a list of runs or {"runs": [...]}')
  runs = []
  for i, entry in enumerate(entries):
    if not isinstance(entry, dict):
      raise ValueError(f"run {i}: expected an object with keys {list(RUN_KEYS)}")
    unknown = sorted(set(entry) - set(RUN_KEYS))
    missing = [key for key in RUN_KEYS[:3] if key not in entry]
    if unknown or missing:
      raise ValueError(f"run {i} ({entry.get('name', '?')}): unknown keys {unknown}, "
                       f"missing keys {missing}; allowed: {list(RUN_KEYS)}")
    overrides = entry.get("overrides") or {}
    if not isinstance(overrides, dict):
      raise ValueError(f"run {entry['name']}: overrides must be an object {{\"a.b\": value}}")
    runs.append(launch.Run(str(entry["name"]), str(entry["config"]), str(entry["workdir"]),
                    dict(overrides)))
  for key in ("name", "workdir"):
    values = [os.path.abspath(getattr(r, key)) if key == "workdir" else r.name for r in runs]
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
      raise ValueError(f"runs share a {key}: {duplicates}; each run needs its own")
  return runs


def load_spec(path: str | os.PathLike) -> list[launch.Run]:
  """The runs listed in the JSON file at `path`."""
  return parse_runs(json.loads(pathlib.Path(path).read_text()))


def progress_printer(total: int) -> Callable[[launch.RunResult], None]:
  """A callback printing `[k/total] STATUS name (...)` per finished run."""
  count = [0]

  def report(result: launch.RunResult) -> None:
    count[0] += 1
    head = f"[{count[0]}/{total}] {result.status.upper():7s} {result.run.name}"
    if result.status == launch.SKIPPED:
      print(f"{head} ({launch.DONE_NAME} in {result.run.workdir})", flush=True)
    else:
      print(f"{head} (exit {result.returncode}, {result.seconds:.1f} s) log: {result.log_path}",
            flush=True)

  return report


def summarize(results: Sequence[launch.RunResult]) -> int:
  """Prints the totals and each failure with its log; returns the exit status."""
  counts = {status: sum(r.status == status for r in results) for status in (launch.OK, launch.SKIPPED, launch.FAILED)}
  print(f"{counts[launch.OK]} ok, {counts[launch.SKIPPED]} skipped, {counts[launch.FAILED]} failed", flush=True)
  for result in results:
    if result.status == launch.FAILED:
      print(f"FAILED {result.run.name}: exit {result.returncode}, log {result.log_path}\n"
            f"  last line: {launch.last_line(result.log_path)}", flush=True)
  return 1 if counts[launch.FAILED] else 0


def dry_run(runs: Sequence[launch.Run]) -> None:
  """Prints what would run (and what would be skipped), running nothing."""
  for run in runs:
    state = f"skip ({launch.DONE_NAME})" if launch.is_done(run) else "run"
    print(f"{state:11s} {run.name}: {shlex.join(run.command())} > {run.log_path}", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog="python -m experiments.run_local", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("spec", help="JSON file listing the runs")
  parser.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
  parser.add_argument("--dry_run", action="store_true", help="print the commands, run nothing")
  return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
  args = parse_args(argv)
  try:
    runs = load_spec(args.spec)
  except (OSError, ValueError) as err:
    print(f"run_local: bad spec {args.spec}: {err}", file=sys.stderr)
    return 2
  if args.jobs < 1:
    print(f"run_local: --jobs={args.jobs}; allowed: >= 1", file=sys.stderr)
    return 2
  if args.dry_run:
    dry_run(runs)
    return 0
  return summarize(launch.run_all(runs, args.jobs, on_finish=progress_printer(len(runs))))


if __name__ == "__main__":
  sys.exit(main())
