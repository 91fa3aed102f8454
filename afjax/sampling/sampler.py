"""Batched sampling with a KV cache: one jitted prefill, one jitted decode loop.

Prompts are left-padded to a length bucket P and generation runs for a bucketed
number of steps N, so each (P, N) pair compiles once. The cache has P + N slots:
prefill writes the prompt into slots [0, P), decode step i writes slot P + i.
Positions count only real tokens, so a left-padded prompt sees the same
positions as an unpadded one and cached decoding matches a full forward pass.

The decode loop is a `lax.while_loop` that stops early once every sequence has
emitted a stop token (or runs `max_new_tokens` steps with `early_stop=False`,
for benchmarks). Its cache argument is donated. Each step runs `decode_step`, the
model's forward pass for one token written for decoding (layers unrolled, the
cache of each layer kept as [B, K, S, E] so that attention reads it in memory
order); it computes what `Transformer` computes, which the tests check against
a full forward pass. On the benchmark workload it made a decode step about 3x
faster than `Transformer.apply` over the [L, B, S, K, E] cache (BENCHMARKS.md).

Returned log-probabilities are those of the *model* (log_softmax of the raw
logits), which is what a policy-gradient learner recomputes; they equal the
sampling distribution's when temperature is 1 and top-k/top-p/epsilon are off.
Top-k and top-p keep every token tied with the cutoff logit (so a nucleus can
hold more than the smallest set when logits tie).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from afjax.models import transformer as tfm

DEFAULT_BUCKETS = (16, 32, 64, 128, 256, 512, 1024, 2048)


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
  """How tokens are drawn.

  Attributes:
    temperature: 0 means greedy (argmax); otherwise logits are divided by it.
    top_k: keep the k most likely tokens (0 = off).
    top_p: keep the smallest set of tokens with probability >= top_p (1 = off).
    epsilon: drop the tokens whose probability (after the temperature) is below
      epsilon, the most likely token always kept (epsilon sampling, Hewitt et
      al. 2022: a truncation at an absolute level, for a model whose tail is
      heavier than its data's; 0 = off).
    stop_tokens: ids that end a sequence (the stop token itself is kept).
    pad_id: id written after a sequence has stopped.
    early_stop: leave the decode loop once every sequence has stopped.
  """

  temperature: float = 1.0
  top_k: int = 0
  top_p: float = 1.0
  epsilon: float = 0.0
  stop_tokens: tuple[int, ...] = ()
  pad_id: int = 0
  early_stop: bool = True

  def __post_init__(self):
    if self.temperature < 0:
      raise ValueError(f"sampling.temperature={self.temperature}; allowed: >= 0")
    if self.top_k < 0:
      raise ValueError(f"sampling.top_k={self.top_k}; allowed: >= 0 (0 = off)")
    if not 0.0 < self.top_p <= 1.0:
      raise ValueError(f"sampling.top_p={self.top_p}; allowed: (0, 1]")
    if not 0.0 <= self.epsilon < 1.0:
      raise ValueError(f"sampling.epsilon={self.epsilon}; allowed: [0, 1) (0 = off)")


class SampleOutput(NamedTuple):
  """Generated continuations.

  Attributes:
    tokens: [B, N] sampled ids; pad_id after a sequence stopped.
    logprobs: [B, N] model log-probability of each sampled token (0 where masked).
    mask: [B, N] 1.0 for generated tokens up to and including the stop token.
    lengths: [B] number of generated tokens (sum of mask).
  """

  tokens: jax.Array
  logprobs: jax.Array
  mask: jax.Array
  lengths: jax.Array


def bucket_length(n: int, buckets: Sequence[int] = DEFAULT_BUCKETS) -> int:
  """The smallest bucket >= n."""
  for bucket in sorted(buckets):
    if bucket >= n:
      return bucket
  raise ValueError(f"length {n} exceeds the largest bucket {max(buckets)}; allowed buckets: {sorted(buckets)}")


def left_pad(prompts: Sequence[Sequence[int]], length: int, pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Left-pads token lists to `length`: returns tokens [B, P] int32, mask [B, P] bool."""
  tokens = np.full((len(prompts), length), pad_id, np.int32)
  mask = np.zeros((len(prompts), length), bool)
  for row, prompt in enumerate(prompts):
    if len(prompt) > length:
      raise ValueError(f"prompt {row} has {len(prompt)} tokens, more than the bucket {length}")
    if len(prompt):
      tokens[row, length - len(prompt):] = prompt
      mask[row, length - len(prompt):] = True
  return tokens, mask


def filter_logits(logits: jax.Array, cfg: SamplingConfig) -> jax.Array:
  """Temperature, epsilon, top-k and top-p applied to [B, V] float32 logits."""
  logits = logits / cfg.temperature
  neg = jnp.finfo(logits.dtype).min
  if cfg.epsilon:
    # p_i >= eps  <=>  logit_i >= logsumexp(logits) + log(eps); the top token is always kept.
    floor = jax.nn.logsumexp(logits, axis=-1, keepdims=True) + jnp.log(cfg.epsilon)  # [B, 1]
    floor = jnp.minimum(floor, jnp.max(logits, axis=-1, keepdims=True))
    logits = jnp.where(logits < floor, neg, logits)
  if cfg.top_k:
    kth = jax.lax.top_k(logits, cfg.top_k)[0][:, -1:]  # [B, 1]
    logits = jnp.where(logits < kth, neg, logits)
  if cfg.top_p < 1.0:
    sorted_logits = jnp.sort(logits, axis=-1)[:, ::-1]  # [B, V] descending
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    # Keep a token while the mass *before* it is < top_p (the top token always).
    keep_sorted = (jnp.cumsum(probs, axis=-1) - probs) < cfg.top_p
    cutoff = jnp.min(jnp.where(keep_sorted, sorted_logits, jnp.inf), axis=-1, keepdims=True)
    logits = jnp.where(logits < cutoff, neg, logits)
  return logits


def first_argmax(x: jax.Array) -> jax.Array:
  """jnp.argmax(x, -1) (the first index of the maximum) of float [B, V] rows, as two plain reduces.

  XLA's CPU backend runs argmax's variadic (value, index) reduce as a scalar
  loop (3.8% of W's rollout); max, compare and a min over indices fuse and
  vectorise. Rows holding NaN give V - 1 (argmax gives the NaN's index).
  """
  vocab = x.shape[-1]
  best = jnp.max(x, axis=-1, keepdims=True)  # [B, 1]
  first = jnp.min(jnp.where(x == best, jnp.arange(vocab), vocab), axis=-1)  # [B]
  return jnp.minimum(first, vocab - 1).astype(jnp.int32)


def choose_tokens(logits: jax.Array, rng: jax.Array, cfg: SamplingConfig) -> jax.Array:
  """Draws one token per row of [B, V] logits: [B] int32.

  Sampling is the Gumbel-max draw of `jax.random.categorical` (argmax of
  logits + Gumbel noise from the same key, so the same tokens), with the
  argmax taken by `first_argmax`.
  """
  if cfg.temperature == 0:
    return first_argmax(logits)
  logits = filter_logits(logits, cfg)
  return first_argmax(logits + jax.random.gumbel(rng, logits.shape, logits.dtype))


def _dense(x: jax.Array, p: Any, dtype: Any) -> jax.Array:
  """flax nn.Dense: x @ kernel (+ bias), operands cast to the compute dtype."""
  y = jax.lax.dot_general(x.astype(dtype), p["kernel"].astype(dtype),
                          (((x.ndim - 1,), (0,)), ((), ())))
  if "bias" in p:
    y = y + p["bias"].astype(dtype)
  return y


def _rms_norm(x: jax.Array, scale: jax.Array, cfg: tfm.TransformerConfig) -> jax.Array:
  """tfm.RMSNorm: x / sqrt(mean(x^2) + eps) * scale in float32, cast to the compute dtype."""
  x32 = x.astype(jnp.float32)
  normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + cfg.norm_eps)
  return (normed * scale.astype(jnp.float32)).astype(cfg.compute_dtype)


