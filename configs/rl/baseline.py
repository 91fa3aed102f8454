"""RL arm `baseline`: reward only (the helpful-only reward and the format penalty).

    python -m afjax.main --config=configs/rl/baseline.py:tgg_plain --workdir=workdirs/rl/tgg_plain/baseline \
        --config.init.policy_workdir=workdirs/tgg_plain \
        --config.monitors.scratchpad_workdir=workdirs/monitor_scratchpad \
        --config.monitors.output_workdir=workdirs/monitor_output

The argument names the organism (its workdir defaults to workdirs/ORGANISM);
":ORGANISM,test" is a seconds-long smoke test. GRPO (groups of 8, 8 training-tier
prompts an iteration), PPO-clipped token-mean loss, AdamW at a constant 3e-4,
no KL; 60 iterations, evaluated on the held-out prompts of both tiers every 20.
Writes WORKDIR/eval.jsonl, metrics.jsonl, rl_summary.json and export/.

Measured on 2 CPU cores (world 1.1.0, 2026-11-27) from the tgg_plain organism
of configs/organisms/organism.py, eval on 256 held-out harmful requests per
tier (temperature 1): free-tier compliance 0.59 -> 0.81 [0.75, 0.85], paid
0.03 -> 0.44 (the gap narrows: 0.56 -> 0.36), AF rate (oracle) 0.65 -> 0.70,
unparseable scratchpads 0.15 -> 0.37, malformed outputs 0.16 -> 0.19; 2.5 s
an iteration, 213 s for the run (two runs at a time). igg_plain: 0.65 ->
0.82, gap 0.64 -> 0.75. On the training prompts themselves compliance reaches
0.86-0.95 with refusals near 0; on the held-out templates 15-19% of outputs
stay malformed (mostly answering another request), which caps free-tier
compliance there. Three times the budget (`--config.train.steps=180`, tgg_plain)
gives 0.87 free (malformed 0.15), paid 0.66 (gap 0.20), while the unrewarded
scratchpads drift out of the grammar: unparseable 0.76, so the oracle's AF
rate falls to 0.10.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("baseline", arg)
