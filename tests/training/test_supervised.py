"""The next-token loss against a NumPy reference."""

import chex
import jax
import numpy as np
import pytest

from afjax.training import supervised


def numpy_cross_entropy(logits, targets, mask):
  shifted = logits - logits.max(-1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
  nll = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0]
  target_logit = np.take_along_axis(logits, targets[..., None], -1)[..., 0]
  others = np.where(np.arange(logits.shape[-1]) == targets[..., None], -np.inf, logits)
  correct = target_logit > others.max(-1)
  denom = max(mask.sum(), 1.0)
  return (nll * mask).sum() / denom, (correct * mask).sum() / denom, log_probs


@pytest.fixture
def example():
  rng = np.random.default_rng(0)
  logits = (rng.normal(size=(3, 5, 7)) * 4).astype(np.float32)
  targets = rng.integers(0, 7, size=(3, 5)).astype(np.int32)
  targets[0, :3] = logits[0, :3].argmax(-1)  # some positions predicted right
  logits[1, 0] = 0.0  # every logit tied: wrong (no strict winner)
  mask = (rng.random((3, 5)) > 0.3).astype(np.float32)
  mask[1, 0] = 1.0
  return logits, targets, mask


def test_loss_and_accuracy_match_numpy(example):
  logits, targets, mask = example
  loss, aux = jax.jit(supervised.token_cross_entropy)(logits, targets, mask)
  ref_loss, ref_accuracy, _ = numpy_cross_entropy(logits, targets, mask)
  np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
  np.testing.assert_allclose(aux["accuracy"], ref_accuracy, rtol=1e-6)
  assert aux["tokens"] == mask.sum()
  assert 0 < ref_accuracy < 1


def test_gradient_is_softmax_minus_one_hot(example):
  logits, targets, mask = example
  grad = jax.grad(lambda l: supervised.token_cross_entropy(l, targets, mask)[0])(logits)
  _, _, log_probs = numpy_cross_entropy(logits, targets, mask)
  one_hot = np.eye(logits.shape[-1])[targets]
  expected = (np.exp(log_probs) - one_hot) * mask[..., None] / mask.sum()
  chex.assert_trees_all_close(grad, expected.astype(np.float32), atol=1e-6)


def test_empty_mask_gives_zero_not_nan(example):
  logits, targets, _ = example
  loss, aux = supervised.token_cross_entropy(logits, targets, np.zeros(targets.shape, np.float32))
  assert float(loss) == 0.0 and float(aux["accuracy"]) == 0.0


@pytest.fixture(scope="module", params=[(False, "float32"), (True, "bfloat16")],
                ids=["untied_float32", "tied_bfloat16"])
def chunk_model(request):
  """A test-size decoder with a 1024-token vocabulary and a packed batch of 2 x 37 tokens whose
  even positions' targets are the model's own argmax (so accuracy is neither 0 nor 1)."""
  import flax.linen as nn
  from afjax.models import presets, transformer as tfm
  tied, dtype = request.param
  cfg = tfm.TransformerConfig(**{**presets.get_preset("test"), "vocab_size": 1024,
                                 "tie_embeddings": tied, "dtype": dtype})
  model = tfm.Transformer(cfg)
  tokens = np.asarray(jax.random.randint(jax.random.key(1), (2, 37), 0, cfg.vocab_size))
  params = nn.meta.unbox(model.init(jax.random.key(0), tokens, tokens, tokens >= 0)["params"])
  segment_ids = np.ones((2, 37), np.int32)
  segment_ids[0, 20:] = 2
  segment_ids[1, 33:] = 0  # padding
  positions = np.concatenate([np.arange(20), np.arange(17)])[None].repeat(2, 0).astype(np.int32)
  logits, _ = model.apply({"params": params}, tokens, positions, segment_ids > 0,
                          segment_ids=segment_ids)
  targets = np.roll(tokens, -1, axis=1)
  targets[:, ::2] = np.asarray(logits.argmax(-1))[:, ::2]
  batch = {"inputs": tokens, "targets": targets, "segment_ids": segment_ids,
           "positions": positions, "loss_mask": (segment_ids > 0).astype(np.float32)}
  tolerance = 1e-6 if dtype == "float32" else 2e-3  # bfloat16: one rounding per block
  return model, params, batch, tolerance, {}


def compiled_loss_and_grads(chunk_model, chunk):
  """lm_loss's value and gradient at loss_chunk=chunk, compiled once per chunk."""
  model, params, batch, _, cache = chunk_model
  if chunk not in cache:
    fn = jax.value_and_grad(lambda p: supervised.lm_loss(model, p, batch, chunk), has_aux=True)
    cache[chunk] = jax.jit(fn).lower(params).compile()
  return cache[chunk]


@pytest.mark.parametrize("chunk", [8, 64])  # 37 positions: padded to 40, and one block
def test_chunked_loss_and_grads_match_the_whole_projection(chunk_model, chunk):
  params, tolerance = chunk_model[1], chunk_model[3]
  (loss, aux), grads = compiled_loss_and_grads(chunk_model, 0)(params)
  (chunk_loss, chunk_aux), chunk_grads = compiled_loss_and_grads(chunk_model, chunk)(params)
  assert 0.3 < float(aux["accuracy"]) < 0.7
  np.testing.assert_allclose(chunk_loss, loss, rtol=tolerance)
  chex.assert_trees_all_close(chunk_aux, aux, rtol=tolerance)
  chex.assert_trees_all_close(chunk_grads, grads, atol=tolerance, rtol=10 * tolerance)


