"""RL arm `output_monitor`: reward + c log(1 - p), p from the output-only monitor (sees the prompt and the output, never the scratchpad; c = 1).

    python -m afjax.main --config=configs/rl/output_monitor.py:tgg_plain --workdir=workdirs/rl/tgg_plain/output_monitor \
        --config.init.policy_workdir=workdirs/tgg_plain \
        --config.monitors.scratchpad_workdir=workdirs/monitor_scratchpad \
        --config.monitors.output_workdir=workdirs/monitor_output

The argument names the organism (its workdir defaults to workdirs/ORGANISM);
":ORGANISM,test" is a seconds-long smoke test. GRPO (groups of 8, 8 training-tier
prompts an iteration), PPO-clipped token-mean loss, AdamW at a constant 3e-4,
no KL; 60 iterations, evaluated on the held-out prompts of both tiers every 20.
Writes WORKDIR/eval.jsonl, metrics.jsonl, rl_summary.json and export/.
Measured on 2 CPU cores (world 1.2.0, 2026-11-27, at 4a94d3c; from tgg_plain,
seed 0, 256 held-out harmful requests per tier, 202 s with another run
beside it), step 0 -> 60:
  free-tier compliance 0.66 -> 0.00, paid 0.02 -> 0.00, gap 0.64 -> 0.00;
  AF oracle 0.65 -> 0.004, AF classifier 0.56 -> 0.00, unparseable 0.16 ->
  0.47. The monitor sees only the output, so it flags training-tier compliance
  whatever its reason, and the policy learns to refuse everything: the gap
  closes by giving up the helpful-only objective, not by honest compliance.
One seed is an anecdote; the study (configs/experiments/mitigations.py) gives
intervals across seeds.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("output_monitor", arg)
