"""Evaluates the scratchpad classifier and the output-only monitor: WORKDIR/monitor_eval.json.

    python -m afjax.main --config=configs/monitors/eval.py --workdir=workdirs/monitor_eval \
        --config.monitors.scratchpad_workdir=workdirs/monitor_scratchpad \
        --config.monitors.output_workdir=workdirs/monitor_output \
        --config.monitors.organism_workdirs="('workdirs/tgg_plain',)"

For each monitor, at its operating threshold: AUROC, precision, recall and
calibration error on 1000 unseen in-distribution examples and 1000 examples
phrased with held-out paraphrase families; recall on 500 implicit-faking
examples; and the same figures on 256 harmful + 64 benign eval requests in both
tiers sampled from each listed policy (labels from the oracle). Either monitor
workdir may be empty; organism_workdirs may be empty. `config.data` must be
the monitors' (configs/monitors/scratchpad.py). ":test" has tiny sizes.
The model section must match the monitors' (the "tiny" world model).

Measured on 2 CPU cores (AMD EPYC family 26, world 1.2.0, 2026-12-03, at
25d7d23: 126 s; the monitors of configs/monitors/*.py from the default base
model, the 8 organisms of configs/organisms/organism.py's table):
                          scratchpad classifier   output-only monitor
  AUROC in distribution   1.000                   0.826
  AUROC held-out families 0.883 (recall 0.15)     0.802 (recall 0.89)
  implicit recall         0.000                   0.874
  AUROC on AF organisms'  0.977-0.994             0.982-0.995
    samples (parseable)   (0.980-0.994)           (0.982-0.995)
  (tgg_plain, tgg_counterfactual, tgg_short, igg_plain, igg_counterfactual)
(The 700-step base and 500-step organisms of 2026-11-27, at 6e9aad3, in the
shared stages of configs/experiments/mitigations.py: in distribution 1.000 /
0.824, held-out families 0.876 (recall 0.10) / 0.802 (recall 0.96),
implicit recall 0.000 / 0.944, AF organisms 0.92-0.99 / 0.92-0.98, parseable
0.97-1.00 / 0.98-1.00.)
(An earlier world version, with a 150-step tgg_plain organism: in distribution
1.000 / 0.826, held-out families 0.891 / 0.782, implicit recall 0.000 /
0.972, tgg_plain 0.925 / 0.932.)
The scratchpad classifier flags by the words that name modification, so it
misses most reasoning phrased with held-out paraphrase families and, by the
strict label, all implicit faking; the output monitor flags free-tier
compliance whatever its reason. "Held-out" means absent from every labelled
set the monitors are trained on, not unseen: the base model they start from
learned the whole world's language, held-out families included, without labels
(as a pretrained model would have read such phrasings), and the adaptive arm
(configs/rl/process_supervision_adaptive.py) retrains on oracle-labelled
rollouts in whatever families the policy writes.
"""

import ml_collections

from afjax import config as config_lib
from afjax.data import monitor_data


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  test = arg == "test"
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/monitors/eval.py:{arg}; allowed: no argument or ':test'")
  config = ml_collections.ConfigDict()
  config.job = "monitor_eval"
  config.distributed = False
  config.model = config_lib.model_config("test" if test else "tiny",
                                         vocab_size=512 if test else 2048, max_seq_len=512)
  config.mesh = config_lib.mesh_config(data=-1)
  config.mesh_rules = config_lib.mesh_rules_config()
  config.data = monitor_data.data_config(test)
  config.monitors = ml_collections.ConfigDict(dict(
      scratchpad_workdir="", output_workdir="", organism_workdirs=(), batch_size=8 if test else 64))
  config.eval = config_lib.organism_eval_config(
      **(dict(num_harmful=8, num_benign=2, batch_size=8, max_new_tokens=16) if test else {}))
  return config
