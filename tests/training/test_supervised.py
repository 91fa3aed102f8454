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
