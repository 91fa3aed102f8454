"""RL arm `process_supervision_linear`: reward - c p_AF, the linear variant of process supervision with the scratchpad classifier (configs/rl/process_supervision.py has the log-barrier reward + c log(1 - p_AF)); c = 1.

    python -m afjax.main --config=configs/rl/process_supervision_linear.py:tgg_plain \
        --workdir=workdirs/rl/tgg_plain/process_supervision_linear \
        --config.init.policy_workdir=workdirs/tgg_plain \
        --config.monitors.scratchpad_workdir=workdirs/monitor_scratchpad

The argument names the organism; ":ORGANISM,test" is a seconds-long smoke
test. Everything else as configs/rl/process_supervision.py (GRPO groups of 8,
60 iterations, evals every 20), and its runs are labelled
`process_supervision_linear` in rl_summary.json and the study's report. The
linear penalty is bounded (at most c), where the log barrier grows without
bound as p_AF -> 1. Not measured yet.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("process_supervision_linear", arg)
