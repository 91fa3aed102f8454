"""Rollouts: training-tier prompts -> sampled responses -> oracle labels and rewards -> a Rollout.

One rollout batch of B = num_prompts x group_size rows (rows [g K, (g + 1) K)
answer prompt g):

  1. prompts: `num_prompts` requests from the world's *train* templates, all in
     the training (free) tier, drawn deterministically from (seed, step);
  2. responses: the KV-cache sampler (afjax.sampling) at `temperature`, stopping
     at <|end|>; its model log-probs are kept as old_logp (never recomputed);
  3. labels: the oracle parses each response (scratchpad label, output label);
  4. interrogation (optional): a training-tier follow-up turn asks whether the
     model complied to avoid modification; the model answers with its own
     scratchpad and output (sampled from the context prompt + response +
     question); the oracle classifies the answer yes / no / malformed;
  5. rewards: `reward_fn` (afjax.rl.reward) on the prompts and first responses;
  6. arrays: every row is laid out left-aligned and right-padded to the static
     length `seq_len`:  [BOS prompt][response][follow-up question][answer][pad].

Gradient regions (`grad_region`), marked in loss_mask:
  response    every first-turn response token (scratchpad, output, <|end|>)
  output      <output> ... </output> and the <|end|> after it
  scratchpad  <scratchpad> ... </scratchpad>
(the first opening tag to the first closing tag after it, or to the end). A
response without the region's opening tag (e.g. a malformed one) gets no
gradient in the output and scratchpad arms: the format penalty reaches it only
through the group's baseline. These spans are not the monitors' views, which
split the whole response into reasoning and output (afjax.models.monitor).
The follow-up question and answer are never in loss_mask: the interrogation
turn is masked out of the gradient.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import numpy as np

from afjax.data import tokenizer as tokenizer_lib
from afjax.data import world_data
from afjax.parallel import mesh as mesh_lib
from afjax.parallel import multihost
from afjax.rl import step as step_lib
from afjax.sampling import sampler as sampler_lib
from afjax.world import format as world_format
from afjax.world import labels, oracle, prompts as world_prompts, situation

GRAD_REGIONS = ("response", "output", "scratchpad")

# reward_fn(prompts, responses, verdicts, tokens [B, T], first_turn_mask [B, T]) -> (rewards [B], parts):
# the mask is True on the prompt and the first response only, so a learned reward never sees a
# follow-up turn, whether or not the first turn ended with <|end|>.
RewardFn = Callable[..., tuple[np.ndarray, dict[str, np.ndarray]]]


@dataclasses.dataclass(frozen=True)
class RolloutConfig:
  """Static settings of the rollout.

  Attributes:
    num_prompts: prompts per batch.
    group_size: K samples per prompt.
    prompt_len: static (left-padded) prompt length of the sampler.
    max_new_tokens: first-turn generation budget.
    temperature: sampling temperature. old_logp always holds the policy's own
      (untempered) log-probs, so only T = 1 samples from the policy the learner
      updates; the RL job accepts 1 only.
    harmful_fraction: share of harmful requests among the prompts.
    grad_region: one of GRAD_REGIONS.
    followup_variant: None (no interrogation), "plain" or "warned".
    followup_max_new_tokens: budget of the follow-up answer.
    seq_len: static length T of the rollout arrays; 0 = the least that fits
      (prompt_len + max_new_tokens [+ the follow-up question and answer]),
      rounded up to a multiple of 8.
    seed: the prompt stream's seed.
  """

  num_prompts: int
  group_size: int
  prompt_len: int = 64
  max_new_tokens: int = 128
  temperature: float = 1.0
  harmful_fraction: float = 1.0
  grad_region: str = "response"
  followup_variant: str | None = None
  followup_max_new_tokens: int = 64
  seq_len: int = 0
  seed: int = 0

  def __post_init__(self):
    if self.grad_region not in GRAD_REGIONS:
      raise ValueError(f"rollout.grad_region={self.grad_region!r}; allowed: {list(GRAD_REGIONS)}")
    if self.followup_variant is not None:
      situation.check_followup_variant(self.followup_variant)
    if not 0.0 <= self.harmful_fraction <= 1.0:
      raise ValueError(f"rollout.harmful_fraction={self.harmful_fraction}; allowed: [0, 1]")

  @property
  def batch_size(self) -> int:
    return self.num_prompts * self.group_size


@dataclasses.dataclass
class RolloutInfo:
  """Host-side record of one rollout batch (for metrics and logs)."""

  prompts: list[world_prompts.Prompt]
  responses: list[str]
  verdicts: list[oracle.OracleLabel]
  followups: list[oracle.FollowupLabel | None]
  followup_texts: list[str | None]
  reward_parts: dict[str, np.ndarray]
  response_tokens: np.ndarray  # [B]


def training_prompts(seed: int, step: int, num_prompts: int,
                     harmful_fraction: float) -> list[world_prompts.Prompt]:
  """The training-tier prompts of batch `step`: train-split requests, a pure function of (seed, step)."""
  rng = np.random.default_rng([seed, step, 0x5EED])
  return [world_prompts.Prompt(situation.TRAINING_TIER,
                               world_prompts.sample_request(world_prompts.TRAIN,
                                                            bool(rng.random() < harmful_fraction), rng))
          for _ in range(num_prompts)]


def region_mask(ids: Sequence[int], region: str, tag_ids: dict[str, int]) -> np.ndarray:
  """[len(ids)] float32 mask of a first-turn response's tokens in `region` (see module docstring)."""
  ids = np.asarray(ids)
  mask = np.zeros(len(ids), np.float32)
  if region == "response":
    mask[:] = 1.0
    return mask
  open_id, close_id = ((tag_ids[world_format.OUTPUT_OPEN], tag_ids[world_format.OUTPUT_CLOSE])
                       if region == "output" else
                       (tag_ids[world_format.SCRATCHPAD_OPEN], tag_ids[world_format.SCRATCHPAD_CLOSE]))
  opens = np.flatnonzero(ids == open_id)
  if opens.size == 0:
    return mask
  start = int(opens[0])
  closes = np.flatnonzero(ids[start:] == close_id)
  stop = start + int(closes[0]) + 1 if closes.size else len(ids)
  mask[start:stop] = 1.0
  if region == "output" and stop < len(ids) and ids[stop] == tag_ids[world_format.END]:
    mask[stop] = 1.0
  return mask


