"""Monitor training and evaluation jobs at test size: separation, eval figures, bad inputs."""

import json
import pathlib
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from afjax import config as config_lib
from afjax.data import monitor_data as md
from afjax.data import tokenizer as tokenizer_lib
from afjax.evaluation import monitor_eval as me
from afjax.jobs import monitor as monitor_job, monitor_eval as monitor_eval_job
from afjax.models import monitor as monitor_lib
from afjax.training import checkpoint as checkpoint_lib
from afjax.training import optim, state as state_lib
from tests.configs_loader import load_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIGURES = ("n", "n_positive", "auroc", "precision", "recall", "ece", "flag_rate", "mean_p")
TAGS = monitor_lib.TagIds(assistant=5, end=6, scratchpad_open=9, scratchpad_close=10,
                          output_open=11, output_close=12)


def monitor_config(view, base_workdir):
  config = load_config(f"monitors/{view}.py", "test")
  config.init.base_workdir = str(base_workdir)
  return config


def eval_config(**monitors):
  config = load_config("monitors/eval.py", "test")
  for field, value in monitors.items():
    config.monitors[field] = value
  return config


@pytest.fixture(scope="module")
def monitor_workdirs(base_workdir, tmp_path_factory):
  """The scratchpad classifier from the base model, the output monitor from scratch."""
  workdirs = {}
  for view, base in (("scratchpad", base_workdir), ("output", "")):
    workdirs[view] = tmp_path_factory.mktemp(f"monitor_{view}")
    config = monitor_config(view, base)
    monitor_job.validate(config, jax.device_count())
    monitor_job.run(config, str(workdirs[view]))
  return workdirs


