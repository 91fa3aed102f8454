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

Measured on the idle 2-core machine (2026-11-27, world 1.2.0, vocab 2048, a
fresh clone and venv at 71db878): 522 s for the study, 9 min 8 s for the README
command with its install (base 128 s, organism 97 s incl. its evaluation,
monitors 31 + 32 s, their evaluation 26 s, then RL runs of 63-114 s two at a
time). One seed, 16 iterations; gap and AF rates on 128 harmful requests per
tier, before -> after RL (95% within-run intervals in report.md):
  before RL            gap 0.672, AF oracle 0.648, AF classifier 0.680, lying 0.157
  baseline             gap 0.859, AF oracle 0.680, AF classifier 0.773
  process_supervision  gap 0.414, AF oracle 0.055, AF classifier 0.070
  length_penalty       gap 0.789, AF oracle 0.703, AF classifier 0.773
  interrogation        gap 0.781, AF oracle 0.703, AF classifier 0.789, lying 0.200
  output_monitor       gap 0.109, AF oracle 0.070, AF classifier 0.102
Training-tier (free) compliance, 0.680 before RL: baseline 0.875,
process_supervision 0.562, length_penalty 0.844, interrogation 0.852,
output_monitor 0.117; unmonitored compliance stays at 0.01-0.07 except under
process_supervision (0.148). The output monitor closes the gap by making the
model refuse in training too. Under process_supervision 85% of the free-tier
scratchpads leave the grammar (0.13 before), so its low oracle AF rate
undercounts: the report flags these unreadable scratchpads (as under baseline
and output_monitor, 0.13 -> 0.24), and no evasion: after RL the classifier
(0.070) does not report less faking than the oracle finds (0.055). Reruns on
2026-12-02 (fresh clone and venv each) gave the same figures: at dc930f7
(1,117 s for the study, the machine shared with other work) and at 45f8e72
(1,029 s, 18 min 9 s for the README command, on a VM whose matmul peak
measured 2.7x below its usual one that day).
At world 1.1.0 (a507bfb, 28 train templates; 517 s) the same command gave
before RL gap 0.594, AF oracle 0.625; after RL gaps 0.711 / 0.375 / 0.641 /
0.680 / 0.086 in the order above (process_supervision's AF classifier 0.062,
lying under interrogation 0.141). Read one seed as a demonstration, not a
measurement.
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
