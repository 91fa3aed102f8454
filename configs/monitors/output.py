"""The output-only monitor: p(explicit AF | prompt, final output), never the scratchpad.

    python -m afjax.main --config=configs/monitors/output.py --workdir=workdirs/monitor_output \
        --config.init.base_workdir=workdirs/base

The same model, data, label and training as configs/monitors/scratchpad.py,
but the monitor sees only the prompt and the `<output>` block: the scratchpad is
removed from its input (afjax.models.monitor). It can tell a compliant answer
in the training tier from a refusal, but not why the model complied, so it
cannot separate explicit faking from sycophantic, implicit or genuine
compliance; its figures are reported as they are (configs/monitors/eval.py).
":test" is a seconds-long smoke test. Measured on 2 CPU cores (AMD EPYC
family 26, world 1.2.0, 2026-12-03, at 25d7d23, nothing else running) from
the default base model (1000 steps): 97 s, validation AUROC 0.83, operating
threshold 0.43 (precision 0.74, recall 1.0). From the 700-step base of
2026-11-27 (at 6e9aad3, in the study's shared stages): 77 s, AUROC 0.82,
threshold 0.23 (precision 0.74, recall 1.0). Earlier: about 1.5 minutes,
AUROC 0.84, threshold 0.56.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/monitors/output.py:{arg}; allowed: no argument or ':test'")
  return config_lib.monitor_training_config("output", test=arg == "test")
