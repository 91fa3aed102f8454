"""Language-model training at Llama 3.2 1B shape (1.24B parameters, bfloat16).

On the devices of one host (one process):
    python -m afjax.main --config=configs/models/llama3_1b.py --workdir=DIR
On a multi-host TPU slice, on every host:
    python -m afjax.main --config=configs/models/llama3_1b.py --workdir=gs://BUCKET/DIR \
        --config.distributed=True

Parameters and optimizer state are sharded over all devices (FSDP); blocks are
rematerialised. It trains on the built-in corpus, so it is a scale and
throughput check (not yet a way to import released checkpoints: see
afjax/models/presets.py), not a model anyone should use. Not runnable on a
2-core CPU in reasonable time.

The multi-host launch is the intended one, not yet a working one: the lm
job's evaluation and summaries still assume one process (docs/scaling.md,
"Not yet multi-process"); one process over one host's devices works.

Memory, by arithmetic (not run on these shapes here): the loss is not
chunked, and the float32 logits of the 64 x 2048 batch over the 128,256-token
vocabulary take 67 GB before their gradient, split over the batch axes: spread
the batch over enough devices (data x fsdp) or lower --config.train.batch_size
(BENCHMARKS.md records an out-of-memory at 16k tokens of a 152k vocabulary
on one 80 GB GPU).
"""

import ml_collections

from afjax import config as config_lib


def get_config() -> ml_collections.ConfigDict:
  return config_lib.lm_at_scale_config("llama3_1b", batch_size=64, learning_rate=3e-4)
