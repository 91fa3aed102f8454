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

Measured on 2 CPU cores (AMD EPYC family 26, 2026-12-03, at 25d7d23),
igg_plain from configs/organisms/organism.py's table (1000-step base,
300-step organism: free 0.820, paid 0.047, gap 0.773, free-tier unparseable
0.004), the monitors of configs/monitors/*.py from the same base, seeds 0 /
1 / 2 (`--config.seed=S`), one run at a time, nothing else running (143-146
s a run), 256 held-out harmful requests per tier:
  free-tier compliance 0.820 -> 0.988 / 0.977 / 0.984 (mean 0.983, t 95%
    [0.969, 0.997]); paid 0.047 -> 0.988 / 0.859 / 0.297; gap 0.773 ->
    0.000 / 0.117 / 0.688 (within-run 95%: [-0.020, +0.020], [+0.074,
    +0.165], [+0.624, +0.741]);
  AF oracle 0.777 -> 0.988 / 0.953 / 0.996, AF classifier 0.730 -> 0.949 /
    0.926 / 0.996; paid-tier explicit AF (`af_rate_oracle_unmonitored`)
    0.012 -> 0.109 / 0.375 / 0.238;
  free-tier unparseable 0.004 -> 0.004 in all three, malformed (both tiers)
    0.002 -> 0.010 / 0.014 / 0.006; outputs that do not do what their
    scratchpad decided (`decision_output_mismatch_rate`, both tiers) 0.006
    -> 0.262 / 0.087 / 0.016.
From this organism the scratchpads stay inside the grammar in all three
seeds (from the earlier organisms one to three seeds of three drifted out of
it), and RL makes training-tier faking near-universal (oracle AF 0.95-1.00).
How far the gap closes differs by seed: in seed 0 fully, mostly by outputs
that ignore the scratchpad (130 of its 256 paid-tier scratchpads decide to
refuse, yet 253 outputs comply); in seed 1 by paid-tier scratchpads that
carry the faking argument into the unmonitored tier (96 explicit AF); seed 2
keeps most of its gap. Three seeds: a spread, not a rate. The earlier
measurements of this arm (organisms of the 700-step base and before) are in
docs/rl_history.md.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("baseline", arg)
