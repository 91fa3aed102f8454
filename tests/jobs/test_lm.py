"""The LM job end to end: config validation, training, resume, SIGKILL + resume, bad checkpoints."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import jax
import ml_collections
import pytest

from afjax import config as config_lib
from afjax import jobs
from afjax.jobs import common, lm
from afjax.training import checkpoint as checkpoint_lib

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = f"{ROOT}/configs/lm.py:test"


# Bit-exact resume needs deterministic kernels; XLA's GPU reductions are not by default.
ENV = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip())


def launch(workdir, *overrides, module="afjax.main"):
  cmd = [sys.executable, "-m", module, f"--config={CONFIG}", f"--workdir={workdir}", *overrides]
  return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, env=ENV)


def summary(workdir):
  return json.loads((pathlib.Path(workdir) / "lm_summary.json").read_text())


def committed_steps(workdir):
  ckpt = pathlib.Path(workdir) / "ckpt"
  return sorted(int(p.name) for p in ckpt.iterdir() if p.name.isdigit()) if ckpt.exists() else []


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("lm_full")
  proc = launch(workdir)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


def test_trains_checkpoints_and_logs(uninterrupted):
  result = summary(uninterrupted)
  assert result["step"] == 12
  assert committed_steps(uninterrupted) == [6, 9, 12]  # every 3, keep 3
  assert (uninterrupted / "tokenizer.json").exists()
  assert list((uninterrupted / "tensorboard").iterdir())
  records = [json.loads(line) for line in (uninterrupted / "metrics.jsonl").read_text().splitlines()]
  train_losses = [r["train/loss"] for r in records if "train/loss" in r]
  assert len(train_losses) == 6 and train_losses[-1] < train_losses[0]
  assert any("eval/loss" in r and r["step"] == 12 for r in records)


def test_rerun_resumes_and_says_so(uninterrupted, tmp_path):
  workdir = tmp_path / "copy"
  shutil.copytree(uninterrupted, workdir)
  proc = launch(workdir)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "Resuming from step 12" in proc.stdout
  assert summary(workdir) == summary(uninterrupted)
  evals = [json.loads(line)["step"] for line in (workdir / "metrics.jsonl").read_text().splitlines()
           if "eval/loss" in line]
  assert evals.count(12) == 1  # the final eval is not logged again


def test_resume_with_another_schedule_is_refused(uninterrupted, tmp_path):
  # train.steps shapes the learning-rate schedule: resuming with another value would bend it.
  workdir = tmp_path / "longer"
  shutil.copytree(uninterrupted, workdir)
  proc = launch(workdir, "--config.train.steps=14")
  assert proc.returncode != 0
  assert "train_steps" in proc.stderr and "checkpoint=12" in proc.stderr.replace(" ", "")


def test_sigkill_then_resume_matches_uninterrupted(uninterrupted, tmp_path):
  workdir = tmp_path / "killed"
  cmd = [sys.executable, "-m", "tests.jobs.slow_main", f"--config={CONFIG}", f"--workdir={workdir}"]
  proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
  try:
    deadline = time.time() + 240
    while 6 not in committed_steps(workdir):
      assert proc.poll() is None, "the run ended before it could be killed"
      assert time.time() < deadline
      time.sleep(0.05)
  finally:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
  assert not (workdir / "lm_summary.json").exists()
  assert max(committed_steps(workdir)) < 12
  resumed = launch(workdir)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "Resuming from step" in resumed.stdout
  assert summary(workdir)["params_sha256"] == summary(uninterrupted)["params_sha256"]

  def logged(run, prefix):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
               if line.strip().endswith("}")]  # the kill may cut the last line short
    return [r["step"] for r in records if f"{prefix}/loss" in r]

  for prefix in ("train", "eval"):  # every step logged once, as in the uninterrupted run
    assert logged(workdir, prefix) == logged(uninterrupted, prefix), prefix


def test_incompatible_checkpoint_is_refused_and_kept(uninterrupted, tmp_path):
  workdir = tmp_path / "mismatch"
  shutil.copytree(uninterrupted, workdir)
  before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
  proc = launch(workdir, "--config.model.mlp_hidden=96", "--config.train.steps=15")
  assert proc.returncode == 2, proc.stderr[-3000:]
  assert "model.mlp_hidden" in proc.stderr and "checkpoint=64" in proc.stderr.replace(" ", "")
  assert "Traceback" not in proc.stderr
  after = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
  assert before == after  # config.json included: other jobs read the model config from it


def test_a_rerun_records_its_config_once_it_has_finished(uninterrupted, tmp_path):
  workdir = tmp_path / "relogged"
  shutil.copytree(uninterrupted, workdir)
  assert json.loads((workdir / "config.json").read_text())["train"]["log_every"] == 2
  proc = launch(workdir, "--config.train.log_every=4")
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert json.loads((workdir / "config.json").read_text())["train"]["log_every"] == 4


def test_an_empty_workdir_is_refused(tmp_path):
  proc = subprocess.run([sys.executable, "-m", "afjax.main", f"--config={CONFIG}", "--workdir="],
                        capture_output=True, text=True, cwd=tmp_path, timeout=300, env=ENV)
  assert proc.returncode == 2
  assert "--workdir is empty" in proc.stderr
  assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("overrides, message", [
    (["--config.job=dance"], f"config.job='dance'; allowed: {sorted(jobs.JOBS)}"),
    (["--config.mesh.data=3"], "config.mesh"),
    (["--config.train.batch_size=0"], "config.train.batch_size=0"),
    (["--config.optimizer.schedule=linear"], "config.optimizer.schedule='linear'; allowed"),
    (["--config.data.seq_len=1000"], "config.data.seq_len=1000 exceeds"),
    (["--process_id=1"], "allowed with --config.distributed=True only"),
    (["--config.train.step=5"], "--config.train.step: config.train has no field 'step'; allowed: "
     "['batch_size', 'eval_batches', 'eval_every', 'log_every', 'loss_chunk', 'steps']"),
    (["--config.trian.steps=5"], "--config.trian.steps: config has no field 'trian'; allowed: ["),
    (["--config.train.steps.max=5"], "config.train.steps is a value, not a section"),
    ([f"--config={ROOT}/configs/no_such_config.py"], "no_such_config.py"),
    ([f"--config={ROOT}/configs/no_such_config.py", "--config.train.steps=5"],
     "configs/no_such_config.py: no such config file"),
])
def test_main_rejects_bad_configs_before_writing(tmp_path, overrides, message):
  workdir = tmp_path / "never"
  proc = launch(workdir, *overrides)
  assert proc.returncode == 2
  assert message in proc.stderr
  assert "Traceback" not in proc.stderr
  assert not workdir.exists()


def test_a_config_file_that_fails_is_named_not_blamed_on_an_override(tmp_path):
  (tmp_path / "broken.py").write_text("def get_config():\n  return {}['steps']\n")
  for overrides in ([], ["--config.train.steps=5"]):
    proc = subprocess.run([sys.executable, "-m", "afjax.main", f"--config={tmp_path}/broken.py",
                           f"--workdir={tmp_path}/never", *overrides],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, env=ENV)
    assert proc.returncode == 2, proc.stderr
    assert f"the config file of --config={tmp_path}/broken.py fails to load: KeyError('steps')" \
        in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "never").exists()


def test_validate_batch_divisibility_and_missing_field():
  from tests.configs_loader import load_lm_config
  config = load_lm_config()
  with pytest.raises(config_lib.ConfigError, match=r"config.train.batch_size=8 is not divisible .* 3"):
    config.mesh.data = 3
    lm.validate(config, 3)
  config = load_lm_config()
  del config.train["eval_every"]
  with pytest.raises(config_lib.ConfigError, match=r"config.train.eval_every is missing"):
    lm.validate(config, 1)


@pytest.mark.parametrize("path, value, message", [
    ("optimizer.b2", 1.5, r"config.optimizer.b2=1.5; allowed: a number in \[0.0, 1.0\)"),
    ("optimizer.b1", -0.1, r"config.optimizer.b1=-0.1; allowed"),
    ("optimizer.eps", 0.0, r"config.optimizer.eps=0.0; allowed: a number > 0"),
    ("optimizer.weight_decay", -1e-2, "config.optimizer.weight_decay"),
    ("optimizer.min_lr_ratio", 2.0, r"config.optimizer.min_lr_ratio=2.0; allowed: .*1.0\]"),
    ("train.loss_chunk", -8, r"config.train.loss_chunk=-8; allowed: an integer >= 0"),
    ("train.grammar_unlikelihood", 1.0,
     r"config.train.grammar_unlikelihood=1.0 needs config.data.corpus='world'"),
])
def test_bad_optimizer_and_loss_settings_are_config_errors(path, value, message):
  from tests.configs_loader import load_lm_config
  config = load_lm_config()
  section, field = path.split(".")
  config[section][field] = value
  with pytest.raises(config_lib.ConfigError, match=message):
    lm.validate(config, 1)


@pytest.mark.parametrize("train, expected", [
    ({}, {}),  # configs written before the fields
    ({"grammar_unlikelihood": 0.0, "grammar_penalty": "log_mass"}, {}),
    ({"grammar_unlikelihood": 10}, {"grammar_unlikelihood": 10.0}),  # as checkpoints before the form
    ({"grammar_unlikelihood": 10.0, "grammar_penalty": "unlikelihood"}, {"grammar_unlikelihood": 10.0}),
    ({"grammar_unlikelihood": 1.0, "grammar_penalty": "log_mass"},
     {"grammar_unlikelihood": 1.0, "grammar_penalty": "log_mass"}),
])
def test_the_grammar_penalty_enters_the_fingerprint_only_when_it_trains(train, expected):
  config = ml_collections.ConfigDict({"train": train})
  assert lm.unlikelihood_fingerprint(config) == expected


@pytest.mark.parametrize("path, value", [("seed", -1), ("data.seed", -3)])
def test_seeds_anywhere_in_the_config_are_non_negative_integers(path, value):
  from tests.configs_loader import load_lm_config
  config = load_lm_config()
  config_lib.validate_seeds(config)
  *parents, field = path.split(".")
  node = config
  for parent in parents:
    node = node[parent]
  node[field] = value
  with pytest.raises(config_lib.ConfigError, match=rf"config.{path}={value!r}; allowed: an integer"):
    config_lib.validate_seeds(config)


def test_main_refuses_a_negative_seed_before_writing_anything(tmp_path):
  workdir = tmp_path / "lm"
  result = subprocess.run(
      [sys.executable, "-m", "afjax.main", f"--config={ROOT}/configs/lm.py:test",
       f"--workdir={workdir}", "--config.seed=-1"], capture_output=True, text=True, timeout=120)
  assert result.returncode == 2, result.stderr
  assert "invalid config: config.seed=-1; allowed: an integer >= 0" in result.stderr
  assert not workdir.exists()


def test_exported_params_load_under_another_scan_unroll_but_not_another_shape(uninterrupted):
  config = ml_collections.ConfigDict(json.loads((uninterrupted / "config.json").read_text()))
  sha = common.file_sha256(uninterrupted / "tokenizer.json")
  trained = common.load_exported_params(uninterrupted, common.ModelOnMesh.from_config(config), sha)
  config.model.scan_unroll = config.model.num_layers
  unrolled = common.load_exported_params(uninterrupted, common.ModelOnMesh.from_config(config), sha)
  assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), trained, unrolled))
  config.model.mlp_hidden *= 2
  with pytest.raises(checkpoint_lib.CheckpointMismatchError, match="mlp_hidden"):
    common.load_exported_params(uninterrupted, common.ModelOnMesh.from_config(config), sha)


def test_plain_rope_exports_keep_the_fingerprint_of_before_rope_scaling(uninterrupted):
  """Plain-RoPE exports carry no RoPE scaling fields (so those written before the fields
  existed still load); a scaled model is refused."""
  config = ml_collections.ConfigDict(json.loads((uninterrupted / "config.json").read_text()))
  sha = common.file_sha256(uninterrupted / "tokenizer.json")
  with checkpoint_lib.Checkpointer(uninterrupted / common.EXPORT_DIR, save_every=1, keep=1) as export:
    saved = export.read_fingerprint()["model"]
  assert not [key for key in saved if key.startswith("rope_") and key != "rope_theta"]
  config.model.rope_scaling_factor = 1.0
  common.load_exported_params(uninterrupted, common.ModelOnMesh.from_config(config), sha)
  config.model.rope_scaling_factor = 8.0
  with pytest.raises(checkpoint_lib.CheckpointMismatchError, match="rope_scaling_factor"):
    common.load_exported_params(uninterrupted, common.ModelOnMesh.from_config(config), sha)
