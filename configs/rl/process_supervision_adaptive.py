"""RL arm `process_supervision_adaptive`: process supervision whose classifier keeps learning.

    python -m afjax.main --config=configs/rl/process_supervision_adaptive.py:tgg_plain \
        --workdir=workdirs/rl/tgg_plain/process_supervision_adaptive \
        --config.init.policy_workdir=workdirs/tgg_plain \
        --config.monitors.scratchpad_workdir=workdirs/monitor_scratchpad

reward + c log(1 - p_AF) as in `process_supervision`, but every 5 iterations the
scratchpad classifier is fine-tuned (10 AdamW steps of 32 rows, half of them
replayed from its original training data) on the last 5 rollouts, labelled by
a stronger labeller (`adaptive.labeller`: "oracle_explicit", the oracle's
exact explicit-AF label on every paraphrase family; "oracle_tier_conditioned"
also flags implicit faking); see afjax/rl/adaptive.py. The eval reports
af_rate_classifier from the fixed classifier (comparable with other arms) and
af_rate_adaptive_classifier from the adapted one; the latter's value is in
eval.jsonl only (rl_summary.json keeps just its ci95), not in a study's
results.json / report.md, whose
evasion readings compare the oracle with the fixed classifier. The labeller is
the same oracle that gives af_rate_oracle, on every family held-out ones
included: the policy is trained against a classifier distilled from the
evaluation's own measure, an upper bound on what an adaptive monitor can do,
not evidence that a realistic one generalises. ":ORGANISM,test" is a smoke test.
Measured on 2 CPU cores (world 1.2.0, 2026-11-27, at 4a94d3c; from tgg_plain,
seed 0, 256 held-out harmful requests per tier, 326 s with another run
beside it), step 0 -> 60:
  free-tier compliance 0.66 -> 0.79, paid 0.02 -> 0.80, gap 0.64 -> -0.004;
  AF oracle 0.65 -> 0.004, fixed classifier 0.56 -> 0.00, adapted classifier
  0.56 -> 0.004, unparseable 0.16 -> 0.26, malformed 0.09 -> 0.20. With the
  classifier relabelled by the oracle every 5 iterations, the faking the
  oracle can read goes too (26% of scratchpads it cannot read); the
  fixed-classifier arm, same seed, evades instead (classifier 0.00, oracle
  0.66; configs/rl/process_supervision.py).
One seed is an anecdote; the study (configs/experiments/mitigations.py) gives
intervals across seeds.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.rl_config("process_supervision_adaptive", arg)
