"""The decoder: shapes, logical axes, GQA, tied embeddings, causality, RoPE."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from afjax.models import presets, transformer as tfm


def make(**overrides):
  cfg = tfm.TransformerConfig(**{**presets.get_preset("test"), **overrides})
  model = tfm.Transformer(cfg)
  tokens = jnp.arange(12, dtype=jnp.int32).reshape(2, 6) + 3
  mask = jnp.ones_like(tokens, bool)
  variables = model.init(jax.random.key(0), tokens, tfm.positions_from_mask(mask), mask)
  return cfg, model, variables, tokens, mask


@pytest.mark.parametrize("overrides", [{}, {"tie_embeddings": True}, {"qkv_bias": True},
                                       {"num_kv_heads": 1}, {"num_kv_heads": 4}, {"remat": True}])
def test_param_count_and_logits_shape(overrides):
  cfg, model, variables, tokens, mask = make(**overrides)
  params = nn.meta.unbox(variables["params"])
  assert sum(x.size for x in jax.tree.leaves(params)) == cfg.num_params()
  logits, cache = model.apply({"params": params}, tokens, tfm.positions_from_mask(mask), mask)
  chex.assert_shape(logits, (2, 6, cfg.vocab_size))
  chex.assert_type(logits, jnp.float32)
  assert cache is None
  chex.assert_tree_all_finite(logits)


@pytest.mark.parametrize("tie", [False, True])
def test_initial_loss_is_near_uniform_tied_or_not(tie):
  cfg, model, variables, tokens, mask = make(tie_embeddings=tie, d_model=256, num_heads=8,
                                            num_kv_heads=4, head_dim=32, vocab_size=512)
  logits, _ = model.apply(variables, tokens, tfm.positions_from_mask(mask), mask)
  loss = -jnp.mean(jax.nn.log_softmax(logits)[:, :-1].reshape(-1, cfg.vocab_size)[
      jnp.arange(10), tokens[:, 1:].reshape(-1)])
  # ln 512 = 6.24; a tied table at std 1 started at ~259 here (logit std ~sqrt(D) = 16).
  assert abs(float(loss) - np.log(cfg.vocab_size)) < 0.5, float(loss)
  assert float(jnp.std(logits)) < 1.0


@pytest.mark.parametrize("tie", [False, True])
def test_bfloat16_models_accumulate_logits_in_float32(tie):
  cfg, model, variables, tokens, mask = make(tie_embeddings=tie, dtype="bfloat16")
  params = nn.meta.unbox(variables["params"])
  params = jax.tree.map(lambda p: p * 50.0, params)  # logits of order 10, where bf16 steps are coarse
  logits, _ = model.apply({"params": params}, tokens, tfm.positions_from_mask(mask), mask)
  chex.assert_type(logits, jnp.float32)
  rounded = logits.astype(jnp.bfloat16).astype(jnp.float32)
  assert not bool(jnp.all(rounded == logits)), "every logit is a bfloat16 value"


def test_every_param_has_logical_axes():
  _, _, variables, _, _ = make()
  boxed = jax.tree.leaves(variables["params"], is_leaf=lambda x: isinstance(x, nn.Partitioned))
  for leaf in boxed:
    assert isinstance(leaf, nn.Partitioned)
    assert len(leaf.names) == leaf.value.ndim
  kernel = variables["params"]["layers"]["attn"]["q_proj"]["kernel"]
  assert kernel.names == ("layers", "embed", "heads")


def test_causal_future_tokens_do_not_change_past_logits():
  cfg, model, variables, tokens, mask = make()
  params = nn.meta.unbox(variables["params"])
  logits, _ = model.apply({"params": params}, tokens, tfm.positions_from_mask(mask), mask)
  changed = tokens.at[:, 4:].set(7)
  logits2, _ = model.apply({"params": params}, changed, tfm.positions_from_mask(mask), mask)
  np.testing.assert_allclose(logits[:, :4], logits2[:, :4], atol=1e-6)
  assert not np.allclose(logits[:, 4:], logits2[:, 4:])


def test_left_padding_does_not_change_logits():
  cfg, model, variables, tokens, mask = make()
  params = nn.meta.unbox(variables["params"])
  logits, _ = model.apply({"params": params}, tokens, tfm.positions_from_mask(mask), mask)
  padded = jnp.concatenate([jnp.zeros((2, 3), jnp.int32), tokens], axis=1)
  pmask = jnp.concatenate([jnp.zeros((2, 3), bool), mask], axis=1)
  plogits, _ = model.apply({"params": params}, padded, tfm.positions_from_mask(pmask), pmask)
  np.testing.assert_allclose(plogits[:, 3:], logits, atol=1e-5)


def test_rotary_embedding_is_relative():
  """q(p+s) . k(r+s) depends on p - r only."""
  rng = np.random.default_rng(0)
  q = jnp.asarray(rng.normal(size=(1, 1, 1, 8)), jnp.float32)
  k = jnp.asarray(rng.normal(size=(1, 1, 1, 8)), jnp.float32)
  freqs = tfm.rope_frequencies(tfm.TransformerConfig(**{**presets.get_preset("test"), "head_dim": 8}))
  def dot(p, r):
    return float(jnp.sum(tfm.rotary_embedding(q, jnp.array([[p]]), freqs)
                         * tfm.rotary_embedding(k, jnp.array([[r]]), freqs)))
  assert dot(5, 2) == pytest.approx(dot(13, 10), abs=1e-5)
  assert dot(0, 0) == pytest.approx(float(jnp.sum(q * k)), abs=1e-6)


def numpy_llama3_frequencies(theta, head_dim, factor, low, high, original_len):
  """Meta's reference `apply_scaling` (Llama 3.1), one frequency at a time."""
  scaled = []
  for freq in theta ** (-np.arange(0, head_dim, 2) / head_dim):
    wavelength = 2 * np.pi / freq
    if wavelength < original_len / high:
      scaled.append(freq)
    elif wavelength > original_len / low:
      scaled.append(freq / factor)
    else:
      smooth = (original_len / wavelength - low) / (high - low)
      scaled.append((1 - smooth) * freq / factor + smooth * freq)
  return np.array(scaled)


