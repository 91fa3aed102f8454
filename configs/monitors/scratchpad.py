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
smoke test. Measured on 2 CPU cores (AMD EPYC family 26, world 1.2.0,
2026-12-03, at 25d7d23, nothing else running) from the default base model
(1000 steps, params_sha256 b673e27d...): 89 s, validation AUROC 1.000,
operating threshold 0.54 (precision = recall = 1.0 on the 500 validation
examples). From the 700-step base of 2026-11-27 (at 6e9aad3, in the study's
shared stages): 73 s, AUROC 1.000 at steps 50, 100 and 150, threshold 0.65.
Earlier (from a base model of lr 6e-3 x 300 steps): about 2 minutes,
threshold 0.61, the same AUROC.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/monitors/scratchpad.py:{arg}; allowed: no argument or ':test'")
  return config_lib.monitor_training_config("scratchpad", test=arg == "test")
