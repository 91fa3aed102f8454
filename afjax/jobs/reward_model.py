"""Trains the helpful-only reward model on the world's preference pairs.

The model (afjax.models.reward) reads only the request text and the output
block of a transcript; it is trained with the Bradley-Terry loss

    loss = mean_b -log sigmoid(r(chosen_b) - r(rejected_b))

on pairs from afjax.data.reward_data (comply > partial > refuse > malformed,
by the oracle's output labels). Starts from the base model exported in
`config.init.base_workdir` (its tokenizer.json is copied, so the reward model
reads the policy's tokens), or from scratch with a tokenizer trained on the
training pairs when that is empty. Resumable from `WORKDIR/ckpt` like every
training job. At the end it exports the parameters to `WORKDIR/export`
(fingerprint: model, tokenizer, view) and writes `WORKDIR/reward_model.json`:

  validation, test   per split: n_pairs, pairwise_accuracy (share of pairs with
                     r(chosen) > r(rejected)), accuracy_by_kind, mean_margin,
                     mean_reward_by_label and n_by_label (over every chosen and
                     rejected response, by its oracle output label);
  length_bias        the pooled within-label least-squares slope of reward on
                     output-block token count n (tags included) over the
                     validation responses,
                       slope = sum_g sum_{i in g} (n_i - mean_g n)(r_i - mean_g r)
                               / sum_g sum_{i in g} (n_i - mean_g n)^2,
                     g ranging over the output labels; slope_by_label; and
                     mean_output_tokens, the mean n of those responses (the
                     reference of afjax.rl.reward.length_corrected).
"""

from __future__ import annotations

import functools
import json
import pathlib
from typing import Any, Callable, Sequence

import jax
import ml_collections
import numpy as np
import optax

from afjax import config as config_lib
from afjax.data import packing, reward_data
from afjax.data import tokenizer as tokenizer_lib
from afjax.evaluation import monitor_eval
from afjax.jobs import common, pooled_head
from afjax.jobs import monitor as monitor_job
from afjax.models import reward as reward_model_lib
from afjax.parallel import multihost
from afjax.rl import reward as rl_reward
from afjax.training import state as state_lib, supervised

