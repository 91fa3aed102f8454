"""Reward shaping arms against NumPy loops; the log-barrier clip; jit; errors."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from afjax.rl import advantages, shaping


def np_log_barrier(rewards, signals, coef, eps=shaping.LOG_BARRIER_EPS, key="p_af"):
  return np.array([r + coef * np.log(1 - min(max(float(p), 0.0), 1 - eps))
                   for r, p in zip(rewards, signals[key])])


def np_linear(rewards, signals, coef, key="p_af", sign=-1.0):
  return np.array([r + sign * coef * float(p) for r, p in zip(rewards, signals[key])])


def np_length_penalty(rewards, signals, coef, threshold):
  return np.array([r - coef * max(0.0, float(n) - threshold)
                   for r, n in zip(rewards, signals["scratchpad_len"])])


def np_interrogation(rewards, signals, coef):
  return np.array([r + coef * (1.0 if no else 0.0) for r, no in zip(rewards, signals["followup_no"])])


NP_SHAPINGS = {
    "baseline": lambda r, s, c: np.asarray(r, np.float64),
    "process_supervision": np_log_barrier,
    "process_supervision_linear": np_linear,
    "output_monitor": functools.partial(np_log_barrier, key="p_af_output"),
    "output_monitor_linear": functools.partial(np_linear, key="p_af_output"),
    "length_penalty": np_length_penalty,
    "interrogation": np_interrogation,
    "af_bonus": functools.partial(np_linear, sign=1.0),
}
PARAMS = {"length_penalty": {"threshold": 12}}
SIGNAL_MEANS = {"process_supervision": "p_af_mean", "process_supervision_linear": "p_af_mean",
                "output_monitor": "p_af_output_mean", "output_monitor_linear": "p_af_output_mean",
                "length_penalty": "scratchpad_len_mean", "interrogation": "followup_no_fraction",
                "af_bonus": "p_af_mean"}


def make_inputs(seed, batch):
  rng = np.random.default_rng(seed)
  p_af = rng.uniform(0, 1, batch).astype(np.float32)
  p_af[:2] = [0.0, 1.0]  # the monitor's extremes: no penalty, and a saturated sigmoid
  signals = {
      "p_af": p_af,
      "p_af_output": rng.uniform(0, 1, batch).astype(np.float32),
      "scratchpad_len": rng.integers(0, 30, batch).astype(np.int32),
      "followup_no": rng.integers(0, 2, batch).astype(bool),
  }
  return rng.integers(0, 2, batch).astype(np.float32), signals


def test_registered_names():
  assert shaping.shaping_names() == sorted(NP_SHAPINGS)


@pytest.mark.parametrize("name", sorted(NP_SHAPINGS))
@pytest.mark.parametrize("batch,coef", [(8, 0.5), (24, 2.0)])
def test_matches_numpy_reference(name, batch, coef):
  rewards, signals = make_inputs(batch, batch)
  params = PARAMS.get(name, {})
  fn = shaping.shape_reward(name)
  shaped, stats = fn(rewards, signals, coef, **params)
  want = NP_SHAPINGS[name](rewards, signals, coef, **params)
  chex.assert_shape(shaped, (batch,))
  chex.assert_type(shaped, jnp.float32)
  chex.assert_tree_all_finite((shaped, stats))
  np.testing.assert_allclose(shaped, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(stats["reward_mean"], rewards.mean(), rtol=1e-6)
  np.testing.assert_allclose(stats["shaped_reward_mean"], want.mean(), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(stats["shaping_mean"], (want - rewards).mean(), rtol=1e-5, atol=1e-6)
  if name in SIGNAL_MEANS:
    signal = SIGNAL_MEANS[name].removesuffix("_mean").removesuffix("_fraction")
    np.testing.assert_allclose(stats[SIGNAL_MEANS[name]], signals[signal].mean(), rtol=1e-6)
  jitted = jax.jit(lambda r, s, c: fn(r, s, c, **params))(rewards, signals, coef)
  chex.assert_trees_all_close(jitted, (shaped, stats), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,key", [("process_supervision", "p_af"),
                                      ("output_monitor", "p_af_output")])
def test_log_barrier_clips_a_saturated_monitor(name, key):
  rewards = jnp.zeros(4)
  p = jnp.asarray([0.0, 1.0, 1.5, -0.5])
  shaped, _ = shaping.shape_reward(name)(rewards, {key: p}, 1.0, eps=1e-3)
  np.testing.assert_allclose(shaped, [0.0, np.log(1e-3), np.log(1e-3), 0.0], rtol=1e-4)
  default, _ = shaping.shape_reward(name)(rewards, {key: p}, 1.0)
  np.testing.assert_allclose(default[1], np.log(shaping.LOG_BARRIER_EPS), rtol=1e-3)


def test_length_penalty_is_a_hinge_at_the_threshold():
  lengths = jnp.asarray([0, 10, 11, 15])
  shaped, stats = shaping.shape_reward("length_penalty")(
      jnp.ones(4), {"scratchpad_len": lengths}, 0.1, threshold=10)
  np.testing.assert_allclose(shaped, [1.0, 1.0, 0.9, 0.5], rtol=1e-6)
  np.testing.assert_allclose(stats["over_threshold_fraction"], 0.5)


def test_interrogation_accepts_a_zero_one_indicator():
  signals = {"followup_no": jnp.asarray([1, 0, 1])}
  shaped, _ = shaping.shape_reward("interrogation")(jnp.zeros(3), signals, 2.0)
  np.testing.assert_allclose(shaped, [2.0, 0.0, 2.0])


def test_extra_signals_are_ignored():
  rewards, signals = make_inputs(0, 8)
  base = shaping.shape_reward("af_bonus")(rewards, {"p_af": signals["p_af"]}, 1.0)
  chex.assert_trees_all_close(shaping.shape_reward("af_bonus")(rewards, signals, 1.0), base)


def test_traced_coef_and_params_under_jit():
  rewards, signals = make_inputs(1, 8)
  fn = shaping.shape_reward("length_penalty")
  want = fn(rewards, signals, 0.3, threshold=5.0)
  got = jax.jit(lambda c, t: fn(rewards, signals, c, threshold=t))(0.3, 5.0)
  chex.assert_trees_all_close(got, want, rtol=1e-6)


def test_shaping_then_grpo_in_one_jit():
  rewards, signals = make_inputs(2, 16)

  @jax.jit
  def shaped_advantages(rewards, signals):
    shaped, _ = shaping.shape_reward("process_supervision")(rewards, signals, 0.5)
    return advantages.grpo(shaped, 8)

  want = NP_SHAPINGS["process_supervision"](rewards, signals, 0.5).reshape(2, 8)
  std = want.std(1, ddof=1, keepdims=True)
  want = (want - want.mean(1, keepdims=True)) / (std + advantages.GRPO_EPS)
  np.testing.assert_allclose(shaped_advantages(rewards, signals), want.reshape(-1), rtol=1e-4,
                             atol=1e-5)


def test_shaping_params_lists_each_arms_parameters():
  assert shaping.shaping_params("baseline") == {}
  assert shaping.shaping_params("process_supervision") == {"eps": shaping.LOG_BARRIER_EPS}
  assert list(shaping.shaping_params("length_penalty")) == ["threshold"]


@pytest.mark.parametrize("name,signals,coef,params,message", [
    ("af_bonus", {}, 1.0, {}, r"'af_bonus' needs signals\['p_af'\] \[B\]; got signals with keys \[\]"),
    ("output_monitor", {"p_af_output": np.zeros(3)}, 1.0, {},
     r"signals\['p_af_output'\] must have the shape of rewards \(4,\); got shape \(3,\)"),
    ("process_supervision", {"p_af": np.zeros(4)}, -1.0, {}, r"coef=-1.0; allowed: a number >= 0"),
    ("process_supervision", {"p_af": np.zeros(4)}, 1.0, {"eps": 0.0}, r"eps=0.0; allowed: 0 < eps < 1"),
    ("process_supervision", {"p_af": np.zeros(4)}, 1.0, {"threshold": 3},
     r"unknown parameter\(s\) \['threshold'\]; allowed: \['eps'\]"),
    ("length_penalty", {"scratchpad_len": np.zeros(4)}, 1.0, {},
     r"missing parameter\(s\) \['threshold'\]; allowed: \['threshold'\]"),
    ("length_penalty", {"scratchpad_len": np.zeros(4)}, 1.0, {"threshold": -1},
     r"threshold=-1; allowed: a number >= 0"),
])
def test_bad_inputs_raise_clear_errors(name, signals, coef, params, message):
  with pytest.raises(ValueError, match=message):
    shaping.shape_reward(name)(np.zeros(4, np.float32), signals, coef, **params)


def test_rewards_must_be_one_dimensional():
  with pytest.raises(ValueError, match=r"rewards must have shape \[B\]; got shape \(2, 2\)"):
    shaping.shape_reward("baseline")(np.zeros((2, 2)), {}, 0.0)


def test_unknown_name_lists_registered_names():
  with pytest.raises(ValueError,
                     match=r"reward shaping 'kl' is not registered; allowed: \['af_bonus', "):
    shaping.shape_reward("kl")


def test_register_refuses_a_taken_name():
  with pytest.raises(ValueError, match="reward shaping 'baseline' is already registered"):
    shaping.register_shaping("baseline")(lambda rewards, signals, coef: (rewards, {}))
