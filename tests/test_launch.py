"""The subprocess runner shared by experiments/run_local.py and the study job."""

import pytest

from afjax import launch


def test_command_and_override_formatting():
  run = launch.Run("r", "configs/lm.py:test", "/w", {
      "config.train.steps": 5, "optimizer.learning_rate": 0.001, "distributed": False,
      "model.dtype": "bfloat16", "mesh_rules": [["embed", None]]})
  assert run.command()[1:] == [
      "-m", "afjax.main", "--config=configs/lm.py:test", "--workdir=/w",
      "--config.train.steps=5", "--config.optimizer.learning_rate=0.001",
      "--config.distributed=False", "--config.model.dtype=bfloat16",
      "--config.mesh_rules=(['embed', None],)"]


def test_last_line_skips_the_runners_own_lines(tmp_path):
  log = tmp_path / "run.log"
  log.write_text(f"{launch.LOG_PREFIX} start\nValueError: bad field\n\n{launch.LOG_PREFIX} exit 1\n")
  assert launch.last_line(log) == "ValueError: bad field"
  assert launch.last_line(tmp_path / "missing.log") == ""


def test_run_all_refuses_no_parallelism():
  with pytest.raises(ValueError, match="max_parallel=0"):
    launch.run_all([], max_parallel=0)


def test_done_marks_a_run_finished_only_for_its_own_settings(tmp_path):
  run = launch.Run("r", "/checkout/configs/rl/baseline.py:igg_plain", str(tmp_path),
                   {"train.steps": 16})
  assert not launch.is_done(run)
  launch.mark_done(run, 12.5)
  assert launch.is_done(run) and not list(tmp_path.glob(".DONE*"))  # no temporary left
  moved = launch.Run("r", "/elsewhere/configs/rl/baseline.py:igg_plain", str(tmp_path),
                     {"config.train.steps": 16})
  assert launch.is_done(moved)  # another checkout of the same config and overrides
  changed = launch.Run("r", run.config, str(tmp_path), {"train.steps": 60})
  with pytest.raises(launch.DoneMismatchError, match=r"'train.steps': '16'.*'train.steps': '60'"):
    launch.is_done(changed)
  (tmp_path / launch.DONE_NAME).write_text('{"name": "r", "seconds": 3}\n')  # an older marker
  assert launch.is_done(changed)
  (tmp_path / launch.DONE_NAME).write_text('{"name": "r", "sec')  # cut short
  with pytest.raises(launch.DoneMismatchError, match="not a DONE marker"):
    launch.is_done(run)
