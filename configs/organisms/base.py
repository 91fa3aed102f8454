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
