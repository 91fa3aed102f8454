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
import functools
import json
import pathlib
import shutil
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from afjax import config as config_lib
from afjax.data import monitor_data, packing, world_data
from afjax.data import tokenizer as tokenizer_lib
from afjax.evaluation import monitor_eval
from afjax.jobs import common
from afjax.models import monitor as monitor_lib
from afjax.models import transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.training import checkpoint as checkpoint_lib
from afjax.training import logging as log_lib
from afjax.training import loop, optim, state as state_lib, supervised

SUMMARY_FILE = "monitor.json"
BATCH_NDIMS = {"inputs": 2, "mask": 2, "labels": 1}
DATA_FIELDS = tuple(f"data.{name}" for name in monitor_data.SIZE_FIELDS + ("seed", "data_dir"))
REQUIRED = ("seed", "model", "mesh", "mesh_rules", "optimizer", "checkpoint", "monitor.view",
            "init.base_workdir", "data.seq_len", "train.steps", "train.batch_size",
            "train.log_every", "train.eval_every") + DATA_FIELDS


def validate_data(config: ml_collections.ConfigDict) -> monitor_data.MonitorDataSpec:
  """Checks the data sizes and seed; returns their spec."""
  config_lib.require(config, DATA_FIELDS)
  try:
    return monitor_data.MonitorDataSpec.from_config(config.data)
  except ValueError as err:
    raise config_lib.ConfigError(f"config.{err}") from None


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks every field the monitor job reads; raises ConfigError, writes nothing."""
  config_lib.require(config, REQUIRED)
  config_lib.validate_trainer(config, num_devices)
  config_lib.check_choice(config, "monitor.view", monitor_lib.VIEWS)
  spec = validate_data(config)
  config_lib.check_positive(config, "data.seq_len")
  if spec.n_train < config.train.batch_size:
    raise config_lib.ConfigError(
        f"config.data.n_train={spec.n_train} is smaller than config.train.batch_size="
        f"{config.train.batch_size}; allowed: n_train >= batch_size")
  if config.data.seq_len > config.model.max_seq_len:
    raise config_lib.ConfigError(
        f"config.data.seq_len={config.data.seq_len} exceeds config.model.max_seq_len="
        f"{config.model.max_seq_len}; allowed: <= {config.model.max_seq_len}")
  minimum = 256 + len(tokenizer_lib.SPECIAL_TOKENS) + len(world_data.SPECIAL_TOKENS)
  if config.model.vocab_size < minimum:
    raise config_lib.ConfigError(
        f"config.model.vocab_size={config.model.vocab_size}; allowed: >= {minimum} "
        "(the byte alphabet plus the special tokens)")


@dataclasses.dataclass
class MonitorOnMesh:
  """A monitor's config and module, the mesh and rules, and its sharded initialisation."""

  cfg: monitor_lib.MonitorConfig
  model: monitor_lib.MonitorClassifier
  mesh: jax.sharding.Mesh
  rules: tuple

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, view: str,
                  tags: monitor_lib.TagIds) -> "MonitorOnMesh":
    cfg = monitor_lib.MonitorConfig(tfm.TransformerConfig.from_dict(config.model), view, tags)
    return cls(cfg, monitor_lib.MonitorClassifier(cfg), mesh_lib.make_mesh(dict(config.mesh)),
               mesh_lib.rules_from_config(config.mesh_rules))

  def init_fn(self, key: jax.Array) -> Any:
    dummy = jnp.zeros((1, 8), jnp.int32)
    return self.model.init(key, dummy, dummy == 0)["params"]

  def init_params(self, seed: int) -> Any:
    return state_lib.init_params(self.init_fn, jax.random.key(seed), self.mesh, self.rules)

  def param_shardings(self) -> Any:
    return state_lib.param_shardings(self.init_fn, self.mesh, self.rules)

  def abstract_params(self) -> Any:
    with mesh_lib.use_mesh(self.mesh, self.rules):
      shapes = jax.eval_shape(lambda k: nn.meta.unbox(self.init_fn(k)), jax.random.key(0))
    return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                        shapes, self.param_shardings())

  def decoder_on_mesh(self) -> common.ModelOnMesh:
    """The decoder alone, as the base model's export describes it."""
    return common.ModelOnMesh(self.cfg.decoder, tfm.Transformer(self.cfg.decoder), self.mesh,
                              self.rules)

  @functools.cached_property
  def scorer(self) -> Callable[[Any, np.ndarray, np.ndarray], jax.Array]:
    """score(params, tokens [B, T], masks [B, T]) -> p [B], jitted once, the batch split over the mesh."""
    score = jax.jit(monitor_lib.score_fn(self.cfg),
                    in_shardings=(self.param_shardings(), mesh_lib.batch_sharding(self.mesh, 2),
                                  mesh_lib.batch_sharding(self.mesh, 2)),
                    out_shardings=mesh_lib.batch_sharding(self.mesh, 1))

    def scorer(params, tokens, masks):
      with mesh_lib.use_mesh(self.mesh, self.rules):
        return score(params, tokens, masks)

    return scorer


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
  fingerprint = export_fingerprint(monitor.cfg, common.file_sha256(tokenizer_path))
  with checkpoint_lib.Checkpointer(workdir / common.EXPORT_DIR, save_every=1, keep=1) as exporter:
    _, restored = exporter.restore({"params": monitor.abstract_params()}, fingerprint)
  return LoadedMonitor(workdir, monitor, restored["params"], float(summary["threshold"]), summary)