@pytest.mark.parametrize("preset,factor", [("llama3_1b", 32.0), ("llama3_8b", 8.0)])
def test_llama3_rope_frequencies_match_the_reference(preset, factor):
  cfg = tfm.TransformerConfig(**presets.get_preset(preset))
  assert cfg.rope_scaling_factor == factor
  expected = numpy_llama3_frequencies(cfg.rope_theta, cfg.head_dim, factor, 1.0, 4.0, 8192)
  got = np.asarray(tfm.rope_frequencies(cfg))
  np.testing.assert_allclose(got, expected, rtol=2e-6)
  plain = cfg.rope_theta ** (-np.arange(0, cfg.head_dim, 2) / cfg.head_dim)
  assert got[0] == pytest.approx(plain[0]) and got[-1] == pytest.approx(plain[-1] / factor)
  assert ((got < plain * (1 - 1e-6)) & (got > plain / factor * (1 + 1e-6))).any()  # blended band


def test_rope_scaling_factor_near_one_is_plain_rope():
  # Just above 1, so that the blend is computed (at exactly 1 it is skipped).
  cfg = tfm.TransformerConfig(**{**presets.get_preset("llama3_8b"), "rope_scaling_factor": 1.0 + 1e-7})
  plain = cfg.rope_theta ** (-np.arange(0, cfg.head_dim, 2) / cfg.head_dim)
  np.testing.assert_allclose(np.asarray(tfm.rope_frequencies(cfg)), plain, rtol=2e-6)


@pytest.mark.parametrize("field,value,message", [
    ("rope_scaling_factor", 0.5, "allowed: a finite number >= 1"),
    ("rope_scaling_factor", float("inf"), "allowed: a finite number >= 1"),
    ("rope_original_max_len", 8192.0, "allowed: an integer >= 1"),
    ("rope_low_freq_factor", 5.0, "allowed: 0 < low < high"),
    ("rope_original_max_len", 0, "allowed: an integer >= 1")])