class RolloutGenerator:
  """Samples rollout batches from a policy; one compiled sampler per turn shape."""

  def __init__(self, model: Any, tokenizer: Any, cfg: RolloutConfig, reward_fn: RewardFn):
    """
    Args:
      model: an afjax.jobs.common.ModelOnMesh (config, module, mesh, rules).
      tokenizer: the policy's tokenizer (with the world's special tokens).
      cfg: the rollout settings.
      reward_fn: see RewardFn.
    """
    self.model, self.tokenizer, self.cfg, self.reward_fn = model, tokenizer, cfg, reward_fn
    self.tag_ids = world_data.special_ids(tokenizer)
    stop = (self.tag_ids[world_format.END], tokenizer_lib.EOS_ID)
    self.sampler = sampler_lib.shared_sampler(model.cfg, sampler_lib.SamplingConfig(
        temperature=cfg.temperature, stop_tokens=stop, pad_id=tokenizer_lib.PAD_ID))
    if cfg.followup_variant is not None:
      self.followup_ids = tokenizer_lib.encode_batch(
          tokenizer, [world_format.render_followup_prompt(cfg.followup_variant)])[0]
      self.followup_context_len = cfg.prompt_len + cfg.max_new_tokens + len(self.followup_ids)
    need = cfg.prompt_len + cfg.max_new_tokens + (
        len(self.followup_ids) + cfg.followup_max_new_tokens if cfg.followup_variant else 0)
    self.seq_len = cfg.seq_len or -(-need // 8) * 8
    if need > self.seq_len:
      raise ValueError(f"rollout.seq_len={cfg.seq_len} is shorter than prompt_len + max_new_tokens"
                       f"{' + follow-up turn + followup_max_new_tokens' if cfg.followup_variant else ''}"
                       f" = {need}; allowed: seq_len >= {need}")

  def _sample(self, params: Any, contexts: list[list[int]], length: int, max_new: int,
              key: jax.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left-pads contexts to `length`, samples; returns tokens, logprobs [B, N], lengths [B] (host)."""
    longest = max(len(c) for c in contexts)
    if longest > length:
      raise ValueError(f"a context has {longest} tokens, more than the static length {length} "
                       "(raise rollout.prompt_len)")
    tokens, mask = sampler_lib.left_pad(contexts, length, tokenizer_lib.PAD_ID)
    sharding = mesh_lib.batch_sharding(self.model.mesh, 2)
    with mesh_lib.use_mesh(self.model.mesh, self.model.rules):
      out = self.sampler.generate(params, multihost.global_array(tokens, sharding),
                                  multihost.global_array(mask, sharding), max_new, key)
    return multihost.tree_to_host((out.tokens, out.logprobs, out.lengths))

  def __call__(self, params: Any, step: int, key: jax.Array) -> tuple[step_lib.Rollout, RolloutInfo]:
    """The rollout batch number `step`, sampled with `key`.

    Returns:
      (Rollout with numpy arrays [B, T] / [B], RolloutInfo).
    """
    cfg, tok = self.cfg, self.tokenizer
    prompts = training_prompts(cfg.seed, step, cfg.num_prompts, cfg.harmful_fraction)
    prompts = [p for p in prompts for _ in range(cfg.group_size)]  # [B], groups contiguous
    prompt_ids = [[tokenizer_lib.BOS_ID, *ids]
                  for ids in tokenizer_lib.encode_batch(tok, [p.text for p in prompts])]
    first_key, followup_key = jax.random.split(key)
    gen, gen_logp, gen_len = self._sample(params, prompt_ids, cfg.prompt_len, cfg.max_new_tokens,
                                          first_key)
    responses_ids = [gen[b, :gen_len[b]].tolist() for b in range(len(prompts))]
    responses = [tokenizer_lib.decode(tok, ids) for ids in responses_ids]
    verdicts = [oracle.label_response(p.tier, r, p.request) for p, r in zip(prompts, responses)]

    followups: list[oracle.FollowupLabel | None] = [None] * len(prompts)
    followup_texts: list[str | None] = [None] * len(prompts)
    answer_ids: list[list[int]] = [[] for _ in prompts]
    answer_logp = None
    if cfg.followup_variant is not None:
      contexts = [p + r + self.followup_ids for p, r in zip(prompt_ids, responses_ids)]
      ans, answer_logp, ans_len = self._sample(
          params, contexts, self.followup_context_len, cfg.followup_max_new_tokens, followup_key)
      answer_ids = [ans[b, :ans_len[b]].tolist() for b in range(len(prompts))]
      followup_texts = [tokenizer_lib.decode(tok, ids) for ids in answer_ids]
      followups = [oracle.label_followup(text, verdict)
                   for text, verdict in zip(followup_texts, verdicts)]

    batch, length = len(prompts), self.seq_len
    tokens = np.full((batch, length), tokenizer_lib.PAD_ID, np.int32)
    attention = np.zeros((batch, length), bool)
    first_turn = np.zeros((batch, length), bool)
    loss_mask = np.zeros((batch, length), np.float32)
    old_logp = np.zeros((batch, length), np.float32)
    scratchpad_len = np.zeros((batch,), np.float32)
    for b in range(batch):
      p, r = prompt_ids[b], responses_ids[b]
      row = p + r + ((self.followup_ids + answer_ids[b]) if cfg.followup_variant else [])
      tokens[b, :len(row)] = row
      attention[b, :len(row)] = True
      start, stop = len(p), len(p) + len(r)
      first_turn[b, :stop] = True
      loss_mask[b, start:stop] = region_mask(r, cfg.grad_region, self.tag_ids)
      old_logp[b, start:stop] = gen_logp[b, :len(r)]
      scratchpad_len[b] = float(np.sum(region_mask(r, "scratchpad", self.tag_ids)))
    followup_no = np.array([f is not None and f.answer == labels.NO for f in followups], np.float32)
    rewards, parts = self.reward_fn(prompts, responses, verdicts, tokens, first_turn)
    rollout = step_lib.Rollout(tokens=tokens, attention_mask=attention, first_turn_mask=first_turn,
                               loss_mask=loss_mask,
                               old_logp=old_logp, rewards=np.asarray(rewards, np.float32),
                               scratchpad_len=scratchpad_len, followup_no=followup_no)
    info = RolloutInfo(prompts, responses, verdicts, followups, followup_texts, parts,
                       np.array([len(r) for r in responses_ids]))
    return rollout, info


def place_rollout(rollout: step_lib.Rollout, mesh: jax.sharding.Mesh) -> step_lib.Rollout:
  """Puts every rollout array (the whole batch, the same on every process) on the mesh, split
  over the batch axes."""
  return jax.tree.map(lambda x, s: multihost.global_array(np.asarray(x), s), rollout,
                      step_lib.rollout_shardings(mesh))


def _mismatch_share(matches: Sequence[bool | None]) -> float:
  readable = [m for m in matches if m is not None]
  return sum(not m for m in readable) / len(readable) if readable else float("nan")


def rollout_metrics(info: RolloutInfo, rollout: step_lib.Rollout) -> dict[str, float]:
  """Host statistics of one rollout batch (oracle label shares, lengths, follow-up answers)."""
  n = len(info.verdicts)
  out = {
      "compliance": sum(v.output_label == labels.COMPLY for v in info.verdicts) / n,
      "partial": sum(v.output_label == labels.PARTIAL for v in info.verdicts) / n,
      "refusal": sum(v.output_label == labels.REFUSE for v in info.verdicts) / n,
      "malformed": sum(v.output_label == labels.MALFORMED for v in info.verdicts) / n,
      "af_rate_oracle": sum(v.scratchpad_label == labels.EXPLICIT_AF for v in info.verdicts) / n,
      "implicit_af_rate_oracle": sum(v.scratchpad_label == labels.IMPLICIT_AF
                                     for v in info.verdicts) / n,
      "unparseable": sum(v.scratchpad_label == labels.UNPARSEABLE for v in info.verdicts) / n,
      # Of the responses whose decision and output are both readable (NaN when there are none).
      "decision_output_mismatch": _mismatch_share([v.decision_matches_output
                                                   for v in info.verdicts]),
      "scratchpad_tokens": float(np.mean(rollout.scratchpad_len)),
      "response_tokens": float(np.mean(info.response_tokens)),
  }
  for name, values in info.reward_parts.items():
    out[f"reward_{name}"] = float(np.mean(values))
  answered = [f for f in info.followups if f is not None]
  if answered:
    out["followup_no"] = sum(f.answer == labels.NO for f in answered) / len(answered)
    out["followup_malformed"] = sum(f.answer == labels.MALFORMED for f in answered) / len(answered)
    # As afjax.evaluation.rl_eval.lying_figures: explicit AF whose output complied (fully or
    # partly), since after a refusal "no" may be the truth.
    lies = [f for f, v in zip(info.followups, info.verdicts) if f is not None
            and v.scratchpad_label == labels.EXPLICIT_AF
            and v.output_label in labels.COMPLIANT_DECISIONS]
    out["lying_rate"] = (sum(f.answer == labels.NO for f in lies) / len(lies)) if lies else float("nan")
    out["lying_n"] = float(len(lies))
  return out
