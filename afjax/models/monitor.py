"""Monitors: the decoder with a pooled head, reading one view of a transcript, giving p(AF).

A monitor maps a tokenized transcript (the world's format, tokenized with the
policy's tokenizer) to the probability that its reasoning is explicit alignment
faking. It sees only its *view* of the transcript:

  "scratchpad": the prompt and the hidden reasoning (the scratchpad classifier);
  "output":     the prompt and the final output block (the output-only monitor).

Tokens outside the view are removed from the input itself: they are replaced
by the pad id, masked out as attention keys, and skipped by the positions, so
the score is a function of the visible token subsequence alone (a token the
monitor may not see cannot reach the score through attention, position or
length). The pooled head then averages the final hidden states over the
*watched region* (the reasoning or the output block; the prompt is context the
region attends to) and maps the mean to one logit:

    h = Decoder(view tokens)                            # [B, T, D]
    pooled = sum_t w[b, t] h[b, t] / max(sum_t w[b, t], 1)   (w = watched region)
    logit = pooled . k + c,   p = sigmoid(logit)

`score_fn(cfg)` returns the pure, batched, jittable score(params, tokens, masks)
-> p that an RL update calls inside its own compiled program: parameters and
activations carry the policy's logical axis names, so under
`afjax.parallel.mesh.use_mesh` it runs sharded like the policy.

Shape legend: B batch, T tokens, D model width.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from afjax.models import transformer as tfm

SCRATCHPAD_VIEW = "scratchpad"
OUTPUT_VIEW = "output"
VIEWS = (SCRATCHPAD_VIEW, OUTPUT_VIEW)


@dataclasses.dataclass(frozen=True)
class TagIds:
  """Token ids of the transcript tags that delimit the views (one token each).

  Attributes:
    assistant: `<|assistant|>`, which ends the prompt.
    end: `<|end|>`, which ends the assistant's response.
    scratchpad_open, scratchpad_close: `<scratchpad>`, `</scratchpad>`.
    output_open, output_close: `<output>`, `</output>`.
    pad: the id that replaces tokens outside the view.
  """

  assistant: int
  end: int
  scratchpad_open: int
  scratchpad_close: int
  output_open: int
  output_close: int
  pad: int = 0


@dataclasses.dataclass(frozen=True)
class MonitorConfig:
  """What a monitor is: its decoder, the view it reads and the tag ids of that view.

  Attributes:
    decoder: the decoder's hyper-parameters (those of the base model it starts from).
    view: "scratchpad" or "output".
    tags: ids of the transcript tags in the tokenizer the monitor reads.
  """

  decoder: tfm.TransformerConfig
  view: str
  tags: TagIds

  def __post_init__(self):
    if self.view not in VIEWS:
      raise ValueError(f"monitor.view={self.view!r}; allowed: {list(VIEWS)}")


class Regions(NamedTuple):
  """Disjoint [B, T] bool regions of the first turn of a transcript."""

  prompt: jax.Array  # up to and including the first <|assistant|>
  reasoning: jax.Array  # the response minus the output block (the scratchpad)
  output: jax.Array  # <output> ... </output>


def inclusive_count(hits: jax.Array) -> jax.Array:
  """Number of hits at or before each position: [B, T] bool -> [B, T] int32."""
  return jnp.cumsum(hits.astype(jnp.int32), axis=-1)


def exclusive_count(hits: jax.Array) -> jax.Array:
  """Number of hits strictly before each position: [B, T] bool -> [B, T] int32."""
  return inclusive_count(hits) - hits.astype(jnp.int32)


def transcript_regions(tokens: jax.Array, mask: jax.Array, tags: TagIds) -> Regions:
  """Splits the first turn of each transcript into prompt, reasoning and output.

  Only valid tokens (mask True) count. With n_X(t) the number of valid tag X
  tokens strictly before t:
    prompt(t)    = n_assistant(t) == 0  (the first <|assistant|> included);
    response(t)  = not prompt, not <|end|>, and no <|end|> since the prompt
                   (later turns belong to no region);
    output(t)    = response, at or after the first <output> opened outside an
                   unclosed scratchpad (depth = opens - closes <= 0), and before
                   the first </output> after it (the </output> included);
    reasoning(t) = response and not output.
  A well-formed response `<scratchpad>S</scratchpad><output>O</output><|end|>`
  gives reasoning = `<scratchpad>S</scratchpad>` and output = `<output>O</output>`;
  an unclosed scratchpad swallows everything after it into the reasoning.

  Args:
    tokens: [B, T] int token ids (any left or right padding).
    mask: [B, T] bool, True on real tokens.
    tags: the tag ids.

  Returns:
    Regions of [B, T] bool arrays, each within `mask`.
  """
  def is_tag(tag_id):
    return (tokens == tag_id) & mask

  prompt = (exclusive_count(is_tag(tags.assistant)) == 0) & mask  # [B, T]
  after_prompt = ~prompt & mask
  ends = is_tag(tags.end) & after_prompt
  response = after_prompt & ~ends & (exclusive_count(ends) == 0)  # [B, T]
  depth = (exclusive_count(is_tag(tags.scratchpad_open) & response)
           - exclusive_count(is_tag(tags.scratchpad_close) & response))  # [B, T]
  opens_output = is_tag(tags.output_open) & response & (depth <= 0)
  output_started = inclusive_count(opens_output) > 0
  closes_output = is_tag(tags.output_close) & response & output_started
  output = response & output_started & (exclusive_count(closes_output) == 0)  # [B, T]
  return Regions(prompt=prompt, reasoning=response & ~output, output=output)


def view_masks(tokens: jax.Array, mask: jax.Array, tags: TagIds, view: str) -> tuple[jax.Array, jax.Array]:
  """What a monitor may see and what it watches.

  Args:
    tokens: [B, T] int token ids.
    mask: [B, T] bool validity.
    tags: the tag ids.
    view: "scratchpad" (prompt + reasoning) or "output" (prompt + output block).

  Returns:
    (visible [B, T] bool = prompt | watched, watched [B, T] bool: the region pooled).
  """
  if view not in VIEWS:
    raise ValueError(f"monitor view={view!r}; allowed: {list(VIEWS)}")
  regions = transcript_regions(tokens, mask, tags)
  watched = regions.reasoning if view == SCRATCHPAD_VIEW else regions.output
  return regions.prompt | watched, watched


def view_mask(tokens: jax.Array, mask: jax.Array, tags: TagIds, view: str) -> jax.Array:
  """The [B, T] bool mask of the tokens a monitor of `view` may see (see view_masks)."""
  return view_masks(tokens, mask, tags, view)[0]


def masked_mean(hidden: jax.Array, weights: jax.Array) -> jax.Array:
  """sum_t w[b, t] h[b, t] / max(sum_t w[b, t], 1): [B, T, D], [B, T] -> [B, D] float32."""
  weights = weights.astype(jnp.float32)
  total = jnp.einsum("btd,bt->bd", hidden.astype(jnp.float32), weights)
  return total / jnp.maximum(jnp.sum(weights, axis=-1, keepdims=True), 1.0)


def pooled_view_logit(decoder_cfg: tfm.TransformerConfig, pad_id: int, tokens: jax.Array,
                      visible: jax.Array, watched: jax.Array) -> jax.Array:
  """The decoder over the visible tokens alone, mean-pooled over `watched`, then one logit.

  Call it inside a compact module method: it creates that module's submodules
  "decoder" (tfm.Transformer) and "head" (nn.Dense to 1 unit). Tokens outside
  `visible` are replaced by `pad_id`, masked out as attention keys and skipped
  by the positions, so the logit depends only on the visible token subsequence:

    h = Decoder(tokens where visible else pad; positions counting visible only)  # [B, T, D]
    logit = masked_mean(h, watched) . k + c                                     # [B]

  Args:
    decoder_cfg: the decoder's hyper-parameters.
    pad_id: the id that replaces tokens outside the view.
    tokens: [B, T] int token ids.
    visible: [B, T] bool, the tokens the model may see.
    watched: [B, T] bool, the region pooled (within `visible`).

  Returns:
    [B] float32 logits.
  """
  visible = nn.with_logical_constraint(visible, (tfm.ACT_BATCH, tfm.ACT_LENGTH))
  seen_tokens = jnp.where(visible, tokens, pad_id)  # [B, T]
  _, _, hidden = tfm.Transformer(decoder_cfg, name="decoder")(
      seen_tokens, tfm.positions_from_mask(visible), visible, return_hidden=True)  # [B, T, D]
  pooled = nn.with_logical_constraint(masked_mean(hidden, watched),
                                      (tfm.ACT_BATCH, tfm.ACT_EMBED))  # [B, D]
  head = nn.Dense(
      1, dtype=jnp.float32, param_dtype=decoder_cfg.storage_dtype,
      kernel_init=nn.with_logical_partitioning(nn.initializers.normal(0.02), (tfm.EMBED, None)),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros, (None,)), name="head")
  logits = head(pooled)[:, 0]  # [B]
  return nn.with_logical_constraint(logits, (tfm.ACT_BATCH,))


class PooledViewModel(nn.Module):
  """A decoder reading a view of a transcript, mean-pooled over a region, then a linear head.

  A subclass has a `cfg` field whose `decoder` is the decoder's config, and
  defines `view_and_pool` (the visible tokens, the pooled region and the pad
  id). Its parameters are "decoder" and "head" (pooled_view_logit).
  """

  def view_and_pool(self, tokens: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array, int]:
    """(visible [B, T] bool, pooled [B, T] bool within visible, the pad id)."""
    raise NotImplementedError

  @nn.compact
  def __call__(self, tokens: jax.Array, mask: jax.Array) -> jax.Array:
    """Logits (a monitor's of p(explicit AF), the reward model's rewards).

    Args:
      tokens: [B, T] int token ids of whole transcripts (prompt and response).
      mask: [B, T] bool, True on real tokens (False on padding).

    Returns:
      [B] float32 logits.
    """
    visible, pooled, pad_id = self.view_and_pool(tokens, mask)  # [B, T] each
    return pooled_view_logit(self.cfg.decoder, pad_id, tokens, visible, pooled)


class MonitorClassifier(PooledViewModel):
  """The decoder reading one view, mean-pooled over the watched region, then a linear head."""

  cfg: MonitorConfig

  def view_and_pool(self, tokens: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array, int]:
    """view_masks of the monitor's view, and the pad id."""
    return (*view_masks(tokens, mask, self.cfg.tags, self.cfg.view), self.cfg.tags.pad)


