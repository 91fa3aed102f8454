"""Language-model training on a TFDS text corpus with a byte-level BPE tokenizer.

Stages (each resumable): build the corpus dataset (array_record, in
`config.data.data_dir` or `WORKDIR/data`), train the tokenizer on its train
split (`WORKDIR/tokenizer.json`, reused when present), pack documents into
windows, then train with AdamW on the mesh, checkpointing to `WORKDIR/ckpt`.
Writes `WORKDIR/metrics.jsonl`, TensorBoard events and `WORKDIR/lm_summary.json`.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from afjax import config as config_lib
from afjax.data import builders, loaders, tokenizer as tokenizer_lib
from afjax.models import transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.training import checkpoint as checkpoint_lib
from afjax.training import logging as log_lib
from afjax.training import loop, optim, state as state_lib, supervised

REQUIRED = ("seed", "model", "mesh", "mesh_rules", "optimizer", "checkpoint",
            "data.num_documents", "data.seed", "data.seq_len", "data.validation_fraction",
            "data.data_dir", "train.steps", "train.batch_size", "train.log_every",
            "train.eval_every", "train.eval_batches")


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks every field the LM job reads; raises ConfigError, writes nothing."""
  config_lib.require(config, REQUIRED)
  config_lib.validate_model(config)
  sizes = config_lib.validate_mesh(config, num_devices)
  config_lib.validate_batch(config, "train.batch_size", sizes)
  config_lib.validate_optimizer(config)
  config_lib.validate_checkpoint(config)
  for path in ("train.steps", "train.log_every", "data.num_documents", "data.seq_len",
               "train.eval_batches"):
    config_lib.check_positive(config, path)
  config_lib.check_positive(config, "train.eval_every", allow_zero=True)
  if not 0 < config.data.validation_fraction < 1:
    raise config_lib.ConfigError(
        f"config.data.validation_fraction={config.data.validation_fraction}; allowed: in (0, 1)")
  if config.data.seq_len > config.model.max_seq_len:
    raise config_lib.ConfigError(
        f"config.data.seq_len={config.data.seq_len} exceeds config.model.max_seq_len="
        f"{config.model.max_seq_len}; allowed: <= {config.model.max_seq_len}")
  minimum = 256 + len(tokenizer_lib.SPECIAL_TOKENS)
  if config.model.vocab_size < minimum:
    raise config_lib.ConfigError(
        f"config.model.vocab_size={config.model.vocab_size}; allowed: >= {minimum} "
        "(the byte alphabet plus the special tokens)")


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


def file_sha256(path: pathlib.Path) -> str:
  return hashlib.sha256(path.read_bytes()).hexdigest()