def make_train_step(loss_fn: Callable, tx: optax.GradientTransformation,
                    shardings: state_lib.TrainState, mesh: jax.sharding.Mesh, rules) -> Callable:
  """supervised.train_step jitted for classifier batches (labels are [B], not [B, T])."""
  batch_shardings = {key: mesh_lib.batch_sharding(mesh, ndim) for key, ndim in BATCH_NDIMS.items()}
  jitted = jax.jit(lambda state, batch: supervised.train_step(state, batch, loss_fn=loss_fn, tx=tx),
                   in_shardings=(shardings, batch_shardings),
                   out_shardings=(shardings, mesh_lib.replicated(mesh)), donate_argnums=(0,))

  def step(state: state_lib.TrainState, batch: dict[str, Any]):
    with mesh_lib.use_mesh(mesh, rules):
      return jitted(state, {key: batch[key] for key in BATCH_NDIMS})

  return step


def place_batch(batch: dict[str, np.ndarray], mesh: jax.sharding.Mesh) -> dict[str, jax.Array]:
  """Host rows on the mesh, split over the batch axes (each process passes its own rows)."""
  shardings = {key: mesh_lib.batch_sharding(mesh, ndim) for key, ndim in BATCH_NDIMS.items()}
  if jax.process_count() == 1:
    return {key: jax.device_put(batch[key], shardings[key]) for key in BATCH_NDIMS}
  return {key: jax.make_array_from_process_local_data(shardings[key], batch[key])
          for key in BATCH_NDIMS}


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
  checkpointer = checkpoint_lib.Checkpointer(workdir / "ckpt", config.checkpoint.every,
                                             config.checkpoint.keep)
  resuming = checkpointer.latest_step() is not None
  params = monitor.init_params(config.seed) if resuming or init_params is None else init_params()
  mesh_lib.assert_large_params_sharded(params, monitor.mesh)
  tx = optim.make_optimizer(config.optimizer, config.train.steps)
  state = state_lib.create_train_state(params, tx, config.seed, monitor.mesh)
  shardings = state_lib.state_shardings(state, tx, monitor.mesh)
  state = loop.resume_or_init(checkpointer, state, shardings, fingerprint)
  step_fn = make_train_step(lambda p, b: monitor_lib.classifier_loss(monitor.model, p, b), tx,
                            shardings, monitor.mesh, monitor.rules)

  def eval_fn(train_state: state_lib.TrainState) -> dict:
    return validation_figures(monitor, train_state.params, validation_rows,
                              config.train.batch_size)[1]

  with log_lib.MetricLogger(workdir) as logger:
    state = loop.train_loop(
        state, step_fn, get_batch, config.train.steps, checkpointer, logger, fingerprint,
        log_every=config.train.log_every, eval_fn=eval_fn, eval_every=config.train.eval_every,
        desc=f"monitor_{monitor.cfg.view}", place=lambda b: place_batch(b, monitor.mesh))
  checkpointer.close()
  return state


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
  if not tokenizer_path.exists():
    shutil.copyfile(base_tokenizer, tokenizer_path)
  if common.file_sha256(tokenizer_path) != common.file_sha256(base_tokenizer):
    raise ValueError(f"{tokenizer_path} differs from the base model's {base_tokenizer}; "
                     "use a new workdir")
  return tokenizer_path


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains the monitor; returns (and writes to monitor.json) its summary."""
  workdir_path = pathlib.Path(workdir)
  workdir_path.mkdir(parents=True, exist_ok=True)
  (workdir_path / "config.json").write_text(config.to_json_best_effort(indent=2))
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
  base = config.init.base_workdir
  fingerprint = {"job": config.job, "view": config.monitor.view, "model": dict(config.model),
                 "tokenizer_sha256": tokenizer_sha, "dataset": f"{spec.name}/{builder.version}",
                 "seq_len": seq_len, "batch_size": batch_size, "seed": config.seed,
                 "base_workdir": str(pathlib.Path(base).resolve()) if base else ""}

  def params_from_base() -> Any:
    params = monitor.init_params(config.seed)
    decoder = common.load_exported_params(pathlib.Path(base), monitor.decoder_on_mesh(),
                                          tokenizer_sha)
    return {**params, "decoder": decoder}

  state = train_monitor(config, workdir_path, monitor,
                        packing.PackedBatches(train_rows, batch_size, config.seed).get_batch,
                        validation_rows, fingerprint, params_from_base if base else None)
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
  (workdir_path / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
  validation = summary["validation"]
  print(f"monitor {config.monitor.view} done: step {summary['step']}, validation AUROC "
        f"{validation['auroc']}, threshold {threshold:.3f} (precision {validation['precision']}, "
        f"recall {validation['recall']})", flush=True)
  return summary
