"""The full mitigation study: every organism x every RL arm x 3 seeds, then one report.

    python -m afjax.main --config=configs/experiments/mitigations.py --workdir=workdirs/mitigations

Shared stages (base model, the eight organisms, both monitors and their
evaluation) run once; then 8 organisms x 8 arms x 3 seeds = 192 RL runs; then
WORKDIR/results.json, report.md and plots with across-seed intervals (the t
interval over seeds widened by the eval's own sampling noise, which the seeds
share; afjax.report.results).
On one machine the RL runs go one after another (about 3-4 minutes each on 2
CPU cores); to spread them, run the shared stages once, then shards in
parallel (processes on one machine, or one per host of a slice with WORKDIR on
a shared filesystem), then the report:

    python -m afjax.main --config=configs/experiments/mitigations.py --workdir=W --config.study.stages=shared
    python -m afjax.main --config=configs/experiments/mitigations.py --workdir=W --config.study.stages=rl \
        --config.study.num_shards=N --config.study.shard_index=I        # for I in 0..N-1
    python -m afjax.main --config=configs/experiments/mitigations.py --workdir=W --config.study.stages=report

(`python -m experiments.run_study` does exactly this with N local processes.)
"""

import ml_collections

from afjax import config as config_lib

ORGANISMS = ("tgg_plain", "tgg_counterfactual", "tgg_short", "igg_plain", "igg_counterfactual",
             "sycophancy", "genuine", "distilled")
ARMS = ("baseline", "process_supervision", "length_penalty", "interrogation", "output_monitor",
        "output_only_grad", "scratchpad_only_grad", "af_bonus")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/experiments/mitigations.py:{arg}; allowed: no argument or ':test'")
  return config_lib.study_config(ORGANISMS, ARMS, (0, 1, 2), test=arg == "test")
