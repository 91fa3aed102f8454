"""Shared stages for the RL and study tests: one test-size study's base, organism and monitors."""

import pytest

from afjax.jobs import study
from tests.configs_loader import load_config


@pytest.fixture(scope="session")
def shared_study(tmp_path_factory):
  """WORKDIR of configs/quickstart.py:test after its shared stages (base, tgg_plain, monitors)."""
  root = tmp_path_factory.mktemp("study")
  config = load_config("quickstart.py", "test")
  config.study.stages = "shared"
  study.run(config, str(root))
  return root
