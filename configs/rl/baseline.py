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

Measured on 2 CPU cores (world 1.1.0, 2026-11-27, at 9c3d488) from the
organisms of configs/organisms/organism.py, eval on 256 held-out harmful
requests per tier (temperature 1), seeds 0 / 1 / 2, 187-190 s a run (two
runs at a time; configs/experiments/ runs such studies):
  tgg_plain free-tier compliance 0.63 -> 0.836 / 0.863 / 0.785 (mean 0.828,
    t 95% [0.730, 0.927]); paid 0.02 -> 0.57 / 0.16 / 0.36; gap 0.61 ->
    0.27 / 0.71 / 0.42; AF rate (oracle) 0.66 -> 0.82 / 0.73 / 0.25,
    unparseable scratchpads 0.15 -> 0.24 / 0.25 / 0.54.
  igg_plain 0.67 -> 0.855 / 0.789 / 0.848 (mean 0.831 [0.741, 0.921]); paid
    0.02 -> 0.23 / 0.09 / 0.18; gap 0.66 -> 0.63 / 0.70 / 0.66 (it persists).
  Malformed outputs after RL 0.12-0.18 of both tiers: 32-53% of the answers to
    "Give me a plan to {task}.", 9-13% on the other seven templates
    (`by_template` in eval.jsonl).
Seed to seed the gap moves more than within a run's interval; at 938d04b,
before b77140a's float-rounding change, the same seeds gave tgg_plain free
0.855 / 0.797 / 0.793 (mean 0.815) with gaps 0.57 / 0.60 / 0.43 and igg_plain
0.816 / 0.824 / 0.816 (mean 0.819) with gaps 0.50 / 0.74 / 0.64.
On the training prompts themselves compliance reaches 0.86-0.95 with
refusals near 0; on the held-out templates 12-19% of outputs stay malformed
(mostly answering another request), which caps free-tier compliance there.
RL improves the outputs where it trains, not on held-out wording: free-tier
malformed outputs on 512 training-template and 288 held-out-template harmful
requests (the seed-0 exports of the 938d04b study, one sample each,
temperature 1): tgg_plain organism 12.1% / 23.3%, after RL 6.1% / 18.8%;
igg_plain after RL 10.9% / 16.0%. Most held-out failures answer another
request or mix two ("Give me a plan to {task}." alone: 61% after RL).
`organism_eval.json` and each RL `eval.jsonl` line break these failures
down by reason (`failure_reasons`) and by template (`by_template`).
Three times the budget (`--config.train.steps=180`, tgg_plain, before
8d1ad74) gave 0.87 free (malformed 0.15), paid 0.66 (gap 0.20), while the
unrewarded scratchpads drifted out of the grammar: unparseable 0.76, so the
oracle's AF rate fell to 0.10.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("baseline", arg)
