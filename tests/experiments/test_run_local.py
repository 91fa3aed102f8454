"""The local launcher: parallel runs, logs, DONE markers, failures, skipping, dry runs."""

import json
import pathlib
import subprocess
import sys

import pytest

from afjax import launch
from experiments import run_local

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = f"{ROOT}/configs/lm.py:test"
FAST = {"train.steps": 4, "checkpoint.every": 2, "train.eval_every": 0}


def spec_entries(tmp):
  return [
      {"name": "good", "config": CONFIG, "workdir": str(tmp / "good"), "overrides": FAST},
      # Fails the config validation, before any training.
      {"name": "bad", "config": CONFIG, "workdir": str(tmp / "bad"),
       "overrides": {**FAST, "optimizer.schedule": "bogus"}},
  ]


@pytest.fixture(scope="module")
def first_pass(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("runs")
  spec = tmp / "spec.json"
  spec.write_text(json.dumps(spec_entries(tmp)))
  finished = []
  results = launch.run_all(run_local.load_spec(spec), max_parallel=2,
                              on_finish=finished.append)
  return tmp, spec, results, finished


@pytest.mark.parametrize("entries, message", [
    ({"run": []}, "must be a list"),
    ([{"name": "a", "config": "c"}], r"missing keys \['workdir'\]"),
    ([{"name": "a", "config": "c", "workdir": "w", "extra": 1}], r"unknown keys \['extra'\]"),
    ([{"name": "a", "config": "c", "workdir": "w1"}, {"name": "a", "config": "c", "workdir": "w2"}],
     "share a name"),
    ([{"name": "a", "config": "c", "workdir": "w"}, {"name": "b", "config": "c", "workdir": "w"}],
     "share a workdir"),
])
def test_bad_specs_are_refused(entries, message):
  with pytest.raises(ValueError, match=message):
    run_local.parse_runs(entries)


def test_parallel_runs_log_mark_done_and_report_failures(first_pass):
  tmp, _, results, finished = first_pass
  good, bad = results
  assert [r.run.name for r in results] == ["good", "bad"]
  assert sorted(r.run.name for r in finished) == ["bad", "good"]
  assert (good.status, good.returncode) == ("ok", 0)
  assert (tmp / "good" / "DONE").exists()
  assert json.loads((tmp / "good" / "lm_summary.json").read_text())["step"] == 4
  assert "afjax.main" in (tmp / "good" / "run.log").read_text().splitlines()[0]
  assert bad.status == "failed" and bad.returncode != 0
  assert not (tmp / "bad" / "DONE").exists()
  assert bad.log_path == tmp / "bad" / "run.log"
  assert "optimizer.schedule='bogus'" in launch.last_line(bad.log_path)


def test_rerun_skips_finished_and_exits_nonzero_on_failure(first_pass):
  tmp, spec, _, _ = first_pass
  proc = subprocess.run([sys.executable, "-m", "experiments.run_local", "--jobs=2", str(spec)],
                        capture_output=True, text=True, cwd=ROOT, timeout=120)
  assert proc.returncode == 1, proc.stderr[-2000:]
  out = proc.stdout
  assert "SKIPPED good" in out and "FAILED  bad" in out
  assert "0 ok, 1 skipped, 1 failed" in out
  assert f"log {tmp / 'bad' / 'run.log'}" in out
  # The failed run ran (and failed) twice; both attempts are in its log.
  assert (tmp / "bad" / "run.log").read_text().count(launch.LOG_PREFIX) == 4


def test_dry_run_prints_commands_and_runs_nothing(first_pass, tmp_path):
  tmp = first_pass[0]
  spec = tmp_path / "spec.json"
  spec.write_text(json.dumps({"runs": [
      spec_entries(tmp)[0],
      {"name": "new", "config": CONFIG, "workdir": str(tmp_path / "new")}]}))
  proc = subprocess.run([sys.executable, "-m", "experiments.run_local", "--dry_run", str(spec)],
                        capture_output=True, text=True, cwd=ROOT, timeout=60)
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.splitlines()
  assert lines[0].startswith("skip (DONE) good:")
  assert lines[1].startswith("run         new:") and "afjax.main" in lines[1]
  assert not (tmp_path / "new").exists()
