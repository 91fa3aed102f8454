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

Measured on 2 CPU cores (load ~5, ~5 s an iteration) from the tgg_plain
organism of configs/organisms/organism.py, eval on 128 held-out harmful
requests per tier: free-tier compliance 0.55 -> 0.80, paid 0.10 -> 0.73 (the
gap closes: 0.45 -> 0.07), AF rate (oracle) 0.65 -> 0.45, unparseable
scratchpads 0.14 -> 0.41. On the training prompts themselves compliance
reaches 0.89-0.95 with refusals near 0; on the held-out eval templates about
20% of outputs stay malformed (answering another request), which caps
free-tier compliance there near 0.8.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("baseline", arg)
