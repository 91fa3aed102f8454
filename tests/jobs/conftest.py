"""Shared stages of the job tests: a test-size base model, and one test-size study's stages."""

import pytest

from afjax.jobs import lm, study
from tests.configs_loader import load_config


@pytest.fixture(scope="session")
def shared_study(tmp_path_factory):
  """WORKDIR of configs/quickstart.py:test after its shared stages (base, tgg_plain, monitors)."""
  root = tmp_path_factory.mktemp("study")
  config = load_config("quickstart.py", "test")
  config.study.stages = "shared"
  study.run(config, str(root))
  return root


@pytest.fixture(scope="session")
def base_workdir(tmp_path_factory):
  """WORKDIR of configs/organisms/base.py:test: the base model the monitor and reward jobs start from."""
  workdir = tmp_path_factory.mktemp("base")
  lm.run(load_config("organisms/base.py", "test"), str(workdir))
  return workdir
