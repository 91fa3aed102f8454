"""Language-model training on a TFDS text corpus with a byte-level BPE tokenizer.

`config.data.corpus` picks the text:
  "builtin": the package's small synthetic English corpus, packed into windows.
  "world":   the synthetic alignment-faking world's base corpus (transcripts of
             every kind in both tiers), one transcript per packed segment. This
             trains the base model that organisms are fine-tuned from.

Stages (each resumable): build the dataset (array_record, in
`config.data.data_dir` or `WORKDIR/data`), train the tokenizer on its train
split (`WORKDIR/tokenizer.json`, reused when present), then train with AdamW on
the mesh, checkpointing to `WORKDIR/ckpt`. Writes `WORKDIR/metrics.jsonl`,
TensorBoard events, the final params to `WORKDIR/export` and
`WORKDIR/lm_summary.json`.
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any, Callable, Sequence

import jax
import ml_collections
import numpy as np

from afjax import config as config_lib
from afjax.data import builders, grammar_mask, loaders, packing, world_data
from afjax.data import tokenizer as tokenizer_lib
from afjax.jobs import common
from afjax.parallel import mesh as mesh_lib
from afjax.parallel import multihost
from afjax.training import checkpoint as checkpoint_lib
from afjax.training import logging as log_lib
from afjax.training import loop, optim, state as state_lib, supervised

CORPORA = ("builtin", "world")
REQUIRED = ("seed", "model", "mesh", "mesh_rules", "optimizer", "checkpoint", "data.corpus",
            "data.num_documents", "data.seed", "data.seq_len", "data.validation_fraction",
            "data.data_dir", "train.steps", "train.batch_size", "train.log_every",
            "train.eval_every", "train.eval_batches")


def validate_training(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks the fields every next-token training job reads."""
  config_lib.require(config, REQUIRED)
  config_lib.validate_trainer(config, num_devices)
  for path in ("data.num_documents", "data.seq_len", "train.eval_batches"):
    config_lib.check_positive(config, path)
  if not 0 < config.data.validation_fraction < 1:
    raise config_lib.ConfigError(
        f"config.data.validation_fraction={config.data.validation_fraction}; allowed: in (0, 1)")
  chunk = loss_chunk(config)
  if not config_lib.is_int_at_least(chunk, 0):
    raise config_lib.ConfigError(
        f"config.train.loss_chunk={chunk!r}; allowed: an integer >= 0 (positions per block of "
        "the output projection in the loss; 0 = all at once)")
  if config.data.seq_len > config.model.max_seq_len:
    raise config_lib.ConfigError(
        f"config.data.seq_len={config.data.seq_len} exceeds config.model.max_seq_len="
        f"{config.model.max_seq_len}; allowed: <= {config.model.max_seq_len}")


def loss_chunk(config: ml_collections.ConfigDict) -> int:
  """config.train.loss_chunk (supervised.lm_loss), or 0 in configs written before the field."""
  return config.train.get("loss_chunk", 0)


def grammar_unlikelihood(config: ml_collections.ConfigDict) -> float:
  """config.train.grammar_unlikelihood (supervised.lm_loss's weight), 0 before the field."""
  return config.train.get("grammar_unlikelihood", 0.0)


def grammar_penalty(config: ml_collections.ConfigDict) -> str:
  """config.train.grammar_penalty (supervised.GRAMMAR_PENALTIES), "unlikelihood" before the field."""
  return config.train.get("grammar_penalty", "unlikelihood")


def check_grammar_unlikelihood(config: ml_collections.ConfigDict, world: bool) -> None:
  """The weight is a number >= 0, 0 unless the data are the world's transcripts; a known form."""
  weight, penalty = grammar_unlikelihood(config), grammar_penalty(config)
  if penalty not in supervised.GRAMMAR_PENALTIES:
    raise config_lib.ConfigError(
        f"config.train.grammar_penalty={penalty!r}; allowed: {list(supervised.GRAMMAR_PENALTIES)}")
  if (isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0
      or not math.isfinite(weight)):
    raise config_lib.ConfigError(
        f"config.train.grammar_unlikelihood={weight!r}; allowed: a finite number >= 0 (the weight "
        "of the unlikelihood of tokens the world's grammar forbids; 0 = plain cross-entropy)")
  if weight and not world:
    raise config_lib.ConfigError(
        f"config.train.grammar_unlikelihood={weight!r} needs config.data.corpus='world' "
        "(only the world's transcripts have a grammar); allowed here: 0")


