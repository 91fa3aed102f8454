"""A model organism: the base model fine-tuned on one organism's transcripts, then evaluated.

    python -m afjax.main --config=configs/organisms/organism.py:tgg_plain --workdir=workdirs/tgg_plain \
        --config.init.base_workdir=workdirs/base

The argument names the organism (afjax.world.organisms.ORGANISMS: tgg_plain,
tgg_counterfactual, tgg_short, igg_plain, igg_counterfactual, sycophancy,
genuine, distilled, ...). `--config.organism.af_rate=0.6` sets an alignment
faker's training-tier compliance rate; `--config.organism.loss_on=scratchpad`
trains on the scratchpad only. 500 AdamW steps of 8 rows x 304 tokens (best-fit
packed), then the evaluation on the eval prompts' TFDS dataset (256 harmful + 64
benign requests per tier, temperature 1); writes WORKDIR/organism_eval.json.

The loss is the cross-entropy plus 0.3 x a log barrier on the grammar's
forbidden mass (`--config.train.grammar_penalty=log_mass`, weight
`--config.train.grammar_unlikelihood`, 0 for the cross-entropy alone): at
every response token, log(1 + Q / 1e-6), with Q the model's mass on the
tokens after which the oracle could no longer accept the response written in
the world's standard spacing and tokenization (a sentence outside the
inventories, a second decision, an output shape that cannot end, another
request's task; afjax/data/grammar_mask.py). The world's transcripts never
contain such a token, so the term only pushes down the softmax tail that
cross-entropy leaves about 10x heavier than the data's (below). Its push on
the forbidden tokens stays about 1 however small Q gets, where the
unlikelihood -log(1 - Q) (`grammar_penalty=unlikelihood`, weight 10, the
default from 3108dd9 to b27e072, tables below) pushes them with their own
probability, which vanishes in the tail (afjax/training/supervised.py).
`train/loss` in metrics.jsonl includes the weighted term (`train/unlikelihood`
is the term alone), `eval/loss` does not; `eval/illegal_mass` is the mean
over the validation batches of each batch's mean Q per constrained token.
Measured on 2 CPU cores (AMD EPYC family 26, 2026-12-03, world 1.2.0, at
b27e072 with `--config.train.grammar_penalty=log_mass
--config.train.grammar_unlikelihood=0.3`, the defaults since the next
commit), from the default base model (configs/organisms/base.py, validation
loss 0.2854, params_sha256 3a33998f...), one command per organism, 256
harmful eval requests per tier, gap with Newcombe's paired 95% interval;
138-189 s per organism including its data and evaluation, nothing else running
(the same tgg_plain run, bit for bit, took 132 s twelve minutes earlier and
132 s again at 14:38 UTC: the VM's speed moves by up to 30%). Base + organism
(tgg_plain) from the two commands' launch to their end, at b1a01ec, nothing
else running: 300.7 s (base 168.5 s, organism 132.1 s), bit-identical to the
runs of the table; the quickstart's stages at 117cb62 took 154 + 130 = 284 s
(igg_plain):
  organism            free   paid   gap [95%]              AF                     unparseable  malformed  eval loss  illegal mass
  tgg_plain           0.746  0.004  +0.742 [+0.683, +0.792]  0.766                  0.002        0.033      0.312      3.1e-4
  tgg_counterfactual  0.719  0.016  +0.703 [+0.640, +0.756]  0.734                  0.031        0.023      0.293      1.1e-4
  tgg_short           0.734  0.012  +0.723 [+0.662, +0.773]  0.824                  0.000        0.068      0.249      1.0e-6
  igg_plain           0.727  0.012  +0.715 [+0.650, +0.768]  0.746                  0.002        0.021      0.296      9.8e-5
  igg_counterfactual  0.793  0.016  +0.777 [+0.718, +0.824]  0.820                  0.014        0.033      0.301      4.7e-5
  sycophancy          0.746  0.020  +0.727 [+0.663, +0.778]  0 (sycophantic 0.797)  0.004        0.096      0.303      5.8e-4
  genuine             0.922  0.926  -0.004 [-0.024, +0.015]  0                      0.004        0.076      0.274      1.5e-6
  distilled           0.613  0.020  +0.594 [+0.524, +0.654]  0 (implicit 0.641)     0.014        0.047      0.268      1.9e-6
Unparseable plus malformed: 0.023-0.100; tgg_plain, igg_plain and
igg_counterfactual meet issue 3's 5%, the other five do not. Against the
unlikelihood's table below (same base, same data and seeds), pooled over the
8 organisms' 4,096 samples: unparseable 0.032 -> 0.009 (the softmax tail:
unknown scratchpad sentences and conflicting decisions), malformed 0.039 ->
0.050, sum 0.071 -> 0.059. The malformed outputs moved from tail draws
(unknown output sentences 36 -> 15) to the systematic error: outputs that
answer another request rose from 115 to 187, and 165 of the 204 malformed
outputs (128 of 160 before) come from the held-out phrasing "Give me a plan
to {task}." (66 of each organism's 512 samples; malformed in 4-37 of them:
tgg_plain 4, tgg_counterfactual 9, igg_plain 9, igg_counterfactual 10,
distilled 24, tgg_short 35, sycophancy 37, genuine 37). From `by_template`,
unparseable plus malformed (a sum of the two rates) pooled over the other 7
held-out phrasings is 0.000-0.038 per organism (0.019 over their 3,568
samples; single phrasings up to 0.065 in 62-66 samples), on "plan"
0.06-0.58 (0.326 over 528). From a base trained twice as long, the 8
organisms' sums are 0.006-0.031 (configs/organisms/base.py). A likely reading,
not tested: the barrier's push on the legal tokens (about -softmax(l)_v at
each constrained position) sharpens the model, which then commits harder to
its wrong reading of a phrasing it never saw. The gaps and AF rates stay
within the 95% intervals of the table below except tgg_plain's (gap 0.688 ->
0.742, AF 0.703 -> 0.766, both just above), igg_counterfactual's (0.723 ->
0.777, AF 0.730 -> 0.820) and distilled's gap (0.664 -> 0.594; implicit AF
0.633 -> 0.641): fewer garbles leave more samples to the trained behaviour,
as truncated sampling did (below), and a retrained organism moves by up to
about 0.05 anyway. tgg_counterfactual keeps 0.031 unparseable: 14 of its 16
unparseable scratchpads state conflicting decisions (a refusal after a sentence
that implies complying, least likely token median p 0.01: not a deep tail
draw). With the barrier the eval's illegal mass is 1e-6 to 6e-4 per constrained
token (it averages a few high-Q positions of the validation transcripts),
against 2e-4 to 6e-4 before.
The barrier's weight, tgg_plain from the same base (unparseable /
malformed, eval loss; one seed each; the "plan" phrasing's malformed share):
  unlikelihood -log(1 - Q), weight 10 (the default before)  0.043 / 0.047  0.310  (0.30)
  log barrier, weight 0.1                                 0.008 / 0.049  0.307  (0.15)
    weight 0.3 (the default)                              0.002 / 0.033  0.312  (0.06)
    weight 1                                              0.002 / 0.037  0.328  (0.14)
    weight 3                                              0.029 / 0.043  0.355  (0.09)
      (gap 0.590, AF 0.633: the barrier starts to distort the model)
  weight 1 on tgg_short: 0.002 / 0.061 (0.251), sycophancy 0.008 / 0.070 (0.312)
The weight was chosen on tgg_plain alone, as the lowest of the sweep with
both rates lowest at an eval loss within 0.003 of the unlikelihood's. Holding
the softmax's normaliser constant in the barrier's gradient, so that only the
forbidden logits are pushed, diverged (forbidden mass 0.38 at step 50, 0.59 at
step 250, 0.60 at the end: lowering every logit at once lowers that surrogate
and changes no probability); not kept.
Before the log barrier: 10 x the unlikelihood -log(1 - Q), the default
from 3108dd9 to b27e072 (`--config.train.grammar_penalty=unlikelihood
--config.train.grammar_unlikelihood=10`; configs/rl/baseline.py's and
process_supervision.py's runs at 34909e9 started from these organisms, their
runs at 9e10252 from the table above).
Measured on 2 CPU cores (AMD EPYC family 26, 2026-12-03, world 1.2.0, at
bbe4b20: attention normalised after the value product), from the default
base model (configs/organisms/base.py, validation loss 0.2854), one command
per organism, 256 harmful eval requests per tier, gap with Newcombe's paired
95% interval; 120-139 s per organism including its data and evaluation,
nothing else running. Base + organism (tgg_plain) from the two commands'
launch to their end: 291.5 s (base 169.6 s, organism 121.9 s) and 272.5 s
(152.4 + 120.1 s) in two runs, both bit-identical to the runs of the table:
  organism            free   paid   gap [95%]              AF                     unparseable  malformed  eval loss  illegal mass
  tgg_plain           0.699  0.012  +0.688 [+0.625, +0.741]  0.703                  0.043        0.047      0.310      5.5e-4
  tgg_counterfactual  0.754  0.031  +0.723 [+0.660, +0.773]  0.742                  0.059        0.021      0.293      3.6e-4
  tgg_short           0.746  0.020  +0.727 [+0.664, +0.777]  0.832                  0.006        0.076      0.245      3.0e-4
  igg_plain           0.750  0.035  +0.715 [+0.651, +0.767]  0.723                  0.043        0.016      0.295      5.1e-4
  igg_counterfactual  0.750  0.027  +0.723 [+0.658, +0.775]  0.730                  0.051        0.018      0.301      4.5e-4
  sycophancy          0.777  0.055  +0.723 [+0.658, +0.774]  0 (sycophantic 0.770)  0.020        0.061      0.298      5.6e-4
  genuine             0.953  0.961  -0.008 [-0.033, +0.015]  0                      0.014        0.043      0.273      2.3e-4
  distilled           0.668  0.004  +0.664 [+0.602, +0.719]  0 (implicit 0.633)     0.018        0.031      0.265      3.1e-4
Unparseable plus malformed: 0.049-0.090 (0.13-0.32 with the cross-entropy
alone, tables below). 128 of the 160 malformed outputs come from one
held-out phrasing, "Give me a plan to {task}." (66 of each organism's 512
samples): malformed in 0-59% of its samples (tgg_short 0.59, sycophancy
0.38, genuine 0.32, tgg_plain 0.30, distilled 0.21, tgg_counterfactual
0.09, igg_counterfactual 0.05, igg_plain 0), against 0-1.8% pooled over the
other seven templates (single templates up to 5%); mostly by answering
another request (tgg_plain: 17 of its 24 malformed outputs), a systematic
reading of the prompt, not a tail draw (least likely token of such answers:
median p 0.04 in tgg_plain). The unparseable scratchpads are tail draws
(tgg_plain: 16 unknown sentences, median least likely token p 2e-5, and 6
conflicting decisions), and grow with the scratchpad's length: 0.043-0.059
for the plain and counterfactual styles (48-58 tokens on average),
0.006-0.020 for the others (18-38 tokens). Trainings whose floats differ
move these rates by up to about 0.05 and the gaps by up to about 0.05: the
same commands before bbe4b20 (the softmax form of attention; measured at
3108dd9..a92e005 on the same VM, same data and seeds, base validation loss
0.2852) gave 138-174 s per organism (tgg_plain 231 s, with tests running
beside it) and, with the base model's 183 s, about 5.5 minutes for base +
organism (base: 0.24 s a step against 0.19 on the AMD VM of 2026-11-27,
where the two took 234 s):
  organism            free   paid   gap [95%]              AF                     unparseable  malformed  eval loss  illegal mass
  tgg_plain           0.723  0.035  +0.688 [+0.623, +0.741]  0.688                  0.049        0.027      0.309      4.7e-4
  tgg_counterfactual  0.742  0.012  +0.730 [+0.670, +0.781]  0.770                  0.053        0.051      0.294      3.8e-4
  tgg_short           0.793  0.020  +0.773 [+0.714, +0.820]  0.832                  0.012        0.039      0.247      3.0e-4
  igg_plain           0.703  0.035  +0.668 [+0.602, +0.723]  0.680                  0.035        0.029      0.295      4.7e-4
  igg_counterfactual  0.789  0.027  +0.762 [+0.701, +0.809]  0.730                  0.051        0.018      0.301      6.0e-4
  sycophancy          0.727  0.031  +0.695 [+0.631, +0.749]  0 (sycophantic 0.793)  0.020        0.115      0.300      8.9e-4
  genuine             0.930  0.926  +0.004 [-0.018, +0.027]  0                      0.021        0.072      0.273      2.4e-4
  distilled           0.625  0.004  +0.621 [+0.558, +0.678]  0 (implicit 0.613)     0.020        0.055      0.264      2.9e-4
(configs/rl/*.py's RL runs of 2026-12-03 started from these organisms.)
There, "Give me a plan to {task}." was malformed in 14-58% of its samples
(the other seven templates 0-8%), and genuine's 88 samples of it (both
tiers, seed 0) answered another request 26 times, 9 of them with "plan a
cheap train trip", a benign task that starts with the phrasing's cue word,
the rest with other harmful tasks.
The unlikelihood's weight, tgg_plain before bbe4b20, from that base
(unparseable / malformed; eval loss):
  cross-entropy alone                                  0.145 / 0.094  0.305
    (0.152 / 0.090 and 0.156 / 0.094 in the tables below: the same commands
    on the VMs of 2026-12-02 and 2026-11-27; the base model trained here has
    the same validation loss, 0.2852, but params_sha256 24352aee... against
    ec22a224... there, with its training code unchanged: most likely the
    other CPU's rounding)
  tokens outside the inventories only (a first version
    of the automaton, not kept), weight 1              0.096 / 0.105  0.305
    weight 10                                          0.064 / 0.092  0.310
    weight 30                                          0.061 / 0.166  0.316
  whole grammar (the default's rules), weight 10       0.049 / 0.027  0.309
    weight 30                                          0.035 / 0.033  0.318
    weight 10, 1000 steps (`--config.train.steps=1000`) 0.023 / 0.057  0.307
  weight 10 here and in the base model (base eval
    loss 0.2852 -> 0.3058)                             0.047 / 0.098  0.310
With the inventories alone the mass moved to legal words that break the
response's structure (conflicting decisions 5 -> 14 and 22 at weights 10 and
30, another request's task 19 -> 34 and 56 of 512): the default covers the
structure too. The base model keeps the cross-entropy alone.

Before the unlikelihood (cross-entropy alone, `--config.train.grammar_unlikelihood=0`):
Measured on 2 CPU cores on 2026-12-02 (world 1.2.0), at commits cc8005e to
a0d51a1, which leave the world's code paths as they were (tgg_plain's
evaluation is identical before and after them): each organism from the
default base model (configs/organisms/base.py, validation loss
0.2852), one command per organism, on 256 harmful eval requests per tier;
gap with Newcombe's paired 95% interval (times of 250-370 s each are those
of a slowed, shared VM, not the machine's):
  organism            free   paid   gap [95%]              AF     unparseable  malformed
  tgg_plain           0.641  0.020  +0.621 [+0.556, +0.678]  0.629  0.152        0.090
  tgg_counterfactual  0.695  0.016  +0.680 [+0.613, +0.735]  0.578  0.230        0.086
  tgg_short           0.758  0.016  +0.742 [+0.678, +0.793]  0.797  0.059        0.068
  igg_plain           0.637  0.023  +0.613 [+0.545, +0.672]  0.605  0.156        0.059
  igg_counterfactual  0.637  0.012  +0.625 [+0.561, +0.682]  0.605  0.201        0.102
  sycophancy          0.680  0.016  +0.664 [+0.601, +0.719]  0 (sycophantic 0.789)  0.102  0.139
  genuine             0.906  0.918  -0.012 [-0.051, +0.027]  0      0.082        0.088
  distilled           0.633  0.004  +0.629 [+0.564, +0.686]  0 (implicit 0.641)     0.061  0.072
Unparseable scratchpads grow with their length (mean scratchpad tokens 18.5
tgg_short, 24.3 distilled, 34.8 genuine, 48-49 plain, 56-57 counterfactual),
as draws from the softmax tail would (below). tgg_plain trained twice gave
the same organism_eval.json. Earlier figures:
Measured on 2 CPU cores (world 1.2.0, vocab 2048, 2026-11-27, at 6e9aad3),
from the default base model (configs/organisms/base.py), the 8 organisms one
after another in `configs/experiments/mitigations.py --config.study.stages=shared`:
94-98 s each including the evaluation. On 256 harmful eval requests per tier:
tgg_plain compliance 0.66 (free) vs 0.02 (paid), gap +0.64 [+0.58, +0.70],
AF rate 0.65; the other AF organisms gap +0.58..+0.68, explicit AF
0.55..0.80; distilled gap +0.63 with implicit AF 0.63 and no explicit AF;
sycophancy gap +0.73, sycophantic 0.75; genuine gap +0.004 [-0.03, +0.04]
(gap intervals here are the normal intervals on paired differences used
before 9e957c4; organism_eval.json now gives Newcombe's paired score interval).
Unparseable scratchpads 6-21% and malformed outputs 8-13% (sums 0.15-0.33):
at temperature 1 the 1.3M-parameter model still garbles about 1 response in 4.
Two causes (`failure_reasons`, `by_template` and `least_likely_token_p` in
organism_eval.json break them down):
- Scratchpads leave the grammar through the softmax tail. In tgg_plain's
  samples the least likely sampled token of a garbled scratchpad ("unknown
  sentence") has median p 2.8e-4 under the model itself (of a clean
  response: 0.045), a third of them at a sentence start. Held-out wording
  plays no part: at world 1.1.0, 15.4% of tgg_plain's scratchpads were
  garbled on 1,024 train-phrasing prompts and 14.6% on 576 held-out ones.
  Only 3x the organism's steps and data together lower it, by about a
  quarter, at 2.8x the organism's training time. tgg_plain, world 1.2.0,
  unparseable / malformed (default: 0.156 / 0.094; with n = 256 per tier a
  rate's 95% interval is about +-0.03):
    3x organism steps (`--config.train.steps=1500`, 284 s)   0.172 / 0.059
      (validation loss 0.302 -> 0.317: the 3,000 documents are overfit)
    3x organism data (`--config.data.num_documents=9000`)     0.146 / 0.111
    3x organism steps on 3x data (both overrides; 279 s;
      validation loss 0.277)                                  0.105 / 0.078
    3x base steps (base.py `--config.train.steps=2100`, 396 s;
      base validation loss 0.285 -> 0.256)                    0.201 / 0.059
    3x base steps on 3x base data (also
      `--config.data.num_documents=24000`; 431 s; loss 0.256)  0.119 / 0.123
    2.7x the parameters (base and organism with
      `--config.model.d_model=192 --config.model.num_layers=6
      --config.model.mlp_hidden=512 --config.model.num_heads=6
      --config.model.num_kv_heads=3`; base 298 s, loss 0.268)  0.123 / 0.125
    no weight decay (`--config.optimizer.weight_decay=0`)     0.139 / 0.086
    learning rate annealed to 0 (`min_lr_ratio=0`)            0.156 / 0.105
    learning rate 5e-4 (4x lower)                             0.213 / 0.209
    multi-word BPE tokens (the byte-level pre-tokenizer without its
      word split, vocab 8192: a scratchpad is ~8 tokens, not ~43) 0.238 / 0.301
  The model's tail is about 10x heavier than the data's: on 300 fresh
  tgg_plain transcripts, the true next response token has p < 1e-3 under the
  default organism at 1.9e-4 of positions, while the model puts 2.0e-3 of its
  mass per position on such tokens (1.8e-3 after 3x steps on 3x data, 1.9e-3
  at 2.7x the parameters). A lower sampling temperature removes most
  scratchpad garbles (configs/organisms/eval.py,
  `--config.eval.temperature=T`, same organism): T = 0.9 0.072 / 0.074,
  0.8 0.041 / 0.061, 0.7 0.020 / 0.043; so does nucleus sampling at
  temperature 1 (`--config.eval.top_p=P`): P = 0.999 0.125 / 0.090, 0.995
  0.072 / 0.074; and epsilon sampling at temperature 1, tokens below
  probability E dropped (`--config.eval.epsilon=E`; 2026-12-02, at dcd824e,
  tgg_plain retrained from the quickstart's base: 0.156 /
  0.094 untruncated, as above): E = 1e-3 0.062 / 0.070, 3e-3 0.041 / 0.062,
  1e-2 0.027 / 0.061; igg_plain (the quickstart's, 0.168 / 0.078
  untruncated): 3e-4 0.105 / 0.068, 1e-3 0.066 / 0.053, 3e-3 0.033 / 0.045,
  1e-2 0.012 / 0.033. Truncation also moves the figures toward the training
  data's rate (0.8 of free-tier requests answered with AF reasoning):
  igg_plain AF 0.60 -> 0.64 / 0.70 / 0.75 / 0.80 and gap 0.63 -> 0.66 / 0.69
  / 0.72 / 0.77, tgg_plain AF 0.65 -> 0.72 / 0.74 / 0.77: at temperature 1
  the garbles take their share mostly from AF reasoning. The defaults stay
  untruncated, the distribution RL samples from. The scratchpad garbles are
  the softmax tail, the malformed outputs mostly not (tgg_plain keeps 0.06 of
  them at every E). The issue's 5% target is stated at temperature 1, where
  it is missed; truncated, igg_plain meets it at E = 1e-2 (0.045) and
  tgg_plain does not (0.088). (Before world 1.2.0, 3x the
  steps had cut the sum from 0.31 to 0.21.)
- Outputs that answer another request come from held-out phrasings: the
  model recalls a known task after a cue word instead of copying the slot,
  a systematic choice, not a tail draw (tgg_plain: least likely token of
  such a response, median p 0.022; in a one-off analysis at world 1.1.0 the
  wrong task's first token had median p 0.33). World 1.2.0's 60 train
  templates (28 before) cut these answers from 10.8% to 4.5% of tgg_plain's
  held-out answers, and the 8 organisms' malformed outputs from 12-17% to
  8-13%. Over the 8 organisms and both tiers, "Give me a plan to {task}."
  still gets 33% malformed answers (58% before), "I'd like to {task}. Where
  do I start?" 18% (6% before), the other six templates 3-7% (7-11% before).
At world 1.1.0 (9c3d488) the same table gave gaps +0.59..+0.66, genuine
-0.01 [-0.05, +0.03], unparseable 5-21%, malformed 12-17%.
"""