def make_eval_fn(model: tfm.Transformer, windows: np.ndarray, batch_size: int, num_batches: int,
                 mesh, rules, params_sharding) -> Callable[[state_lib.TrainState], dict]:
  """Mean next-token loss over the first num_batches of fixed validation windows."""
  count = min(num_batches, len(windows) // batch_size)
  if count == 0:
    raise ValueError(f"the validation split has {len(windows)} windows, fewer than one batch of "
                     f"{batch_size}; raise config.data.num_documents or validation_fraction")
  batches = [loaders.windows_to_lm_batch(windows[i * batch_size:(i + 1) * batch_size])
             for i in range(count)]
  batch_sharding = {k: mesh_lib.batch_sharding(mesh) for k in supervised.BATCH_KEYS}
  loss = jax.jit(lambda p, b: supervised.lm_loss(model, p, b),
                 in_shardings=(params_sharding, batch_sharding))

  def eval_fn(state: state_lib.TrainState) -> dict:
    with mesh_lib.use_mesh(mesh, rules):
      losses = [float(loss(state.params, loop.host_local(b))[0]) for b in batches]
    mean = float(np.mean(losses))
    return {"loss": mean, "perplexity": float(np.exp(mean))}

  return eval_fn


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains the LM; returns (and writes to lm_summary.json) the final figures."""
  workdir_path = pathlib.Path(workdir)
  workdir_path.mkdir(parents=True, exist_ok=True)
  (workdir_path / "config.json").write_text(config.to_json_best_effort(indent=2))
  data_dir = pathlib.Path(config.data.data_dir or workdir_path / "data")
  builder = builders.build_lm_corpus_dataset(
      str(data_dir), config.data.num_documents, seed=config.data.seed,
      validation_fraction=config.data.validation_fraction)
  tokenizer_path = workdir_path / tokenizer_lib.TOKENIZER_FILENAME
  tokenizer = prepare_tokenizer(tokenizer_path, lambda: builders.read_documents(builder, "train"),
                                config.model.vocab_size)
  seq_len, batch_size = config.data.seq_len, config.train.batch_size
  train_batches = loaders.LMBatches.from_source(builders.text_source(builder, "train"), tokenizer,
                                                seq_len, batch_size, config.seed)
  eval_windows = loaders.tokenize_and_pack(builders.text_source(builder, "validation"), tokenizer,
                                           seq_len)
  return train_lm(config, workdir_path, train_batches.get_batch, eval_windows, fingerprint={
      "job": "lm", "model": dict(config.model), "tokenizer_sha256": file_sha256(tokenizer_path),
      "dataset": f"{builder.builder_config.name}/{builder.version}", "seq_len": seq_len,
      "batch_size": batch_size, "seed": config.seed})


def train_lm(config: ml_collections.ConfigDict, workdir: pathlib.Path, get_batch: Callable[[int], dict],
             eval_windows: np.ndarray, fingerprint: dict, init_params: Any = None) -> dict:
  """Next-token training of config.model on batches `get_batch(k)`, resumable.

  Args:
    init_params: start from these parameters (fine-tuning) instead of a
      random init; ignored when a checkpoint exists.
  """
  model_cfg = tfm.TransformerConfig.from_dict(config.model)
  mesh = mesh_lib.make_mesh(dict(config.mesh))
  rules = mesh_lib.rules_from_config(config.mesh_rules)
  model = tfm.Transformer(model_cfg)
  dummy = jnp.zeros((1, config.data.seq_len), jnp.int32)
  init_fn = lambda key: model.init(key, dummy, dummy, dummy == 0)["params"]
  params = state_lib.init_params(init_fn, jax.random.key(config.seed), mesh, rules)
  if init_params is not None:
    params = jax.tree.map(lambda p, q: jax.device_put(q, p.sharding), params, init_params)
  mesh_lib.assert_large_params_sharded(params, mesh)
  tx = optim.make_optimizer(config.optimizer, config.train.steps)
  state = state_lib.create_train_state(params, tx, config.seed, mesh)
  shardings = state_lib.state_shardings(state, tx, mesh)
  logging.info("model: %.2fM parameters; mesh %s", model_cfg.num_params() / 1e6, dict(mesh.shape))

  checkpointer = checkpoint_lib.Checkpointer(workdir / "ckpt", config.checkpoint.every,
                                             config.checkpoint.keep)
  state = loop.resume_or_init(checkpointer, state, shardings, fingerprint)
  step_fn = supervised.make_train_step(lambda p, b: supervised.lm_loss(model, p, b), tx, shardings,
                                       mesh, rules)
  eval_fn = make_eval_fn(model, eval_windows, config.train.batch_size, config.train.eval_batches,
                         mesh, rules, shardings.params)
  with log_lib.MetricLogger(workdir) as logger:
    state = loop.train_loop(
        state, step_fn, get_batch, config.train.steps, checkpointer, logger, fingerprint,
        log_every=config.train.log_every, eval_fn=eval_fn, eval_every=config.train.eval_every,
        place=lambda b: supervised.place_batch(b, mesh))
    final_eval = eval_fn(state)
    logger.log(int(state.step), final_eval, prefix="eval")
  checkpointer.close()
  summary = {"step": int(state.step), "eval_loss": final_eval["loss"],
             "eval_perplexity": final_eval["perplexity"], "num_params": model_cfg.num_params(),
             "params_sha256": state_lib.params_digest(state.params)}
  (workdir / "lm_summary.json").write_text(json.dumps(summary, indent=2))
  print(f"LM done: step {summary['step']}, eval loss {summary['eval_loss']:.4f}", flush=True)
  return summary
