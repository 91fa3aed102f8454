"""Pieces every training job shares: tokenizer, model on a mesh, exported params."""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from absl import logging

from afjax.data import tokenizer as tokenizer_lib
from afjax.models import transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.training import checkpoint as checkpoint_lib
from afjax.training import state as state_lib

EXPORT_DIR = "export"


def file_sha256(path: pathlib.Path) -> str:
  return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def prepare_tokenizer(path: pathlib.Path, texts: Callable[[], list[str]], vocab_size: int,
                      extra_special_tokens=()) -> Any:
  """Loads `path` if present, else trains a byte-level BPE on texts() and saves it there."""
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
    mesh = mesh_lib.make_mesh(dict(config.mesh))
    return cls(cfg, tfm.Transformer(cfg), mesh, mesh_lib.rules_from_config(config.mesh_rules))

  def init_fn(self, key: jax.Array) -> Any:
    dummy = jnp.zeros((1, 8), jnp.int32)
    return self.model.init(key, dummy, dummy, dummy == 0)["params"]

  def init_params(self, seed: int) -> Any:
    return state_lib.init_params(self.init_fn, jax.random.key(seed), self.mesh, self.rules)

  def abstract_params(self) -> Any:
    shardings = state_lib.param_shardings(self.init_fn, self.mesh, self.rules)
    with mesh_lib.use_mesh(self.mesh, self.rules):
      shapes = jax.eval_shape(lambda k: nn.meta.unbox(self.init_fn(k)), jax.random.key(0))
    return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                        shapes, shardings)


def export_fingerprint(model_cfg: tfm.TransformerConfig, tokenizer_sha256: str) -> dict:
  return {"model": dataclasses.asdict(model_cfg), "tokenizer_sha256": tokenizer_sha256}


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
    _, restored = exporter.restore({"params": model.abstract_params()},
                                   export_fingerprint(model.cfg, tokenizer_sha256))
  return restored["params"]