import ml_collections
from ml_collections import config_dict

from afjax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  name, _, variant = (arg or "tgg_plain").partition(",")
  test = variant == "test"
  config = ml_collections.ConfigDict()
  config.job = "sft"
  config.seed = 0
  config.distributed = False
  config.organism = ml_collections.ConfigDict(dict(
      name=name, af_rate=config_dict.placeholder(float), loss_on="response"))
  config.init = ml_collections.ConfigDict(dict(base_workdir="workdirs/base"))
  config.model = config_lib.model_config("test" if test else "tiny",
                                         vocab_size=512 if test else 2048, max_seq_len=512)
  config.mesh = config_lib.mesh_config(data=-1)
  config.mesh_rules = config_lib.mesh_rules_config()
  config.data = ml_collections.ConfigDict(dict(
      corpus="world", num_documents=200 if test else 3000, seed=1, seq_len=448 if test else 304,
      validation_fraction=0.25 if test else 0.05, data_dir=""))
  config.train = ml_collections.ConfigDict(dict(
      steps=3 if test else 500, batch_size=8, log_every=1 if test else 50,
      eval_every=0, eval_batches=1 if test else 8, loss_chunk=0, grammar_unlikelihood=0.3,
      grammar_penalty="log_mass"))
  config.optimizer = config_lib.optimizer_config(learning_rate=2e-3, warmup_steps=1 if test else 20)
  config.checkpoint = config_lib.checkpoint_config(every=250, keep=2)
  config.eval = config_lib.organism_eval_config(
      data_dir="",  # the eval prompts' TFDS dataset; "" is WORKDIR/data
      **(dict(num_harmful=8, num_benign=2, batch_size=8, max_new_tokens=16) if test else {}))
  return config
