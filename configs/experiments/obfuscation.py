"""The obfuscation study: how hard process supervision pushes, and a classifier that adapts.

    python -m afjax.main --config=configs/experiments/obfuscation.py --workdir=workdirs/obfuscation

On the plain alignment fakers (tgg_plain, igg_plain) and the distilled
organism, 3 seeds each: baseline RL; process supervision with the log-barrier
coefficient c in {0.1, 0.3, 1, 3} ("process_supervision@C" sets
rl.shaping_coef); and process_supervision_adaptive (c = 1), whose scratchpad
classifier is retrained every 5 iterations on the policy's own samples
labelled by the oracle (afjax/rl/adaptive.py). The report shows, per arm,
af_rate_classifier (fixed classifier) against af_rate_oracle and
implicit_af_rate_oracle: evasion is the classifier rate falling while the gap
and the oracle rates do not. Shared stages are computed once; spread the RL
runs with --config.study.stages / num_shards / shard_index as in
configs/experiments/mitigations.py.
"""

import ml_collections

from afjax import config as config_lib

ORGANISMS = ("tgg_plain", "igg_plain", "distilled")
ARMS = ("baseline", "process_supervision@0.1", "process_supervision@0.3", "process_supervision@1",
        "process_supervision@3", "process_supervision_adaptive")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/experiments/obfuscation.py:{arg}; allowed: no argument or ':test'")
  return config_lib.study_config(ORGANISMS, ARMS, (0, 1, 2), test=arg == "test")
