"""Merging results.json files re-aggregates their runs: the same as one report over all."""

import copy

import pytest

from afjax.report import merge, pipeline
from afjax.report import results as rl
from tests.report import synthetic


@pytest.fixture(scope="module")
def hosts(run_dirs, tmp_path_factory):
  """Two reports from overlapping halves of the runs, as two hosts would write them."""
  root = tmp_path_factory.mktemp("hosts")
  half = len(run_dirs) // 2
  a = pipeline.generate(run_dirs[:half + 1], synthetic.MONITOR_EVAL, root / "a", {"host": 0})
  b = pipeline.generate(run_dirs[half:], None, root / "b", {"host": 1})
  return root, a["results"], b["results"]


def test_merge_equals_one_report_over_every_run(report, hosts):
  root, a, b = hosts
  merged = merge.merge([a, b], root / "merged")
  results = rl.load_results(merged["results"])
  whole = rl.load_results(report["results"])
  assert results["organisms"] == whole["organisms"]
  assert results["reductions"] == whole["reductions"]
  assert results["monitors"] == synthetic.MONITOR_EVAL  # b had none
  assert results["config"]["merged_from"] == [str(a), str(b)]
  assert results["config"]["configs"][str(b)] == {"host": 1}
  assert (root / "merged" / "report.md").is_file()


def test_merge_cli_and_errors(hosts, tmp_path, capsys):
  root, a, b = hosts
  assert merge.main(["--results", str(a), str(b), "--out", str(tmp_path / "m")]) == 0
  assert (tmp_path / "m" / "results.json").is_file()
  other = copy.deepcopy(rl.load_results(b))
  other["monitors"] = {"monitors": {}}
  conflicting = tmp_path / "c" / "results.json"
  rl.write_results(other, conflicting.parent)
  with pytest.raises(ValueError, match="monitor figures of .* differ; pass --monitor_eval"):
    merge.merge([a, conflicting], tmp_path / "x")
  moved = rl.load_results(b)
  first = next(iter(next(iter(moved["organisms"].values()))["arms"].values()))
  first["run_dirs"][0] = str(tmp_path / "gone")
  stale = tmp_path / "s" / "results.json"
  rl.write_results(moved, stale.parent)
  assert merge.main(["--results", str(stale), "--out", str(tmp_path / "y")]) == 2
  err = capsys.readouterr().err
  assert f"{stale} lists run directory {tmp_path / 'gone'}" in err
  assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
