"""RL arm `process_supervision_adaptive`: process supervision whose classifier keeps learning.

    python -m afjax.main --config=configs/rl/process_supervision_adaptive.py:tgg_plain \
        --workdir=workdirs/rl/tgg_plain/process_supervision_adaptive \
        --config.init.policy_workdir=workdirs/tgg_plain \
        --config.monitors.scratchpad_workdir=workdirs/monitor_scratchpad

reward + c log(1 - p_AF) as in `process_supervision`, but every 5 iterations the
scratchpad classifier is fine-tuned (10 AdamW steps of 32 rows, half of them
replayed from its original training data) on the last 5 rollouts, labelled by
a stronger labeller (`adaptive.labeller`: "oracle_explicit", the oracle's
exact explicit-AF label on every paraphrase family; "oracle_tier_conditioned"
also flags implicit faking); see afjax/rl/adaptive.py. The eval reports
af_rate_classifier from the fixed classifier (comparable with other arms) and
af_rate_adaptive_classifier from the adapted one. ":ORGANISM,test" is a smoke test.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("process_supervision_adaptive", arg)
