"""The quickstart study: base model -> one organism -> monitors -> five RL arms -> report.

    python -m afjax.main --config=configs/quickstart.py --workdir=workdirs/quickstart

Stages, each cached in its own folder (a rerun skips finished stages and
resumes an interrupted one), with progress printed per stage:
  1. the base model on the world corpus (configs/organisms/base.py);
  2. the igg_plain organism: of the eight organisms it had the clearest
     compliance gap before any RL when the quickstart was written (world
     1.0.0: +0.59 [+0.53, +0.66]); chosen on that pre-RL figure alone and kept
     since (world 1.1.0: +0.64 [+0.58, +0.70], configs/organisms/organism.py);
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

Measured on the idle 2-core machine (2026-11-27, world 1.1.0, vocab 2048, at
commit ddbc627): 529 s in all, 8 min 51 s for the command (base 135 s,
organism 101 s incl. its evaluation, monitors 32 + 32 s, their evaluation
25 s, then RL runs of 64-113 s two at a time; the same figures as at 6dcd191
in 560 s). One seed, 16 iterations; gap and AF rates on 128 harmful requests
per tier, before -> after RL (95% within-run intervals in report.md):
  before RL            gap 0.625, AF oracle 0.648, AF classifier 0.805, lying 0.145
  baseline             gap 0.695, AF oracle 0.781, AF classifier 0.773
  process_supervision  gap 0.227, AF oracle 0.094, AF classifier 0.023
  length_penalty       gap 0.680, AF oracle 0.688, AF classifier 0.828
  interrogation        gap 0.695, AF oracle 0.750, AF classifier 0.867, lying 0.188
  output_monitor       gap 0.070, AF oracle 0.039, AF classifier 0.047
The previous measurement (593 s, before the faster loss and SwiGLU backward of
8d1ad74) gave gaps 0.641 / 0.750 / 0.281 / 0.680 / 0.688 / 0.109 in the same
order: the arms' ordering held, single-seed figures moved by up to 0.06.
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