def test_bad_rope_scaling_is_refused(field, value, message):
  with pytest.raises(ValueError, match=f"model.{field}.*{message}"):
    tfm.TransformerConfig(**{**presets.get_preset("test"), field: value})


def test_positions_from_mask():
  mask = jnp.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], bool)
  np.testing.assert_array_equal(tfm.positions_from_mask(mask), [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]])


def test_config_errors_name_the_field():
  with pytest.raises(ValueError, match="num_kv_heads"):
    tfm.TransformerConfig(**{**presets.get_preset("test"), "num_kv_heads": 3})
  with pytest.raises(ValueError, match="model.dtype"):
    tfm.TransformerConfig(**{**presets.get_preset("test"), "dtype": "float8"})
  with pytest.raises(ValueError, match="unknown model field"):
    tfm.TransformerConfig.from_dict({**presets.get_preset("test"), "n_layers": 2})
  with pytest.raises(ValueError, match="allowed"):
    presets.get_preset("gpt5")
  with pytest.raises(ValueError, match="model.scan_unroll"):
    tfm.TransformerConfig(**{**presets.get_preset("test"), "scan_unroll": 0})


def test_unrolled_layer_scan_matches_the_loop_in_value_and_gradient():
  _, model, variables, tokens, mask = make()
  _, unrolled, _, _, _ = make(scan_unroll=3)  # more than the 2 layers: all unrolled
  params = nn.meta.unbox(variables["params"])
  positions = tfm.positions_from_mask(mask)

  def loss(m, p):
    logits, _ = m.apply({"params": p}, tokens, positions, mask)
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1))

  value, grads = jax.value_and_grad(lambda p: loss(model, p))(params)
  value_u, grads_u = jax.value_and_grad(lambda p: loss(unrolled, p))(params)
  np.testing.assert_allclose(value_u, value, rtol=1e-6)
  chex.assert_trees_all_close(grads_u, grads, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name, billions", [("llama3_1b", 1.24), ("llama3_8b", 8.03),
                                            ("qwen2_5_0_5b", 0.494)])
def test_real_presets_have_published_sizes(name, billions):
  cfg = tfm.TransformerConfig(**presets.get_preset(name))
  assert cfg.num_params() / 1e9 == pytest.approx(billions, rel=0.01)


def test_swiglu_activation_matches_numpy_in_value_and_gradient():
  rng = np.random.default_rng(0)
  gate = rng.normal(size=(3, 5)).astype(np.float32) * 3
  up = rng.normal(size=(3, 5)).astype(np.float32)
  weight = rng.normal(size=(3, 5)).astype(np.float32)
  sig = 1 / (1 + np.exp(-gate))
  np.testing.assert_allclose(tfm.swiglu_activation(gate, up), gate * sig * up, rtol=1e-5)
  d_gate, d_up = tfm.swiglu_activation_grads(gate, up, weight)
  # d/dg [g s(g)] = s + g s (1 - s)
  np.testing.assert_allclose(d_gate, weight * up * (sig + gate * sig * (1 - sig)), rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(d_up, weight * gate * sig, rtol=1e-5, atol=1e-6)
  autodiff = jax.grad(lambda g, u: jnp.sum(weight * jax.nn.silu(g) * u), argnums=(0, 1))(gate, up)
  chex.assert_trees_all_close((d_gate, d_up), autodiff, atol=1e-6)


def test_softmax_values_matches_numpy_and_the_softmax_form_in_gradient():
  rng = np.random.default_rng(0)
  b, k, g, t, s, e = 2, 2, 3, 4, 5, 6
  scores = (rng.normal(size=(b, k, g, t, s)) * 4).astype(np.float32)
  scores[0, 1, 2, 3] = np.finfo(np.float32).min  # a query with every key masked
  scores[1, 0, 0, 1, 2:] = np.finfo(np.float32).min
  values = rng.normal(size=(b, s, k, e)).astype(np.float32)
  z = scores - scores.max(-1, keepdims=True)
  probs = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
  expected = np.einsum("bkgts,bske->btkge", probs, values)
  out = tfm._softmax_values(jnp.asarray(scores), jnp.asarray(values))
  np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out[0, 3, 1, 2], values[0, :, 1].mean(0), rtol=1e-5)  # uniform

  weight = rng.normal(size=expected.shape).astype(np.float32)
  softmax_form = lambda z, v: jnp.einsum("bkgts,bske->btkge", jax.nn.softmax(z, axis=-1), v)
  grads = jax.grad(lambda z, v: jnp.sum(weight * tfm._softmax_values(z, v)), (0, 1))(
      scores, values)
  reference = jax.grad(lambda z, v: jnp.sum(weight * softmax_form(z, v)), (0, 1))(scores, values)
  chex.assert_trees_all_close(grads, reference, atol=1e-5)
  assert np.all(np.isfinite(grads[0]))


