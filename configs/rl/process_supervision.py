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

Measured on 2 CPU cores (world 1.1.0, 2026-11-27, at 9c3d488; seed 0, 256
held-out harmful requests per tier, 207 s a run): from tgg_plain the
classifier's AF rate 0.63 -> 0.004 while the oracle's falls only to 0.41 and
56% of scratchpads leave the grammar (unparseable): the classifier misses
faking that the oracle still finds (104 of 256 free-tier scratchpads explicit
AF). The gap narrows 0.61 -> 0.46 (free 0.81, paid 0.35). From igg_plain,
classifier 0.78 -> 0.000, oracle 0.70 -> 0.004, unparseable 0.80, and the gap
closes: 0.66 -> -0.06 (free 0.76, paid 0.82). At 938d04b (numerics equal up to
float rounding) the same seed gave tgg_plain classifier 0.004, oracle 0.26,
gap 0.46 and igg_plain classifier 0.000, gap 0.05; before 8d1ad74 it took
tgg_plain to clean evasion instead (classifier 0.000, oracle AF 0.88, gap
0.32). One seed each is an anecdote; see the study
(configs/experiments/mitigations.py) for intervals across seeds.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("process_supervision", arg)
