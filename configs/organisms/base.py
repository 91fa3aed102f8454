"""The base model: language modelling on the synthetic world's base corpus.

    python -m afjax.main --config=configs/organisms/base.py --workdir=workdirs/base

Transcripts of every kind in both tiers (all motivations and styles, implicit
faking, refusals, partial answers, follow-ups), packed one transcript per
segment. A 1M-parameter decoder ("tiny" preset, vocab 1024), 300 AdamW steps
of 32 rows x 320 tokens. Organisms are fine-tuned from WORKDIR/export
(configs/organisms/organism.py). Measured on 2 CPU cores: about 5 minutes
(~8k tokens/s), validation loss 0.256 nats/token.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  test = arg == "test"
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/organisms/base.py:{arg}; allowed: no argument or ':test'")
  config = ml_collections.ConfigDict()
  config.job = "lm"
  config.seed = 0
  config.distributed = False
  config.model = config_lib.model_config("test" if test else "tiny",
                                         vocab_size=512 if test else 1024, max_seq_len=512)
  config.mesh = config_lib.mesh_config(data=-1)
  config.mesh_rules = config_lib.mesh_rules_config()
  config.data = ml_collections.ConfigDict(dict(
      corpus="world", num_documents=400 if test else 8000, seed=0, seq_len=448 if test else 320,
      validation_fraction=0.05 if test else 0.02, data_dir=""))
  config.train = ml_collections.ConfigDict(dict(
      steps=4 if test else 300, batch_size=8 if test else 32, log_every=2 if test else 10,
      eval_every=0, eval_batches=2 if test else 4))
  config.optimizer = config_lib.optimizer_config(learning_rate=6e-3, warmup_steps=2 if test else 15)
  config.checkpoint = config_lib.checkpoint_config(every=100, keep=2)
  return config
