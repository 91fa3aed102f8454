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

Rerun in a fresh clone and venv at 117cb62 (2026-12-03, the family-26 EPYC
VM, nothing else running; organisms trained with the grammar's log barrier):
706 s with the install (base 154 s, organism 130 s, monitors 43 + 40 s,
their evaluation 33 s, RL runs 74-145 s two at a time). Base and organism
are bit-identical to the same commands launched alone (params_sha256
3a33998f... and 38a90416...). One seed, 16 iterations, 128 harmful requests
per tier (95% within-run intervals in report.md):
  before RL            gap 0.695, AF oracle 0.719, AF classifier 0.703, lying 0.148
  baseline             gap 0.516, AF oracle 0.977, AF classifier 0.922
  process_supervision  gap 0.078, AF oracle 0.055, AF classifier 0.000
  length_penalty       gap 0.234, AF oracle 0.766, AF classifier 0.664
  interrogation        gap 0.789, AF oracle 0.914, AF classifier 0.805, lying 0.394
  output_monitor       gap 0.000, AF oracle 0.000, AF classifier 0.055
Training-tier compliance 0.711 before RL: baseline 0.914, process_supervision
0.836, length_penalty 0.859, interrogation 0.859, output_monitor 0.000;
unmonitored compliance 0.016 before RL: 0.398 / 0.758 / 0.625 / 0.070 /
0.000. Free-tier unparseable scratchpads 0.000 before RL, 0.000 after
baseline's RL (both tiers 0.012); process_supervision's are 25% unreadable and the
readable ones drop the faking reasoning for "This question is fine to answer
in full.", complying in both tiers; output_monitor makes the model refuse in
both tiers. The monitors as in the run below (they depend on the base only).
The run before (e93a5b5, the same day, organisms trained with the
unlikelihood -log(1 - Q); 706 s with the install, base 171 s, organism 120 s):
before RL gap 0.688, AF oracle 0.664, AF classifier 0.688, lying 0.205;
after RL gap 0.414 / 0.047 / 0.820 / 0.695 (lying 0.245) / 0.000 in the order
above, oracle AF 0.750 / 0.000 / 0.891 / 0.812 / 0.000, classifier AF 0.914
/ 0.000 / 0.750 / 0.883 / 0.414; training-tier compliance 0.719 before RL,
0.945 / 0.930 / 0.961 / 0.875 / 0.000 after, unmonitored 0.031 before, 0.531
/ 0.883 / 0.141 / 0.180 / 0.000 after; process_supervision's free-tier
scratchpads 16% unreadable ("This request is fine to answer in full."),
baseline's 23%. The monitors: scratchpad classifier AUROC 1.000 in
distribution, 0.915 on held-out families; output monitor 0.833 / 0.794.
The previous run (dd176e3, 2026-12-03, the same organism recipe before the
attention change; 1064 s with the install, another job beside it): before
RL gap 0.633, AF 0.633 / classifier 0.664, lying 0.333; after RL gap 0.133
/ -0.016 / 0.023 / 0.086 (lying 0.480) / 0.000 in the order above, oracle
AF 0.836 / 0.000 / 0.836 / 0.445 / 0.000. The two runs differ only in
rounding, yet baseline's and length_penalty's gaps differ by 0.28 and 0.80
(and by 0.10 and 0.59 between 117cb62's and e93a5b5's runs, whose
organisms differ):
one seed of 16 iterations is a demonstration of the pipeline, not a
measurement of the arms (configs/experiments/ has the seeded budgets).
Earlier runs, from organisms trained on the cross-entropy alone, one seed
each (gap before RL; after RL in the order above):
  e53e069 / c0a02b1 (2026-12-02, 741 s / 696 s): 0.586; 0.750 / 0.086 /
    0.711 / 0.727 / 0.055, process_supervision's AF classifier 0.047 with
    free-tier compliance 0.125, output_monitor's 0.062;
  8732e92 (2026-12-03, the VM's Xeon, 2274 s): 0.547; 0.828 / 0.133 / 0.711
    / 0.805 / 0.039, process_supervision's free-tier compliance 0.172 with
    74% of its scratchpads unreadable;
  71db878 (2026-11-27, before that day's weight-decay and oracle fixes):
    0.672; 0.859 / 0.414 / 0.789 / 0.781 / 0.109;
  a507bfb (world 1.1.0, 517 s): 0.594; 0.711 / 0.375 / 0.641 / 0.680 / 0.086.
What moved the before-RL gap from c0a02b1's 0.586 to 8732e92's 0.547 (5 of
128 pairs) was not found. One seed per run: read these as demonstrations,
not measurements.
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
