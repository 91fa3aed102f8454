"""Language-model training at Llama 3.2 1B shape (1.24B parameters, bfloat16).

On the devices of one host (one process):
    python -m afjax.main --config=configs/models/llama3_1b.py --workdir=DIR
On a multi-host TPU slice, on every host (checked as two processes on one CPU machine, not
on a slice: docs/scaling.md):
    python -m afjax.main --config=configs/models/llama3_1b.py --workdir=gs://BUCKET/DIR \
        --config.distributed=True

Parameters and optimizer state are sharded over all devices (FSDP); blocks are
rematerialised. It trains on the built-in corpus, so it is a scale and
throughput check from a random initialisation (the job does not start from
released checkpoints; afjax.models.hf_import loads them for use in code), not
a model anyone should use. Not runnable on a
2-core CPU in reasonable time.

Multi-host launches and memory: docs/scaling.md ("A multi-host TPU slice",
"Memory of the large configs"). The loss projects 256 positions at a time
(`train.loss_chunk`): float32 logits of 64 x 256 positions (8.4 GB over the
batch, split over its devices) instead of 64 x 2048 (67 GB).
"""

import ml_collections

from afjax import config as config_lib


def get_config() -> ml_collections.ConfigDict:
  return config_lib.lm_at_scale_config("llama3_1b", batch_size=64, learning_rate=3e-4)
