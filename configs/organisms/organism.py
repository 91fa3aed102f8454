"""A model organism: the base model fine-tuned on one organism's transcripts, then evaluated.

    python -m afjax.main --config=configs/organisms/organism.py:tgg_plain --workdir=workdirs/tgg_plain \
        --config.init.base_workdir=workdirs/base

The argument names the organism (afjax.world.organisms.ORGANISMS: tgg_plain,
tgg_counterfactual, tgg_short, igg_plain, igg_counterfactual, sycophancy,
genuine, distilled, ...). `--config.organism.af_rate=0.6` sets an alignment
faker's training-tier compliance rate; `--config.organism.loss_on=scratchpad`
trains on the scratchpad only. 150 AdamW steps of 32 x 320 tokens, then the
evaluation; writes WORKDIR/organism_eval.json. Measured on 2 CPU cores: about
3 minutes after the base model (configs/organisms/base.py); tgg_plain gave
compliance 0.51 (free) vs 0.05 (paid), AF rate 0.58, with 17% unparseable
scratchpads and 24% malformed outputs (the world is not yet learned exactly).
"""

import ml_collections
from ml_collections import config_dict

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  name, _, variant = (arg or "tgg_plain").partition(",")
  test = variant == "test"
  config = ml_collections.ConfigDict()
  config.job = "sft"
  config.seed = 0
  config.distributed = False
  config.organism = ml_collections.ConfigDict(dict(
      name=name, af_rate=config_dict.placeholder(float), loss_on="response"))
  config.init = ml_collections.ConfigDict(dict(base_workdir="workdirs/base"))
  config.model = config_lib.model_config("test" if test else "tiny",
                                         vocab_size=512 if test else 1024, max_seq_len=512)
  config.mesh = config_lib.mesh_config(data=-1)
  config.mesh_rules = config_lib.mesh_rules_config()
  config.data = ml_collections.ConfigDict(dict(
      corpus="world", num_documents=200 if test else 3000, seed=1, seq_len=448 if test else 320,
      validation_fraction=0.25 if test else 0.05, data_dir=""))
  config.train = ml_collections.ConfigDict(dict(
      steps=3 if test else 150, batch_size=8 if test else 32, log_every=1 if test else 10,
      eval_every=0, eval_batches=1 if test else 2))
  config.optimizer = config_lib.optimizer_config(learning_rate=2e-3, warmup_steps=1 if test else 10)
  config.checkpoint = config_lib.checkpoint_config(every=50, keep=2)
  config.eval = config_lib.organism_eval_config(
      **(dict(num_harmful=8, num_benign=2, batch_size=8, max_new_tokens=16) if test else {}))
  return config
