"""Pieces every training job shares: tokenizer, model on a mesh, exported params."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import pathlib
import shutil
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from afjax import config as config_lib
from afjax.data import tokenizer as tokenizer_lib
from afjax.models import transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.parallel import multihost
from afjax.training import checkpoint as checkpoint_lib
from afjax.training import state as state_lib

EXPORT_DIR = "export"
CONFIG_FILE = "config.json"


def file_sha256(path: pathlib.Path) -> str:
  return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def prepare_workdir(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> pathlib.Path:
  """Creates WORKDIR if needed; writes the run's config to WORKDIR/config.json if there is none.

  A config.json already there describes the run whose files the workdir holds,
  and other jobs read it (a policy's model, a monitor's data). So a config of
  another job is refused (ConfigError, nothing written), and a rerun's config
  replaces it only once the rerun has finished (`record_config`, which
  afjax.main calls): a rerun that the checkpoints refuse leaves it as it was.
  Every process creates the directory (the same one on a shared filesystem,
  its own otherwise); process 0 alone writes the config.
  """
  workdir_path = pathlib.Path(workdir)
  config_path = workdir_path / CONFIG_FILE
  if config_path.exists():
    try:
      job = json.loads(config_path.read_text()).get("job")
    except (ValueError, AttributeError):
      raise config_lib.ConfigError(
          f"{config_path} is not a JSON config; allowed: a workdir that afjax made, or a new "
          "one") from None
    if job != config.get("job"):
      raise config_lib.ConfigError(
          f"{workdir_path} holds a {job!r} run ({config_path}), not a {config.get('job')!r} "
          "one; allowed: a new workdir, or one made by this job")
  workdir_path.mkdir(parents=True, exist_ok=True)
  if not config_path.exists():
    record_config(config, workdir_path)
  return workdir_path


def record_config(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> None:
  """Writes the config to WORKDIR/config.json (process 0)."""
  multihost.write_text(pathlib.Path(workdir) / CONFIG_FILE, config.to_json_best_effort(indent=2))


def check_finished_workdir(workdir: str, what: str, files: tuple[str, ...], config_hint: str
                           ) -> None:
  """Raises ConfigError unless `workdir` holds every one of `files` (a finished run's outputs).

  Args:
    what: the config field that names the workdir, e.g. "config.init.base_workdir".
    config_hint: the config whose run makes such a workdir, for the message.
  """
  path = pathlib.Path(workdir)
  missing = [f for f in files if not (path / f).exists()]
  if missing:
    raise config_lib.ConfigError(
        f"{what}: {path} holds no finished run (missing {missing}); allowed: the workdir of a "
        f"finished {config_hint} run")


def copy_tokenizer(source_workdir: pathlib.Path, workdir: pathlib.Path, source_name: str
                   ) -> tuple[pathlib.Path, str]:
  """WORKDIR/tokenizer.json as a copy of SOURCE/tokenizer.json (made by process 0 if missing).

  The source is checked before it is copied: it must load, and where SOURCE
  holds an export, it must be the tokenizer that export was made with.

  Returns:
    (its path, its SHA-256).

  Raises:
    ValueError: the source is damaged or not its export's tokenizer, or a copy
      already there differs (the workdir holds another run).
  """
  source = pathlib.Path(source_workdir) / tokenizer_lib.TOKENIZER_FILENAME
  path = pathlib.Path(workdir) / tokenizer_lib.TOKENIZER_FILENAME
  source_sha = file_sha256(source)
  if not path.exists():
    check_source_tokenizer(source, source_sha, source_name)
  multihost.primary_first(lambda: path.exists() or shutil.copyfile(source, path), "tokenizer copy")
  sha = file_sha256(path)
  if sha != source_sha:
    raise ValueError(f"{path} differs from the {source_name}'s {source}: the workdir holds a run "
                     "made with another tokenizer; use a new workdir")
  return path, sha


def check_source_tokenizer(source: pathlib.Path, source_sha: str, source_name: str) -> None:
  """Raises ValueError if `source` does not load or is not its workdir's export's tokenizer."""
  try:
    tokenizer_lib.load_tokenizer(source)
  except Exception as err:  # the tokenizers library raises its own exception types
    raise ValueError(f"the {source_name}'s {source} does not load ({type(err).__name__}: "
                     f"{err}); restore it from the run that made it") from None
  export = source.parent / EXPORT_DIR
  if not export.exists():
    return
  with checkpoint_lib.Checkpointer(export, save_every=1, keep=1) as exporter:
    try:
      expected = exporter.read_fingerprint().get("tokenizer_sha256")
    except FileNotFoundError:  # no finished export: the loaders report that
      return
  if expected not in (None, source_sha):
    raise ValueError(f"the {source_name}'s {source} (sha256 {source_sha[:12]}...) is not the "
                     f"tokenizer its export was made with (sha256 {expected[:12]}...); restore "
                     "it from the run that made it")


def prepare_tokenizer(path: pathlib.Path, texts: Callable[[], list[str]], vocab_size: int,
                      extra_special_tokens=()) -> Any:
  """Loads `path` if present, else trains a byte-level BPE on texts() and saves it there.

  Of several processes, process 0 trains and saves it; the others then load it.
  """
  return multihost.primary_first(
      lambda: _load_or_train_tokenizer(path, texts, vocab_size, extra_special_tokens), "tokenizer")


def _load_or_train_tokenizer(path: pathlib.Path, texts: Callable[[], list[str]], vocab_size: int,
                             extra_special_tokens) -> Any:
  if path.exists():
    tokenizer = tokenizer_lib.load_tokenizer(path)
    logging.info("Loaded tokenizer %s (%d tokens).", path, tokenizer.get_vocab_size())
  else:
    tokenizer = tokenizer_lib.train_tokenizer(texts(), vocab_size, extra_special_tokens)
    tokenizer_lib.save_tokenizer(tokenizer, path)
    logging.info("Trained tokenizer %s (%d tokens).", path, tokenizer.get_vocab_size())
  if tokenizer.get_vocab_size() > vocab_size:
    raise ValueError(f"tokenizer {path} has {tokenizer.get_vocab_size()} tokens, more than "
                     f"config.model.vocab_size={vocab_size}; delete it or raise the vocab size")
  return tokenizer


@dataclasses.dataclass
class ModelOnMesh:
  """A model config, its Flax module, the mesh and rules, and an init function."""

  cfg: tfm.TransformerConfig
  model: tfm.Transformer
  mesh: jax.sharding.Mesh
  rules: tuple

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> "ModelOnMesh":
    cfg = tfm.TransformerConfig.from_dict(config.model)
    return cls.on_config_mesh(config, cfg, tfm.Transformer(cfg))

  @classmethod
  def on_config_mesh(cls, config: ml_collections.ConfigDict, cfg: Any, model: nn.Module):
    """cls(cfg, model) on the mesh of config.mesh with the rules of config.mesh_rules."""
    return cls(cfg, model, mesh_lib.make_mesh(dict(config.mesh)),
               mesh_lib.rules_from_config(config.mesh_rules))

  def init_fn(self, key: jax.Array) -> Any:
    dummy = jnp.zeros((1, 8), jnp.int32)
    return self.model.init(key, dummy, dummy, dummy == 0)["params"]

  def init_params(self, seed: int) -> Any:
    return state_lib.init_params(self.init_fn, jax.random.key(seed), self.mesh, self.rules)

  def param_shardings(self) -> Any:
    return state_lib.param_shardings(self.init_fn, self.mesh, self.rules)

  def abstract_params(self) -> Any:
    shardings = self.param_shardings()
    with mesh_lib.use_mesh(self.mesh, self.rules):
      shapes = jax.eval_shape(lambda k: nn.meta.unbox(self.init_fn(k)), jax.random.key(0))
    return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                        shapes, shardings)


@dataclasses.dataclass
class PooledHeadOnMesh(ModelOnMesh):
  """A decoder with a pooled scalar head (a monitor, the reward model) on the mesh.

  cfg has a `decoder` (tfm.TransformerConfig) and model is called as
  model(tokens [B, T], mask [B, T]) -> [B]. A subclass defines `score_fn`.
  """

  cfg: Any
  model: nn.Module

  def score_fn(self) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """The pure score(params, tokens [B, T], masks [B, T]) -> [B] that `scorer` jits."""
    raise NotImplementedError

  def init_fn(self, key: jax.Array) -> Any:
    dummy = jnp.zeros((1, 8), jnp.int32)
    return self.model.init(key, dummy, dummy == 0)["params"]

  def decoder_on_mesh(self) -> ModelOnMesh:
    """The decoder alone, as the base model's export describes it."""
    return ModelOnMesh(self.cfg.decoder, tfm.Transformer(self.cfg.decoder), self.mesh, self.rules)

  def params_from_base(self, base_workdir: pathlib.Path, seed: int, tokenizer_sha256: str) -> Any:
    """Fresh parameters (init_params(seed)) with the decoder exported in base_workdir."""
    params = self.init_params(seed)
    decoder = load_exported_params(pathlib.Path(base_workdir), self.decoder_on_mesh(),
                                   tokenizer_sha256)
    return {**params, "decoder": decoder}

  @functools.cached_property
  def scorer(self) -> Callable[[Any, np.ndarray, np.ndarray], jax.Array]:
    """score(params, tokens [B, T], masks [B, T]) -> [B], jitted once, the batch split over the mesh.

    Host (numpy) tokens and masks are the whole batch, the same on every process.
    """
    rows = mesh_lib.batch_sharding(self.mesh, 2)
    score = jax.jit(self.score_fn(), in_shardings=(self.param_shardings(), rows, rows),
                    out_shardings=mesh_lib.batch_sharding(self.mesh, 1))

    def scorer(params, tokens, masks):
      place = lambda x: x if isinstance(x, jax.Array) else multihost.global_array(x, rows)
      with mesh_lib.use_mesh(self.mesh, self.rules):
        return score(params, place(tokens), place(masks))

    return scorer

  def restore_export(self, workdir: pathlib.Path, fingerprint: dict) -> Any:
    """The params exported in WORKDIR/export, placed on the mesh (CheckpointMismatchError
    naming each differing field if its fingerprint differs)."""
    with checkpoint_lib.Checkpointer(pathlib.Path(workdir) / EXPORT_DIR, save_every=1,
                                     keep=1) as exporter:
      _, restored = exporter.restore({"params": self.abstract_params()}, fingerprint)
    return restored["params"]


def schedule_fingerprint(config) -> dict:
  """The training-schedule part of a checkpoint fingerprint: the optimizer section and
  train.steps, which the learning-rate schedule is built from (a resume with other values
  would silently bend the schedule, e.g. re-stretch a cosine decay)."""
  return {"optimizer": config.optimizer.to_dict(), "train_steps": int(config.train.steps)}


def export_fingerprint(model_cfg: tfm.TransformerConfig, tokenizer_sha256: str) -> dict:
  """What exported params must match: the model config and the tokenizer.

  `scan_unroll` (how the layer loop compiles) is left out: params exported
  under one unrolling load under any other, and exports written before the
  field existed still load. So are the RoPE scaling fields when the factor is
  1 (plain RoPE, where the band edges do nothing), so that plain-RoPE exports
  written before those fields existed still load.
  """
  left_out = {"scan_unroll"}
  if model_cfg.rope_scaling_factor == 1.0:
    left_out |= set(tfm.ROPE_SCALING_FIELDS)
  model = {k: v for k, v in dataclasses.asdict(model_cfg).items() if k not in left_out}
  return {"model": model, "tokenizer_sha256": tokenizer_sha256}


def export_params(workdir: pathlib.Path, step: int, params: Any, fingerprint: dict) -> None:
  """Saves the final params alone to WORKDIR/export for later stages to start from."""
  with checkpoint_lib.Checkpointer(workdir / EXPORT_DIR, save_every=1, keep=1) as exporter:
    exporter.save(step, {"params": params}, fingerprint=fingerprint, force=True)


def load_exported_params(workdir: pathlib.Path, model: ModelOnMesh, tokenizer_sha256: str) -> Any:
  """The params exported by a finished run in `workdir`, placed on model.mesh.

  Raises:
    FileNotFoundError if that run has not finished; CheckpointMismatchError if
    its model config or tokenizer differ from the expected ones.
  """
  export = pathlib.Path(workdir) / EXPORT_DIR
  if not export.exists():
    raise FileNotFoundError(f"{export} does not exist: run the stage that writes {workdir} first")
  with checkpoint_lib.Checkpointer(export, save_every=1, keep=1) as exporter:
    _, restored = exporter.restore(
        {"params": model.abstract_params()}, export_fingerprint(model.cfg, tokenizer_sha256),
        mismatch_advice=(f"To load it, set config.model to the model of the run that made "
                         f"{workdir} (its {CONFIG_FILE}), with that run's tokenizer."))
  return restored["params"]
