"""Synthetic runs and one report over them, shared by the report tests."""

import pytest

from afjax.report import pipeline
from tests.report import synthetic


@pytest.fixture(scope="session")
def run_dirs(tmp_path_factory):
  return synthetic.write_all(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="session")
def report(run_dirs, tmp_path_factory):
  """pipeline.generate over every synthetic run: {"results", "report", "plots"} paths."""
  out = tmp_path_factory.mktemp("report") / "out"
  return pipeline.generate(run_dirs, synthetic.MONITOR_EVAL, out, {"test": "synthetic"})
