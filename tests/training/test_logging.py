"""Tests for afjax.training.logging."""

import ast
import inspect

import jax.numpy as jnp
import numpy as np
import pytest

from afjax.training import logging as logging_lib
from afjax.training.logging import (
    MetricLogger,
    NonFiniteError,
    check_finite,
    progress,
    read_jsonl,
)


def test_log_writes_jsonl_and_tensorboard(tmp_path):
  with MetricLogger(tmp_path) as logger:
    logger.log(1, {"loss": jnp.float32(2.5), "lr": 1e-3, "tokens": 7})
    logger.log(2, {"loss": np.array([0.5]), "grad_norm": float("nan")})
    logger.log(2, {"reward": jnp.asarray(float("inf"))}, prefix="eval")

  records = read_jsonl(tmp_path / "metrics.jsonl")
  assert [r["step"] for r in records] == [1, 2, 2]
  assert records[0]["train/loss"] == 2.5
  assert records[0]["train/lr"] == pytest.approx(1e-3)
  assert records[0]["train/tokens"] == 7.0
  assert isinstance(records[0]["train/tokens"], float)
  assert records[1]["train/loss"] == 0.5
  assert records[1]["train/grad_norm"] is None
  assert records[2]["eval/reward"] is None
  assert all(isinstance(r["time"], float) for r in records)
  assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_resumed_logger_appends(tmp_path):
  with MetricLogger(tmp_path, tensorboard=False) as logger:
    logger.log(1, {"loss": 1.0})
  with open(tmp_path / "metrics.jsonl", "a") as f:
    f.write('{"step": 2, "train/lo')  # A line cut short by a crash.
  with MetricLogger(tmp_path, tensorboard=False) as logger:
    logger.log(3, {"loss": 3.0})

  with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
    read_jsonl(tmp_path / "metrics.jsonl")
  records = read_jsonl(tmp_path / "metrics.jsonl", skip_invalid=True)
  assert [(r["step"], r["train/loss"]) for r in records] == [(1, 1.0),
                                                            (3, 3.0)]
  assert not (tmp_path / "tensorboard").exists()


def test_bad_values_write_nothing(tmp_path):
  logger = MetricLogger(tmp_path, tensorboard=False)
  with pytest.raises(TypeError, match=r"'train/vec' has shape \(3,\)"):
    logger.log(1, {"loss": 1.0, "vec": np.ones(3)})
  with pytest.raises(TypeError, match="not a number"):
    logger.log(1, {"name": "abc"})
  with pytest.raises(ValueError, match="reserved"):
    logger.log(1, {"step": 1.0}, prefix="")
  with pytest.raises(TypeError, match="step"):
    logger.log(1.5, {"loss": 1.0})
  logger.close()
  with pytest.raises(ValueError, match="close"):
    logger.log(2, {"loss": 1.0})
  assert read_jsonl(tmp_path / "metrics.jsonl") == []


def test_check_finite_names_step_and_quantity():
  check_finite(5, {"loss": 1.0, "grad_norm": jnp.float32(3.0),
                   "grads": np.ones(4)})
  with pytest.raises(NonFiniteError) as info:
    check_finite(12, {"loss": jnp.float32(0.1), "grad_norm": float("nan")})
  assert isinstance(info.value, ValueError)
  assert "step 12" in str(info.value)
  assert "grad_norm = nan" in str(info.value)
  assert "loss" not in str(info.value)
  with pytest.raises(NonFiniteError, match=r"step 3: .*grads has 1 NaN and 1"
                     r" Inf of 4 values"):
    check_finite(3, {"grads": jnp.array([1.0, jnp.nan, jnp.inf, 2.0])})


def test_progress_is_disabled_off_tty_unless_forced(capsys):
  quiet = progress(total=10, initial=3, desc="train")
  assert quiet.disable  # pytest's captured stderr is not a TTY.
  quiet.close()
  bar = progress(total=10, initial=3, desc="train", force=True)
  bar.update(2)
  text = str(bar)
  assert not bar.disable
  bar.close()
  assert "train" in text and "5/10" in text and "step/s" in text
  assert "<" in text  # elapsed<remaining, i.e. the ETA.
  assert "5/10" in capsys.readouterr().err


def test_module_does_not_use_pickle():
  tree = ast.parse(inspect.getsource(logging_lib))
  imported = {alias.name.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.Import) for alias in node.names}
  imported |= {node.module.split(".")[0] for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module}
  used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
  unpicklers = {"pickle", "_pickle", "cloudpickle", "dill", "joblib",
                "shelve", "marshal"}
  assert not (imported | used) & unpicklers


def test_truncate_drops_later_steps_and_cut_short_lines(tmp_path):
  path = tmp_path / "metrics.jsonl"
  path.write_text('{"step": 1, "a": 1}\n{"step": 2, "a": 2}\n\n{"step": 3, "a": 3}\n{"step": 4, "a"')
  logging_lib.truncate_jsonl(path, 2)
  assert [r["step"] for r in logging_lib.read_jsonl(path)] == [1, 2]
  assert not list(tmp_path.glob(".metrics.jsonl.*"))  # no temporary left
  logging_lib.truncate_jsonl(tmp_path / "missing.jsonl", 2)
  assert not (tmp_path / "missing.jsonl").exists()


def test_logger_resuming_at_a_step_drops_the_records_after_it(tmp_path):
  with logging_lib.MetricLogger(tmp_path, tensorboard=False) as logger:
    for step in (1, 2, 3):
      logger.log(step, {"loss": float(step)})
    logger.log(3, {"loss": 0.0}, prefix="eval")
  with logging_lib.MetricLogger(tmp_path, tensorboard=False, resume_step=2) as logger:
    logger.log(3, {"loss": 30.0})
  records = logging_lib.read_jsonl(tmp_path / "metrics.jsonl")
  assert [(r["step"], r.get("train/loss")) for r in records] == [(1, 1.0), (2, 2.0), (3, 30.0)]
  assert logging_lib.has_record(tmp_path / "metrics.jsonl", 2, "train")
  assert not logging_lib.has_record(tmp_path / "metrics.jsonl", 3, "eval")
