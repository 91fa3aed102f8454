"""The reward_model job at test size: training, export, summary, resume, loading and bad inputs."""

import json
import re
import shutil
import types

import jax
import numpy as np
import pytest

from afjax import config as config_lib
from afjax.data import reward_data as rd
from afjax.data import tokenizer as tokenizer_lib
from afjax.jobs import reward_model as rm_job
from afjax.models import reward as rm
from afjax.rl import reward as rl_reward
from afjax.training import checkpoint as checkpoint_lib
from afjax.training import optim, state as state_lib
from tests.configs_loader import load_config
from tests.models.test_reward import TAGS, T, transcript

SPLIT_FIGURES = ("n_pairs", "pairwise_accuracy", "accuracy_by_kind", "mean_margin",
                 "mean_reward_by_label", "n_by_label")


def reward_config(base_workdir=""):
  config = load_config("reward/learned.py", "test")
  config.init.base_workdir = str(base_workdir)
  return config


@pytest.fixture(scope="module")
def reward_workdir(base_workdir, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("reward")
  config = reward_config(base_workdir)
  rm_job.validate(config, jax.device_count())
  rm_job.run(config, str(workdir))
  return workdir


def summary_of(workdir):
  return json.loads((workdir / rm_job.SUMMARY_FILE).read_text())


def test_job_writes_export_and_every_figure(reward_workdir, base_workdir):
  summary = summary_of(reward_workdir)
  assert summary["view"] == rm.VIEW and summary["step"] == 4
  for split in ("validation", "test"):
    figures = summary[split]
    assert set(SPLIT_FIGURES) <= set(figures) and figures["n_pairs"] == 16, split
    assert 0.0 <= figures["pairwise_accuracy"] <= 1.0
    assert set(figures["mean_reward_by_label"]) <= set(rd.RANK)
    assert sum(figures["n_by_label"].values()) == 32
  bias = summary["length_bias"]
  assert isinstance(bias["slope"], float) and bias["mean_output_tokens"] > 2
  assert (reward_workdir / "export").is_dir() and (reward_workdir / "ckpt").is_dir()
  name = tokenizer_lib.TOKENIZER_FILENAME
  assert (reward_workdir / name).read_bytes() == (base_workdir / name).read_bytes()


def test_rerun_resumes_and_ends_with_the_same_params(reward_workdir, base_workdir, capsys):
  before = summary_of(reward_workdir)
  again = rm_job.run(reward_config(base_workdir), str(reward_workdir))
  assert "Resuming from step 4" in capsys.readouterr().out
  assert again["params_sha256"] == before["params_sha256"]
  assert again["validation"]["pairwise_accuracy"] == before["validation"]["pairwise_accuracy"]
  assert again["length_bias"] == before["length_bias"]


def policy_layout(rows):
  """Pair rows [N, 2, T] as an RL rollout holds them: left padding, then trailing padding."""
  n, _, length = rows["inputs"].shape
  flat, mask = rows["inputs"].reshape(2 * n, length), rows["mask"].reshape(2 * n, length)
  tokens = np.zeros((2 * n, length + 9), np.int32)
  for row in range(2 * n):
    real = flat[row][mask[row]]
    tokens[row, 5:5 + len(real)] = real
  return tokens, tokens != tokenizer_lib.PAD_ID


def test_loaded_model_on_policy_tokens_reproduces_the_summary(reward_workdir, base_workdir):
  config = reward_config(base_workdir)
  loaded = rl_reward.load_reward_model(reward_workdir, config, base_workdir)
  tokenizer = tokenizer_lib.load_tokenizer(reward_workdir / tokenizer_lib.TOKENIZER_FILENAME)
  builder = rd.reward_dataset(reward_workdir / "data", rd.RewardDataSpec.from_config(config.data))
  examples = rd.read_split(builder, rd.VALIDATION)
  tokens, masks = policy_layout(rd.pair_rows(tokenizer, examples, config.data.seq_len))
  scores = np.asarray(jax.jit(rm.reward_fn(loaded.on_mesh.cfg))(loaded.params, tokens, masks))
  figures = rm_job.split_figures(scores.reshape(-1, 2), examples)
  expected = summary_of(reward_workdir)["validation"]
  assert figures["pairwise_accuracy"] == expected["pairwise_accuracy"]
  assert figures["mean_reward_by_label"] == pytest.approx(expected["mean_reward_by_label"], abs=1e-5)
  bias = summary_of(reward_workdir)["length_bias"]
  assert loaded.length_correction == rl_reward.LengthCorrection(bias["slope"],
                                                                bias["mean_output_tokens"])
  labels = [e[f"{side}_label"] for e in examples for side in ("chosen", "rejected")]
  fn = rl_reward.host_reward_fn("learned", format_penalty=1.0, loaded=loaded, length_correction=True)
  verdicts = [types.SimpleNamespace(output_label=label) for label in labels]  # as OracleLabel
  r, parts = fn(None, None, verdicts, tokens, masks)
  np.testing.assert_allclose(parts["task"], scores, atol=1e-5)
  n_out = np.asarray(rm.output_token_counts(tokens, masks, loaded.on_mesh.cfg.tags))
  expected_r = (scores - np.array([l == "malformed" for l in labels])
                - bias["slope"] * (n_out - bias["mean_output_tokens"]))
  np.testing.assert_allclose(r, expected_r, atol=1e-4)


def test_missing_or_mismatched_checkpoints_are_clear_errors(reward_workdir, base_workdir, tmp_path):
  config = reward_config(base_workdir)
  with pytest.raises(FileNotFoundError, match="holds no finished reward model"):
    rl_reward.load_reward_model(tmp_path / "nowhere", config, base_workdir)
  with pytest.raises(FileNotFoundError, match="no reward model workdir given"):
    rl_reward.load_reward_model("", config, base_workdir)
  no_export = tmp_path / "no_export"
  shutil.copytree(reward_workdir, no_export, ignore=shutil.ignore_patterns("export", "ckpt", "data"))
  with pytest.raises(FileNotFoundError, match=r"missing export\)"):
    rl_reward.load_reward_model(no_export, config, base_workdir)
  other_policy = tmp_path / "other_policy"
  other_policy.mkdir()
  tokenizer = tokenizer_lib.load_tokenizer(base_workdir / tokenizer_lib.TOKENIZER_FILENAME)
  tokenizer.save(str(other_policy / tokenizer_lib.TOKENIZER_FILENAME), pretty=False)
  message = (f"the reward model in {reward_workdir} reads another tokenizer than the policy in "
             f"{other_policy}")
  with pytest.raises(ValueError, match=re.escape(message)):
    rl_reward.load_reward_model(reward_workdir, config, other_policy)
  config.model.d_model = 64
  with pytest.raises(checkpoint_lib.CheckpointMismatchError,
                     match="model.d_model: checkpoint=32, expected=64"):
    rl_reward.load_reward_model(reward_workdir, config, base_workdir)


def separable_pairs(rng, n):
  """Pairs whose chosen output holds token 50 and whose rejected one does not (else 60..299)."""
  batch = np.zeros((n, 2, 32), np.int32)
  for row in range(n):
    for side in range(2):
      output = rng.integers(60, 300, 3)
      if side == 0:
        output[rng.integers(3)] = 50
      tier = (int(rng.integers(60, 300)),)
      scratchpad = [T.scratchpad_open, *rng.integers(60, 300, 2).tolist(), T.scratchpad_close]
      seq = transcript(tier=tier, scratchpad=scratchpad,
                       output=[T.output_open, *output.tolist(), T.output_close])
      batch[row, side, :len(seq)] = seq
  return {"inputs": batch, "mask": batch > 0}


def test_a_tiny_reward_model_learns_a_separable_preference():
  config = reward_config()
  config.optimizer.learning_rate = 3e-3
  on_mesh = rl_reward.RewardModelOnMesh.from_config(config, TAGS)
  tx = optim.make_optimizer(config.optimizer, 40)
  state = state_lib.create_train_state(on_mesh.init_params(0), tx, 0, on_mesh.mesh)
  step = rm_job.make_train_step(lambda p, b: rm.preference_loss(on_mesh.model, p, b), tx,
                                state_lib.state_shardings(state, tx, on_mesh.mesh), on_mesh.mesh,
                                on_mesh.rules)
  rng = np.random.default_rng(0)
  held_out = separable_pairs(rng, 32)
  accuracy = lambda params: float(np.mean(np.diff(rm_job.score_pairs(on_mesh, params, held_out, 16),
                                                  axis=1) < 0))
  before = accuracy(state.params)
  for _ in range(40):
    state, metrics = step(state, rm_job.place_batch(separable_pairs(rng, 8), on_mesh.mesh))
  after = accuracy(state.params)
  assert before < 0.8 and after == 1.0, (before, after, float(metrics["loss"]))


def test_pooled_within_label_slope_matches_a_fixed_effects_fit():
  rng = np.random.default_rng(0)
  groups = np.repeat(["comply", "refuse", "malformed"], 20)
  lengths = rng.integers(5, 40, 60).astype(float)
  offsets = {"comply": 3.0, "refuse": -1.0, "malformed": -4.0}
  rewards = np.array([offsets[g] for g in groups]) + 0.07 * lengths + rng.normal(0, 0.1, 60)
  slope, by_label = rm_job.pooled_within_slope(rewards, lengths, groups)
  design = np.column_stack([lengths] + [(groups == g).astype(float) for g in offsets])
  expected = np.linalg.lstsq(design, rewards, rcond=None)[0][0]
  assert slope == pytest.approx(expected, rel=1e-9)
  assert by_label["comply"] == pytest.approx(np.polyfit(lengths[:20], rewards[:20], 1)[0])
  assert rm_job.pooled_within_slope(np.ones(3), np.full(3, 4.0), np.array(["a"] * 3))[0] is None


@pytest.mark.parametrize("overrides, message", [
    ({"data.n_train": 4}, "config.data.n_train=4 is smaller than config.train.batch_size=8"),
    ({"data.seq_len": 1024}, "config.data.seq_len=1024 exceeds config.model.max_seq_len=512"),
    ({"data.n_validation": 0}, "config.data.n_validation=0; allowed: an integer >= 1"),
    ({"train.batch_size": 0}, "config.train.batch_size=0; allowed: a number > 0"),
])
def test_bad_configs(overrides, message):
  config = reward_config()
  for dotted, value in overrides.items():
    section, field = dotted.split(".")
    config[section][field] = value
  with pytest.raises(config_lib.ConfigError, match=re.escape(message)):
    rm_job.validate(config, 1)


def test_full_size_config_validates():
  config = load_config("reward/learned.py")
  rm_job.validate(config, 1)
  assert config.job == "reward_model" and config.data.seq_len <= config.model.max_seq_len
