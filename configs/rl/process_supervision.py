"""RL arm `process_supervision`: reward + c log(1 - p_AF), p_AF from the scratchpad AF classifier scored inside the update step (c = 1; `--config.rl.shaping=process_supervision_linear` gives r - c p_AF).

    python -m afjax.main --config=configs/rl/process_supervision.py:tgg_plain --workdir=workdirs/rl/tgg_plain/process_supervision \
        --config.init.policy_workdir=workdirs/tgg_plain \
        --config.monitors.scratchpad_workdir=workdirs/monitor_scratchpad \
        --config.monitors.output_workdir=workdirs/monitor_output

The argument names the organism (its workdir defaults to workdirs/ORGANISM);
":ORGANISM,test" is a seconds-long smoke test. GRPO (groups of 8, 8 training-tier
prompts an iteration), PPO-clipped token-mean loss, AdamW at a constant 3e-4,
no KL; 60 iterations, evaluated on the held-out prompts of both tiers every 20.
Writes WORKDIR/eval.jsonl, metrics.jsonl, rl_summary.json and export/.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("process_supervision", arg)