SUMMARY_FILE = rl_reward.SUMMARY_FILE
BATCH_NDIMS = {"inputs": 3, "mask": 3}
DATA_FIELDS = tuple(f"data.{name}" for name in reward_data.SIZE_FIELDS + ("seed", "data_dir"))
REQUIRED = ("seed", "model", "mesh", "mesh_rules", "optimizer", "checkpoint", "init.base_workdir",
            "data.seq_len", "train.steps", "train.batch_size", "train.log_every",
            "train.eval_every") + DATA_FIELDS


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks every field the reward_model job reads; raises ConfigError, writes nothing."""
  config_lib.require(config, REQUIRED)
  config_lib.validate_trainer(config, num_devices)
  spec = pooled_head.data_spec(config, reward_data.RewardDataSpec)
  pooled_head.validate_rows(config, spec.n_train)


def make_train_step(loss_fn: Callable, tx: optax.GradientTransformation,
                    shardings: state_lib.TrainState, mesh: jax.sharding.Mesh, rules) -> Callable:
  """supervised.train_step jitted for pair batches (inputs and mask [B, 2, T])."""
  return supervised.make_train_step(loss_fn, tx, shardings, mesh, rules, BATCH_NDIMS)


def place_batch(batch: dict[str, np.ndarray], mesh: jax.sharding.Mesh) -> dict[str, jax.Array]:
  """Host pair rows on the mesh, split over the batch axes (each process passes its own rows)."""
  return supervised.place_batch(batch, mesh, BATCH_NDIMS)


def score_pairs(on_mesh: rl_reward.RewardModelOnMesh, params: Any, rows: dict[str, np.ndarray],
                batch_size: int) -> np.ndarray:
  """Rewards of every chosen and rejected response: rows [N, 2, T] -> [N, 2] float64."""
  n, _, length = rows["inputs"].shape
  flat = {key: rows[key].reshape(2 * n, length) for key in ("inputs", "mask")}  # [2N, T]
  return monitor_eval.score_rows(on_mesh.scorer, params, flat, batch_size).reshape(n, 2)


@functools.lru_cache(maxsize=None)
def _jitted_output_counts(tags: reward_model_lib.RewardTagIds) -> Callable:
  return jax.jit(functools.partial(reward_model_lib.output_token_counts, tags=tags))


def output_lengths(rows: dict[str, np.ndarray], tags: reward_model_lib.RewardTagIds) -> np.ndarray:
  """Output-block token counts of every response: rows [N, 2, T] -> [N, 2] int."""
  n, _, length = rows["inputs"].shape
  counts = _jitted_output_counts(tags)(rows["inputs"].reshape(2 * n, length),
                                       rows["mask"].reshape(2 * n, length))
  return np.asarray(counts).reshape(n, 2)


def pooled_within_slope(rewards: np.ndarray, lengths: np.ndarray, groups: np.ndarray
                        ) -> tuple[float | None, dict[str, float | None]]:
  """The least-squares slope of reward on length within each group, pooled, and each group's.

  slope = sum_g sum_{i in g} (n_i - mean_g n)(r_i - mean_g r) / sum_g sum_{i in g} (n_i - mean_g n)^2

  Args:
    rewards, lengths, groups: [M] arrays (groups: labels).

  Returns:
    (pooled slope, {group: slope}); None where the lengths do not vary.
  """
  rewards, lengths, groups = (np.asarray(a).ravel() for a in (rewards, lengths, groups))
  numerator = denominator = 0.0
  by_group = {}
  for group in sorted(set(groups.tolist())):
    x = lengths[groups == group].astype(np.float64)
    y = rewards[groups == group].astype(np.float64)
    sxy, sxx = float(np.sum((x - x.mean()) * (y - y.mean()))), float(np.sum((x - x.mean()) ** 2))
    by_group[group] = sxy / sxx if sxx > 0 else None
    numerator, denominator = numerator + sxy, denominator + sxx
  return (numerator / denominator if denominator > 0 else None), by_group


def split_figures(scores: np.ndarray, examples: Sequence[dict]) -> dict:
  """Pairwise accuracy (overall and by pair kind), mean margin and mean reward by output label.

  Args:
    scores: [N, 2] rewards of (chosen, rejected).
    examples: the N pairs.
  """
  correct = scores[:, 0] > scores[:, 1]  # [N]
  kinds = np.array([e["kind"] for e in examples])
  response_labels = reward_data.response_labels(examples)  # [N, 2]
  return {
      "n_pairs": len(examples),
      "pairwise_accuracy": float(np.mean(correct)),
      "accuracy_by_kind": {kind: float(np.mean(correct[kinds == kind]))
                           for kind in reward_data.PAIR_KINDS if np.any(kinds == kind)},
      "mean_margin": float(np.mean(scores[:, 0] - scores[:, 1])),
      "mean_reward_by_label": {label: float(np.mean(scores[response_labels == label]))
                               for label in reward_data.RANK if np.any(response_labels == label)},
      "n_by_label": {label: int(np.sum(response_labels == label))
                     for label in reward_data.RANK if np.any(response_labels == label)},
  }


def length_bias(scores: np.ndarray, lengths: np.ndarray, examples: Sequence[dict]) -> dict:
  """The length_bias section of reward_model.json (module docstring) from [N, 2] scores and lengths."""
  slope, by_label = pooled_within_slope(scores, lengths, reward_data.response_labels(examples))
  return {"slope": slope, "slope_by_label": by_label,
          "mean_output_tokens": float(np.mean(lengths)),
          "fit": "pooled within-output-label least squares of reward on output tokens"}


def validation_figures(on_mesh: rl_reward.RewardModelOnMesh, params: Any,
                       rows: dict[str, np.ndarray], batch_size: int) -> dict:
  """Pairwise accuracy and Bradley-Terry loss of pair rows."""
  scores = score_pairs(on_mesh, params, rows, batch_size)
  margin = scores[:, 0] - scores[:, 1]
  return {"pairwise_accuracy": float(np.mean(margin > 0)),
          "bt_loss": float(np.mean(np.logaddexp(0.0, -margin)))}


def train_reward_model(config: ml_collections.ConfigDict, workdir: pathlib.Path,
                       on_mesh: rl_reward.RewardModelOnMesh, get_batch: Callable[[int], dict],
                       validation_rows: dict[str, np.ndarray], fingerprint: dict,
                       init_params: Callable[[], Any] | None) -> state_lib.TrainState:
  """AdamW on the Bradley-Terry loss from step 0 or the newest checkpoint in WORKDIR/ckpt."""
  return pooled_head.train(
      config, workdir, on_mesh, reward_model_lib.preference_loss, BATCH_NDIMS, get_batch,
      lambda params: validation_figures(on_mesh, params, validation_rows, config.train.batch_size),
      fingerprint, init_params, desc="reward_model")


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains the reward model; returns (and writes to reward_model.json) its summary."""
  workdir_path = common.prepare_workdir(config, workdir)
  spec = reward_data.RewardDataSpec.from_config(config.data)
  builder = reward_data.reward_dataset(config.data.data_dir or workdir_path / "data", spec)
  splits = {split: reward_data.read_split(builder, split) for split in reward_data.SPLITS}
  tokenizer_path = monitor_job.prepare_monitor_tokenizer(
      config, workdir_path,
      lambda: [e[key] for e in splits[reward_data.TRAIN] for key in ("text_chosen", "text_rejected")])
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_path)
  tokenizer_sha = common.file_sha256(tokenizer_path)
  on_mesh = rl_reward.RewardModelOnMesh.from_config(config, reward_data.tag_ids(tokenizer))
  seq_len, batch_size = config.data.seq_len, config.train.batch_size
  rows = {split: reward_data.pair_rows(tokenizer, examples, seq_len)
          for split, examples in splits.items()}
  dataset = f"{spec.name}/{builder.version}"
  fingerprint = pooled_head.train_fingerprint(config, reward_model_lib.VIEW, tokenizer_sha, dataset)
  state = train_reward_model(
      config, workdir_path, on_mesh,
      packing.PackedBatches(rows[reward_data.TRAIN], batch_size, config.seed).get_batch,
      rows[reward_data.VALIDATION], fingerprint,
      pooled_head.initial_params(config, on_mesh, tokenizer_sha))
  figures, scores = {}, {}
  for split in (reward_data.VALIDATION, reward_data.TEST):
    scores[split] = score_pairs(on_mesh, state.params, rows[split], batch_size)
    figures[split] = split_figures(scores[split], splits[split])
  validation = reward_data.VALIDATION
  bias = length_bias(scores[validation], output_lengths(rows[validation], on_mesh.cfg.tags),
                     splits[validation])
  common.export_params(workdir_path, int(state.step), state.params,
                       rl_reward.export_fingerprint(on_mesh.cfg, tokenizer_sha))
  summary = monitor_eval.json_safe({
      "view": reward_model_lib.VIEW, "step": int(state.step), **figures, "length_bias": bias,
      "data": spec.as_dict(), "dataset": dataset, "tokenizer_sha256": tokenizer_sha,
      "base_workdir": fingerprint["base_workdir"],
      "params_sha256": state_lib.params_digest(state.params)})
  multihost.write_text(workdir_path / SUMMARY_FILE, json.dumps(summary, indent=2))
  print(f"reward model done: step {summary['step']}, pairwise accuracy validation "
        f"{figures[validation]['pairwise_accuracy']:.3f}, test "
        f"{figures[reward_data.TEST]['pairwise_accuracy']:.3f}, length slope {bias['slope']}",
        flush=True)
  return summary
