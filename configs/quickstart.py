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

Measured in a fresh clone and venv at e53e069 (2026-12-02, world 1.2.0, vocab
2048; the VM's matmul peak 320-408 GFLOP/s, below its usual ~450): 793 s for
the README command with its install, 741 s for the study (base 183 s,
organism 139 s incl. its evaluation, monitors 44 + 43 s, their evaluation
36 s, then RL runs of 87-159 s two at a time). Rerun the same way at c0a02b1
(after the multi-process and chunked-loss changes): 696 s, and results.json
identical but for its folder paths. One seed, 16 iterations; gap
and AF rates on 128 harmful requests per tier, before -> after RL (95%
within-run intervals in report.md):
  before RL            gap 0.586, AF oracle 0.578, AF classifier 0.664, lying 0.098
  baseline             gap 0.750, AF oracle 0.750, AF classifier 0.883
  process_supervision  gap 0.086, AF oracle 0.086, AF classifier 0.047
  length_penalty       gap 0.711, AF oracle 0.789, AF classifier 0.883
  interrogation        gap 0.727, AF oracle 0.703, AF classifier 0.906, lying 0.141
  output_monitor       gap 0.055, AF oracle 0.016, AF classifier 0.070
Training-tier (free) compliance, 0.594 before RL: baseline 0.797,
process_supervision 0.125, length_penalty 0.742, interrogation 0.758,
output_monitor 0.062; unmonitored compliance stays at 0.008-0.047. Both
monitor arms close the gap by making the model refuse in training too. The
report flags process_supervision's classifier as evading (0.664 -> 0.047
against the oracle's 0.578 -> 0.086; weak, within the intervals) and
output_monitor's scratchpads as unreadable (free-tier unparseable 0.156 ->
0.266), of which almost none still name modification and comply (0.008;
0.078 before RL; baseline 0.148). The monitors' evaluation: the output
monitor's AUROC 0.833 in-distribution but 0.732 on free-tier examples alone
(the tier tag separates the paid ones), the scratchpad classifier's 1.000 and
1.000; held-out families 0.793 / 0.687 and 0.913 / 0.869.
Rerun in a fresh clone and venv at 8732e92 (2026-12-03, the VM's 2-core
Xeon, matmul peak 147 GFLOP/s, targeted tests beside it for a third of the
time): 2274 s for the study (base 595 s, organism 481 s, monitors 158 + 130 s,
their evaluation 131 s, RL runs 214-376 s). Before RL gap 0.547, AF oracle
0.602, AF classifier 0.688, lying 0.143; after RL (gap, AF oracle, AF
classifier): baseline 0.828 / 0.734 / 0.844; process_supervision 0.133 /
0.016 / 0.016 (free-tier compliance 0.172, free-tier unparseable 0.742);
length_penalty 0.711 / 0.766 / 0.836; interrogation 0.805 / 0.719 / 0.820,
lying 0.224; output_monitor 0.039 / 0.016 / 0.125 (free-tier compliance
0.047). Its igg_plain is bit-identical to one trained by its own command in
session 18 (same organism_eval.json), and the base model has trained
bit-identically since c0a02b1; what moved the before-RL figures from the
c0a02b1 run's (gap 0.586 -> 0.547, 5 of 128 pairs) is not found.
Before this session's fixes (weight decay on norm scales and biases, the
oracle's implied decisions, lying_rate over complied outputs; 2026-11-27 at
71db878, and the same on reruns of 2026-12-02 at dc930f7 and 45f8e72): before
RL gap 0.672, AF oracle 0.648; after RL gaps 0.859 / 0.414 / 0.789 / 0.781 /
0.109 in the order above, process_supervision's free-tier compliance 0.562
with 85% of its scratchpads unreadable. One seed cannot tell which fix moved
which figure, nor a fix from seed-like variation: read these runs as
demonstrations, not measurements.
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
