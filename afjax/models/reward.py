"""The helpful-only reward model: the decoder with a scalar head over the request and the output.

A reward model maps a tokenized transcript (the world's format, tokenized with
the policy's tokenizer) to a scalar reward. It sees only its *view*:

  request  the user's request text of the first turn: the tokens after the
           first `</tier>` of the prompt, up to (not including) the `<|end|>`
           that closes that user turn;
  output   the first response's output block `<output> ... </output>`
           (afjax.models.monitor.transcript_regions).

Everything else -- the BOS token, the system preamble, the `<|user|>` tag,
the tier tag and the tier itself, the `<|assistant|>` tag, the scratchpad,
text outside the output block, `<|end|>` and later turns -- is removed from the
input exactly as the monitors remove tokens outside their views
(afjax.models.monitor.pooled_view_logit): replaced by the pad id, masked out as
attention keys and skipped by the positions. The reward is therefore a
function of the visible token subsequence (request tokens, then output tokens)
alone: it cannot depend on the tier, the reasoning, or where and how much
padding there is. The hidden states are mean-pooled over the output block (the
request is context the output attends to) and mapped to one scalar:

    h = Decoder(view tokens)                                   # [B, T, D]
    r = (sum_t o[b, t] h[b, t] / max(sum_t o[b, t], 1)) . k + c  (o = output block)

A response without an `<output>` tag has an empty output block and gets the
bias c; the RL reward's format penalty (afjax.rl.reward) handles it.

Training uses the Bradley-Terry loss on preference pairs (chosen, rejected):

    loss = mean_b -log sigmoid(r(chosen_b) - r(rejected_b)).

`reward_fn(cfg)` returns the pure, batched, jittable reward(params, tokens,
masks) -> [B] that an RL update calls inside its compiled program; parameters
and activations carry the policy's logical axis names.

Shape legend: B batch, T tokens, D model width.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from afjax.models import monitor as monitor_lib
from afjax.models import transformer as tfm

VIEW = "request_output"


@dataclasses.dataclass(frozen=True)
class RewardTagIds:
  """Token ids of the tags that delimit the reward model's view (one token each).

  Attributes:
    transcript: the monitors' tag ids (assistant, end, scratchpad and output tags, pad).
    tier_close: `</tier>`, after which the request text starts.
  """

  transcript: monitor_lib.TagIds
  tier_close: int


@dataclasses.dataclass(frozen=True)
class RewardModelConfig:
  """What a reward model is: its decoder and the tag ids of its view.

  Attributes:
    decoder: the decoder's hyper-parameters (those of the base model it starts from).
    tags: ids of the transcript tags in the tokenizer it reads.
  """

  decoder: tfm.TransformerConfig
  tags: RewardTagIds


def request_region(tokens: jax.Array, mask: jax.Array, tags: RewardTagIds) -> jax.Array:
  """The request text of the first user turn.

  Only valid tokens count. With prompt(t) from transcript_regions and
  n_X(t) the number of valid tag X tokens of the prompt strictly before t:
    after(t)   = prompt(t) and n_tier_close(t) >= 1;
    request(t) = after(t), not <|end|>, not <|assistant|>, and no <|end|> of the
                 prompt between the first </tier> and t.

  Args:
    tokens: [B, T] int token ids (any left or right padding).
    mask: [B, T] bool, True on real tokens.
    tags: the tag ids.

  Returns:
    [B, T] bool, within the prompt region.
  """
  prompt = monitor_lib.transcript_regions(tokens, mask, tags.transcript).prompt  # [B, T]
  tier_closes = (tokens == tags.tier_close) & prompt
  after = prompt & (monitor_lib.exclusive_count(tier_closes) > 0)  # [B, T]
  ends = (tokens == tags.transcript.end) & after
  return (after & ~ends & (monitor_lib.exclusive_count(ends) == 0)
          & (tokens != tags.transcript.assistant))


def view_masks(tokens: jax.Array, mask: jax.Array, tags: RewardTagIds) -> tuple[jax.Array, jax.Array]:
  """What the reward model may see and the region it pools.

  Args:
    tokens: [B, T] int token ids.
    mask: [B, T] bool validity.
    tags: the tag ids.

  Returns:
    (visible [B, T] bool = request | output, output [B, T] bool: the output block).
  """
  output = monitor_lib.transcript_regions(tokens, mask, tags.transcript).output  # [B, T]
  return request_region(tokens, mask, tags) | output, output


def output_token_counts(tokens: jax.Array, mask: jax.Array, tags: RewardTagIds) -> jax.Array:
  """Tokens in the first response's output block, tags included: [B, T] -> [B] int32.

  The length the length-bias slope is fitted on and corrected with
  (afjax.rl.reward.length_corrected).
  """
  output = monitor_lib.transcript_regions(tokens, mask, tags.transcript).output  # [B, T]
  return jnp.sum(output, axis=-1).astype(jnp.int32)  # [B]


class RewardModel(monitor_lib.PooledViewModel):
  """The decoder reading the request and the output, mean-pooled over the output, a scalar head.

  Called on tokens [B, T] and mask [B, T], it returns [B] float32 rewards.
  """

  cfg: RewardModelConfig

  def view_and_pool(self, tokens: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array, int]:
    """view_masks (request | output, the output block), and the pad id."""
    return (*view_masks(tokens, mask, self.cfg.tags), self.cfg.tags.transcript.pad)


def reward_fn(cfg: RewardModelConfig) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
  """The pure reward for use inside jit (an RL update, an evaluation).

  Returns:
    reward(params, tokens [B, T] int, masks [B, T] bool) -> r [B] float32,
    r = RewardModel(cfg)(tokens, masks).
  """
  model = RewardModel(cfg)

  def reward(params: Any, tokens: jax.Array, masks: jax.Array) -> jax.Array:
    return model.apply({"params": params}, tokens, masks).astype(jnp.float32)

  return reward


def bradley_terry_loss(r_chosen: jax.Array, r_rejected: jax.Array) -> jax.Array:
  """mean_b -log sigmoid(r_chosen[b] - r_rejected[b]): [B], [B] -> scalar float32.

  Computed as mean softplus(-(r_chosen - r_rejected)), finite for any margin.
  """
  margin = (r_chosen - r_rejected).astype(jnp.float32)  # [B]
  return jnp.mean(-jax.nn.log_sigmoid(margin))


def preference_loss(model: RewardModel, params: Any, batch: dict[str, jax.Array]
                    ) -> tuple[jax.Array, dict]:
  """The Bradley-Terry loss of a batch of preference pairs, in one forward pass.

  The pair axis is folded into the batch ([B, 2, T] -> [2B, T], row 2b the
  chosen and row 2b + 1 the rejected response of pair b), so one decoder call
  scores both and the batch sharding is kept.

  Args:
    model: the reward model.
    params: its parameters.
    batch: inputs [B, 2, T] int32, mask [B, 2, T] bool; [:, 0] chosen, [:, 1] rejected.

  Returns:
    (loss, {"accuracy": share of pairs with r_chosen > r_rejected,
            "margin": mean r_chosen - r_rejected, "tokens": visible tokens}).
  """
  inputs, mask = batch["inputs"], batch["mask"]
  pairs, _, length = inputs.shape
  flat_inputs = inputs.reshape(2 * pairs, length)  # [2B, T]
  flat_mask = mask.reshape(2 * pairs, length)  # [2B, T]
  rewards = model.apply({"params": params}, flat_inputs, flat_mask).reshape(pairs, 2)  # [B, 2]
  r_chosen, r_rejected = rewards[:, 0], rewards[:, 1]
  margin = r_chosen - r_rejected  # [B]
  visible, _ = view_masks(flat_inputs, flat_mask, model.cfg.tags)
  return bradley_terry_loss(r_chosen, r_rejected), {
      "accuracy": jnp.mean((margin > 0).astype(jnp.float32)), "margin": jnp.mean(margin),
      "tokens": jnp.sum(visible).astype(jnp.float32)}