@pytest.fixture(scope="module")
def eval_workdir(monitor_workdirs, base_workdir, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("monitor_eval")
  config = eval_config(scratchpad_workdir=str(monitor_workdirs["scratchpad"]),
                       output_workdir=str(monitor_workdirs["output"]),
                       organism_workdirs=(str(base_workdir),))
  monitor_eval_job.validate(config, jax.device_count())
  monitor_eval_job.run(config, str(workdir))
  return workdir


def synthetic_rows(rng, n, view):
  """Transcripts whose label is whether token 50 is in the watched region (else 60..299)."""
  tokens = np.zeros((n, 16), np.int32)
  labels = rng.integers(0, 2, n)
  for row, label in enumerate(labels):
    scratchpad, output = rng.integers(60, 300, 3), rng.integers(60, 300, 2)
    if label:
      (scratchpad if view == "scratchpad" else output)[rng.integers(len(output))] = 50
    tokens[row, :13] = [1, 20, 21, TAGS.assistant, TAGS.scratchpad_open, *scratchpad,
                        TAGS.scratchpad_close, TAGS.output_open, *output, TAGS.output_close]
    tokens[row, 13] = TAGS.end
  return {"inputs": tokens, "mask": tokens > 0, "labels": labels.astype(np.float32)}


def test_training_separates_a_trivially_separable_set(view="scratchpad"):
  config = load_config(f"monitors/{view}.py", "test")
  config.optimizer.learning_rate = 3e-3
  monitor = monitor_job.MonitorOnMesh.from_config(config, view, TAGS)
  tx = optim.make_optimizer(config.optimizer, 40)
  state = state_lib.create_train_state(monitor.init_params(0), tx, 0, monitor.mesh)
  step = monitor_job.make_train_step(
      lambda p, b: monitor_lib.classifier_loss(monitor.model, p, b), tx,
      state_lib.state_shardings(state, tx, monitor.mesh), monitor.mesh, monitor.rules)
  rng = np.random.default_rng(0)
  held_out = synthetic_rows(rng, 64, view)
  before = me.auroc(me.score_rows(monitor.scorer, state.params, held_out, 16), held_out["labels"])
  for _ in range(40):
    state, metrics = step(state, monitor_job.place_batch(synthetic_rows(rng, 16, view), monitor.mesh))
  after = me.auroc(me.score_rows(monitor.scorer, state.params, held_out, 16), held_out["labels"])
  assert before < 0.9 and after == 1.0, (before, after, float(metrics["loss"]))


def test_monitor_job_writes_export_threshold_and_validation_figures(monitor_workdirs, base_workdir):
  for view, workdir in monitor_workdirs.items():
    summary = json.loads((workdir / monitor_job.SUMMARY_FILE).read_text())
    assert summary["view"] == view and summary["step"] == 4
    assert 0.0 <= summary["threshold"] <= 1.0
    assert set(FIGURES) <= set(summary["validation"])
    assert (workdir / "export").is_dir() and (workdir / "ckpt").is_dir()
  tokenizer_file = tokenizer_lib.TOKENIZER_FILENAME
  assert (monitor_workdirs["scratchpad"] / tokenizer_file).read_bytes() == \
      (base_workdir / tokenizer_file).read_bytes()
  assert (monitor_workdirs["output"] / tokenizer_file).read_bytes() != \
      (base_workdir / tokenizer_file).read_bytes()


def test_monitor_eval_json_has_every_figure(eval_workdir, base_workdir):
  result = json.loads((eval_workdir / monitor_eval_job.OUTPUT_FILE).read_text())
  assert set(result["monitors"]) == {"scratchpad", "output"}
  for view, figures in result["monitors"].items():
    for name in ("in_distribution", "held_out_families"):
      assert set(FIGURES) <= set(figures[name]), (view, name)
      assert set(FIGURES) <= set(figures[name]["free_tier"]), (view, name)
      assert 0 < figures[name]["free_tier"]["n"] < figures[name]["n"]
    assert figures["in_distribution"]["n"] == 32 and figures["held_out_families"]["n"] == 32
    assert set(figures["implicit"]) == {"n", "recall", "mean_p"} and figures["implicit"]["n"] == 16
    organism = figures["organisms"][base_workdir.name]
    assert organism["n"] == 20 and set(FIGURES) <= set(organism)
    assert organism["free_tier"]["n"] == 10  # the paired eval prompts: half of them free-tier
    assert sum(organism["scratchpad_label_counts"].values()) == 20


def policy_layout(tokenizer, texts, tags):
  """Rows as an RL update holds its samples: left padding, <|end|>, then trailing padding."""
  sequences = [ids + [tags.end] for ids in md.encode_texts(tokenizer, texts)]
  length = max(len(s) for s in sequences) + 7
  tokens = np.zeros((len(sequences), length), np.int32)
  for row, seq in enumerate(sequences):
    tokens[row, 5:5 + len(seq)] = seq
  return tokens, tokens != tokenizer_lib.PAD_ID


@pytest.mark.parametrize("view", monitor_lib.VIEWS)
def test_pure_score_on_policy_tokens_reproduces_the_eval_figures(eval_workdir, monitor_workdirs, view):
  config = eval_config()
  loaded = monitor_job.load_monitor(monitor_workdirs[view], config, view)
  tokenizer = tokenizer_lib.load_tokenizer(monitor_workdirs[view] / tokenizer_lib.TOKENIZER_FILENAME)
  builder = md.monitor_dataset(eval_workdir / "data", md.MonitorDataSpec.from_config(config.data))
  examples = md.read_split(builder, md.TEST)
  tokens, masks = policy_layout(tokenizer, [e["text"] for e in examples], loaded.monitor.cfg.tags)
  scores = jax.jit(monitor_lib.score_fn(loaded.monitor.cfg))(loaded.params, tokens, masks)
  figures = me.json_safe(me.classification_figures(np.asarray(scores), [e["label"] for e in examples],
                                                   loaded.threshold))
  reported = json.loads((eval_workdir / monitor_eval_job.OUTPUT_FILE).read_text())
  expected = reported["monitors"][view]["in_distribution"]
  for name in FIGURES:
    assert (figures[name] is None) == (expected[name] is None), name
    if expected[name] is not None:
      assert figures[name] == pytest.approx(expected[name], abs=1e-6), name


def test_mismatched_model_or_tokenizer_is_a_clear_error(monitor_workdirs, tmp_path):
  config = eval_config()
  config.model.d_model = 64
  with pytest.raises(checkpoint_lib.CheckpointMismatchError, match="model.d_model: checkpoint=32, expected=64"):
    monitor_job.load_monitor(monitor_workdirs["scratchpad"], config, "scratchpad")
  copy = tmp_path / "copy"
  shutil.copytree(monitor_workdirs["scratchpad"], copy)
  tokenizer = tokenizer_lib.load_tokenizer(copy / tokenizer_lib.TOKENIZER_FILENAME)
  tokenizer.save(str(copy / tokenizer_lib.TOKENIZER_FILENAME), pretty=False)  # same vocabulary, other file
  with pytest.raises(checkpoint_lib.CheckpointMismatchError, match="tokenizer_sha256: checkpoint="):
    monitor_job.load_monitor(copy, eval_config(), "scratchpad")


def test_wrong_view_missing_monitor_and_overlapping_test_split_are_clear_errors(monitor_workdirs,
                                                                                 tmp_path):
  with pytest.raises(ValueError, match="holds a monitor of view 'output', but a 'scratchpad' monitor"):
    monitor_job.load_monitor(monitor_workdirs["output"], eval_config(), "scratchpad")
  with pytest.raises(FileNotFoundError, match="holds no finished monitor"):
    monitor_job.load_monitor(tmp_path, eval_config(), "output")
  config = eval_config(scratchpad_workdir=str(monitor_workdirs["scratchpad"]))
  config.data.n_train = 64
  with pytest.raises(ValueError, match=r"allowed: data.seed=0 and n_train \+ n_validation >= 128"):
    monitor_eval_job.run(config, str(tmp_path / "eval"))
  assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize("path, overrides, message", [
    ("monitors/scratchpad.py", {"monitor.view": "both"},
     "config.monitor.view='both'; allowed: ['scratchpad', 'output']"),
    ("monitors/scratchpad.py", {"data.n_train": 0}, "config.data.n_train=0; allowed: an integer >= 1"),
    ("monitors/output.py", {"data.seq_len": 1024}, "config.data.seq_len=1024 exceeds config.model.max_seq_len"),
    ("monitors/eval.py", {}, "config.monitors.scratchpad_workdir and config.monitors.output_workdir are both empty"),
    ("monitors/eval.py", {"monitors.output_workdir": "x", "monitors.organism_workdirs": ("",)},
     "config.monitors.organism_workdirs=('',); allowed: a list"),
])
def test_bad_monitor_configs(path, overrides, message):
  config = load_config(path, "test")
  for dotted, value in overrides.items():
    section, field = dotted.split(".")
    config[section][field] = value
  with pytest.raises(config_lib.ConfigError, match=re.escape(message)):
    jobs_module = monitor_eval_job if path.endswith("eval.py") else monitor_job
    jobs_module.validate(config, 1)


@pytest.mark.parametrize("path", ["monitors/scratchpad.py", "monitors/output.py", "monitors/eval.py"])
def test_full_size_configs_validate(path):
  config = load_config(path)
  if path.endswith("eval.py"):
    config.monitors.scratchpad_workdir = "workdirs/monitor_scratchpad"
  monitor_eval_job.validate(config, 1) if path.endswith("eval.py") else monitor_job.validate(config, 1)


def test_main_refuses_a_bad_view_before_writing(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "afjax.main", f"--config={ROOT}/configs/monitors/scratchpad.py:test",
       f"--workdir={tmp_path / 'm'}", "--config.monitor.view=reasoning"],
      capture_output=True, text=True, cwd=ROOT, timeout=120)
  assert proc.returncode == 2
  assert "config.monitor.view='reasoning'; allowed: ['scratchpad', 'output']" in proc.stderr
  assert not (tmp_path / "m").exists()
