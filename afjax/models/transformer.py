"""A Llama/Qwen-style decoder-only transformer in Flax linen.

Conventions follow the open-weight Llama and Qwen families so their checkpoints
map onto these parameters one to one: pre-norm RMSNorm, rotary position
embeddings (rotate-half form), grouped-query attention (optional q/k/v biases as
in Qwen2), a SwiGLU MLP, and optionally tied input/output embeddings.

The model is purely functional. The KV cache is an explicit pytree passed in and
returned, never a mutable Flax collection, so the sampler can donate it:

    logits, cache = Transformer(cfg).apply({"params": p}, tokens, positions,
                                           attention_mask, cache=cache,
                                           cache_index=i)

Layers are stacked with `nn.scan` (parameters carry a leading "layers" axis), so
compile time does not grow with depth. Every parameter and the main activations
carry logical axis names; `afjax.parallel.mesh` maps them onto a device mesh.

Shape legend: B batch, T query length, S cache/key length, D model width,
H query heads, K key/value heads, G = H // K, E head width, F MLP width,
V vocabulary, L layers.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from afjax import config as config_lib

# Logical axis names of the parameters.
EMBED = "embed"
VOCAB = "vocab"
HEADS = "heads"
KV_HEADS = "kv_heads"
MLP = "mlp"
NORM = "norm"
LAYERS = "layers"
# Logical axis names of activations.
ACT_BATCH = "activation_batch"
ACT_LENGTH = "activation_length"
ACT_EMBED = "activation_embed"
ACT_HEADS = "activation_heads"
ACT_KV_HEADS = "activation_kv_heads"
ACT_MLP = "activation_mlp"
ACT_VOCAB = "activation_vocab"
HEAD_DIM = "head_dim"

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  """Hyper-parameters of the decoder.

  Attributes:
    vocab_size: number of token ids V.
    d_model: residual width D.
    num_layers: number of decoder blocks L.
    num_heads: query heads H.
    num_kv_heads: key/value heads K; H must be a multiple of K (K == H is
      multi-head attention, K == 1 multi-query attention).
    head_dim: width E of each head.
    mlp_hidden: SwiGLU hidden width F.
    max_seq_len: longest position the model is used at (cache length bound).
    rope_theta: RoPE base frequency.
    rope_scaling_factor: Llama 3's RoPE frequency scaling ("rope_type": "llama3"
      in Llama 3.1/3.2 checkpoints; `rope_frequencies`): wavelengths above
      rope_original_max_len / rope_low_freq_factor are stretched by this factor,
      those below rope_original_max_len / rope_high_freq_factor kept, those
      between blended. 1.0 leaves every frequency unchanged (plain RoPE).
    rope_low_freq_factor, rope_high_freq_factor, rope_original_max_len: the
      band edges of that scaling (Llama 3.1/3.2: 1, 4, 8192).
    norm_eps: RMSNorm epsilon.
    tie_embeddings: reuse the input embedding as the output projection.
    qkv_bias: biases on the q/k/v projections (Qwen2 convention).
    dtype: computation dtype of matmuls ("float32" or "bfloat16"); norms,
      softmax and logits stay in float32.
    param_dtype: storage dtype of parameters.
    remat: rematerialise each block in the backward pass (saves memory).
    scan_unroll: blocks per iteration of the layer scan (1 = a loop over
      layers; >= num_layers = straight-line code XLA can fuse across blocks).
  """

  vocab_size: int
  d_model: int
  num_layers: int
  num_heads: int
  num_kv_heads: int
  head_dim: int
  mlp_hidden: int
  max_seq_len: int = 2048
  rope_theta: float = 10000.0
  rope_scaling_factor: float = 1.0
  rope_low_freq_factor: float = 1.0
  rope_high_freq_factor: float = 4.0
  rope_original_max_len: int = 8192
  norm_eps: float = 1e-6
  tie_embeddings: bool = False
  qkv_bias: bool = False
  dtype: str = "float32"
  param_dtype: str = "float32"
  remat: bool = False
  scan_unroll: int = 1

  def __post_init__(self):
    if self.num_heads % self.num_kv_heads:
      raise ValueError(
          f"model.num_heads={self.num_heads} must be a multiple of "
          f"model.num_kv_heads={self.num_kv_heads}")
    for name in ("dtype", "param_dtype"):
      if getattr(self, name) not in _DTYPES:
        raise ValueError(f"model.{name}={getattr(self, name)!r}; allowed: {sorted(_DTYPES)}")
    if not 1 <= self.rope_scaling_factor < float("inf"):
      raise ValueError(f"model.rope_scaling_factor={self.rope_scaling_factor}; allowed: a finite "
                       "number >= 1 (1 is plain RoPE)")
    if not 0 < self.rope_low_freq_factor < self.rope_high_freq_factor:
      raise ValueError(
          f"model.rope_low_freq_factor={self.rope_low_freq_factor}, model.rope_high_freq_factor="
          f"{self.rope_high_freq_factor}; allowed: 0 < low < high")
    if not config_lib.is_int_at_least(self.rope_original_max_len, 1):
      raise ValueError(f"model.rope_original_max_len={self.rope_original_max_len!r}; allowed: an "
                       "integer >= 1")
    if self.scan_unroll < 1:
      raise ValueError(f"model.scan_unroll={self.scan_unroll}; allowed: >= 1 (values >= "
                       "model.num_layers unroll every layer)")

  @classmethod
  def from_dict(cls, values: Any) -> "TransformerConfig":
    """Builds a config from a mapping (e.g. an ml_collections ConfigDict)."""
    fields = {f.name for f in dataclasses.fields(cls)}
    values = dict(values)
    unknown = sorted(set(values) - fields)
    if unknown:
      raise ValueError(f"unknown model field(s) {unknown}; allowed: {sorted(fields)}")
    return cls(**values)

  @property
  def compute_dtype(self):
    return _DTYPES[self.dtype]

  @property
  def storage_dtype(self):
    return _DTYPES[self.param_dtype]

  def num_params(self) -> int:
    """Exact parameter count."""
    d, f, e = self.d_model, self.mlp_hidden, self.head_dim
    attn = d * e * (self.num_heads * 2 + self.num_kv_heads * 2)
    if self.qkv_bias:
      attn += e * (self.num_heads + 2 * self.num_kv_heads)
    block = attn + 3 * d * f + 2 * d
    head = 0 if self.tie_embeddings else d * self.vocab_size
    return self.vocab_size * d + self.num_layers * block + d + head


# The fields of Llama 3's RoPE scaling; with rope_scaling_factor 1 they change nothing.
ROPE_SCALING_FIELDS = ("rope_scaling_factor", "rope_low_freq_factor", "rope_high_freq_factor",
                       "rope_original_max_len")


class KVCache(NamedTuple):
  """Keys and values of every layer: k, v are [L, B, S, K, E]."""

  k: jax.Array
  v: jax.Array


def init_cache(cfg: TransformerConfig, batch_size: int, length: int) -> KVCache:
  """An all-zero cache for `batch_size` sequences of up to `length` positions."""
  shape = (cfg.num_layers, batch_size, length, cfg.num_kv_heads, cfg.head_dim)
  zeros = jnp.zeros(shape, cfg.compute_dtype)
  return KVCache(k=zeros, v=zeros)


CACHE_LOGICAL_AXES = (LAYERS, ACT_BATCH, ACT_LENGTH, ACT_KV_HEADS, HEAD_DIM)


def _kernel_init(axes):
  """Every projection kernel's initialiser: N(0, 0.02^2), partitioned by logical `axes`."""
  return nn.with_logical_partitioning(nn.initializers.normal(0.02), axes)


