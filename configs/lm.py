"""Language-model training on the package's built-in synthetic corpus.

    python -m afjax.main --config=configs/lm.py --workdir=workdirs/lm
    python -m afjax.main --config=configs/lm.py:test --workdir=/tmp/lm_test   # seconds

Default: a 1.26M-parameter decoder ("tiny" preset, vocab 2048), 300 AdamW
steps of 32 x 128 tokens, about 7.6 nats per token at init (ln 2048). Measured
before the tiny preset's vocabulary grew from 1024 (03277e7): about 2-3
minutes on 2 CPU cores and a validation loss near 1.4. ":test" is a
43k-parameter smoke test.
Rerunning the same command resumes from the newest checkpoint in WORKDIR/ckpt.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  test = arg == "test"
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/lm.py:{arg}; allowed: configs/lm.py or configs/lm.py:test")
  config = ml_collections.ConfigDict()
  config.job = "lm"
  config.seed = 0
  config.distributed = False
  config.model = config_lib.model_config("test" if test else "tiny")
  config.mesh = config_lib.mesh_config(data=-1)
  config.mesh_rules = config_lib.mesh_rules_config()
  config.data = ml_collections.ConfigDict(dict(
      corpus="builtin", num_documents=300 if test else 6000, seed=0, seq_len=32 if test else 128,
      validation_fraction=0.1 if test else 0.05, data_dir=""))
  config.train = ml_collections.ConfigDict(dict(
      steps=12 if test else 300, batch_size=8 if test else 32, log_every=2 if test else 10,
      eval_every=6 if test else 100, eval_batches=2 if test else 4, loss_chunk=0))
  config.optimizer = config_lib.optimizer_config(learning_rate=3e-3, warmup_steps=2 if test else 20)
  config.checkpoint = config_lib.checkpoint_config(every=3 if test else 100, keep=3)
  return config
