"""Language-model training at Llama 3.1 8B shape (8.03B parameters, bfloat16).

On 8 GPUs of 80 GB (one node, one process):
    python -m afjax.main --config=configs/models/llama3_8b.py --workdir=DIR
On a multi-host TPU slice, on every host (checked as two processes on one CPU machine, not
on a slice: docs/scaling.md):
    python -m afjax.main --config=configs/models/llama3_8b.py --workdir=gs://BUCKET/DIR \
        --config.distributed=True

Parameters and optimizer state are sharded over all devices (FSDP); blocks are
rematerialised. It trains on the built-in corpus, so it is a scale and
throughput check from a random initialisation (the job does not start from
released checkpoints; afjax.models.hf_import loads them for use in code), not
a model anyone should use. Not runnable on a
2-core CPU in reasonable time.

Multi-host launches and memory: docs/scaling.md ("A multi-host TPU slice",
"Memory of the large configs"). The loss projects 256 positions at a time
(`train.loss_chunk`): float32 logits of 256 x 256 positions (34 GB over the
batch, split over its devices) instead of 256 x 2048 (269 GB).
"""

import ml_collections

from afjax import config as config_lib


def get_config() -> ml_collections.ConfigDict:
  return config_lib.lm_at_scale_config("llama3_8b", batch_size=256, learning_rate=1.5e-4)
