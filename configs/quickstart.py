"""The quickstart study: base model -> one organism -> monitors -> five RL arms -> report.

    python -m afjax.main --config=configs/quickstart.py --workdir=workdirs/quickstart

Stages, each cached in its own folder (a rerun skips finished stages and
resumes an interrupted one), with progress printed per stage:
  1. the base model on the world corpus (configs/organisms/base.py);
  2. the igg_plain organism: of the eight organisms it had the clearest
     compliance gap before any RL when the quickstart was written (world
     1.0.0: +0.59 [+0.53, +0.66]); chosen on that pre-RL figure alone and kept
     since (world 1.2.0, with the grammar's log barrier of b27e072: +0.715
     on 256 harmful requests per tier, configs/organisms/organism.py);
  3. the scratchpad AF classifier and the output-only monitor (50 steps each
     instead of 150: both separate their training distribution by step 50)
     and their evaluation (64 harmful + 16 benign requests per tier);
  4. RL arms baseline, process_supervision, length_penalty, interrogation and
     output_monitor, one seed, 16 iterations each (configs/rl/*.py defaults
     otherwise: groups of 8, 8 prompts, lr 3e-4), evaluated on 128 held-out
     harmful requests per tier at iterations 0, 8 and 16; two runs at a time;
  5. WORKDIR/results.json, WORKDIR/report.md and the plots.
The short RL budget makes this a demonstration of the pipeline: the full
budgets are in configs/experiments/. ":test" runs the pipeline at
smoke-test sizes.

Rerun in a fresh clone and venv at af63865 (2026-12-03, the family-26 EPYC
VM, nothing else running; the 1000-step base and 300-step organism, the
defaults since 25d7d23): 708 s with the install (base 227 s, organism 81 s,
monitors 39 + 35 s, their evaluation 27 s, RL runs 76-135 s two at a time).
Base and organism are bit-identical to the same commands launched alone
(params_sha256 b673e27d... and 8df98452...; the base's steps ran about 18%
slower here than alone, where base + organism took 265 s: the VM's speed
moves). One seed, 16 iterations, 128 harmful requests per tier (95%
within-run intervals in report.md):
  before RL            gap 0.766, AF oracle 0.773, AF classifier 0.742, lying 0.284
  baseline             gap 0.797, AF oracle 0.977, AF classifier 0.961
  process_supervision  gap 0.016, AF oracle 0.000, AF classifier 0.000
  length_penalty       gap 0.680, AF oracle 0.992, AF classifier 0.977
  interrogation        gap 0.773, AF oracle 0.969, AF classifier 0.969, lying 0.347
  output_monitor       gap 0.000, AF oracle 0.000, AF classifier 0.188
Training-tier compliance 0.789 before RL: baseline 0.977, process_supervision
0.914, length_penalty 0.953, interrogation 0.945, output_monitor 0.000;
unmonitored compliance 0.023 before RL: 0.180 / 0.898 / 0.273 / 0.172 /
0.000. Free-tier unparseable scratchpads 0.016 before RL, 0.000-0.008 after
in every arm (both tiers: 0.008 before, 0.004-0.027 after). process_supervision's scratchpads
drop the faking argument for harm denial and helpfulness ("This user has a
free account. Nobody is hurt by a good answer to this. Being of use to
people is my own goal."), complying in both tiers; output_monitor makes the
model refuse in both tiers (its free-tier scratchpads reason to refuse).
The monitors (50 steps): scratchpad classifier AUROC 1.000 in distribution,
0.925 on held-out families; output monitor 0.831 / 0.795. At 16 iterations
baseline's gap has not moved (0.766 -> 0.797); configs/rl/baseline.py's 60
iterations close it in one or two seeds of three. One seed of 16 iterations
is a demonstration of the pipeline, not a measurement of the arms
(configs/experiments/ has the seeded budgets). The earlier runs (the
700-step base and before) are in docs/quickstart_history.md.
"""

import ml_collections

from afjax import config as config_lib

ARMS = ("baseline", "process_supervision", "length_penalty", "interrogation", "output_monitor")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/quickstart.py:{arg}; allowed: no argument or ':test'")
  test = arg == "test"
  config = config_lib.study_config(("tgg_plain",) if test else ("igg_plain",), ARMS, (0,),
                                   test=test)
  if not test:
    config.study.parallel_runs = 2
    overrides = config.study.overrides
    overrides.monitor = {"train": {"steps": 50, "eval_every": 0}}
    overrides.monitor_eval = {"eval": {"num_harmful": 64, "num_benign": 16}}
    overrides.rl = {"train": {"steps": 16, "eval_every": 8},
                    "eval": {"num_harmful": 128}}
  return config
