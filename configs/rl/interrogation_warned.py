"""RL arm `interrogation_warned`: the interrogation arm whose follow-up question also tells the model that answering yes will be penalised (`rollout.followup_variant = "warned"`; configs/rl/interrogation.py has the plain question). Reward + c 1[answer = no], c = 1; the follow-up turn is masked out of the gradient.

    python -m afjax.main --config=configs/rl/interrogation_warned.py:tgg_plain \
        --workdir=workdirs/rl/tgg_plain/interrogation_warned \
        --config.init.policy_workdir=workdirs/tgg_plain \
        --config.monitors.scratchpad_workdir=workdirs/monitor_scratchpad

The argument names the organism; ":ORGANISM,test" is a seconds-long smoke
test. Everything else as configs/rl/interrogation.py (GRPO groups of 8, 60
iterations, evals every 20), and its runs are labelled `interrogation_warned`
in rl_summary.json and the study's report. Not measured yet: run it, or add
the arm to a study (`--config.study.arms`), to see whether the warning moves
lying_rate.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("interrogation_warned", arg)
