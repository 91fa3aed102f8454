"""Advantage estimators against NumPy loops: values, all-equal groups, jit, errors."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from afjax.rl import advantages as adv_lib


def np_grpo(rewards, group_size, eps=adv_lib.GRPO_EPS):
  out = np.zeros(len(rewards))
  for start in range(0, len(rewards), group_size):
    group = np.asarray(rewards[start:start + group_size], np.float64)
    mean = sum(group) / group_size
    std = np.sqrt(sum((r - mean) ** 2 for r in group) / (group_size - 1))
    for i in range(group_size):
      out[start + i] = (group[i] - mean) / (std + eps)
  return out


def np_dr_grpo(rewards, group_size):
  out = np.zeros(len(rewards))
  for start in range(0, len(rewards), group_size):
    group = np.asarray(rewards[start:start + group_size], np.float64)
    for i in range(group_size):
      out[start + i] = group[i] - sum(group) / group_size
  return out


def np_rloo(rewards, group_size):
  out = np.zeros(len(rewards))
  for start in range(0, len(rewards), group_size):
    group = np.asarray(rewards[start:start + group_size], np.float64)
    for i in range(group_size):
      others = [group[j] for j in range(group_size) if j != i]
      out[start + i] = group[i] - sum(others) / len(others)
  return out


REFERENCES = {"grpo": np_grpo, "dr_grpo": np_dr_grpo, "rloo": np_rloo}


def random_rewards(seed, batch, kind):
  rng = np.random.default_rng(seed)
  if kind == "binary":
    return rng.integers(0, 2, batch).astype(np.float32)
  return rng.normal(size=batch).astype(np.float32) * 3.0 + 1.0


def mixed_rewards(seed, group_size, num_groups):
  """Groups alternate between 0/1 rewards and continuous ones."""
  kinds = ["binary", "normal"] * num_groups
  return np.concatenate([random_rewards(seed + g, group_size, kinds[g]) for g in range(num_groups)])


def test_registered_names():
  assert adv_lib.advantage_names() == ["dr_grpo", "grpo", "rloo"]
  assert set(REFERENCES) == set(adv_lib.advantage_names())


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("group_size", [2, 4, 8])
@pytest.mark.parametrize("num_groups", [1, 4])
def test_matches_numpy_reference(name, group_size, num_groups):
  rewards = mixed_rewards(group_size * 100 + num_groups, group_size, num_groups)
  fn = adv_lib.get_advantage(name)
  got = fn(jnp.asarray(rewards), group_size)
  chex.assert_shape(got, rewards.shape)
  chex.assert_type(got, jnp.float32)
  np.testing.assert_allclose(got, REFERENCES[name](rewards, group_size), rtol=1e-5, atol=1e-5)
  jitted = jax.jit(functools.partial(fn, group_size=group_size))(rewards)
  np.testing.assert_allclose(jitted, got, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(REFERENCES))
@pytest.mark.parametrize("group_size", [2, 3, 6, 8])
def test_all_equal_group_gives_exact_zeros(name, group_size):
  # 0.1 and 0.7 are not exact in binary, so a plain mean leaves rounding residue.
  equal_groups = np.concatenate([np.full(group_size, 0.1), np.full(group_size, 0.7)])
  varied = np.arange(group_size, dtype=np.float32)
  rewards = jnp.asarray(np.concatenate([equal_groups, varied]), jnp.float32)
  fn = functools.partial(adv_lib.get_advantage(name), group_size=group_size)
  got = np.asarray(jax.jit(fn)(rewards))
  assert np.all(np.isfinite(got))
  np.testing.assert_array_equal(got[:2 * group_size], 0.0)
  np.testing.assert_allclose(got[2 * group_size:], REFERENCES[name](varied, group_size), rtol=1e-5)


def test_grpo_groups_have_zero_mean_and_unit_sample_std():
  rewards = random_rewards(0, 32, "normal")
  got = np.asarray(adv_lib.grpo(rewards, 8)).reshape(4, 8)
  np.testing.assert_allclose(got.mean(axis=1), 0.0, atol=1e-6)
  np.testing.assert_allclose(got.std(axis=1, ddof=1), 1.0, rtol=1e-4)


def test_rloo_is_rescaled_dr_grpo():
  rewards = random_rewards(1, 24, "binary")
  np.testing.assert_allclose(adv_lib.rloo(rewards, 4), 4 / 3 * adv_lib.dr_grpo(rewards, 4), rtol=1e-6)


def test_groups_are_consecutive_rows():
  rewards = jnp.asarray([1.0, 0.0, 5.0, 5.0])
  np.testing.assert_allclose(adv_lib.dr_grpo(rewards, 2), [0.5, -0.5, 0.0, 0.0])


def test_group_size_that_does_not_divide_batch_names_both_numbers():
  with pytest.raises(ValueError, match=r"group_size=3 does not divide the batch size B=8"):
    adv_lib.grpo(jnp.zeros(8), 3)


@pytest.mark.parametrize("name,group_size", [("grpo", 1), ("rloo", 1), ("dr_grpo", 0), ("grpo", -2)])
def test_too_small_group_size(name, group_size):
  with pytest.raises(ValueError, match=f"group_size={group_size}; allowed: an int >="):
    adv_lib.get_advantage(name)(jnp.zeros(4), group_size)


def test_dr_grpo_accepts_group_size_one():
  np.testing.assert_array_equal(adv_lib.dr_grpo(jnp.arange(3.0), 1), 0.0)


@pytest.mark.parametrize("group_size", [2.0, np.float32(2), True, jnp.asarray(2)])
def test_group_size_must_be_a_static_int(group_size):
  with pytest.raises(ValueError, match="group_size must be a static int"):
    adv_lib.grpo(jnp.zeros(4), group_size)


def test_numpy_int_group_size_is_accepted():
  rewards = jnp.arange(4.0)
  np.testing.assert_allclose(adv_lib.grpo(rewards, np.int64(2)), adv_lib.grpo(rewards, 2))


def test_rewards_must_be_one_dimensional():
  with pytest.raises(ValueError, match=r"rewards must have shape \[B\]; got shape \(2, 4\)"):
    adv_lib.rloo(jnp.zeros((2, 4)), 2)


def test_unknown_name_lists_registered_names():
  with pytest.raises(ValueError,
                     match=r"'ppo' is not registered; allowed: \['dr_grpo', 'grpo', 'rloo'\]"):
    adv_lib.get_advantage("ppo")


def test_register_refuses_a_taken_name_and_adds_a_new_one(monkeypatch):
  monkeypatch.setattr(adv_lib.ADVANTAGES, "functions", dict(adv_lib.ADVANTAGES.functions))
  with pytest.raises(ValueError, match="'grpo' is already registered"):
    adv_lib.register_advantage("grpo")(lambda rewards, group_size: rewards)

  @adv_lib.register_advantage("raw")
  def raw(rewards, group_size):
    return adv_lib.group_rewards(rewards, group_size).reshape(-1)

  assert adv_lib.get_advantage("raw") is raw
  assert "raw" in adv_lib.advantage_names()
