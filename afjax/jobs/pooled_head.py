"""What the monitor and reward_model jobs share: checks, fingerprint and training of a pooled head.

Both train a decoder with a pooled scalar head (common.PooledHeadOnMesh) on
token rows of the world's transcripts: from step 0 or the newest checkpoint in
WORKDIR/ckpt, with AdamW on a loss of (model, params, batch), and the
decoder taken from the base model exported in config.init.base_workdir when
that is set.
"""

from __future__ import annotations

import pathlib
from typing import Any, Callable, Mapping

import ml_collections

from afjax import config as config_lib
from afjax.data import world_data
from afjax.data import tokenizer as tokenizer_lib
from afjax.jobs import common
from afjax.parallel import mesh as mesh_lib
from afjax.training import checkpoint as checkpoint_lib
from afjax.training import logging as log_lib
from afjax.training import loop, optim, state as state_lib, supervised


def data_spec(config: ml_collections.ConfigDict, spec_cls: type) -> Any:
  """spec_cls.from_config(config.data), its ValueError raised as a ConfigError."""
  try:
    return spec_cls.from_config(config.data)
  except ValueError as err:
    raise config_lib.ConfigError(f"config.{err}") from None


def validate_rows(config: ml_collections.ConfigDict, n_train: int) -> None:
  """Checks data.seq_len against model.max_seq_len, n_train against the batch and the vocab size."""
  config_lib.check_positive(config, "data.seq_len")
  if n_train < config.train.batch_size:
    raise config_lib.ConfigError(
        f"config.data.n_train={n_train} is smaller than config.train.batch_size="
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


def base_workdir(config: ml_collections.ConfigDict) -> str:
  """config.init.base_workdir resolved, or "" to train from scratch."""
  base = config.init.base_workdir
  return str(pathlib.Path(base).resolve()) if base else ""


def train_fingerprint(config: ml_collections.ConfigDict, view: str, tokenizer_sha256: str,
                      dataset: str) -> dict:
  """What a checkpoint of this run must match to be resumed."""
  return {"job": config.job, "view": view, "model": dict(config.model),
          "tokenizer_sha256": tokenizer_sha256, "dataset": dataset,
          "seq_len": config.data.seq_len, "batch_size": config.train.batch_size,
          "seed": config.seed, "base_workdir": base_workdir(config),
          **common.schedule_fingerprint(config)}


def initial_params(config: ml_collections.ConfigDict, on_mesh: common.PooledHeadOnMesh,
                   tokenizer_sha256: str) -> Callable[[], Any] | None:
  """The parameters to start from with the base model's decoder, or None without a base model."""
  base = config.init.base_workdir
  if not base:
    return None
  return lambda: on_mesh.params_from_base(pathlib.Path(base), config.seed, tokenizer_sha256)


def train(config: ml_collections.ConfigDict, workdir: pathlib.Path,
          on_mesh: common.PooledHeadOnMesh, loss_fn: Callable, batch_ndims: Mapping[str, int],
          get_batch: Callable[[int], dict], eval_fn: Callable[[Any], dict], fingerprint: dict,
          init_params: Callable[[], Any] | None, desc: str) -> state_lib.TrainState:
  """AdamW on loss_fn from step 0 or the newest checkpoint in WORKDIR/ckpt.

  Args:
    config: the job's config (seed, optimizer, checkpoint and train sections).
    workdir: WORKDIR.
    on_mesh: the model on its mesh.
    loss_fn: loss_fn(model, params, batch) -> (loss, metrics).
    batch_ndims: {batch key: rank} of the arrays a step reads.
    get_batch: get_batch(k) -> the k-th host batch.
    eval_fn: eval_fn(params) -> figures, logged every config.train.eval_every steps.
    fingerprint: what a checkpoint must match to be resumed.
    init_params: the parameters to start from (not called when resuming), or
      None for on_mesh.init_params(config.seed).
    desc: the progress bar's name.

  Returns:
    The final train state.
  """
  checkpointer = checkpoint_lib.Checkpointer(workdir / "ckpt", config.checkpoint.every,
                                             config.checkpoint.keep)
  resuming = checkpointer.latest_step() is not None
  params = on_mesh.init_params(config.seed) if resuming or init_params is None else init_params()
  mesh_lib.assert_large_params_sharded(params, on_mesh.mesh)
  tx = optim.make_optimizer(config.optimizer, config.train.steps)
  state = state_lib.create_train_state(params, tx, config.seed, on_mesh.mesh)
  shardings = state_lib.state_shardings(state, tx, on_mesh.mesh)
  state = loop.resume_or_init(checkpointer, state, shardings, fingerprint)
  step_fn = supervised.make_train_step(lambda p, b: loss_fn(on_mesh.model, p, b), tx, shardings,
                                       on_mesh.mesh, on_mesh.rules, batch_ndims)
  with log_lib.MetricLogger(workdir, resume_step=int(state.step)) as logger:
    state = loop.train_loop(
        state, step_fn, get_batch, config.train.steps, checkpointer, logger, fingerprint,
        log_every=config.train.log_every, eval_fn=lambda s: eval_fn(s.params),
        eval_every=config.train.eval_every, desc=desc,
        place=lambda b: supervised.place_batch(b, on_mesh.mesh, batch_ndims))
  checkpointer.close()
  return state
