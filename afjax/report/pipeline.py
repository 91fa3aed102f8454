"""One report folder from RL run directories: results.json, report.md and the plots.

Everything is read and checked, then written into a temporary folder next to
the output folder and moved into it file by file only when every file is
complete: a malformed run writes nothing.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
from typing import Any, Sequence

from afjax.report import markdown, plots
from afjax.report import results as results_lib


def load_monitor_eval(path: str | os.PathLike) -> dict:
  """The parsed monitor_eval.json (afjax/jobs/monitor_eval.py), checked to be a JSON object."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f"{path}: missing; allowed in --monitor_eval: the monitor_eval.json "
                            "of a finished configs/monitors/eval.py run")
  try:
    monitor_eval = json.loads(path.read_text(encoding="utf-8"))
  except json.JSONDecodeError as err:
    raise ValueError(f"{path}: not valid JSON ({err})") from err
  if not isinstance(monitor_eval, dict):
    raise ValueError(f"{path}: the top level is {type(monitor_eval).__name__}; allowed: an object")
  return monitor_eval


def generate(run_dirs: Sequence[str | os.PathLike], monitor_eval: dict | None,
             out_dir: str | os.PathLike, config: dict[str, Any]) -> dict[str, Any]:
  """Writes out_dir/results.json, out_dir/report.md and the plots.

  Args:
    run_dirs: RL run directories (each with rl_summary.json and eval.jsonl).
    monitor_eval: the parsed monitor_eval.json (embedded under "monitors"), or None.
    out_dir: the report folder (created; files of an earlier report are replaced).
    config: what produced the report, embedded under "config".

  Returns:
    {"results": path, "report": path, "plots": [path, ...]} inside out_dir.

  Raises:
    results.RunError: a malformed run (naming the file and key); nothing is written.
  """
  runs = results_lib.collect_runs(run_dirs)
  results = results_lib.build_results(runs, monitor_eval, config)
  out_dir = pathlib.Path(out_dir)
  out_dir.parent.mkdir(parents=True, exist_ok=True)
  staging = pathlib.Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.staging."))
  try:
    staged = [results_lib.write_results(results, staging),
              markdown.write_report(results, runs, staging)]
    staged += plots.write_plots(results, staging)
    out_dir.mkdir(exist_ok=True)
    final = [out_dir / path.name for path in staged]
    for source, target in zip(staged, final):
      os.replace(source, target)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return {"results": final[0], "report": final[1], "plots": final[2:]}
