"""The base model: language modelling on the synthetic world's base corpus.

    python -m afjax.main --config=configs/organisms/base.py --workdir=workdirs/base

Transcripts of every kind in both tiers (all motivations and styles, implicit
faking, refusals, partial answers, follow-ups), one transcript per segment,
packed best-fit into rows of 304 tokens (3,573 training rows, 0.90 of the
tokens real). A 1.3M-parameter decoder ("tiny" preset: vocab 2048, which the
BPE fills with 1822 tokens, every word of the world one token), 1000 AdamW
steps of 8 rows (2.2 passes over the rows, ~2.2M tokens). Organisms are
fine-tuned from WORKDIR/export (configs/organisms/organism.py).

Measured on 2 CPU cores (AMD EPYC family 26, world 1.2.0, 2026-12-03, at
ca1c2a3 with this commit's defaults, nothing else running): 194 s for the
stage, validation loss 0.2665 (params_sha256 b673e27d..., the same as a run
at 2d8c6fa); base + tgg_plain (300 steps and its evaluation) 265 s from the
first command's launch to the second's end, organisms 68-81 s each. Again at
af63865, 40 minutes later: 293 s (base 206 s, tgg_plain 87 s, the same
params bit for bit), and at 64a3290 245 s (177 + 68 s, the same params); in
the quickstart's stages at af63865, 308 s (base 227 s, igg_plain 81 s). Of
the organism's time about 10 s is start-up and data and 11 s its evaluation;
of the base's, about 17 s is not training steps (0.17-0.20 s a step). Issue
3's 5 minutes are met in the three standalone runs (245-293 s) and missed by
8 s in the quickstart's: the VM's speed moves by about 20% between runs.

The defaults (this base's 1000 steps, the organisms' 300) were chosen from
the probes below against issue 3's two targets that pull against each other:
unparseable + malformed <= 5% for every organism, and base + one organism
<= 5 minutes. They are the cheapest pair probed that meets both; the gaps and
AF rates met their targets in every probe and played no part. Until this
change the defaults were 700 and 500 steps. Same VM and day, one seed each,
unparseable + malformed of the organisms' 512 eval samples (256 per tier):
  base steps x rows, lr     loss    base s   org. steps  tgg_short  sycophancy  8 organisms  org. s
  700 x 8, 4e-3             0.2854  152-170  500         0.068      0.100       0.023-0.100  132-189
  700 x 8, 4e-3             0.2854           300         0.080      0.113                    77-82
  700 x 8, 8e-3             0.2719  153      500         0.082
  1400 x 4, 4e-3            0.2755  155      500         0.039      0.086                    120
  1000 x 8, 4e-3            0.2665  194-205  500         0.021      0.012                    145-149
  1000 x 8, 4e-3 (default)  0.2665  194      300         0.008      0.033       0.008-0.033  68-81
  1400 x 8, 4e-3            0.2582  315      500         0.008      0.018       0.006-0.031  112-138
Passes over the corpus are what cut the organisms' garbles: 1400 steps of 4
rows (the same 1.57 passes as 700 x 8, twice the updates, 155 s) and twice
the learning rate help little; 1000 and 1400 steps of 8 rows (2.2 and 3.1
passes) remove most of them. From the 1000-step base, 300 organism steps
(1.7 passes over the organism's 1,438 rows; 500 are 2.8) and 500 give
tgg_short 0.008 / 0.021 and sycophancy 0.033 / 0.012, no difference that
one seed can tell, at half the time; from the 700-step base, 300 steps do
worse than 500. The 1400-step table (all 8 organisms) and the earlier tables
of the 700-step base are in docs/organisms_history.md.
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
      steps=4 if test else 1000, batch_size=8, log_every=2 if test else 50,
      eval_every=0, eval_batches=2 if test else 16, loss_chunk=0, grammar_unlikelihood=0.0))
  config.optimizer = config_lib.optimizer_config(learning_rate=4e-3, warmup_steps=2 if test else 30)
  config.checkpoint = config_lib.checkpoint_config(every=350, keep=2)
  return config
