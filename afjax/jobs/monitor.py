"""Trains one monitor: the scratchpad AF classifier or the output-only monitor.

`config.monitor.view` picks it: "scratchpad" reads the prompt and the scratchpad,
"output" the prompt and the final output (afjax.models.monitor). Both predict
the strict explicit-AF label of the world's monitor examples
(afjax.data.monitor_data; every motivation and style, no held-out paraphrase
family) with binary cross-entropy.

Starts from the base model exported in `config.init.base_workdir` (its
tokenizer.json is copied, so the monitor reads the policy's tokens), or from
scratch with a tokenizer trained on the training split when that is empty.
Resumable from `WORKDIR/ckpt` like every training job. At the end it scores the
validation split, chooses the operating threshold there
(afjax.evaluation.monitor_eval.f1_threshold), exports the parameters to
`WORKDIR/export` (fingerprint: model, tokenizer, view) and writes
`WORKDIR/monitor.json` (view, threshold, validation figures, data spec).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Callable

import jax
import ml_collections
import numpy as np
import optax

from afjax import config as config_lib
from afjax.data import monitor_data, packing, world_data
from afjax.data import tokenizer as tokenizer_lib
from afjax.evaluation import monitor_eval
from afjax.jobs import common, pooled_head
from afjax.models import monitor as monitor_lib
from afjax.models import transformer as tfm
from afjax.parallel import multihost
from afjax.training import state as state_lib, supervised

SUMMARY_FILE = "monitor.json"
BATCH_NDIMS = {"inputs": 2, "mask": 2, "labels": 1}
DATA_FIELDS = tuple(f"data.{name}" for name in monitor_data.SIZE_FIELDS + ("seed", "data_dir"))
REQUIRED = ("seed", "model", "mesh", "mesh_rules", "optimizer", "checkpoint", "monitor.view",
            "init.base_workdir", "data.seq_len", "train.steps", "train.batch_size",
            "train.log_every", "train.eval_every") + DATA_FIELDS


def validate_data(config: ml_collections.ConfigDict) -> monitor_data.MonitorDataSpec:
  """Checks the data sizes and seed; returns their spec."""
  config_lib.require(config, DATA_FIELDS)
  return pooled_head.data_spec(config, monitor_data.MonitorDataSpec)


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks every field the monitor job reads; raises ConfigError, writes nothing."""
  config_lib.require(config, REQUIRED)
  config_lib.validate_trainer(config, num_devices)
  config_lib.check_choice(config, "monitor.view", monitor_lib.VIEWS)
  spec = validate_data(config)
  pooled_head.validate_rows(config, spec.n_train)


@dataclasses.dataclass
class MonitorOnMesh(common.PooledHeadOnMesh):
  """A monitor's config and module, the mesh and rules, and its sharded initialisation."""

  cfg: monitor_lib.MonitorConfig
  model: monitor_lib.MonitorClassifier

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, view: str,
                  tags: monitor_lib.TagIds) -> "MonitorOnMesh":
    cfg = monitor_lib.MonitorConfig(tfm.TransformerConfig.from_dict(config.model), view, tags)
    return cls.on_config_mesh(config, cfg, monitor_lib.MonitorClassifier(cfg))

  def score_fn(self) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """monitor_lib.score_fn: p [B] of tokens and masks [B, T] (`scorer` jits it)."""
    return monitor_lib.score_fn(self.cfg)


def export_fingerprint(cfg: monitor_lib.MonitorConfig, tokenizer_sha256: str) -> dict:
  """What an exported monitor must match: decoder config, tokenizer and view."""
  return {**common.export_fingerprint(cfg.decoder, tokenizer_sha256), "monitor": {"view": cfg.view}}


@dataclasses.dataclass
class LoadedMonitor:
  """A finished monitor: where it is, its model on the mesh, params, threshold and summary."""

  workdir: pathlib.Path
  monitor: MonitorOnMesh
  params: Any
  threshold: float
  summary: dict


def load_monitor(workdir: str | pathlib.Path, config: ml_collections.ConfigDict,
                 view: str) -> LoadedMonitor:
  """The monitor that a finished run of this job left in `workdir`.

  Raises:
    FileNotFoundError if the run has not finished; ValueError if it trained
    another view; CheckpointMismatchError naming each differing field if its
    model config (config.model) or tokenizer differs from the export's.
  """
  workdir = pathlib.Path(workdir)
  tokenizer_path = workdir / tokenizer_lib.TOKENIZER_FILENAME
  summary_path = workdir / SUMMARY_FILE
  if not all(p.exists() for p in (tokenizer_path, summary_path, workdir / common.EXPORT_DIR)):
    raise FileNotFoundError(
        f"{workdir} holds no finished monitor (tokenizer.json, {SUMMARY_FILE} and export/); run "
        f"configs/monitors/{view}.py there first")
  summary = json.loads(summary_path.read_text())
  if summary.get("view") != view:
    raise ValueError(f"{workdir} holds a monitor of view {summary.get('view')!r}, but a "
                     f"{view!r} monitor is asked for; allowed: the workdir of a "
                     f"configs/monitors/{view}.py run")
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_path)
  monitor = MonitorOnMesh.from_config(config, view, monitor_data.tag_ids(tokenizer))
  params = monitor.restore_export(
      workdir, export_fingerprint(monitor.cfg, common.file_sha256(tokenizer_path)))
  return LoadedMonitor(workdir, monitor, params, float(summary["threshold"]), summary)


