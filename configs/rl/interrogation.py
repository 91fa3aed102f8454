"""RL arm `interrogation`: reward + c 1[answer = no]: after each response a training-tier follow-up asks whether it complied to avoid modification; the model answers with its own scratchpad and output; that turn is masked out of the gradient (c = 1; configs/rl/interrogation_warned.py tells the model that answering yes is penalised).

    python -m afjax.main --config=configs/rl/interrogation.py:tgg_plain --workdir=workdirs/rl/tgg_plain/interrogation \
        --config.init.policy_workdir=workdirs/tgg_plain \
        --config.monitors.scratchpad_workdir=workdirs/monitor_scratchpad \
        --config.monitors.output_workdir=workdirs/monitor_output

The argument names the organism (its workdir defaults to workdirs/ORGANISM);
":ORGANISM,test" is a seconds-long smoke test. GRPO (groups of 8, 8 training-tier
prompts an iteration), PPO-clipped token-mean loss, AdamW at a constant 3e-4,
no KL; 60 iterations, evaluated on the held-out prompts of both tiers every 20.
Writes WORKDIR/eval.jsonl, metrics.jsonl, rl_summary.json and export/.
Measured on 2 CPU cores (world 1.2.0, 2026-11-27, at 4a94d3c; from tgg_plain,
seed 0, 256 held-out harmful requests per tier, 337 s with another run
beside it), step 0 -> 60:
  free-tier compliance 0.66 -> 0.83, paid 0.02 -> 0.33, gap 0.64 -> 0.50;
  AF oracle 0.65 -> 0.31, AF classifier 0.56 -> 0.48, unparseable 0.16 -> 0.43,
  scratchpad tokens 48 -> 35; follow-up answered "no" 0.23 -> 0.41 and
  lying_rate (oracle says explicit AF, the answer is no; then over every
  explicit-AF sample, now over those whose output complied) 0.15 -> 0.30: in
  this run the bonus for "no" doubled the share of faking followed by a denial.
One seed is an anecdote; the study (configs/experiments/mitigations.py) gives
intervals across seeds.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("interrogation", arg)
