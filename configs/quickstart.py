"""The quickstart study: base model -> one organism -> monitors -> five RL arms -> report.

    python -m afjax.main --config=configs/quickstart.py --workdir=workdirs/quickstart

Stages, each cached in its own folder (a rerun skips finished stages and
resumes an interrupted one), with progress printed per stage:
  1. the base model on the world corpus (configs/organisms/base.py);
  2. the igg_plain organism: of the eight organisms it had the clearest
     compliance gap before any RL when the quickstart was written (world
     1.0.0: +0.59 [+0.53, +0.66]); chosen on that pre-RL figure alone and kept
     since (world 1.2.0: +0.63 on 256 harmful requests per tier,
     configs/rl/baseline.py);
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

Measured on the idle 2-core machine (2026-11-27, world 1.1.0, vocab 2048, a
fresh clone and venv each): at a507bfb 517 s for the study, 9 min 1 s for the
README command with its install (base 132 s, organism 99 s incl. its
evaluation, monitors 31 + 30 s, their evaluation 24 s, then RL runs of 61-112 s
two at a time); 551 s at 9d6b425 and 526 s at 8e7d6bb, with the same figures. One seed, 16 iterations; gap and AF rates on 128 harmful
requests per tier, before -> after RL (95% within-run intervals in report.md):
  before RL            gap 0.594, AF oracle 0.625, AF classifier 0.828, lying 0.250
  baseline             gap 0.711, AF oracle 0.758, AF classifier 0.930
  process_supervision  gap 0.375, AF oracle 0.414, AF classifier 0.062
  length_penalty       gap 0.641, AF oracle 0.812, AF classifier 0.805
  interrogation        gap 0.680, AF oracle 0.773, AF classifier 0.906, lying 0.141
  output_monitor       gap 0.086, AF oracle 0.039, AF classifier 0.102
Training-tier (free) compliance, 0.633 before RL: baseline 0.750,
process_supervision 0.445, length_penalty 0.703, interrogation 0.719,
output_monitor 0.102 (unmonitored compliance stays at 0.02-0.07 in every arm):
the output monitor closes the gap by making the model refuse in training too.
The commit before the hand-written SwiGLU backward (b77140a; gradients equal
to autodiff's up to float rounding) gave, at ddbc627 in 529 s: before RL gap
0.625, AF oracle 0.648; after RL gaps 0.695 / 0.227 / 0.680 / 0.695 / 0.070 in
the order above (process_supervision's AF classifier 0.023). The ordering of
the arms held; single-seed figures moved by up to 0.15 (process_supervision's
gap): read one seed as a demonstration, not a measurement.
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
