"""Policy losses, aggregations, the k3 KL and rl_loss against NumPy loops; gradients; jit; errors."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from afjax.rl import losses

EPS_LOW, EPS_HIGH = 0.2, 0.28


# NumPy references: plain loops over sequences and tokens.


def np_ppo_clip(logp, old_logp, advantages, eps_low, eps_high):
  batch, length = logp.shape
  loss, clipped = np.zeros((batch, length)), np.zeros((batch, length))
  for b in range(batch):
    a = advantages[b]
    for t in range(length):
      rho = np.exp(logp[b, t] - old_logp[b, t])
      unclipped, clipped_term = rho * a, min(max(rho, 1 - eps_low), 1 + eps_high) * a
      loss[b, t] = -min(unclipped, clipped_term)
      clipped[b, t] = float(clipped_term < unclipped)
  return loss, clipped


def np_reinforce(logp, old_logp, advantages, eps_low, eps_high):
  batch, length = logp.shape
  loss = np.zeros((batch, length))
  for b in range(batch):
    for t in range(length):
      loss[b, t] = -advantages[b] * logp[b, t]
  return loss, np.zeros((batch, length))


def np_token_mean(x, mask):
  total = count = 0.0
  for b in range(x.shape[0]):
    for t in range(x.shape[1]):
      if mask[b, t]:
        total, count = total + x[b, t], count + 1
  return total / max(count, 1)


def np_sequence_mean(x, mask):
  means = []
  for b in range(x.shape[0]):
    valid = [x[b, t] for t in range(x.shape[1]) if mask[b, t]]
    if valid:
      means.append(sum(valid) / len(valid))
  return sum(means) / len(means) if means else 0.0


def np_token_sum_norm(x, mask):
  total = sum(x[b, t] for b in range(x.shape[0]) for t in range(x.shape[1]) if mask[b, t])
  return total / (x.shape[0] * x.shape[1])


def np_k3(logp, ref_logp):
  out = np.zeros(logp.shape)
  for index in np.ndindex(logp.shape):
    d = min(max(float(ref_logp[index]) - float(logp[index]), -20.0), 20.0)
    out[index] = min(np.exp(d) - d - 1, 10.0)
  return out


NP_LOSSES = {"ppo_clip": np_ppo_clip, "reinforce": np_reinforce}
NP_AGGREGATIONS = {"token_mean": np_token_mean, "sequence_mean": np_sequence_mean,
                   "token_sum_norm": np_token_sum_norm}


def make_batch(seed, batch, length, *, empty_row=True):
  """Random log-probs with ratios on both sides of the clip range, a ragged mask."""
  rng = np.random.default_rng(seed)
  logp = np.log(rng.uniform(0.05, 1.0, (batch, length))).astype(np.float32)
  old_logp = (logp + rng.normal(0, 0.4, (batch, length))).astype(np.float32)
  ref_logp = (logp + rng.normal(0, 0.3, (batch, length))).astype(np.float32)
  advantages = rng.normal(size=batch).astype(np.float32)
  lengths = rng.integers(1, length + 1, batch)
  mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.float32)
  if empty_row and batch > 1:
    mask[1] = 0.0
  return logp, old_logp, ref_logp, advantages, mask


def np_rl_loss(logp, old_logp, ref_logp, advantages, mask, loss_name, aggregation, kl_coef):
  per_token, clipped = NP_LOSSES[loss_name](logp, old_logp, advantages, EPS_LOW, EPS_HIGH)
  aggregate = NP_AGGREGATIONS[aggregation]
  kl = np_k3(logp, ref_logp)
  loss = aggregate(per_token + kl_coef * kl, mask)
  metrics = {
      "pg_loss": aggregate(per_token, mask),
      "kl_ref": np_token_mean(kl, mask) if kl_coef else 0.0,
      "clip_fraction": np_token_mean(clipped, mask),
      "ratio_mean": np_token_mean(np.exp(logp.astype(np.float64) - old_logp), mask),
      "approx_kl_old": np_token_mean(np_k3(logp, old_logp), mask),
      "tokens": mask.sum(),
  }
  return loss, metrics


def test_registered_names():
  assert losses.policy_loss_names() == sorted(NP_LOSSES) == ["ppo_clip", "reinforce"]
  assert losses.aggregation_names() == sorted(NP_AGGREGATIONS)


@pytest.mark.parametrize("name", sorted(NP_LOSSES))
@pytest.mark.parametrize("shape", [(2, 1), (4, 7), (8, 16)])
def test_policy_loss_matches_numpy(name, shape):
  logp, old_logp, _, advantages, _ = make_batch(sum(shape), *shape)
  fn = functools.partial(losses.get_policy_loss(name), clip_eps_low=EPS_LOW, clip_eps_high=EPS_HIGH)
  per_token, stats = fn(logp, old_logp, advantages)
  want_loss, want_clipped = NP_LOSSES[name](logp, old_logp, advantages, EPS_LOW, EPS_HIGH)
  chex.assert_shape(per_token, shape)
  np.testing.assert_allclose(per_token, want_loss, rtol=1e-5, atol=1e-6)
  if name == "ppo_clip":
    np.testing.assert_array_equal(stats["clip_fraction"], want_clipped)
    by_sign = stats["clip_fraction_low"] + stats["clip_fraction_high"]
    np.testing.assert_array_equal(by_sign, want_clipped)
    assert 0 < want_clipped.sum() < want_clipped.size or shape == (2, 1)
  jit_loss, jit_stats = jax.jit(fn)(logp, old_logp, advantages)
  np.testing.assert_allclose(jit_loss, per_token, rtol=1e-6, atol=1e-6)
  chex.assert_trees_all_close(jit_stats, stats)


@pytest.mark.parametrize("name", sorted(NP_AGGREGATIONS))
@pytest.mark.parametrize("shape", [(2, 1), (4, 7), (8, 16)])
def test_aggregation_matches_numpy(name, shape):
  x, _, _, _, mask = make_batch(sum(shape) + 1, *shape)
  fn = losses.get_aggregation(name)
  got = fn(x, mask)
  chex.assert_shape(got, ())
  np.testing.assert_allclose(got, NP_AGGREGATIONS[name](x, mask), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(jax.jit(fn)(x, mask.astype(bool)), got, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(NP_AGGREGATIONS))
def test_aggregation_of_a_fully_masked_batch_is_zero(name):
  assert losses.get_aggregation(name)(jnp.ones((3, 4)), jnp.zeros((3, 4))) == 0.0


def test_sequence_mean_ignores_fully_masked_sequences():
  x = jnp.asarray([[1.0, 3.0], [100.0, 100.0], [5.0, 0.0]])
  mask = jnp.asarray([[1, 1], [0, 0], [1, 0]], jnp.float32)
  np.testing.assert_allclose(losses.sequence_mean(x, mask), (2.0 + 5.0) / 2)
  np.testing.assert_allclose(losses.token_mean(x, mask), (1.0 + 3.0 + 5.0) / 3)
  np.testing.assert_allclose(losses.token_sum_norm(x, mask), 9.0 / 6)


def test_kl_penalty_matches_numpy_and_is_zero_at_equality():
  logp, _, ref_logp, _, _ = make_batch(3, 4, 9)
  got = losses.kl_penalty(logp, ref_logp)
  np.testing.assert_allclose(got, np_k3(logp, ref_logp), rtol=1e-5, atol=1e-7)
  assert np.all(np.asarray(got) >= 0)
  np.testing.assert_array_equal(losses.kl_penalty(logp, logp), 0.0)
  np.testing.assert_allclose(jax.jit(losses.kl_penalty)(logp, ref_logp), got, rtol=1e-6)


def test_kl_penalty_is_bounded_where_the_policy_left_the_reference():
  # d = ref - logp = 40, 3, -40: all past the per-token bound (kl(3) = 16.1, kl(-40) = 39).
  logp = jnp.array([[-41.0, -4.0, -1.0, -0.5]])
  ref_logp = jnp.array([[-1.0, -1.0, -41.0, -0.4]])
  got = losses.kl_penalty(logp, ref_logp)
  np.testing.assert_allclose(got, np_k3(logp, ref_logp), rtol=1e-5)
  np.testing.assert_allclose(got[0, :3], 10.0, rtol=1e-6)
  grad = jax.grad(lambda lp: losses.kl_penalty(lp, ref_logp).sum())(logp)
  assert np.all(np.isfinite(grad))
  np.testing.assert_array_equal(grad[0, :3], 0.0)  # bounded tokens pass no gradient
  assert grad[0, 3] != 0


@pytest.mark.parametrize("loss_name", sorted(NP_LOSSES))
@pytest.mark.parametrize("aggregation", sorted(NP_AGGREGATIONS))
@pytest.mark.parametrize("kl_coef,shape", [(0.0, (4, 7)), (0.05, (8, 16))])
def test_rl_loss_matches_numpy(loss_name, aggregation, kl_coef, shape):
  logp, old_logp, ref_logp, advantages, mask = make_batch(shape[0] * 10 + shape[1], *shape)
  fn = functools.partial(losses.rl_loss, loss_name=loss_name, aggregation=aggregation,
                         clip_eps_low=EPS_LOW, clip_eps_high=EPS_HIGH, kl_coef=kl_coef)
  loss, metrics = jax.jit(fn)(logp, old_logp, ref_logp, advantages, mask)
  want_loss, want_metrics = np_rl_loss(logp, old_logp, ref_logp, advantages, mask, loss_name,
                                       aggregation, kl_coef)
  np.testing.assert_allclose(loss, want_loss, rtol=1e-5, atol=1e-6)
  for key, want in want_metrics.items():
    np.testing.assert_allclose(metrics[key], want, rtol=1e-5, atol=1e-6, err_msg=key)
  assert set(metrics) == {"pg_loss", "kl_ref", "clip_fraction", "clip_fraction_low",
                          "clip_fraction_high", "ratio_mean", "approx_kl_old", "tokens"}


def test_rl_loss_under_jit_equals_eager():
  batch = make_batch(16, 8, 16)
  fn = functools.partial(losses.rl_loss, aggregation="sequence_mean", kl_coef=0.05)
  chex.assert_trees_all_close(jax.jit(fn)(*batch), fn(*batch), rtol=1e-6, atol=1e-7)


def test_kl_coef_zero_never_touches_the_reference():
  logp, old_logp, ref_logp, advantages, mask = make_batch(5, 4, 6)
  with_ref = losses.rl_loss(logp, old_logp, ref_logp, advantages, mask, kl_coef=0.0)
  without_ref = losses.rl_loss(logp, old_logp, None, advantages, mask, kl_coef=0.0)
  nan = np.full_like(ref_logp, np.nan)
  nan_ref = losses.rl_loss(logp, old_logp, nan, advantages, mask, kl_coef=0)
  chex.assert_trees_all_equal(with_ref, without_ref, nan_ref)
  assert without_ref[1]["kl_ref"] == 0.0
  jitted = jax.jit(functools.partial(losses.rl_loss, ref_logp=None, kl_coef=0.0))
  chex.assert_trees_all_close(jitted(logp, old_logp, advantages=advantages, mask=mask), without_ref)
  # The compiled program does not read the reference at all.
  jaxpr = jax.make_jaxpr(functools.partial(losses.rl_loss, kl_coef=0.0))(
      logp, old_logp, ref_logp, advantages, mask)
  ref_var = jaxpr.jaxpr.invars[2]
  assert all(ref_var not in eqn.invars for eqn in jaxpr.jaxpr.eqns)


def test_kl_coef_adds_kl_times_coef():
  logp, old_logp, ref_logp, advantages, mask = make_batch(6, 4, 6)
  base, _ = losses.rl_loss(logp, old_logp, None, advantages, mask)
  with_kl, metrics = losses.rl_loss(logp, old_logp, ref_logp, advantages, mask, kl_coef=0.5)
  np.testing.assert_allclose(with_kl, base + 0.5 * metrics["kl_ref"], rtol=1e-6)
  assert metrics["kl_ref"] > 0


def test_traced_kl_coef_works_under_jit():
  logp, old_logp, ref_logp, advantages, mask = make_batch(7, 4, 6)
  want, _ = losses.rl_loss(logp, old_logp, ref_logp, advantages, mask, kl_coef=0.1)
  def loss_at(kl_coef):
    return losses.rl_loss(logp, old_logp, ref_logp, advantages, mask, kl_coef=kl_coef)

  got, _ = jax.jit(loss_at)(0.1)
  np.testing.assert_allclose(got, want, rtol=1e-6)


def grad_wrt_logp(logp, old_logp, ref_logp, advantages, mask, **kwargs):
  """d loss / d logp, jitted (one compile instead of many eager ops)."""
  def loss(lp, old, ref, adv, m):
    return losses.rl_loss(lp, old, ref, adv, m, **kwargs)[0]

  return np.asarray(jax.jit(jax.grad(loss))(logp, old_logp, ref_logp, advantages, mask))


def test_ppo_clip_gradient_is_zero_exactly_on_clipped_tokens():
  logp, old_logp, _, advantages, mask = make_batch(8, 8, 16)
  grad = grad_wrt_logp(logp, old_logp, None, advantages, mask, clip_eps_low=EPS_LOW,
                       clip_eps_high=EPS_HIGH)
  _, clipped = np_ppo_clip(logp, old_logp, advantages, EPS_LOW, EPS_HIGH)
  ratio = np.exp(logp.astype(np.float64) - old_logp)
  want = np.where(clipped > 0, 0.0, -advantages[:, None] * ratio) * mask / mask.sum()
  assert (clipped * mask).sum() > 5 and ((1 - clipped) * mask).sum() > 5
  np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-7)
  assert np.all(grad[clipped * mask > 0] == 0.0)


def test_ppo_clip_gradient_survives_outside_the_range_when_it_moves_back():
  # A > 0 and rho < 1 - eps_low: the unclipped term is the minimum, gradient -A rho.
  logp, old_logp = jnp.log(jnp.asarray([[0.1, 0.9]])), jnp.log(jnp.asarray([[0.5, 0.5]]))
  grad = grad_wrt_logp(logp, old_logp, None, jnp.ones(1), jnp.ones((1, 2)),
                       aggregation="token_sum_norm")
  np.testing.assert_allclose(grad, [[-0.2 / 2, 0.0]], rtol=1e-5)


def test_reinforce_and_on_policy_ppo_have_the_same_gradient():
  logp, _, _, advantages, mask = make_batch(9, 4, 8)
  reinforce = grad_wrt_logp(logp, None, None, advantages, mask, loss_name="reinforce")
  ppo = grad_wrt_logp(logp, None, None, advantages, mask, loss_name="ppo_clip")
  np.testing.assert_allclose(reinforce, -advantages[:, None] * mask / mask.sum(), rtol=1e-6)
  np.testing.assert_allclose(ppo, reinforce, rtol=1e-6, atol=1e-8)
  _, metrics = losses.rl_loss(logp, None, None, advantages, mask)
  assert metrics["ratio_mean"] == 1.0 and metrics["clip_fraction"] == 0.0
  assert metrics["approx_kl_old"] == 0.0


def test_kl_gradient_pulls_toward_the_reference():
  logp, old_logp, ref_logp, advantages, mask = make_batch(10, 4, 8)
  zero_adv = np.zeros_like(advantages)
  grad = grad_wrt_logp(logp, old_logp, ref_logp, zero_adv, mask, kl_coef=2.0)
  want = 2.0 * (1 - np.exp(ref_logp.astype(np.float64) - logp)) * mask / mask.sum()
  np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("aggregation", sorted(NP_AGGREGATIONS))
def test_masked_padding_yields_finite_values_and_zero_gradient(aggregation):
  logp, old_logp, ref_logp, advantages, mask = make_batch(11, 4, 8)
  padding = mask == 0
  logp, old_logp, ref_logp = (np.where(padding, fill, x) for x, fill in
                              ((logp, -np.inf), (old_logp, np.nan), (ref_logp, 50.0)))
  loss, metrics = losses.rl_loss(logp, old_logp, ref_logp, advantages, mask, aggregation=aggregation,
                                 kl_coef=0.1)
  chex.assert_tree_all_finite((loss, metrics))
  grad = grad_wrt_logp(logp, old_logp, ref_logp, advantages, mask, aggregation=aggregation,
                       kl_coef=0.1)
  assert np.all(np.isfinite(grad))
  assert np.all(grad[padding] == 0.0)


def test_fully_masked_batch_gives_zero_loss_and_gradient():
  logp, old_logp, ref_logp, advantages, _ = make_batch(12, 2, 3)
  mask = np.zeros_like(logp)
  loss, metrics = losses.rl_loss(logp, old_logp, ref_logp, advantages, mask, kl_coef=0.1)
  assert loss == 0.0 and metrics["tokens"] == 0.0
  chex.assert_tree_all_finite(metrics)
  np.testing.assert_array_equal(grad_wrt_logp(logp, old_logp, ref_logp, advantages, mask), 0.0)


def test_bool_mask_equals_float_mask():
  batch = make_batch(13, 4, 5)
  mask = batch[-1]
  chex.assert_trees_all_close(losses.rl_loss(*batch[:-1], mask.astype(bool), kl_coef=0.1),
                              losses.rl_loss(*batch, kl_coef=0.1))


@pytest.mark.parametrize("kwargs,message", [
    ({"loss_name": "grpo"}, r"policy loss 'grpo' is not registered; allowed: \['ppo_clip', 'reinforce'\]"),
    ({"aggregation": "mean"}, (r"loss aggregation 'mean' is not registered; allowed: "
                               r"\['sequence_mean', 'token_mean', 'token_sum_norm'\]")),
    ({"kl_coef": -0.1}, r"kl_coef=-0.1; allowed: a number >= 0"),
    ({"kl_coef": 0.1}, r"kl_coef=0.1 needs ref_logp \[B, T\]"),
    ({"clip_eps_low": 1.0}, r"clip_eps_low=1.0; allowed: 0 <= clip_eps_low < 1"),
    ({"clip_eps_high": -0.2}, r"clip_eps_high=-0.2; allowed: a number >= 0"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
  logp, old_logp, _, advantages, mask = make_batch(14, 2, 3)
  with pytest.raises(ValueError, match=message):
    losses.rl_loss(logp, old_logp, None, advantages, mask, **kwargs)


@pytest.mark.parametrize("argument,index,bad", [
    ("logp", 0, np.zeros(6)), ("old_logp", 1, np.zeros((2, 4))), ("ref_logp", 2, np.zeros((3, 3))),
    ("advantages", 3, np.zeros((2, 1))), ("mask", 4, np.zeros((2, 2))),
])
def test_shape_mismatch_names_the_argument(argument, index, bad):
  args = list(make_batch(15, 2, 3))
  args[index] = bad
  with pytest.raises(ValueError, match=f"^{argument} must have"):
    losses.rl_loss(*args, kl_coef=0.1)


def test_registries_refuse_taken_names():
  with pytest.raises(ValueError, match="policy loss 'ppo_clip' is already registered"):
    losses.register_policy_loss("ppo_clip")(np_ppo_clip)
  with pytest.raises(ValueError, match="loss aggregation 'token_mean' is already registered"):
    losses.register_aggregation("token_mean")(np_token_mean)
