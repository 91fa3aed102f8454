"""The optimizer: which parameters weight decay reaches, and the warmup's first step."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from afjax import config as config_lib
from afjax.models import presets, transformer as tfm
from afjax.training import optim


def model_params(**overrides):
  cfg = tfm.TransformerConfig(**{**presets.get_preset("test"), **overrides})
  tokens = jnp.zeros((1, 8), jnp.int32)
  return tfm.Transformer(cfg).init(jax.random.key(0), tokens, tokens, tokens == 0)["params"]


def decay_only_update(params):
  """One AdamW update with zero gradients and lr 1: -weight_decay * p where decay applies."""
  cfg = ml_collections.ConfigDict(config_lib.optimizer_config(
      learning_rate=1.0, warmup_steps=0, schedule="constant", weight_decay=0.1, grad_clip=0.0))
  tx = optim.make_optimizer(cfg, total_steps=10)
  zeros = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zeros, tx.init(params), params)
  return updates


def test_weight_decay_reaches_matrices_but_not_stacked_norm_scales_or_biases():
  params = nn.meta.unbox(model_params(qkv_bias=True))
  updates = decay_only_update(params)
  flat = {jax.tree_util.keystr(path): (p, u) for (path, p), u in zip(
      jax.tree_util.tree_leaves_with_path(params), jax.tree.leaves(updates))}
  decayed = {name for name, (p, u) in flat.items() if np.any(np.asarray(u) != 0)}
  for name, (p, u) in flat.items():
    if name in decayed:
      np.testing.assert_allclose(u, -0.1 * p, rtol=1e-6)
  assert "['layers']['attn_norm']['scale']" in flat and flat["['layers']['attn_norm']['scale']"][0].ndim == 2
  assert decayed == {name for name in flat if name.endswith("['kernel']") or name.endswith("['embedding']")}
  assert not any("scale" in name or "bias" in name for name in decayed)
  assert any("q_proj']['kernel" in name for name in decayed)


def test_warmup_starts_at_zero():
  cfg = ml_collections.ConfigDict(config_lib.optimizer_config(learning_rate=1e-3, warmup_steps=4))
  schedule = optim.learning_rate_schedule(cfg, total_steps=10)
  assert float(schedule(0)) == 0.0 and float(schedule(4)) == np.float32(1e-3)


def test_mask_of_plain_dicts():
  mask = optim.weight_decay_mask({"head": {"kernel": jnp.ones((2, 1)), "bias": jnp.ones(1)},
                                  "norm": {"scale": jnp.ones((3, 2))}})
  assert mask == {"head": {"kernel": True, "bias": False}, "norm": {"scale": False}}