def _dense(features, axes, cfg, name, use_bias=False):
  return nn.Dense(
      features,
      use_bias=use_bias,
      dtype=cfg.compute_dtype,
      param_dtype=cfg.storage_dtype,
      kernel_init=_kernel_init(axes),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros, axes[1:]),
      name=name)


class RMSNorm(nn.Module):
  """y = x / sqrt(mean(x^2) + eps) * scale, computed in float32."""

  cfg: TransformerConfig

  @nn.compact
  def __call__(self, x):
    scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, (NORM,)),
                       (x.shape[-1],), self.cfg.storage_dtype)
    x32 = x.astype(jnp.float32)
    normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.cfg.norm_eps)
    return (normed * scale.astype(jnp.float32)).astype(self.cfg.compute_dtype)


def rope_frequencies(cfg: TransformerConfig) -> jax.Array:
  """RoPE's angular frequencies [E/2] float32, with Llama 3's scaling when configured.

  w_i = theta^(-2i/E), i < E/2. With scaling factor s, band edges lo, hi and
  original length N, a frequency of wavelength l = 2 pi / w_i becomes
    w_i              if l < N / hi,
    w_i / s          if l > N / lo,
    (1 - a) w_i / s + a w_i  with a = (N / l - lo) / (hi - lo) otherwise,
  as Meta's reference and Hugging Face's "llama3" rope type compute it; s = 1
  returns w unchanged in every band.
  """
  e = cfg.head_dim
  freqs = cfg.rope_theta ** (-jnp.arange(e // 2, dtype=jnp.float32) * 2.0 / e)  # [E/2]
  if cfg.rope_scaling_factor != 1.0:
    scale, lo, hi = cfg.rope_scaling_factor, cfg.rope_low_freq_factor, cfg.rope_high_freq_factor
    wavelength = 2 * jnp.pi / freqs
    blend = jnp.clip((cfg.rope_original_max_len / wavelength - lo) / (hi - lo), 0.0, 1.0)
    freqs = (1 - blend) * freqs / scale + blend * freqs
  return freqs


def rotary_embedding(x: jax.Array, positions: jax.Array, freqs: jax.Array) -> jax.Array:
  """Applies RoPE in the rotate-half convention of Llama/Qwen checkpoints.

  For x = [x1, x2] split in halves and frequencies w (`rope_frequencies`):
  rope(x, p) = [x1 cos(p w) - x2 sin(p w), x2 cos(p w) + x1 sin(p w)].

  Args:
    x: [B, T, N, E] queries or keys.
    positions: [B, T] integer positions.
    freqs: [E/2] angular frequencies.
  """
  angles = positions[..., None].astype(jnp.float32) * freqs  # [B, T, E/2]
  sin, cos = jnp.sin(angles)[:, :, None, :], jnp.cos(angles)[:, :, None, :]
  x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(x.dtype)


class Attention(nn.Module):
  """Grouped-query causal self-attention reading and writing a KV cache slice."""

  cfg: TransformerConfig

  @nn.compact
  def __call__(self, x, positions, key_mask, cache_k, cache_v, cache_index):
    """Attends from the T new tokens to every valid cache position.

    Args:
      x: [B, T, D] normalised inputs.
      positions: [B, T] positions of the new tokens.
      key_mask: [B, T, S] bool, True where query t may attend to key s.
      cache_k, cache_v: [B, S, K, E] this layer's cache; the new keys/values
        are written at [cache_index, cache_index + T).
      cache_index: scalar int, where the new tokens start in the cache.

    Returns:
      ([B, T, D] output, updated cache_k, updated cache_v).
    """
    cfg = self.cfg
    b, t, _ = x.shape
    h, k, e = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    q = _dense(h * e, (EMBED, HEADS), cfg, "q_proj", cfg.qkv_bias)(x).reshape(b, t, h, e)
    new_k = _dense(k * e, (EMBED, KV_HEADS), cfg, "k_proj", cfg.qkv_bias)(x).reshape(b, t, k, e)
    new_v = _dense(k * e, (EMBED, KV_HEADS), cfg, "v_proj", cfg.qkv_bias)(x).reshape(b, t, k, e)
    freqs = rope_frequencies(cfg)
    q = rotary_embedding(q, positions, freqs)
    new_k = rotary_embedding(new_k, positions, freqs)
    q = nn.with_logical_constraint(q, (ACT_BATCH, ACT_LENGTH, ACT_HEADS, HEAD_DIM))

    cache_k = jax.lax.dynamic_update_slice_in_dim(cache_k, new_k.astype(cache_k.dtype), cache_index, 1)
    cache_v = jax.lax.dynamic_update_slice_in_dim(cache_v, new_v.astype(cache_v.dtype), cache_index, 1)

    q = q.reshape(b, t, k, h // k, e)  # [B, T, K, G, E]
    scores = jnp.einsum("btkge,bske->bkgts", q, cache_k.astype(q.dtype),
                        preferred_element_type=jnp.float32) * (e ** -0.5)
    scores = jnp.where(key_mask[:, None, None], scores, jnp.finfo(jnp.float32).min)
    out = _softmax_values(scores, cache_v.astype(cfg.compute_dtype))  # [B, T, K, G, E]
    out = out.astype(cfg.compute_dtype).reshape(b, t, h * e)
    out = nn.with_logical_constraint(out, (ACT_BATCH, ACT_LENGTH, ACT_HEADS))
    return _dense(cfg.d_model, (HEADS, EMBED), cfg, "o_proj")(out), cache_k, cache_v


def _softmax_values(scores: jax.Array, values: jax.Array) -> jax.Array:
  """softmax(scores) @ values, normalised after the product.

  out[t] = sum_s exp(z_ts - m_t) v_s / l_t with m_t = max_s z_ts (held
  constant in the gradient; the result does not depend on it) and
  l_t = sum_s exp(z_ts - m_t). Dividing the [T, E] product instead of the
  [T, S] weights, and differentiating that, leaves one elementwise pass
  over [T, S] fewer each way: the LM step of the "tiny" preset at
  [8, 304] is about 1.1x faster on CPU (BENCHMARKS.md, Speed changes).

  Args:
    scores: [B, K, G, T, S] float32 attention logits (masked ones at the
      float32 minimum: a row with every key masked averages all values, as
      `jax.nn.softmax` would).
    values: [B, S, K, E].

  Returns:
    [B, T, K, G, E] float32.
  """
  shifted = scores - jax.lax.stop_gradient(scores.max(axis=-1, keepdims=True))
  weights = jnp.exp(shifted)  # [B, K, G, T, S]
  norm = weights.sum(axis=-1)  # [B, K, G, T]
  out = jnp.einsum("bkgts,bske->btkge", weights.astype(values.dtype), values,
                   preferred_element_type=jnp.float32)
  return out / jnp.transpose(norm, (0, 3, 1, 2))[..., None]


def swiglu_activation(gate: jax.Array, up: jax.Array) -> jax.Array:
  """silu(gate) * up (its gradient in closed form: `swiglu_activation_grads`)."""
  return jax.nn.silu(gate) * up


def swiglu_activation_grads(gate: jax.Array, up: jax.Array,
                            grad: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The gradients of sum(grad * silu(gate) * up) w.r.t. gate and up.

  With s = sigmoid(gate):
    d/d gate = up * s * (1 + gate * (1 - s)),    d/d up = gate * s.
  Autodiff of silu gives the same values but evaluates the sigmoid and its
  derivative as separate passes; this form cut the LM step (tiny preset,
  [8, 304]) and W's RL update by 6-8% on the CPU (BENCHMARKS.md).
  """
  s = jax.nn.sigmoid(gate)
  return grad * up * s * (1 + gate * (1 - s)), grad * (gate * s)


@jax.custom_vjp
def swiglu_mlp(x: jax.Array, w_gate: jax.Array, w_up: jax.Array, w_down: jax.Array) -> jax.Array:
  """down(silu(x @ w_gate) * (x @ w_up)), with a hand-written backward pass.

  Args:
    x: [..., D] inputs.
    w_gate, w_up: [D, F] kernels.
    w_down: [F, D] kernel.

  Returns:
    [..., D].

  The backward pass writes each weight gradient as one dot over the flattened
  tokens, e.g. dW_up = x^T (dh * silu(gate)) with x [N, D] and dh [N, F]. As
  autodiff writes them (the transpose of a dot over [B, T, D]), XLA CPU
  materialises the [N, F] activation gradients a second time, transposed, for
  the weight-gradient dot inside the layer scan; this form does not, which cut
  W's RL update from 0.79 to 0.69 s and the LM step at D = 512 on [64, 80]
  tokens by 22% on the CPU (BENCHMARKS.md, Speed changes).
  """
  return _swiglu_mlp_forward(x, w_gate, w_up, w_down)[0]


def _hidden_constraint(a: jax.Array) -> jax.Array:
  """Shards a [B, T, F] activation by the logical rules (other ranks pass through)."""
  return nn.with_logical_constraint(a, (ACT_BATCH, ACT_LENGTH, ACT_MLP)) if a.ndim == 3 else a


def _swiglu_mlp_forward(x, w_gate, w_up, w_down):
  gate, up = _hidden_constraint(x @ w_gate), _hidden_constraint(x @ w_up)
  hidden = _hidden_constraint(swiglu_activation(gate, up))
  return hidden @ w_down, (x, w_gate, w_up, w_down, gate, up)


def _swiglu_mlp_backward(residuals, grad):
  x, w_gate, w_up, w_down, gate, up = residuals
  tokens = lambda a: a.reshape(-1, a.shape[-1])  # [N, width]
  d_hidden = grad @ w_down.T  # [..., F]
  d_gate, d_up = map(_hidden_constraint, swiglu_activation_grads(gate, up, d_hidden))
  x2, grad2 = tokens(x), tokens(grad)
  d_w_down = jnp.einsum("nf,nd->fd", tokens(swiglu_activation(gate, up)), grad2)
  d_w_gate = jnp.einsum("nd,nf->df", x2, tokens(d_gate))
  d_w_up = jnp.einsum("nd,nf->df", x2, tokens(d_up))
  d_x = d_gate @ w_gate.T + d_up @ w_up.T
  return d_x, d_w_gate, d_w_up, d_w_down


swiglu_mlp.defvjp(_swiglu_mlp_forward, _swiglu_mlp_backward)


class _Kernel(nn.Module):
  """A [fan_in, fan_out] kernel stored as nn.Dense stores it (same path, init and partitioning)."""

  shape: tuple[int, int]
  axes: tuple[str, str]
  cfg: TransformerConfig

  @nn.compact
  def __call__(self) -> jax.Array:
    kernel = self.param("kernel", _kernel_init(self.axes), self.shape, self.cfg.storage_dtype)
    return kernel.astype(self.cfg.compute_dtype)


class SwiGLU(nn.Module):
  """down(silu(gate(x)) * up(x)); parameters as three bias-free nn.Dense layers."""

  cfg: TransformerConfig

  @nn.compact
  def __call__(self, x):
    cfg = self.cfg
    d, f = cfg.d_model, cfg.mlp_hidden
    w_gate = _Kernel((d, f), (EMBED, MLP), cfg, name="gate_proj")()
    w_up = _Kernel((d, f), (EMBED, MLP), cfg, name="up_proj")()
    w_down = _Kernel((f, d), (MLP, EMBED), cfg, name="down_proj")()
    return swiglu_mlp(x.astype(cfg.compute_dtype), w_gate, w_up, w_down)


class DecoderBlock(nn.Module):
  """Pre-norm block: x + attn(norm(x)), then + mlp(norm(x)). Scanned over layers."""

  cfg: TransformerConfig

  @nn.compact
  def __call__(self, x, layer_cache, positions, key_mask, cache_index):
    cache_k, cache_v = layer_cache
    attn_out, cache_k, cache_v = Attention(self.cfg, name="attn")(
        RMSNorm(self.cfg, name="attn_norm")(x), positions, key_mask, cache_k, cache_v, cache_index)
    x = x + attn_out
    x = x + SwiGLU(self.cfg, name="mlp")(RMSNorm(self.cfg, name="mlp_norm")(x))
    x = nn.with_logical_constraint(x, (ACT_BATCH, ACT_LENGTH, ACT_EMBED))
    return x, (cache_k, cache_v)


class Transformer(nn.Module):
  """The decoder: embeddings, L scanned blocks, final norm, output projection."""

  cfg: TransformerConfig

  @nn.compact
  def __call__(self, tokens, positions, attention_mask, cache: KVCache | None = None,
               cache_index=0, return_hidden: bool = False, segment_ids=None):
    """Runs the decoder over T new tokens.

    Without a cache (training, scoring) the tokens attend causally to each other.
    With a cache (sampling) they also attend to the cache's earlier positions.

    Args:
      tokens: [B, T] int token ids.
      positions: [B, T] int positions (for RoPE).
      attention_mask: [B, S] bool validity of every key position: S == T
        without a cache, S == cache length with one (earlier entries of the
        cache included; entries at or after cache_index + T are ignored).
      cache: optional KVCache with [L, B, S, K, E] arrays.
      cache_index: scalar int, where the new tokens start in the cache.
      return_hidden: also return the final normalised hidden states [B, T, D].
      segment_ids: optional [B, T] int ids of packed examples (no cache only):
        a token attends only to earlier tokens of its own segment.

    Returns:
      (logits [B, T, V] float32, updated cache or None[, hidden]).
    """
    cfg = self.cfg
    b, t = tokens.shape
    # A tied table is also the output projection: at std 1 its logits would start with std
    # sqrt(D) (45 at D = 2048) and the loss far above ln V, so it starts at the kernels' 0.02.
    embedding_std = 0.02 if cfg.tie_embeddings else 1.0
    embedding = self.param(
        "embedding",
        nn.with_logical_partitioning(nn.initializers.normal(embedding_std), (VOCAB, EMBED)),
        (cfg.vocab_size, cfg.d_model), cfg.storage_dtype)
    # Gather from an all-gathered table (as FSDP does for every weight): a gather
    # from a vocab- and width-sharded table forces XLA into a full remat.
    table = nn.with_logical_constraint(embedding, (None, None))
    x = jnp.take(table, tokens, axis=0).astype(cfg.compute_dtype)
    x = nn.with_logical_constraint(x, (ACT_BATCH, ACT_LENGTH, ACT_EMBED))

    use_cache = cache is not None
    if not use_cache:
      cache = init_cache(cfg, b, t)
    s = cache.k.shape[2]
    query_slots = cache_index + jnp.arange(t)  # [T] cache slots of the new tokens
    causal = jnp.arange(s)[None, :] <= query_slots[:, None]  # [T, S]
    key_mask = causal[None] & attention_mask[:, None, :]  # [B, T, S]
    if segment_ids is not None:
      if use_cache:
        raise ValueError("segment_ids are for packed training batches, not cached decoding")
      key_mask &= segment_ids[:, :, None] == segment_ids[:, None, :]

    block = DecoderBlock
    if cfg.remat:
      block = nn.remat(block, prevent_cse=False)
    stack = nn.scan(
        block,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        in_axes=(0, nn.broadcast, nn.broadcast, nn.broadcast),
        length=cfg.num_layers,
        unroll=cfg.scan_unroll,
        metadata_params={nn.PARTITION_NAME: LAYERS})
    x, (new_k, new_v) = stack(cfg, name="layers")(
        x, (cache.k, cache.v), positions, key_mask, cache_index)
    hidden = RMSNorm(cfg, name="final_norm")(x)

    head = (embedding if cfg.tie_embeddings else
            _Kernel((cfg.d_model, cfg.vocab_size), (EMBED, VOCAB), cfg, name="lm_head")())
    logits = project_to_vocab(cfg, hidden, head)
    new_cache = KVCache(new_k, new_v) if use_cache else None
    if return_hidden:
      return logits, new_cache, hidden
    return logits, new_cache


def project_to_vocab(cfg: TransformerConfig, hidden: jax.Array, head: jax.Array) -> jax.Array:
  """Final-normed hidden states [..., D] -> logits [..., V] float32.

  `head` is the tied embedding table [V, D] or the lm_head kernel [D, V]. The
  logits accumulate in float32 either way: in a bfloat16 output, every logit
  and log-prob would be rounded (steps of 0.06-0.125 at logits of 10-20).
  """
  dtype = cfg.compute_dtype
  spec = "...d,vd->...v" if cfg.tie_embeddings else "...d,dv->...v"
  logits = jnp.einsum(spec, hidden.astype(dtype), head.astype(dtype),
                      preferred_element_type=jnp.float32)
  names = (ACT_BATCH, ACT_LENGTH, ACT_VOCAB) if logits.ndim == 3 else (ACT_BATCH, ACT_VOCAB)
  return nn.with_logical_constraint(logits.astype(jnp.float32), names)


def output_logits(cfg: TransformerConfig, params: Any, hidden: jax.Array) -> jax.Array:
  """`Transformer.__call__`'s output projection, outside the module (for the sampler's
  single-position head and the blocked loss): hidden [..., D] -> logits [..., V] float32."""
  return project_to_vocab(cfg, hidden, _head(cfg, params))


def _head(cfg: TransformerConfig, params: Any) -> jax.Array:
  """The output projection's weight: the tied table [V, D] or the lm_head kernel [D, V]."""
  return params["embedding"] if cfg.tie_embeddings else params["lm_head"]["kernel"]


def map_logits_in_blocks(cfg: TransformerConfig, params: Any, hidden: jax.Array, fn: Any,
                         chunk: int, *per_position: jax.Array) -> tuple[jax.Array, ...]:
  """fn of the logits, `chunk` positions at a time, without the whole [B, T, V] logits.

  A `lax.map` over blocks of positions projects hidden [B, c, D] to logits
  [B, c, V] (`output_logits`) and applies fn(logits, *arrays' blocks) ->
  arrays [B, c]; each block is rematerialised in the backward pass
  (jax.checkpoint), so one block's logits and their gradient are live at a
  time: B c V floats instead of B T V. T is padded to a multiple of `chunk`
  (the padded positions' outputs are cut off); a chunk above T is T.

  Args:
    hidden: [B, T, D] final-normed hidden states (`Transformer(..., return_hidden=True)`).
    fn: per-position function of a logits block and the matching blocks of `per_position`.
    chunk: positions per block, >= 1.
    per_position: [B, T] arrays passed to fn block by block (e.g. targets).

  Returns:
    fn's outputs, each [B, T].
  """
  b, t = hidden.shape[:2]
  chunk = min(chunk, t)  # a larger block would only pad
  blocks = -(-t // chunk)

  def by_block(x):  # [B, T, ...] -> [blocks, B, chunk, ...]
    x = jnp.pad(x, [(0, 0), (0, blocks * chunk - t)] + [(0, 0)] * (x.ndim - 2))
    return jnp.swapaxes(x.reshape(b, blocks, chunk, *x.shape[2:]), 0, 1)

  head_names = (VOCAB, EMBED) if cfg.tie_embeddings else (EMBED, VOCAB)

  @jax.checkpoint
  def block_fn(xs):
    h, *rest = xs
    # Pinned to the parameter's sharding: the constraint's transpose keeps each block's
    # head gradient, and so their sum carried through the loop, sharded like the head
    # (left to propagation, the carry could come out gathered over fsdp).
    head = nn.with_logical_constraint(_head(cfg, params), head_names)
    return tuple(fn(project_to_vocab(cfg, h, head), *rest))

  outputs = jax.lax.map(block_fn, (by_block(hidden), *map(by_block, per_position)))
  return tuple(jnp.swapaxes(y, 0, 1).reshape(b, blocks * chunk, *y.shape[3:])[:, :t]
               for y in outputs)


def logits_per_position(model: Transformer, params: Any, fn: Any, chunk: int, tokens: jax.Array,
                        positions: jax.Array, attention_mask: jax.Array, *per_position: jax.Array,
                        segment_ids: jax.Array | None = None) -> tuple[jax.Array, ...]:
  """fn(logits, *per_position) -> [B, T] arrays, of the model's logits on `tokens`.

  With chunk 0 from the module's whole [B, T, V] logits; otherwise from its
  hidden states, `chunk` positions at a time (`map_logits_in_blocks`; the
  module's own logits are then unused and XLA drops them). Equal up to float
  rounding.
  """
  if chunk:
    _, _, hidden = model.apply({"params": params}, tokens, positions, attention_mask,
                               segment_ids=segment_ids, return_hidden=True)
    return map_logits_in_blocks(model.cfg, params, hidden, fn, chunk, *per_position)
  logits, _ = model.apply({"params": params}, tokens, positions, attention_mask,
                          segment_ids=segment_ids)  # [B, T, V]
  return tuple(fn(logits, *per_position))


def positions_from_mask(mask: jax.Array) -> jax.Array:
  """Positions counting only valid tokens: [B, T] bool -> [B, T] int32.

  With left padding, the first real token gets position 0 and pads get 0.
  """
  return jnp.maximum(jnp.cumsum(mask.astype(jnp.int32), axis=-1) - 1, 0)
