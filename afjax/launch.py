"""`afjax.main` commands as local subprocesses, several at once, with logs and DONE markers.

The one runner behind `experiments/run_local.py` (runs from a JSON spec) and
the study job's parallel RL runs (`study.parallel_runs`). A run's stdout and
stderr are appended to WORKDIR/run.log; after it exits 0 the runner writes
WORKDIR/DONE (JSON: name, command, settings, seconds, finish time), and a run
whose WORKDIR has DONE with the same settings (config file and overrides) is
skipped; DONE from other settings is an error (DoneMismatchError), so a rerun
with changed overrides never reports the old run's numbers as the new one's.
afjax.main itself resumes from the workdir's checkpoints, so an interrupted run
just starts again.
"""

from __future__ import annotations

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
OK, FAILED, SKIPPED = "ok", "failed", "skipped"
LOG_PREFIX = "# launch"


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
  """A value as ml_collections' `--config.x=` parser reads it.

  Strings are passed as they are, lists as tuples, everything else as repr
  (True, 3, 0.001, None, tuples).
  """
  if isinstance(value, str):
    return value
  if isinstance(value, list):
    return repr(tuple(value))
  return repr(value)


class DoneMismatchError(ValueError):
  """A workdir's DONE marker records a run with other settings, or cannot be read."""


def settings(run: Run) -> dict[str, Any]:
  """What a finished run must match to be skipped: its config (the file's last two path parts,
  so that a moved checkout still matches, and its argument) and its overrides."""
  path, sep, arg = run.config.partition(":")
  name = "/".join(pathlib.Path(path).parts[-2:]) + sep + arg
  return {"config": name, "overrides": {_field(k): format_override(v)
                                         for k, v in sorted(run.overrides.items())}}


def is_done(run: Run) -> bool:
  """Whether WORKDIR/DONE marks this run finished.

  Raises:
    DoneMismatchError: DONE records other settings (a marker written before
      settings were recorded is accepted), or is not readable JSON.
  """
  if not run.done_path.exists():
    return False
  try:
    recorded = json.loads(run.done_path.read_text()).get("settings")
  except (json.JSONDecodeError, AttributeError) as err:
    raise DoneMismatchError(f"{run.done_path}: not a DONE marker ({err}); delete it to rerun "
                            f"{run.name}") from None
  if recorded is not None and recorded != settings(run):
    raise DoneMismatchError(
        f"{run.done_path} marks {run.name} finished with {recorded}, not {settings(run)}; allowed: "
        "the same config and overrides, another workdir, or delete DONE (and the run's "
        "checkpoints) to run it again")
  return True


def mark_done(run: Run, seconds: float) -> None:
  """Writes WORKDIR/DONE atomically: {name, command, settings, seconds, finished}."""
  record = {"name": run.name, "command": run.command(), "settings": settings(run),
            "seconds": seconds, "finished": _now()}
  tmp = run.done_path.with_name(f".{DONE_NAME}.tmp")
  tmp.write_text(json.dumps(record) + "\n")
  os.replace(tmp, run.done_path)


def run_one(run: Run, env: dict[str, str] | None = None) -> RunResult:
  """Runs `run` to completion, appending its output to WORKDIR/run.log; DONE after exit 0."""
  pathlib.Path(run.workdir).mkdir(parents=True, exist_ok=True)
  command = run.command()
  start = time.perf_counter()
  with open(run.log_path, "a") as log:
    log.write(f"{LOG_PREFIX} {_now()}: {shlex.join(command)}\n")
    log.flush()
    try:
      returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env).returncode
    except OSError as err:  # could not start the process at all
      log.write(f"{LOG_PREFIX}: could not start: {err}\n")
      returncode = -1
    seconds = time.perf_counter() - start
    log.write(f"{LOG_PREFIX} {_now()}: exit {returncode} after {seconds:.1f} s\n")
  if returncode == 0:
    mark_done(run, seconds)
  return RunResult(run, OK if returncode == 0 else FAILED, returncode, seconds)


def run_all(runs: Sequence[Run], max_parallel: int = 1,
            on_finish: Callable[[RunResult], None] | None = None,
            env: dict[str, str] | None = None) -> list[RunResult]:
  """Runs every run not yet done, at most `max_parallel` at a time.

  Args:
    runs: the runs.
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


def last_line(path: pathlib.Path, skip_prefix: str = LOG_PREFIX) -> str:
  """The last non-empty line of a log not written by the runner ("" if none)."""
  try:
    lines = path.read_text(errors="replace").splitlines()
  except OSError:
    return ""
  for line in reversed(lines):
    line = line.strip()
    if line and not line.startswith(skip_prefix):
      return line[-300:]
  return ""


def _now() -> str:
  return datetime.datetime.now().isoformat(timespec="seconds")
