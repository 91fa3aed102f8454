"""The scratchpad alignment-faking classifier: p(explicit AF | prompt, scratchpad).

    python -m afjax.main --config=configs/monitors/scratchpad.py --workdir=workdirs/monitor_scratchpad \
        --config.init.base_workdir=workdirs/base

Fine-tunes the base model (configs/organisms/base.py; its tokenizer, so the
monitor reads policy tokens directly) with a mean-pooled linear head on 4000
labelled world transcripts (every motivation and style, no held-out paraphrase
family; positive = explicit AF only), 150 AdamW steps of 32 rows x 224 tokens.
`--config.init.base_workdir=` (empty) trains from scratch with its own
tokenizer. Writes WORKDIR/export (the monitor), WORKDIR/monitor.json (view,
operating threshold chosen on the validation split, validation figures) and
metrics. Evaluate with configs/monitors/eval.py. ":test" is a seconds-long
smoke test. Measured on 2 CPU cores from the tiny base model (lr 6e-3 x 300
steps): about 2 minutes, validation AUROC 1.000 at step 50 and 150, operating
threshold 0.61 (precision = recall = 1.0 on the 500 validation examples).
"""

import ml_collections

from afjax import config as config_lib
from afjax.data import monitor_data


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  test = arg == "test"
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/monitors/scratchpad.py:{arg}; allowed: no argument or ':test'")
  config = ml_collections.ConfigDict()
  config.job = "monitor"
  config.seed = 0
  config.distributed = False
  config.monitor = ml_collections.ConfigDict(dict(view="scratchpad"))
  config.init = ml_collections.ConfigDict(dict(base_workdir="workdirs/base"))
  config.model = config_lib.model_config("test" if test else "tiny",
                                         vocab_size=512 if test else 1024, max_seq_len=512)
  config.mesh = config_lib.mesh_config(data=-1)
  config.mesh_rules = config_lib.mesh_rules_config()
  config.data = monitor_data.data_config(test)
  config.train = ml_collections.ConfigDict(dict(
      steps=4 if test else 150, batch_size=8 if test else 32, log_every=2 if test else 10,
      eval_every=0 if test else 50))
  config.optimizer = config_lib.optimizer_config(learning_rate=1e-3, warmup_steps=1 if test else 10)
  config.checkpoint = config_lib.checkpoint_config(every=50, keep=2)
  return config