def decode_step(cfg: tfm.TransformerConfig, params: Any, layers: Sequence[Any],
                cache: Sequence[tuple[jax.Array, jax.Array]], token: jax.Array,
                position: jax.Array, cache_mask: jax.Array, slot: jax.Array
                ) -> tuple[jax.Array, tuple[tuple[jax.Array, jax.Array], ...]]:
  """The decoder's forward pass for one new token per row, against a per-layer cache.

  The same computation as `tfm.Transformer.__call__` with T = 1 (embedding,
  L pre-norm blocks of RoPE grouped-query attention and SwiGLU, final norm,
  output projection), written for decoding: layers are unrolled, each
  layer's keys/values are kept as [B, K, S, E] (the new token written at
  `slot`), and with G = H / K

    scores[b, k, g, s] = q[b, k, g] . cache_k[b, k, s] / sqrt(E)   (masked by cache_mask)
    out[b, k, g]       = sum_s softmax_s(scores)[b, k, g, s] cache_v[b, k, s]

  are batched matmuls over (B, K) that read the cache in its memory order.
  (The full forward normalises after the value product instead,
  `tfm._softmax_values`: equal up to float rounding.)

  Args:
    cfg: the model config.
    params: the model's params (for the embedding, final norm and head).
    layers: per-layer params (params["layers"] sliced at each layer).
    cache: L pairs (k, v) of [B, K, S, E] arrays.
    token: [B] int32 new tokens.
    position: [B] int32 their positions.
    cache_mask: [B, S] bool valid cache slots (the new slot included).
    slot: scalar int32 cache slot of the new token.

  Returns:
    (logits [B, V] float32, the updated cache).
  """
  dtype = cfg.compute_dtype
  b = token.shape[0]
  h, k, e = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
  table = nn.with_logical_constraint(params["embedding"], (None, None))
  x = jnp.take(table, token, axis=0).astype(dtype)  # [B, D]
  x = nn.with_logical_constraint(x, (tfm.ACT_BATCH, tfm.ACT_EMBED))
  positions = position[:, None]  # [B, 1]
  key_mask = cache_mask[:, None, None, :]  # [B, 1, 1, S]
  freqs = tfm.rope_frequencies(cfg)
  new_cache = []
  for layer, (cache_k, cache_v) in zip(layers, cache):
    attn = layer["attn"]
    y = _rms_norm(x, layer["attn_norm"]["scale"], cfg)
    q = _dense(y, attn["q_proj"], dtype).reshape(b, 1, h, e)
    new_k = _dense(y, attn["k_proj"], dtype).reshape(b, 1, k, e)
    new_v = _dense(y, attn["v_proj"], dtype).reshape(b, k, 1, e)
    q = tfm.rotary_embedding(q, positions, freqs).reshape(b, k, h // k, e)  # [B, K, G, E]
    new_k = tfm.rotary_embedding(new_k, positions, freqs).reshape(b, k, 1, e)
    cache_k = jax.lax.dynamic_update_slice_in_dim(cache_k, new_k.astype(cache_k.dtype), slot, 2)
    cache_v = jax.lax.dynamic_update_slice_in_dim(cache_v, new_v.astype(cache_v.dtype), slot, 2)
    new_cache.append((cache_k, cache_v))
    scores = jnp.einsum("bkge,bkse->bkgs", q, cache_k.astype(dtype),
                        preferred_element_type=jnp.float32) * (e ** -0.5)  # [B, K, G, S]
    scores = jnp.where(key_mask, scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(dtype)
    out = jnp.einsum("bkgs,bkse->bkge", probs, cache_v.astype(dtype)).reshape(b, h * e)
    out = nn.with_logical_constraint(out, (tfm.ACT_BATCH, tfm.ACT_HEADS))
    x = x + _dense(out, attn["o_proj"], dtype)
    y = _rms_norm(x, layer["mlp_norm"]["scale"], cfg)
    mlp = layer["mlp"]
    hidden = tfm.swiglu_activation(_dense(y, mlp["gate_proj"], dtype),
                                    _dense(y, mlp["up_proj"], dtype))
    hidden = nn.with_logical_constraint(hidden, (tfm.ACT_BATCH, tfm.ACT_MLP))
    x = x + _dense(hidden, mlp["down_proj"], dtype)
    x = nn.with_logical_constraint(x, (tfm.ACT_BATCH, tfm.ACT_EMBED))
  hidden = _rms_norm(x, params["final_norm"]["scale"], cfg)
  return tfm.output_logits(cfg, params, hidden), tuple(new_cache)


class DecodeState(NamedTuple):
  step: jax.Array  # [] int32
  cache: Any  # L pairs (k, v) of [B, K, S, E]
  cache_mask: jax.Array  # [B, S] bool, valid cache slots
  next_position: jax.Array  # [B] int32
  logits: jax.Array  # [B, V] logits for the next token
  done: jax.Array  # [B] bool
  tokens: jax.Array  # [B, N]
  logprobs: jax.Array  # [B, N]
  mask: jax.Array  # [B, N]
  rng: jax.Array


class Sampler:
  """Compiled prefill and decode for one model config and sampling config.

  Usage:
    sampler = Sampler(model_cfg, SamplingConfig(temperature=1.0, stop_tokens=(2,)))
    out = sampler.generate(params, prompt_tokens, prompt_mask, max_new_tokens=64, rng=key)

  Shardings are inherited from the inputs (params and prompts placed on a
  mesh); call under `afjax.parallel.mesh.use_mesh` so logical constraints in
  the model resolve.
  """

  def __init__(self, model_cfg: tfm.TransformerConfig, sampling_cfg: SamplingConfig,
               buckets: Sequence[int] = DEFAULT_BUCKETS):
    self.model_cfg = model_cfg
    self.cfg = sampling_cfg
    self.buckets = tuple(buckets)
    self.model = tfm.Transformer(model_cfg)
    self.prefill = jax.jit(self._prefill, static_argnames=("cache_length",))
    self.decode = jax.jit(self._decode, static_argnames=("num_steps",), donate_argnums=(1,))

  def _prefill(self, params, prompt_tokens, prompt_mask, *, cache_length):
    """Runs the prompt [B, P] through the model, filling cache slots [0, P).

    Only the last (left-padded: the last real) position's logits are computed:
    the model's [B, P, V] logits are unused, so XLA drops them (at a real
    vocabulary they would be the prefill's largest buffer).
    """
    b, p = prompt_tokens.shape
    cache = tfm.init_cache(self.model_cfg, b, cache_length)
    cache_mask = jnp.zeros((b, cache_length), bool).at[:, :p].set(prompt_mask)
    positions = tfm.positions_from_mask(prompt_mask)
    _, cache, hidden = self.model.apply({"params": params}, prompt_tokens, positions, cache_mask,
                                        cache=cache, cache_index=0, return_hidden=True)
    next_position = jnp.sum(prompt_mask, axis=-1).astype(jnp.int32)  # [B]
    return cache, cache_mask, next_position, tfm.output_logits(self.model_cfg, params, hidden[:, -1])

  def _decode(self, params, cache, cache_mask, next_position, last_logits, rng, limit, *,
              num_steps):
    """Samples up to `limit` <= num_steps tokens, one cache slot per step.

    The loop runs `decode_step` (the model's forward for one token, written
    for decoding) over a per-layer cache in the [B, K, S, E] layout, so both
    attention contractions are plain batched matmuls over (B, K); the cache
    comes in and goes out as the model's KVCache ([L, B, S, K, E]).
    """
    b = last_logits.shape[0]
    prompt_len = cache.k.shape[2] - num_steps
    # A larger limit would write past the cache, whose updates clamp to its last slot.
    limit = jnp.minimum(limit, num_steps)
    stop = jnp.asarray(self.cfg.stop_tokens or (-1,), jnp.int32)
    num_layers = self.model_cfg.num_layers
    # Loop-invariant per-layer params (sliced once, outside the loop).
    layers = [jax.tree.map(lambda a, i=i: a[i], params["layers"]) for i in range(num_layers)]
    layer_cache = tuple((jnp.swapaxes(cache.k[i], 1, 2), jnp.swapaxes(cache.v[i], 1, 2))
                        for i in range(num_layers))  # L x ([B, K, S, E], [B, K, S, E])

    def body(state: DecodeState) -> DecodeState:
      rng, draw = jax.random.split(state.rng)
      token = choose_tokens(state.logits, draw, self.cfg)  # [B]
      logprob = jnp.take_along_axis(jax.nn.log_softmax(state.logits), token[:, None], -1)[:, 0]
      live = ~state.done
      token = jnp.where(live, token, self.cfg.pad_id)
      done = state.done | jnp.isin(token, stop)
      slot = prompt_len + state.step
      cache_mask = state.cache_mask.at[:, slot].set(live)
      logits, new_cache = decode_step(self.model_cfg, params, layers, state.cache, token,
                                      state.next_position, cache_mask, slot)
      return DecodeState(
          step=state.step + 1, cache=new_cache, cache_mask=cache_mask,
          next_position=state.next_position + live.astype(jnp.int32), logits=logits,
          done=done,
          tokens=state.tokens.at[:, state.step].set(token),
          logprobs=state.logprobs.at[:, state.step].set(jnp.where(live, logprob, 0.0)),
          mask=state.mask.at[:, state.step].set(live.astype(jnp.float32)),
          rng=rng)

    def not_finished(state: DecodeState) -> jax.Array:
      running = state.step < limit
      if self.cfg.early_stop:
        running &= ~jnp.all(state.done)
      return running

    init = DecodeState(
        step=jnp.zeros((), jnp.int32), cache=layer_cache, cache_mask=cache_mask,
        next_position=next_position, logits=last_logits, done=jnp.zeros((b,), bool),
        tokens=jnp.full((b, num_steps), self.cfg.pad_id, jnp.int32),
        logprobs=jnp.zeros((b, num_steps), jnp.float32),
        mask=jnp.zeros((b, num_steps), jnp.float32), rng=rng)
    final = jax.lax.while_loop(not_finished, body, init)
    out = SampleOutput(final.tokens, final.logprobs, final.mask,
                       jnp.sum(final.mask, axis=-1).astype(jnp.int32))
    # The cache is returned (in the model's layout) so that its donated input buffer is reused.
    new_cache = tfm.KVCache(k=jnp.stack([jnp.swapaxes(k, 1, 2) for k, _ in final.cache]),
                            v=jnp.stack([jnp.swapaxes(v, 1, 2) for _, v in final.cache]))
    return out, new_cache

  def generate(self, params: Any, prompt_tokens: jax.Array, prompt_mask: jax.Array,
               max_new_tokens: int, rng: jax.Array) -> SampleOutput:
    """Samples continuations of left-padded prompts.

    Args:
      params: model parameters.
      prompt_tokens: [B, P] int32, left-padded (P should be a bucket size).
      prompt_mask: [B, P] bool, True on real prompt tokens.
      max_new_tokens: generation budget; the compiled loop has a bucketed
        length, runs max_new_tokens steps at most, and outputs are cut to it.
      rng: PRNG key; the same key gives the same samples.
    """
    num_steps = bucket_length(max_new_tokens, self.buckets)
    cache_length = prompt_tokens.shape[1] + num_steps
    if cache_length > self.model_cfg.max_seq_len:
      raise ValueError(f"prompt ({prompt_tokens.shape[1]}) + generation ({num_steps}) tokens exceed "
                       f"model.max_seq_len={self.model_cfg.max_seq_len}")
    cache, cache_mask, next_position, last_logits = self.prefill(
        params, prompt_tokens, prompt_mask, cache_length=cache_length)
    out, _ = self.decode(params, cache, cache_mask, next_position, last_logits, rng,
                         jnp.int32(max_new_tokens), num_steps=num_steps)
    if num_steps == max_new_tokens:
      return out
    mask = out.mask[:, :max_new_tokens]
    return SampleOutput(out.tokens[:, :max_new_tokens], out.logprobs[:, :max_new_tokens], mask,
                        jnp.sum(mask, axis=-1).astype(jnp.int32))


@functools.lru_cache(maxsize=32)
def shared_sampler(model_cfg: tfm.TransformerConfig, sampling_cfg: SamplingConfig,
                   buckets: tuple[int, ...] = DEFAULT_BUCKETS) -> Sampler:
  """The one Sampler of this configuration in the process, so its compiled programs are reused.

  Evaluations, rollouts and the runs of a study in one process sample with the
  same model and sampling settings; each new `Sampler` would compile its
  prefill and decode again.
  """
  return Sampler(model_cfg, sampling_cfg, tuple(buckets))