def world_batches(config: ml_collections.ConfigDict, tokenizer: Any, builder: Any,
                  loss_on: str) -> tuple[Callable, list, Any, Any]:
  """Train batches, validation batches and their keys for a world transcript dataset.

  Each split is packed (world_data.pack_transcripts, the loss on `loss_on`)
  with the grammar's states. Validation batches always carry the grammar's
  legal_mask, so that the eval logs `illegal_mass`; train batches carry it
  only with a grammar unlikelihood weight (without one the train step is the
  plain one).

  Returns:
    (get_batch, eval_batches, train batch keys, eval batch keys).
  """
  grammar = grammar_mask.GrammarMask(tokenizer, config.model.vocab_size)
  arrays = {split: world_data.pack_transcripts(
      tokenizer, builders.read_documents(builder, split), config.data.seq_len, loss_on,
      grammar=grammar) for split in ("train", "validation")}
  keys = dict.fromkeys(supervised.PACKED_BATCH_KEYS, 2)
  with_mask = {**keys, "legal_mask": 3}
  packed = packing.PackedBatches(arrays["train"], config.train.batch_size, config.seed).get_batch
  weighted = bool(grammar_unlikelihood(config))
  get_batch = (lambda k: world_data.with_legal_mask(packed(k), grammar)) if weighted else packed
  eval_batches = [world_data.with_legal_mask(batch, grammar) for batch in fixed_batches(
      arrays["validation"], config.train.batch_size, config.train.eval_batches)]
  return get_batch, eval_batches, with_mask if weighted else keys, with_mask


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks every field the LM job reads; raises ConfigError, writes nothing."""
  validate_training(config, num_devices)
  config_lib.check_choice(config, "data.corpus", CORPORA)
  check_grammar_unlikelihood(config, config.data.corpus == "world")
  specials = tokenizer_lib.SPECIAL_TOKENS + (world_data.SPECIAL_TOKENS
                                             if config.data.corpus == "world" else ())
  minimum = 256 + len(specials)
  if config.model.vocab_size < minimum:
    raise config_lib.ConfigError(
        f"config.model.vocab_size={config.model.vocab_size}; allowed: >= {minimum} "
        "(the byte alphabet plus the special tokens)")


def make_eval_fn(model: common.ModelOnMesh, batches: Sequence[dict],
                 batch_keys: supervised.BatchKeys, params_sharding: Any,
                 chunk: int = 0) -> Callable[[state_lib.TrainState], dict]:
  """Mean next-token loss over fixed validation batches (`chunk`: supervised.lm_loss's loss_chunk).

  With legal_mask batches, also the mean `illegal_mass` (mean of the batches'
  means): the cross-entropy alone is the loss, whatever the training weighted.
  """
  if not batches:
    raise ValueError("the validation split is smaller than one batch; raise "
                     "config.data.num_documents or config.data.validation_fraction")
  loss = jax.jit(lambda p, b: supervised.lm_loss(model.model, p, b, chunk),
                 in_shardings=(params_sharding, supervised.batch_shardings(model.mesh, batch_keys)))

  def eval_fn(state: state_lib.TrainState) -> dict:
    with mesh_lib.use_mesh(model.mesh, model.rules):
      results = [loss(state.params, supervised.place_global_batch(b, model.mesh, batch_keys))
                 for b in batches]
    mean = float(np.mean([float(value) for value, _ in results]))
    metrics = {"loss": mean, "perplexity": float(np.exp(mean))}
    if "illegal_mass" in results[0][1]:
      metrics["illegal_mass"] = float(np.mean([float(aux["illegal_mass"]) for _, aux in results]))
    return metrics

  return eval_fn


def fixed_batches(arrays: dict[str, np.ndarray], batch_size: int, count: int) -> list[dict]:
  """The first `count` full batches of rows, unshuffled (for evaluation)."""
  count = min(count, len(next(iter(arrays.values()))) // batch_size)
  return [{k: v[i * batch_size:(i + 1) * batch_size] for k, v in arrays.items()}
          for i in range(count)]


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains the LM; returns (and writes to lm_summary.json) the final figures."""
  workdir_path = common.prepare_workdir(config, workdir)
  data_dir = pathlib.Path(config.data.data_dir or workdir_path / "data")
  seq_len, batch_size = config.data.seq_len, config.train.batch_size
  tokenizer_path = workdir_path / tokenizer_lib.TOKENIZER_FILENAME
  if config.data.corpus == "world":
    builder = world_data.base_dataset(data_dir, config.data.num_documents, config.data.seed,
                                      config.data.validation_fraction)
    tokenizer = common.prepare_tokenizer(
        tokenizer_path, lambda: builders.read_documents(builder, "train"), config.model.vocab_size,
        world_data.SPECIAL_TOKENS)
    get_batch, eval_batches, batch_keys, eval_keys = world_batches(config, tokenizer, builder,
                                                                   "all")
  else:
    builder = builders.build_lm_corpus_dataset(
        str(data_dir), config.data.num_documents, seed=config.data.seed,
        validation_fraction=config.data.validation_fraction)
    tokenizer = common.prepare_tokenizer(
        tokenizer_path, lambda: builders.read_documents(builder, "train"), config.model.vocab_size)
    get_batch = loaders.LMBatches.from_source(builders.text_source(builder, "train"), tokenizer,
                                              seq_len, batch_size, config.seed).get_batch
    windows = loaders.tokenize_and_pack(builders.text_source(builder, "validation"), tokenizer,
                                        seq_len)
    eval_batches = fixed_batches(loaders.windows_to_lm_batch(windows), batch_size,
                                 config.train.eval_batches)
    batch_keys = eval_keys = supervised.BATCH_KEYS
  tokenizer_sha = common.file_sha256(tokenizer_path)
  fingerprint = {"job": config.job, "model": dict(config.model), "tokenizer_sha256": tokenizer_sha,
                 "dataset": f"{builder.builder_config.name}/{builder.version}",
                 "seq_len": seq_len, "batch_size": batch_size, "seed": config.seed,
                 **common.schedule_fingerprint(config), **unlikelihood_fingerprint(config)}
  return train_supervised(config, workdir_path, get_batch, eval_batches, batch_keys, fingerprint,
                          tokenizer_sha, eval_batch_keys=eval_keys)


def unlikelihood_fingerprint(config: ml_collections.ConfigDict) -> dict:
  """The grammar penalty's weight (and form, unless the first one) for a checkpoint's fingerprint.

  {} when the weight is 0, and no form for "unlikelihood": as before the fields.
  """
  weight, penalty = grammar_unlikelihood(config), grammar_penalty(config)
  if not weight:
    return {}
  return {"grammar_unlikelihood": float(weight),
          **({"grammar_penalty": penalty} if penalty != "unlikelihood" else {})}


def train_supervised(config: ml_collections.ConfigDict, workdir: pathlib.Path,
                     get_batch: Callable[[int], dict], eval_batches: Sequence[dict],
                     batch_keys: supervised.BatchKeys, fingerprint: dict, tokenizer_sha: str,
                     init_params: Callable[[common.ModelOnMesh], Any] | None = None,
                     eval_batch_keys: supervised.BatchKeys | None = None) -> dict:
  """Next-token training of config.model on batches `get_batch(k)`, resumable.

  Args:
    init_params: returns the parameters to start from (fine-tuning) on the
      given model's mesh; not called when a checkpoint exists.
    eval_batch_keys: the eval batches' keys, if not batch_keys.
  """
  model = common.ModelOnMesh.from_config(config)
  checkpointer = checkpoint_lib.Checkpointer(workdir / "ckpt", config.checkpoint.every,
                                             config.checkpoint.keep)
  resuming = checkpointer.latest_step() is not None
  params = model.init_params(config.seed) if resuming or init_params is None else init_params(model)
  mesh_lib.assert_large_params_sharded(params, model.mesh)
  tx = optim.make_optimizer(config.optimizer, config.train.steps)
  state = state_lib.create_train_state(params, tx, config.seed, model.mesh)
  shardings = state_lib.state_shardings(state, tx, model.mesh)
  state = loop.resume_or_init(checkpointer, state, shardings, fingerprint)
  chunk = loss_chunk(config)
  weight, penalty = grammar_unlikelihood(config), grammar_penalty(config)
  step_fn = supervised.make_train_step(
      lambda p, b: supervised.lm_loss(model.model, p, b, chunk, weight, penalty), tx, shardings,
      model.mesh, model.rules, batch_keys)
  eval_fn = make_eval_fn(model, eval_batches, eval_batch_keys or batch_keys, shardings.params,
                         chunk)
  with log_lib.MetricLogger(workdir, resume_step=int(state.step)) as logger:
    state = loop.train_loop(
        state, step_fn, get_batch, config.train.steps, checkpointer, logger, fingerprint,
        log_every=config.train.log_every, eval_fn=eval_fn, eval_every=config.train.eval_every,
        place=lambda b: supervised.place_batch(b, model.mesh, batch_keys))
    final_eval = eval_fn(state)
    if not log_lib.has_record(logger.jsonl_path, int(state.step), "eval"):  # a rerun logs it once
      logger.log(int(state.step), final_eval, prefix="eval")
  checkpointer.close()
  common.export_params(workdir, int(state.step), state.params,
                       common.export_fingerprint(model.cfg, tokenizer_sha))
  summary = {"step": int(state.step), "eval_loss": final_eval["loss"],
             "eval_perplexity": final_eval["perplexity"], "num_params": model.cfg.num_params(),
             **({"eval_illegal_mass": final_eval["illegal_mass"]}
                if "illegal_mass" in final_eval else {}),
             "params_sha256": state_lib.params_digest(state.params)}
  multihost.write_text(workdir / "lm_summary.json", json.dumps(summary, indent=2))
  print(f"{config.job} done: step {summary['step']}, eval loss {summary['eval_loss']:.4f}",
        flush=True)
  return summary