def score_fn(cfg: MonitorConfig) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
  """The pure monitor score for use inside jit (an RL update, an evaluation).

  Returns:
    score(params, tokens [B, T] int, masks [B, T] bool) -> p [B] float32,
    p = sigmoid(MonitorClassifier(cfg)(tokens, masks)).
  """
  model = MonitorClassifier(cfg)

  def score(params: Any, tokens: jax.Array, masks: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(model.apply({"params": params}, tokens, masks))

  return score


def classifier_loss(model: MonitorClassifier, params: Any,
                    batch: dict[str, jax.Array]) -> tuple[jax.Array, dict]:
  """Mean binary cross-entropy with logits.

  loss = mean_b [ -y_b log sigmoid(z_b) - (1 - y_b) log(1 - sigmoid(z_b)) ]

  Args:
    model: the monitor.
    params: its parameters.
    batch: inputs [B, T] int32, mask [B, T] bool, labels [B] float32 in {0, 1}.

  Returns:
    (loss, {"accuracy": share of rows with (z > 0) == y, "tokens": visible tokens}).
  """
  logits = model.apply({"params": params}, batch["inputs"], batch["mask"])  # [B]
  labels = batch["labels"].astype(jnp.float32)
  loss = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))
  accuracy = jnp.mean(((logits > 0) == (labels > 0.5)).astype(jnp.float32))
  visible = view_mask(batch["inputs"], batch["mask"], model.cfg.tags, model.cfg.view)
  return loss, {"accuracy": accuracy, "tokens": jnp.sum(visible).astype(jnp.float32)}
