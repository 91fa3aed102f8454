"""KV-cache sampler: cache/forward agreement, determinism, stop tokens, filtering, buckets."""

import math
import re

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from afjax.models import presets, transformer as tfm
from afjax.sampling import sampler as smp

# Cached decoding vs a full forward pass over the same sequence, float32:
# measured differences are ~1e-6; we allow 1e-4 absolute on log-probabilities.
# The parameters are perturbed (PERTURBATION) so that attention is far from
# uniform: at the initialisation's near-uniform attention, a decode position
# off by one or a wrong query-to-KV-head grouping changed log-probs by only
# 1e-5..4e-5 and passed; perturbed, by ~1 and more.
LOGPROB_ATOL = 1e-4
PERTURBATION = 0.3
PROMPTS = [[5, 6, 7], [8, 9, 10, 11, 12], [13], [14, 15, 16, 17, 18, 19, 20, 21]]


def perturbed(params, seed):
  """params + PERTURBATION * N(0, 1), an independent draw for every leaf."""
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(treedef, [leaf + PERTURBATION * jax.random.normal(key, leaf.shape)
                                      for leaf, key in zip(leaves, keys)])


@pytest.fixture(scope="module")
def model_and_params():
  cfg = tfm.TransformerConfig(**presets.get_preset("test"))
  model = tfm.Transformer(cfg)
  x = jnp.zeros((1, 4), jnp.int32)
  params = nn.meta.unbox(model.init(jax.random.key(0), x, x, x > -1)["params"])
  return cfg, model, perturbed(params, 7)


@pytest.fixture(scope="module")
def prompts():
  tokens, mask = smp.left_pad(PROMPTS, 16)
  return jnp.asarray(tokens), jnp.asarray(mask)


@pytest.fixture(scope="module")
def samplers(model_and_params):
  cfg = model_and_params[0]
  return {
      "greedy": smp.Sampler(cfg, smp.SamplingConfig(temperature=0.0)),
      "t1": smp.Sampler(cfg, smp.SamplingConfig(temperature=1.0)),
  }


def full_forward_logprobs(model, params, prompt_tokens, prompt_mask, out):
  tokens = jnp.concatenate([prompt_tokens, out.tokens], axis=1)
  mask = jnp.concatenate([prompt_mask, out.mask > 0], axis=1)
  logits, _ = model.apply({"params": params}, tokens, tfm.positions_from_mask(mask), mask)
  p = prompt_tokens.shape[1]
  logprobs = jax.nn.log_softmax(logits[:, p - 1:-1])  # predictions of the generated tokens
  return jnp.take_along_axis(logprobs, out.tokens[..., None], -1)[..., 0] * out.mask


@pytest.mark.parametrize("kind", ["greedy", "t1"])
def test_cached_decoding_matches_full_forward(model_and_params, prompts, samplers, kind):
  cfg, model, params = model_and_params
  out = samplers[kind].generate(params, *prompts, 12, jax.random.key(3))
  reference = full_forward_logprobs(model, params, *prompts, out)
  np.testing.assert_allclose(out.logprobs, reference, atol=LOGPROB_ATOL)
  chex.assert_shape([out.tokens, out.logprobs, out.mask], (len(PROMPTS), 12))


@pytest.mark.parametrize("overrides", [dict(qkv_bias=True, tie_embeddings=True),
                                       dict(num_kv_heads=1, rope_theta=500.0),
                                       dict(rope_theta=500.0, rope_scaling_factor=4.0,
                                            rope_original_max_len=64)],
                         ids=["bias_tied", "mqa", "llama3_rope"])
def test_decode_step_matches_full_forward_for_model_variants(prompts, overrides):
  """The sampler's own decode step follows the model's options (biases, tied head, GQA/MQA,
  RoPE scaling: wavelengths 6, 30, 140, 660 kept, blended, scaled, scaled)."""
  cfg = tfm.TransformerConfig(**{**presets.get_preset("test"), **overrides})
  model = tfm.Transformer(cfg)
  x = jnp.zeros((1, 4), jnp.int32)
  params = nn.meta.unbox(model.init(jax.random.key(1), x, x, x > -1)["params"])
  params = perturbed(params, 2)
  out = smp.Sampler(cfg, smp.SamplingConfig(temperature=1.0)).generate(
      params, *prompts, 12, jax.random.key(4))
  reference = full_forward_logprobs(model, params, *prompts, out)
  np.testing.assert_allclose(out.logprobs, reference, atol=LOGPROB_ATOL)


def test_greedy_is_deterministic_and_argmax(model_and_params, prompts, samplers):
  cfg, model, params = model_and_params
  a = samplers["greedy"].generate(params, *prompts, 12, jax.random.key(1))
  b = samplers["greedy"].generate(params, *prompts, 12, jax.random.key(2))
  np.testing.assert_array_equal(a.tokens, b.tokens)
  # Each greedy token is the argmax of the full-forward distribution.
  tokens = jnp.concatenate([prompts[0], a.tokens], axis=1)
  mask = jnp.concatenate([prompts[1], a.mask > 0], axis=1)
  logits, _ = model.apply({"params": params}, tokens, tfm.positions_from_mask(mask), mask)
  np.testing.assert_array_equal(jnp.argmax(logits[:, 15:-1], -1), a.tokens)


