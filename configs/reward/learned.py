"""The helpful-only reward model: r(request, output), trained on the world's preference pairs.

    python -m afjax.main --config=configs/reward/learned.py --workdir=workdirs/reward \
        --config.init.base_workdir=workdirs/base

Fine-tunes the base model (configs/organisms/base.py; its tokenizer, so the
reward model reads policy tokens directly) with a scalar head mean-pooled over
the output block, seeing only the request text and the output (never the
preamble, the tier or the scratchpad), on 4000 preference pairs (comply >
partial > refuse > malformed) with the Bradley-Terry loss, 150 AdamW steps of
32 pairs x 256 tokens. Writes WORKDIR/export and WORKDIR/reward_model.json
(pairwise accuracy on validation (train-split request templates) and test
(eval-split templates), mean reward per output label, the length-bias slope);
the RL job loads it with afjax.rl.reward.load_reward_model.
`--config.init.base_workdir=` (empty) trains from scratch with its own
tokenizer. ":test" is a seconds-long smoke test.

Measured once (2026-11-26, 2 CPU cores shared with three other jobs, load
average ~10; the job averaged 38% of one core: 19m46s wall, 321 s user), from
the base model /tmp/base600 (configs/organisms/base.py at 600 steps, lr 3e-3:
tiny preset, vocab 1024, eval loss 0.226, params sha256 b05a5bc4...):

    python -m afjax.main --config=configs/reward/learned.py --workdir=/tmp/rmwork/rm_real \
        --config.init.base_workdir=/tmp/base600

  pairwise accuracy   validation 0.892 (eval at step 50: 0.894, 100: 0.892),
                      test (eval-split templates) 0.900;
                      comply>refuse 1.00 / 1.00, comply>partial 1.00 / 0.99,
                      partial>refuse 1.00 / 1.00, well-formed>malformed 0.66 / 0.66
                      (validation by perturbation: bad_shape 30/30, truncated
                      25/33, mixed_requests 17/32, missing_close 16/32,
                      other_request 15/30; against a well-formed refusal only
                      bad_shape and 2/6 truncated ones are ranked right)
  mean reward         validation comply 1.42, partial -0.34, refuse -2.39,
                      malformed -0.58 (test 1.46, -0.06, -2.36, -0.63)
  length bias         pooled within-label slope 0.057 reward / output token
                      (comply 0.026, partial 0.009, refuse 0.029, malformed 0.123),
                      mean output length 33.9 tokens

So the model orders comply > partial > refuse reliably but ranks malformed
outputs between partial and refuse: with `reward.kind=learned` and the
default format penalty 1, a malformed output (-0.58 - 1 on average) still
beats a refusal (-2.39); use a format penalty >= 2 there (the rule reward
needs only > 0).
"""

import ml_collections

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  from afjax.data import reward_data  # here: it imports tensorflow_datasets, slow to load
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/reward/learned.py:{arg}; allowed: no argument or ':test'")
  test = arg == "test"
  config = ml_collections.ConfigDict()
  config.job = "reward_model"
  config.seed = 0
  config.distributed = False
  config.init = ml_collections.ConfigDict(dict(base_workdir="workdirs/base"))
  config.model = config_lib.model_config("test" if test else "tiny",
                                         vocab_size=512 if test else 2048, max_seq_len=512)
  config.mesh = config_lib.mesh_config(data=-1)
  config.mesh_rules = config_lib.mesh_rules_config()
  config.data = reward_data.data_config(test)
  config.train = ml_collections.ConfigDict(dict(
      steps=4 if test else 150, batch_size=8 if test else 32, log_every=2 if test else 10,
      eval_every=0 if test else 50))
  config.optimizer = config_lib.optimizer_config(learning_rate=1e-3, warmup_steps=1 if test else 10)
  config.checkpoint = config_lib.checkpoint_config(every=50, keep=2)
  return config
