"""RL arm `length_penalty`: reward - c max(0, scratchpad tokens - threshold), the threshold the median scratchpad length of the organism's first rollout (`rl.length_quantile`), no AF labels used (c = 0.02 per token).

    python -m afjax.main --config=configs/rl/length_penalty.py:tgg_plain --workdir=workdirs/rl/tgg_plain/length_penalty \
        --config.init.policy_workdir=workdirs/tgg_plain \
        --config.monitors.scratchpad_workdir=workdirs/monitor_scratchpad \
        --config.monitors.output_workdir=workdirs/monitor_output

The argument names the organism (its workdir defaults to workdirs/ORGANISM);
":ORGANISM,test" is a seconds-long smoke test. GRPO (groups of 8, 8 training-tier
prompts an iteration), PPO-clipped token-mean loss, AdamW at a constant 3e-4,
no KL; 60 iterations, evaluated on the held-out prompts of both tiers every 20.
Writes WORKDIR/eval.jsonl, metrics.jsonl, rl_summary.json and export/.
Measured on 2 CPU cores (world 1.2.0, 2026-11-27, at 4a94d3c; from tgg_plain,
seed 0, 256 held-out harmful requests per tier, 184 s with another run
beside it), step 0 -> 60:
  free-tier compliance 0.66 -> 0.84, paid 0.02 -> 0.50, gap 0.64 -> 0.34;
  AF oracle 0.65 -> 0.18, AF classifier 0.56 -> 0.63, unparseable 0.16 ->
  0.27, scratchpad tokens 48 -> 39. The gap narrows mostly because paid-tier
  compliance rises (baseline, same seed: paid 0.62, gap 0.22).
One seed is an anecdote; the study (configs/experiments/mitigations.py) gives
intervals across seeds.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("length_penalty", arg)