def test_sampling_reproducible_from_key(model_and_params, prompts, samplers):
  params = model_and_params[2]
  a = samplers["t1"].generate(params, *prompts, 12, jax.random.key(5))
  b = samplers["t1"].generate(params, *prompts, 12, jax.random.key(5))
  c = samplers["t1"].generate(params, *prompts, 12, jax.random.key(6))
  np.testing.assert_array_equal(a.tokens, b.tokens)
  assert not np.array_equal(a.tokens, c.tokens)


def test_stop_tokens_end_sequences_and_masks_say_so(model_and_params, prompts, samplers):
  cfg, model, params = model_and_params
  free = samplers["greedy"].generate(params, *prompts, 12, jax.random.key(0))
  stop_token = int(free.tokens[0, 3])  # row 0 reaches it at step <= 3
  sampler = smp.Sampler(cfg, smp.SamplingConfig(temperature=0.0, stop_tokens=(stop_token,), pad_id=0))
  out = sampler.generate(params, *prompts, 12, jax.random.key(0))
  tokens, mask = np.asarray(out.tokens), np.asarray(out.mask)
  for row in range(len(PROMPTS)):
    hits = np.flatnonzero(tokens[row] == stop_token)
    length = hits[0] + 1 if hits.size else 12
    assert mask[row].tolist() == [1.0] * length + [0.0] * (12 - length)
    assert (tokens[row, length:] == 0).all()
    np.testing.assert_array_equal(tokens[row, :length], np.asarray(free.tokens)[row, :length])
  assert out.lengths[0] <= 4
  np.testing.assert_array_equal(out.lengths, mask.sum(-1))
  assert (np.asarray(out.logprobs)[mask == 0] == 0).all()


def test_same_bucket_does_not_recompile(model_and_params):
  cfg, _, params = model_and_params
  sampler = smp.Sampler(cfg, smp.SamplingConfig(temperature=1.0))
  for n in (1, 7, 16):
    tokens, mask = smp.left_pad([[3] * n, [4] * 2], 16)
    sampler.generate(params, jnp.asarray(tokens), jnp.asarray(mask), 9 + n % 5, jax.random.key(n))
  assert sampler.decode._cache_size() == 1
  assert sampler.prefill._cache_size() == 1


def test_top_k_keeps_k_tokens():
  logits = jnp.log(jnp.array([[0.1, 0.4, 0.2, 0.3]]))
  filtered = smp.filter_logits(logits, smp.SamplingConfig(top_k=2))
  np.testing.assert_array_equal(np.isfinite(filtered) & (filtered > -1e30), [[False, True, False, True]])
  draws = jax.vmap(lambda k: smp.choose_tokens(logits, k, smp.SamplingConfig(top_k=2)))(
      jax.random.split(jax.random.key(0), 200))
  assert set(np.unique(draws)) <= {1, 3}


def test_top_p_keeps_smallest_nucleus():
  logits = jnp.log(jnp.array([[0.1, 0.4, 0.2, 0.3]]))
  kept = smp.filter_logits(logits, smp.SamplingConfig(top_p=0.6)) > -1e30
  np.testing.assert_array_equal(kept, [[False, True, False, True]])  # 0.4 + 0.3 >= 0.6
  kept = smp.filter_logits(logits, smp.SamplingConfig(top_p=0.3)) > -1e30
  np.testing.assert_array_equal(kept, [[False, True, False, False]])


def test_buckets_and_padding_errors():
  assert smp.bucket_length(17) == 32
  with pytest.raises(ValueError, match="largest bucket"):
    smp.bucket_length(5000)
  with pytest.raises(ValueError, match="more than the bucket"):
    smp.left_pad([[1] * 20], 16)
  with pytest.raises(ValueError, match="top_p"):
    smp.SamplingConfig(top_p=0.0)
  with pytest.raises(ValueError, match=r"epsilon=1.0; allowed: \[0, 1\)"):
    smp.SamplingConfig(epsilon=1.0)


def test_shared_sampler_is_one_instance_per_configuration():
  cfg = tfm.TransformerConfig(**presets.get_preset("test"))
  a = smp.shared_sampler(cfg, smp.SamplingConfig(temperature=1.0))
  b = smp.shared_sampler(cfg, smp.SamplingConfig(temperature=1.0))
  c = smp.shared_sampler(cfg, smp.SamplingConfig(temperature=0.5))
  assert a is b and a is not c


