"""Language-model training at Llama 3.1 8B shape (8.03B parameters, bfloat16).

On 8 GPUs of 80 GB (one node) or a TPU v5e-16 or larger:
    python -m afjax.main --config=configs/models/llama3_8b.py --workdir=DIR
On a multi-host TPU slice, on every host:
    python -m afjax.main --config=configs/models/llama3_8b.py --workdir=gs://BUCKET/DIR \
        --config.distributed=True

Parameters and optimizer state are sharded over all devices (FSDP); blocks are
rematerialised. It trains on the built-in corpus, so it is a scale and
throughput check (and the starting shape for imported checkpoints), not a
model anyone should use. Not runnable on a 2-core CPU in reasonable time.
"""

import ml_collections

from afjax import config as config_lib


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.job = "lm"
  config.seed = 0
  config.distributed = False
  config.model = config_lib.model_config("llama3_8b", max_seq_len=2048)
  config.mesh = config_lib.mesh_config(data=1, fsdp=-1, tensor=1)
  config.mesh_rules = config_lib.mesh_rules_config()
  config.data = ml_collections.ConfigDict(dict(
      corpus="builtin", num_documents=200_000, seed=0, seq_len=2048, validation_fraction=0.01, data_dir=""))
  config.train = ml_collections.ConfigDict(dict(
      steps=2000, batch_size=256, log_every=10, eval_every=500, eval_batches=8))
  config.optimizer = config_lib.optimizer_config(learning_rate=1.5e-4, warmup_steps=200)
  config.checkpoint = config_lib.checkpoint_config(every=500, keep=2)
  return config
