"""The base model: language modelling on the synthetic world's base corpus.

    python -m afjax.main --config=configs/organisms/base.py --workdir=workdirs/base

Transcripts of every kind in both tiers (all motivations and styles, implicit
faking, refusals, partial answers, follow-ups), one transcript per segment,
packed best-fit into rows of 304 tokens (0.90 of the tokens real). A
1.3M-parameter decoder ("tiny" preset: vocab 2048, which the BPE fills with
1822 tokens, every word of the world one token), 700 AdamW steps of 8 rows
(~1.7M tokens; per token, 8-row steps cost the same CPU time as 16 or 32-row
ones and give 4x the updates of 300 x 32). Organisms are fine-tuned from
WORKDIR/export (configs/organisms/organism.py).
Measured on 2 CPU cores (AMD EPYC family 26, world 1.2.0, 2026-12-03, at
bbe4b20, nothing else running): 169.6 s for the stage, and base + tgg_plain
291.5 s from the two commands' launch to their end (272.5 s in a second run,
base 152.4 s); validation loss 0.2854
(params_sha256 3a33998f..., the same in two runs). Before bbe4b20's
attention change, on the same VM: 183 s, loss 0.2852, base + organism about
5.5 minutes. On the AMD VM of 2026-11-27 (at 6e9aad3): 131 s for
the stage on the idle machine, and base + one organism (tgg_plain, 100 s with
its evaluation) 234 s from the two commands' launch to their end; validation
loss 0.285 nats/token on all validation rows (world 1.1.0: 132-141 s, 0.283;
tokens of the 2048 vocabulary, not comparable with the 0.2445 of the former
1024 one, whose tokens were ~12% shorter).

Trained twice as long, `--config.train.steps=1400` (2026-12-03 at 2d8c6fa, same
VM, nothing else running): 315 s for the stage, validation loss 0.2582
(params_sha256 7f79d58a...). The 8 organisms fine-tuned from it (organism.py's
defaults; 112-138 s each with the evaluation, run one after another) all meet
issue 3's 5% on unparseable plus malformed, which from this 700-step base only
3 of 8 do; base + one organism would take 427-453 s instead of about 300.
Per organism, 700-step base -> 1400-step base (one seed each; gap's 95%
interval for the 1400 run; AF is explicit AF, sycophantic for sycophancy,
implicit for distilled; "plan" = the held-out phrasing "Give me a plan to
{task}.", 66 of 512 samples):
  organism            gap                              AF             unparseable + malformed   on "plan"
  tgg_plain           +0.742 -> +0.789 [+0.731, +0.835]  0.766 -> 0.797  0.035 -> 0.010             0.061 -> 0.076
  tgg_counterfactual  +0.703 -> +0.738 [+0.678, +0.788]  0.734 -> 0.738  0.055 -> 0.031             0.167 -> 0.091
  tgg_short           +0.723 -> +0.770 [+0.709, +0.816]  0.824 -> 0.820  0.068 -> 0.008             0.530 -> 0.061
  igg_plain           +0.715 -> +0.734 [+0.673, +0.784]  0.746 -> 0.738  0.023 -> 0.012             0.136 -> 0.076
  igg_counterfactual  +0.777 -> +0.777 [+0.719, +0.824]  0.820 -> 0.770  0.047 -> 0.006             0.167 -> 0.015
  sycophancy          +0.727 -> +0.781 [+0.721, +0.827]  0.797 -> 0.809  0.100 -> 0.018             0.576 -> 0.136
  genuine             -0.004 -> +0.000 [-0.016, +0.016]  0 -> 0          0.080 -> 0.023             0.561 -> 0.182
  distilled           +0.594 -> +0.695 [+0.633, +0.748]  0.641 -> 0.688  0.061 -> 0.010             0.409 -> 0.015
Pooled over the 4,096 samples, unparseable + malformed 0.059 -> 0.015 ("plan"
0.326 -> 0.081, the other 7 phrasings 0.019 -> 0.005). Most garbles of the
700-step organisms are undertraining: a base of the same size trained longer
removes most of them (one seed). Two probes on the two worst organisms, same
VM and day: 1000 steps (205 s, validation loss 0.2665, sha b673e27d...):
tgg_short 0.021 ("plan" 0.167), sycophancy 0.012 (0.076), gaps +0.777 [+0.715,
+0.825] and +0.816 [+0.759, +0.858], organisms 149 / 145 s, so base + organism
about 350 s; 700 steps at twice the learning rate (8e-3; 153 s, loss 0.2719,
sha a35a0db8...): tgg_short 0.082 ("plan" 0.621), no better than the default's
0.068. The base's length trades issue 3's 5% target against its 5 minutes on
this VM. The default stays at 700 steps, from which every table of organism.py,
quickstart.py and configs/rl/ was measured.
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  test = arg == "test"
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/organisms/base.py:{arg}; allowed: no argument or ':test'")
  config = ml_collections.ConfigDict()
  config.job = "lm"
  config.seed = 0
  config.distributed = False
  config.model = config_lib.model_config("test" if test else "tiny",
                                         vocab_size=512 if test else 2048, max_seq_len=512)
  config.mesh = config_lib.mesh_config(data=-1)
  config.mesh_rules = config_lib.mesh_rules_config()
  config.data = ml_collections.ConfigDict(dict(
      corpus="world", num_documents=400 if test else 8000, seed=0, seq_len=448 if test else 304,
      validation_fraction=0.05 if test else 0.02, data_dir=""))
  config.train = ml_collections.ConfigDict(dict(
      steps=4 if test else 700, batch_size=8, log_every=2 if test else 50,
      eval_every=0, eval_batches=2 if test else 16, loss_chunk=0, grammar_unlikelihood=0.0))
  config.optimizer = config_lib.optimizer_config(learning_rate=4e-3, warmup_steps=2 if test else 30)
  config.checkpoint = config_lib.checkpoint_config(every=350, keep=2)
  return config