def filter_reference(logits, temperature, top_k, top_p, epsilon=0.0):
  """NumPy: the kept set of softmax(logits / T) under epsilon, top-k, then nucleus (-inf
  elsewhere)."""
  z = np.asarray(logits, np.float64) / temperature
  out = np.full_like(z, -np.inf)
  for row, values in enumerate(z):
    probs = np.exp(values - values.max())
    probs /= probs.sum()
    keep = (probs >= epsilon) | (values == values.max())
    if top_k:
      keep &= values >= np.sort(values)[::-1][top_k - 1]
    if top_p < 1.0:
      order = np.argsort(-np.where(keep, values, -np.inf), kind="stable")
      probs = np.exp(values[order] - values[order].max()) * keep[order]
      probs /= probs.sum()
      before = np.cumsum(probs) - probs
      nucleus = np.zeros(values.shape, bool)
      nucleus[order[before < top_p]] = True
      keep &= nucleus
    out[row, keep] = values[keep]
  return out


@pytest.mark.parametrize("temperature, top_k, top_p, epsilon", [
    (0.5, 0, 1.0, 0.0), (2.0, 0, 1.0, 0.0), (0.7, 5, 1.0, 0.0), (0.7, 0, 0.8, 0.0),
    (1.3, 7, 0.6, 0.0), (1.0, 0, 1.0, 0.01), (0.8, 0, 0.9, 0.003), (1.0, 0, 1.0, 0.9)])
def test_filter_logits_matches_a_numpy_reference(temperature, top_k, top_p, epsilon):
  logits = np.asarray(jax.random.normal(jax.random.key(0), (8, 40)) * 2, np.float32)
  got = np.asarray(smp.filter_logits(jnp.asarray(logits),
                                     smp.SamplingConfig(temperature=temperature, top_k=top_k,
                                                        top_p=top_p, epsilon=epsilon)))
  expected = filter_reference(logits, temperature, top_k, top_p, epsilon)
  kept = np.isfinite(expected)
  np.testing.assert_array_equal(got > np.finfo(np.float32).min, kept)
  np.testing.assert_allclose(got[kept], expected[kept], rtol=1e-6)


def test_prefill_computes_only_the_last_positions_logits():
  cfg = tfm.TransformerConfig(**{**presets.get_preset("test"), "vocab_size": 16384,
                                 "max_seq_len": 256})
  model = tfm.Transformer(cfg)
  x = jnp.zeros((1, 4), jnp.int32)
  params = nn.meta.unbox(model.init(jax.random.key(0), x, x, x > -1)["params"])
  tokens, mask = jnp.zeros((8, 128), jnp.int32), jnp.ones((8, 128), bool)
  sampler = smp.Sampler(cfg, smp.SamplingConfig())
  compiled = sampler.prefill.lower(params, tokens, mask, cache_length=192).compile()
  full_logits = 8 * 128 * 16384  # [B, P, V]: 64 MiB of float32 (67 MB of temporaries before)
  shapes = re.findall(r"\w+\[([\d,]+)\]", compiled.as_text())
  assert max(math.prod(int(d) for d in dims.split(",")) for dims in shapes) < full_logits // 8
  assert compiled.memory_analysis().temp_size_in_bytes < full_logits * 4 // 4
  _, _, _, last = sampler.prefill(params, tokens, mask, cache_length=192)
  logits, _ = model.apply({"params": params}, tokens, tfm.positions_from_mask(mask), mask)
  np.testing.assert_allclose(last, logits[:, -1], atol=1e-5)


def test_first_argmax_is_argmax_ties_included():
  rng = np.random.default_rng(0)
  x = rng.integers(0, 4, size=(64, 9)).astype(np.float32)  # many tied maxima
  x[0] = -np.inf
  np.testing.assert_array_equal(smp.first_argmax(jnp.asarray(x)), np.argmax(x, axis=-1))


@pytest.mark.parametrize("cfg", [smp.SamplingConfig(), smp.SamplingConfig(temperature=0.7, top_k=5),
                                 smp.SamplingConfig(top_p=0.8)])
def test_choose_tokens_draws_what_jax_random_categorical_draws(cfg):
  logits = jax.random.normal(jax.random.key(3), (16, 50)) * 3
  for seed in range(4):
    key = jax.random.key(seed)
    expected = jax.random.categorical(key, smp.filter_logits(logits, cfg), axis=-1)
    np.testing.assert_array_equal(smp.choose_tokens(logits, key, cfg), expected)


def test_decode_never_runs_past_its_cache(model_and_params, prompts, samplers):
  """A limit above the compiled step count stops at the count: the loop does not go on
  overwriting the cache's last slot (where updates past the end clamp)."""
  params, sampler = model_and_params[2], samplers["greedy"]
  tokens, mask = prompts

  steps = smp.bucket_length(12)  # the shapes generate(..., 12) compiled in the tests above

  def decode(limit):
    state = sampler.prefill(params, tokens, mask, cache_length=tokens.shape[1] + steps)
    return sampler.decode(params, *state, jax.random.key(0), jnp.int32(limit), num_steps=steps)

  within, past = decode(steps), decode(steps + 40)
  chex.assert_trees_all_equal(past, within)
  np.testing.assert_array_equal(past[0].lengths, steps)