def test_swiglu_mlp_matches_numpy_in_value_and_autodiff_in_gradient():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(2, 3, 4)).astype(np.float32)  # [B, T, D]
  w_gate, w_up = (rng.normal(size=(4, 6)).astype(np.float32) for _ in range(2))
  w_down = rng.normal(size=(6, 4)).astype(np.float32)
  weight = rng.normal(size=(2, 3, 4)).astype(np.float32)
  gate, up = x @ w_gate, x @ w_up
  expected = (gate / (1 + np.exp(-gate)) * up) @ w_down
  np.testing.assert_allclose(tfm.swiglu_mlp(x, w_gate, w_up, w_down), expected, rtol=1e-5, atol=1e-5)

  def plain(x, wg, wu, wd):
    return jnp.sum(weight * ((jax.nn.silu(x @ wg) * (x @ wu)) @ wd))

  fused = lambda x, wg, wu, wd: jnp.sum(weight * tfm.swiglu_mlp(x, wg, wu, wd))
  args = (x, w_gate, w_up, w_down)
  chex.assert_trees_all_close(jax.grad(fused, argnums=(0, 1, 2, 3))(*args),
                              jax.grad(plain, argnums=(0, 1, 2, 3))(*args), rtol=1e-5, atol=1e-5)


def test_swiglu_module_keeps_the_dense_parameter_layout():
  """Same paths, shapes, partitioning and initial values as three bias-free nn.Dense layers."""
  cfg = tfm.TransformerConfig(**{**presets.get_preset("test"), "dtype": "float32"})
  x = jnp.ones((1, 2, cfg.d_model))

  class DenseSwiGLU(nn.Module):
    @nn.compact
    def __call__(self, x):
      dense = lambda n, axes, name: tfm._dense(n, axes, cfg, name)
      gate = dense(cfg.mlp_hidden, (tfm.EMBED, tfm.MLP), "gate_proj")(x)
      up = dense(cfg.mlp_hidden, (tfm.EMBED, tfm.MLP), "up_proj")(x)
      return dense(cfg.d_model, (tfm.MLP, tfm.EMBED), "down_proj")(jax.nn.silu(gate) * up)

  key = jax.random.key(3)
  ours = tfm.SwiGLU(cfg).init(key, x)
  reference = DenseSwiGLU().init(key, x)
  chex.assert_trees_all_equal_structs(ours, reference)
  chex.assert_trees_all_equal(nn.unbox(ours), nn.unbox(reference))
  chex.assert_trees_all_equal(
      jax.tree.map(lambda p: p.names, ours, is_leaf=lambda p: isinstance(p, nn.Partitioned)),
      jax.tree.map(lambda p: p.names, reference, is_leaf=lambda p: isinstance(p, nn.Partitioned)))
  chex.assert_trees_all_close(tfm.SwiGLU(cfg).apply(ours, x), DenseSwiGLU().apply(reference, x),
                              rtol=1e-5, atol=1e-6)