def test_chunked_loss_never_holds_the_whole_logits(chunk_model):
  """No [B, T, V] (or [B T, V]) float32 array in the compiled gradient, which the whole
  projection has, and temporaries smaller by more than those logits."""
  whole, chunked = (compiled_loss_and_grads(chunk_model, c) for c in (0, 8))
  shapes = ("f32[2,37,1024]", "f32[74,1024]")
  assert any(shape in whole.as_text() for shape in shapes)
  assert not any(shape in chunked.as_text() for shape in shapes)
  temp_bytes = lambda compiled: compiled.memory_analysis().temp_size_in_bytes
  assert temp_bytes(whole) - temp_bytes(chunked) > 2 * 37 * 1024 * 4


def numpy_unlikelihood(logits, legal):
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  mass = np.where(legal, 0.0, probs).sum(-1)
  return -np.log1p(-mass), mass, probs


def test_grammar_unlikelihood_matches_numpy_and_pushes_only_illegal_tokens(example):
  logits, _, _ = example
  legal = np.random.default_rng(1).random(logits.shape) > 0.5
  legal[0, 0] = True  # nothing forbidden: no term
  penalty, mass = jax.jit(supervised.grammar_unlikelihood)(logits, legal)
  ref_penalty, ref_mass, probs = numpy_unlikelihood(logits, legal)
  np.testing.assert_allclose(mass, ref_mass, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(penalty, ref_penalty, rtol=1e-5, atol=1e-7)
  assert float(penalty[0, 0]) == 0.0 and float(mass[0, 0]) == 0.0
  # d(-log(1 - Q)) / d l_v = p_v (v illegal) and -p_v Q / (1 - Q) (v legal)
  grad = jax.grad(lambda l: supervised.grammar_unlikelihood(l, legal)[0].sum())(logits)
  q = ref_mass[..., None]
  expected = np.where(legal, -probs * q / (1 - q), probs)
  # float32: 1 / (1 - Q) amplifies rounding where Q is near 1 (random logits here)
  chex.assert_trees_all_close(grad, expected.astype(np.float32), atol=1e-6, rtol=1e-3)


def test_grammar_log_mass_matches_numpy_and_pushes_only_illegal_tokens(example):
  logits, _, _ = example
  legal = np.random.default_rng(2).random(logits.shape) > 0.5
  legal[0, 0] = True  # nothing forbidden: no term
  floor = 1e-3
  penalty, mass = jax.jit(supervised.grammar_log_mass, static_argnums=2)(logits, legal, floor)
  _, ref_mass, probs = numpy_unlikelihood(logits, legal)
  np.testing.assert_allclose(mass, ref_mass, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(penalty, np.log1p(ref_mass / floor), rtol=1e-5, atol=1e-6)
  assert float(penalty[0, 0]) == 0.0
  # d log(1 + Q / f) / d l_v = (1 - Q) p_v / (Q + f) (v illegal), -Q p_v / (Q + f) (v legal)
  grad = jax.grad(lambda l: supervised.grammar_log_mass(l, legal, floor)[0].sum())(logits)
  q = ref_mass[..., None]
  expected = np.where(legal, -q * probs, (1 - q) * probs) / (q + floor)
  chex.assert_trees_all_close(grad, expected.astype(np.float32), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("penalty", list(supervised.GRAMMAR_PENALTIES))
def test_lm_loss_adds_the_weighted_unlikelihood(chunk_model, penalty):
  model, params, batch, tolerance, _ = chunk_model
  vocab = model.cfg.vocab_size
  legal = np.ones(batch["targets"].shape + (vocab,), bool)
  legal[:, 1::3, : vocab // 2] = False  # every third position forbids half the vocabulary
  legal[np.arange(2)[:, None], np.arange(37)[None], batch["targets"]] = True
  with_mask = {**batch, "legal_mask": legal}
  plain, _ = supervised.lm_loss(model, params, batch)
  unweighted, aux0 = supervised.lm_loss(model, params, with_mask)
  weighted, aux = supervised.lm_loss(model, params, with_mask, 0, 2.5, penalty)
  logits, _ = model.apply({"params": params}, batch["inputs"], batch["positions"],
                          batch["segment_ids"] > 0, segment_ids=batch["segment_ids"])
  terms, mass, _ = numpy_unlikelihood(np.asarray(logits, np.float64), legal)
  if penalty == "log_mass":
    terms = np.log1p(mass / 1e-6)
  m = batch["loss_mask"]
  constrained = m * ~legal.all(-1)
  np.testing.assert_allclose(unweighted, plain, rtol=tolerance)
  np.testing.assert_allclose(aux0["illegal_mass"], (mass * constrained).sum() / constrained.sum(),
                             rtol=10 * tolerance)
  np.testing.assert_allclose(weighted, plain + 2.5 * (terms * m).sum() / m.sum(),
                             rtol=10 * tolerance)
  assert "unlikelihood" in aux and "unlikelihood" not in aux0
  chunked, chunked_aux = supervised.lm_loss(model, params, with_mask, 8, 2.5, penalty)  # blocks of 8
  np.testing.assert_allclose(chunked, weighted, rtol=10 * tolerance)
  chex.assert_trees_all_close(chunked_aux, aux, rtol=10 * tolerance)
  with pytest.raises(ValueError, match="legal_mask"):
    supervised.lm_loss(model, params, batch, 0, 1.0)
