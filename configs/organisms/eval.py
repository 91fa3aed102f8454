"""Evaluates any trained world policy (base model or organism) on the paired eval prompts.

    python -m afjax.main --config=configs/organisms/eval.py --workdir=workdirs/eval_tgg_plain \
        --config.eval.policy_workdir=workdirs/tgg_plain

Samples at temperature 1 on 256 harmful and 64 benign eval requests in both
tiers, read from their TFDS dataset (afjax.data.eval_data, built once in
config.eval.data_dir, default WORKDIR/data), labels every response with the
oracle, writes WORKDIR/organism_eval.json. `--config.eval.temperature=T`,
`--config.eval.top_p=P` (nucleus sampling) and `--config.eval.epsilon=E`
(epsilon sampling: tokens below probability E dropped) change the sampling,
e.g. to see how many parse failures the softmax tail accounts for
(configs/organisms/organism.py). RL samples from the model's own distribution
(temperature 1, no truncation), which the defaults measure.
The model section must match the policy's (the "tiny" world model by default).
About 20 seconds on 2 CPU cores.
"""

import ml_collections

from afjax import config as config_lib


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.job = "organism_eval"
  config.distributed = False
  config.model = config_lib.model_config("tiny", vocab_size=2048, max_seq_len=512)
  config.mesh = config_lib.mesh_config(data=-1)
  config.mesh_rules = config_lib.mesh_rules_config()
  config.eval = config_lib.organism_eval_config(policy_workdir="", data_dir="")
  return config
