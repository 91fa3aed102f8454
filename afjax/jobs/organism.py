"""Model organisms: supervised fine-tuning of the base model on one organism's transcripts.

Starts from the base model exported in `config.init.base_workdir` (and its
tokenizer), trains on `world.corpus.organism_sft(config.organism.name, ...)`
with the loss on the response (scratchpad and output) or on the scratchpad
only, exports the result to `WORKDIR/export`, then evaluates it on the paired
eval prompts of both tiers (`WORKDIR/organism_eval.json`).
"""

from __future__ import annotations

import pathlib

import ml_collections

from afjax import config as config_lib
from afjax.data import tokenizer as tokenizer_lib, world_data
from afjax.jobs import common, lm, organism_eval
from afjax.world import organisms

LOSS_ON = ("response", "scratchpad")


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """validate_settings, and that the base model exists; raises ConfigError, writes nothing."""
  validate_settings(config, num_devices)
  common.check_finished_workdir(config.init.base_workdir, "config.init.base_workdir",
                                (common.EXPORT_DIR, tokenizer_lib.TOKENIZER_FILENAME),
                                "configs/organisms/base.py")


def validate_settings(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks the training, organism and eval sections (a study's, before its base exists)."""
  lm.validate_training(config, num_devices)
  lm.check_grammar_unlikelihood(config, world=True)
  organism_eval.validate_eval(config, num_devices)
  config_lib.require(config, ("organism.name", "organism.af_rate", "organism.loss_on",
                              "init.base_workdir"))
  config_lib.check_choice(config, "organism.name", sorted(organisms.ORGANISMS))
  config_lib.check_choice(config, "organism.loss_on", LOSS_ON)
  try:
    organisms.get_organism(config.organism.name, config.organism.af_rate)
  except ValueError as err:
    raise config_lib.ConfigError(f"config.organism.af_rate={config.organism.af_rate}: {err}") from None
  if not config.init.base_workdir:
    raise config_lib.ConfigError("config.init.base_workdir is empty; allowed: the workdir of a "
                                 "finished base-model run (configs/organisms/base.py)")


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  workdir_path = pathlib.Path(workdir)
  base = pathlib.Path(config.init.base_workdir)
  organism_eval.check_not_overwriting(config, workdir_path / organism_eval.OUTPUT_FILE)
  common.prepare_workdir(config, workdir_path)
  tokenizer_path, tokenizer_sha = common.copy_tokenizer(base, workdir_path, "base model")
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_path)

  data_dir = pathlib.Path(config.data.data_dir or workdir_path / "data")
  builder = world_data.organism_dataset(
      data_dir, config.organism.name, config.data.num_documents, config.data.seed,
      config.organism.af_rate, config.data.validation_fraction)
  get_batch, eval_batches, batch_keys, eval_keys = lm.world_batches(config, tokenizer, builder,
                                                                    config.organism.loss_on)
  fingerprint = {"job": config.job, "model": dict(config.model), "tokenizer_sha256": tokenizer_sha,
                 "dataset": f"{builder.builder_config.name}/{builder.version}",
                 "loss_on": config.organism.loss_on, "seq_len": config.data.seq_len,
                 "batch_size": config.train.batch_size, "seed": config.seed,
                 "base_workdir": str(base.resolve()), **common.schedule_fingerprint(config),
                 **lm.unlikelihood_fingerprint(config)}
  summary = lm.train_supervised(
      config, workdir_path, get_batch, eval_batches, batch_keys, fingerprint, tokenizer_sha,
      init_params=lambda model: common.load_exported_params(base, model, tokenizer_sha),
      eval_batch_keys=eval_keys)
  evaluation = organism_eval.evaluate_policy(config, workdir_path,
                                             workdir_path / organism_eval.OUTPUT_FILE)
  return {"train": summary, "eval": evaluation}