def make_train_step(loss_fn: Callable, tx: optax.GradientTransformation,
                    shardings: state_lib.TrainState, mesh: jax.sharding.Mesh, rules) -> Callable:
  """supervised.train_step jitted for classifier batches (labels are [B], not [B, T])."""
  return supervised.make_train_step(loss_fn, tx, shardings, mesh, rules, BATCH_NDIMS)


def place_batch(batch: dict[str, np.ndarray], mesh: jax.sharding.Mesh) -> dict[str, jax.Array]:
  """Host rows on the mesh, split over the batch axes (each process passes its own rows)."""
  return supervised.place_batch(batch, mesh, BATCH_NDIMS)


def validation_figures(monitor: MonitorOnMesh, params: Any, rows: dict[str, np.ndarray],
                       batch_size: int) -> tuple[np.ndarray, dict]:
  """Validation scores and their log loss, AUROC and accuracy at p >= 0.5."""
  scores = monitor_eval.score_rows(monitor.scorer, params, rows, batch_size)
  labels = rows["labels"]
  clipped = np.clip(scores, 1e-7, 1 - 1e-7)
  log_loss = float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped)))
  return scores, {"loss": log_loss, "auroc": monitor_eval.auroc(scores, labels.astype(int)),
                  "accuracy": float(np.mean((scores >= 0.5) == (labels > 0.5)))}


def train_monitor(config: ml_collections.ConfigDict, workdir: pathlib.Path, monitor: MonitorOnMesh,
                  get_batch: Callable[[int], dict], validation_rows: dict[str, np.ndarray],
                  fingerprint: dict, init_params: Callable[[], Any] | None) -> state_lib.TrainState:
  """AdamW on the classifier loss from step 0 or the newest checkpoint in WORKDIR/ckpt."""
  return pooled_head.train(
      config, workdir, monitor, monitor_lib.classifier_loss, BATCH_NDIMS, get_batch,
      lambda params: validation_figures(monitor, params, validation_rows,
                                        config.train.batch_size)[1],
      fingerprint, init_params, desc=f"monitor_{monitor.cfg.view}")


def prepare_monitor_tokenizer(config: ml_collections.ConfigDict, workdir: pathlib.Path,
                              train_texts: Callable[[], list[str]]) -> pathlib.Path:
  """WORKDIR/tokenizer.json: the base model's, or one trained on the training texts."""
  tokenizer_path = workdir / tokenizer_lib.TOKENIZER_FILENAME
  if not config.init.base_workdir:
    common.prepare_tokenizer(tokenizer_path, train_texts, config.model.vocab_size,
                             world_data.SPECIAL_TOKENS)
    return tokenizer_path
  base = pathlib.Path(config.init.base_workdir)
  base_tokenizer = base / tokenizer_lib.TOKENIZER_FILENAME
  if not (base / common.EXPORT_DIR).exists() or not base_tokenizer.exists():
    raise FileNotFoundError(f"{base} holds no finished base model (tokenizer.json and export/); "
                            "run configs/organisms/base.py there first, or set "
                            "config.init.base_workdir='' to train from scratch")
  return common.copy_tokenizer(base, workdir, "base model")[0]


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains the monitor; returns (and writes to monitor.json) its summary."""
  workdir_path = common.prepare_workdir(config, workdir)
  spec = monitor_data.MonitorDataSpec.from_config(config.data)
  builder = monitor_data.monitor_dataset(config.data.data_dir or workdir_path / "data", spec)
  train_examples = monitor_data.read_split(builder, monitor_data.TRAIN)
  tokenizer_path = prepare_monitor_tokenizer(config, workdir_path,
                                             lambda: [e["text"] for e in train_examples])
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_path)
  tokenizer_sha = common.file_sha256(tokenizer_path)
  monitor = MonitorOnMesh.from_config(config, config.monitor.view, monitor_data.tag_ids(tokenizer))
  seq_len, batch_size = config.data.seq_len, config.train.batch_size
  train_rows = monitor_data.classifier_rows(tokenizer, train_examples, seq_len)
  validation_rows = monitor_data.classifier_rows(
      tokenizer, monitor_data.read_split(builder, monitor_data.VALIDATION), seq_len)
  fingerprint = pooled_head.train_fingerprint(config, config.monitor.view, tokenizer_sha,
                                              f"{spec.name}/{builder.version}")
  state = train_monitor(config, workdir_path, monitor,
                        packing.PackedBatches(train_rows, batch_size, config.seed).get_batch,
                        validation_rows, fingerprint,
                        pooled_head.initial_params(config, monitor, tokenizer_sha))
  scores, _ = validation_figures(monitor, state.params, validation_rows, batch_size)
  labels = validation_rows["labels"].astype(int)
  threshold = monitor_eval.f1_threshold(scores, labels)
  common.export_params(workdir_path, int(state.step), state.params,
                       export_fingerprint(monitor.cfg, tokenizer_sha))
  summary = {"view": config.monitor.view, "step": int(state.step), "threshold": threshold,
             "threshold_rule": monitor_eval.THRESHOLD_RULE,
             "validation": monitor_eval.classification_figures(scores, labels, threshold),
             "data": spec.as_dict(), "dataset": f"{spec.name}/{builder.version}",
             "tokenizer_sha256": tokenizer_sha, "base_workdir": fingerprint["base_workdir"],
             "params_sha256": state_lib.params_digest(state.params)}
  summary = monitor_eval.json_safe(summary)
  multihost.write_text(workdir_path / SUMMARY_FILE, json.dumps(summary, indent=2))
  validation = summary["validation"]
  print(f"monitor {config.monitor.view} done: step {summary['step']}, validation AUROC "
        f"{validation['auroc']}, threshold {threshold:.3f} (precision {validation['precision']}, "
        f"recall {validation['recall']})", flush=True)
  return summary
