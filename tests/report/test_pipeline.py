"""The report folder end to end, the CLI, and nothing written on a malformed run."""

import json
import pathlib
import subprocess
import sys

import pytest

from afjax.report import __main__ as cli
from afjax.report import pipeline
from afjax.report import results as rl
from tests.report import synthetic

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_report_folder(report):
  out = report["results"].parent
  assert sorted(p.name for p in out.iterdir()) == sorted(
      ["results.json", "report.md"] + [p.name for p in report["plots"]])
  results = rl.load_results(report["results"])
  assert results["config"] == {"test": "synthetic"}
  assert results["monitors"] == synthetic.MONITOR_EVAL


@pytest.mark.parametrize("key", ["organism", "final"])
def test_a_malformed_run_writes_nothing(run_dirs, tmp_path, key):
  summary = synthetic.summary("tgg_plain", "baseline", 7)
  del summary[key]
  broken = synthetic.write_run(tmp_path / "runs", "tgg_plain", "baseline", 7, summary_dict=summary)
  out = tmp_path / "reports" / "out"
  with pytest.raises(rl.RunError, match=f"{broken / rl.SUMMARY_FILE}: missing key '{key}'"):
    pipeline.generate(list(run_dirs) + [broken], synthetic.MONITOR_EVAL, out, {})
  assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_an_earlier_report_survives_a_failed_one(run_dirs, tmp_path):
  out = tmp_path / "out"
  pipeline.generate(run_dirs[:3], None, out, {"first": True})
  before = {p.name: p.read_bytes() for p in out.iterdir()}
  summary = synthetic.summary("igg_plain", "baseline", 9)
  summary["seed"] = 9.5
  broken = synthetic.write_run(tmp_path / "runs", "igg_plain", "baseline", 9, summary_dict=summary)
  with pytest.raises(rl.RunError, match="key 'seed' is 9.5"):
    pipeline.generate(run_dirs + [broken], None, out, {})
  assert {p.name: p.read_bytes() for p in out.iterdir()} == before
  assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "runs"]  # no staging left


def test_cli_module(run_dirs, tmp_path):
  monitor_path = tmp_path / "monitor_eval.json"
  monitor_path.write_text(json.dumps(synthetic.MONITOR_EVAL))
  out = tmp_path / "report"
  proc = subprocess.run(
      [sys.executable, "-m", "afjax.report", "--runs", *map(str, run_dirs),
       "--monitor_eval", str(monitor_path), "--out", str(out)],
      cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
  assert proc.returncode == 0, proc.stderr
  results = rl.load_results(out / "results.json")
  assert results["monitors"] == synthetic.MONITOR_EVAL
  assert results["config"]["runs"] == list(map(str, run_dirs))
  assert (out / "report.md").is_file() and (out / "reductions.png").is_file()


def test_cli_errors(run_dirs, tmp_path, capsys):
  assert cli.main(["--runs", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
  assert "rl_summary.json: missing" in capsys.readouterr().err
  bad = tmp_path / "monitor_eval.json"
  bad.write_text("[1, 2]")
  assert cli.main(["--runs", str(run_dirs[0]), "--monitor_eval", str(bad),
                   "--out", str(tmp_path / "o")]) == 2
  assert "the top level is list; allowed: an object" in capsys.readouterr().err
  assert not (tmp_path / "o").exists()


def test_a_failure_while_writing_leaves_no_partial_report(run_dirs, tmp_path, monkeypatch):
  def broken_plots(results, out_dir):
    (out_dir / "curves_half.png").write_bytes(b"\x89PNG")
    raise RuntimeError("disk full")

  monkeypatch.setattr(pipeline.plots, "write_plots", broken_plots)
  with pytest.raises(RuntimeError, match="disk full"):
    pipeline.generate(run_dirs, None, tmp_path / "out", {})
  assert list(tmp_path.iterdir()) == []
