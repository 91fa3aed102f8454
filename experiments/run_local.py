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
paths, and the exit status is 1 if any run failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import json
import os
import pathlib
import shlex
import subprocess
import sys
import time
from typing import Any, Callable, Sequence

LOG_NAME = "run.log"
DONE_NAME = "DONE"
RUN_KEYS = ("name", "config", "workdir", "overrides")
OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclasses.dataclass(frozen=True)
class Run:
  """One `afjax.main` invocation.

  Attributes:
    name: unique label, used in progress lines.
    config: config file, optionally with ":arg" (e.g. "configs/lm.py:test").
    workdir: the run's directory (checkpoints, metrics, run.log, DONE).
    overrides: dotted config field -> value, e.g. {"train.steps": 50}.
  """

  name: str
  config: str
  workdir: str
  overrides: dict[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def log_path(self) -> pathlib.Path:
    return pathlib.Path(self.workdir) / LOG_NAME

  @property
  def done_path(self) -> pathlib.Path:
    return pathlib.Path(self.workdir) / DONE_NAME

  def command(self) -> list[str]:
    """The argv of this run."""
    flags = [f"--config.{_field(key)}={format_override(value)}"
             for key, value in self.overrides.items()]
    return [sys.executable, "-m", "afjax.main", f"--config={self.config}",
            f"--workdir={self.workdir}", *flags]


@dataclasses.dataclass(frozen=True)
class RunResult:
  """What happened to one run.

  Attributes:
    run: the run.
    status: "ok" (exit 0), "failed" (non-zero exit or could not start) or
      "skipped" (DONE was already there).
    returncode: the exit status; None when skipped.
    seconds: wall time of the process (0 when skipped).
  """

  run: Run
  status: str
  returncode: int | None
  seconds: float

  @property
  def log_path(self) -> pathlib.Path:
    return self.run.log_path


def _field(key: str) -> str:
  return key[len("config."):] if key.startswith("config.") else key


def format_override(value: Any) -> str:
  """A JSON value as ml_collections' `--config.x=` parser reads it.

  Strings are passed as they are, lists as tuples, everything else as repr
  (True, 3, 0.001, None).
  """
  if isinstance(value, str):
    return value
  if isinstance(value, list):
    return repr(tuple(value))
  return repr(value)


def parse_runs(entries: Any) -> list[Run]:
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
    runs.append(Run(str(entry["name"]), str(entry["config"]), str(entry["workdir"]),
                    dict(overrides)))
  for key in ("name", "workdir"):
    values = [os.path.abspath(getattr(r, key)) if key == "workdir" else r.name for r in runs]
    duplicates = sorted({v for v in values if values.count(v) > 1})
    if duplicates:
      raise ValueError(f"runs share a {key}: {duplicates}; each run needs its own")
  return runs


def load_spec(path: str | os.PathLike) -> list[Run]:
  """The runs listed in the JSON file at `path`."""
  return parse_runs(json.loads(pathlib.Path(path).read_text()))


def is_done(run: Run) -> bool:
  return run.done_path.exists()


def run_one(run: Run, env: dict[str, str] | None = None) -> RunResult:
  """Runs `run` to completion, appending its output to WORKDIR/run.log.

  Writes WORKDIR/DONE (JSON: command, seconds, finish time) after exit 0.
  """
  pathlib.Path(run.workdir).mkdir(parents=True, exist_ok=True)
  command = run.command()
  start = time.perf_counter()
  with open(run.log_path, "a") as log:
    log.write(f"# run_local {_now()}: {shlex.join(command)}\n")
    log.flush()
    try:
      returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env).returncode
    except OSError as err:  # could not start the process at all
      log.write(f"# run_local: could not start: {err}\n")
      returncode = -1
    seconds = time.perf_counter() - start
    log.write(f"# run_local {_now()}: exit {returncode} after {seconds:.1f} s\n")
  if returncode == 0:
    run.done_path.write_text(json.dumps(
        {"name": run.name, "command": command, "seconds": seconds, "finished": _now()}) + "\n")
  return RunResult(run, OK if returncode == 0 else FAILED, returncode, seconds)


def run_all(runs: Sequence[Run], max_parallel: int = 1,
            on_finish: Callable[[RunResult], None] | None = None,
            env: dict[str, str] | None = None) -> list[RunResult]:
  """Runs every run not yet done, at most `max_parallel` at a time.

  Args:
    runs: the runs (see `parse_runs`).
    max_parallel: how many processes run at once (>= 1).
    on_finish: called with each result as it comes (skipped runs first).
    env: the processes' environment (default: this one's, unbuffered).

  Returns:
    One RunResult per run, in the order of `runs`.
  """
  if max_parallel < 1:
    raise ValueError(f"max_parallel={max_parallel}; allowed: >= 1")
  env = dict(os.environ if env is None else env)
  env.setdefault("PYTHONUNBUFFERED", "1")
  results: dict[int, RunResult] = {}
  todo = []
  for i, run in enumerate(runs):
    if is_done(run):
      results[i] = RunResult(run, SKIPPED, None, 0.0)
      if on_finish:
        on_finish(results[i])
    else:
      todo.append(i)
  with concurrent.futures.ThreadPoolExecutor(max_workers=max_parallel) as pool:
    futures = {pool.submit(run_one, runs[i], env): i for i in todo}
    for future in concurrent.futures.as_completed(futures):
      results[futures[future]] = future.result()
      if on_finish:
        on_finish(results[futures[future]])
  return [results[i] for i in range(len(runs))]


def last_line(path: pathlib.Path, skip_prefix: str = "# run_local") -> str:
  """The last non-empty line of a log not written by the launcher ("" if none)."""
  try:
    lines = path.read_text(errors="replace").splitlines()
  except OSError:
    return ""
  for line in reversed(lines):
    line = line.strip()
    if line and not line.startswith(skip_prefix):
      return line[-300:]
  return ""


def progress_printer(total: int) -> Callable[[RunResult], None]:
  """A callback printing `[k/total] STATUS name (...)` per finished run."""
  count = [0]

  def report(result: RunResult) -> None:
    count[0] += 1
    head = f"[{count[0]}/{total}] {result.status.upper():7s} {result.run.name}"
    if result.status == SKIPPED:
      print(f"{head} ({DONE_NAME} in {result.run.workdir})", flush=True)
    else:
      print(f"{head} (exit {result.returncode}, {result.seconds:.1f} s) log: {result.log_path}",
            flush=True)

  return report


def summarize(results: Sequence[RunResult]) -> int:
  """Prints the totals and each failure with its log; returns the exit status."""
  counts = {status: sum(r.status == status for r in results) for status in (OK, SKIPPED, FAILED)}
  print(f"{counts[OK]} ok, {counts[SKIPPED]} skipped, {counts[FAILED]} failed", flush=True)
  for result in results:
    if result.status == FAILED:
      print(f"FAILED {result.run.name}: exit {result.returncode}, log {result.log_path}\n"
            f"  last line: {last_line(result.log_path)}", flush=True)
  return 1 if counts[FAILED] else 0


def dry_run(runs: Sequence[Run]) -> None:
  """Prints what would run (and what would be skipped), running nothing."""
  for run in runs:
    state = f"skip ({DONE_NAME})" if is_done(run) else "run"
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
  return summarize(run_all(runs, args.jobs, on_finish=progress_printer(len(runs))))


def _now() -> str:
  return datetime.datetime.now().isoformat(timespec="seconds")


if __name__ == "__main__":
  sys.exit(main())
