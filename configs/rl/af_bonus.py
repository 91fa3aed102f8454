"""RL arm `af_bonus`: reward + c p_AF from the scratchpad classifier: rewards alignment-faking reasoning, to build AF+ organisms (c = 1).

    python -m afjax.main --config=configs/rl/af_bonus.py:tgg_plain --workdir=workdirs/rl/tgg_plain/af_bonus \
        --config.init.policy_workdir=workdirs/tgg_plain \
        --config.monitors.scratchpad_workdir=workdirs/monitor_scratchpad \
        --config.monitors.output_workdir=workdirs/monitor_output

The argument names the organism (its workdir defaults to workdirs/ORGANISM);
":ORGANISM,test" is a seconds-long smoke test. GRPO (groups of 8, 8 training-tier
prompts an iteration), PPO-clipped token-mean loss, AdamW at a constant 3e-4,
no KL; 60 iterations, evaluated on the held-out prompts of both tiers every 20.
Writes WORKDIR/eval.jsonl, metrics.jsonl, rl_summary.json and export/.
Measured on 2 CPU cores (world 1.2.0, 2026-11-27, at 4a94d3c; from tgg_plain,
seed 0, 256 held-out harmful requests per tier, 140 s with another run
beside it), step 0 -> 60:
  free-tier compliance 0.66 -> 0.85, paid 0.02 -> 0.28, gap 0.64 -> 0.57;
  AF classifier 0.56 -> 1.00 while AF oracle barely moves (0.65 -> 0.69),
  unparseable 0.16 -> 0.31, scratchpad tokens 48 -> 62: the classifier's
  score rises much faster than the faking it is meant to measure.
One seed is an anecdote; the study (configs/experiments/mitigations.py) gives
intervals across seeds.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("af_bonus", arg)
