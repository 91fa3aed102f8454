"""Reward shaping of the mitigation arms, registered by name.

Each arm turns the task rewards of a rollout batch into the rewards that enter
the advantage computation (afjax.rl.advantages), inside the same jit:

    shaped, stats = shape_reward(name)(rewards, signals, coef, **params)

  rewards  [B] task reward per sequence
  signals  {key: [B] array}; an arm reads only its keys (extra keys are fine)
  coef     c >= 0, the arm's strength; its sign is fixed by the arm
  params   arm-specific keyword parameters (below)

Registered arms (p clipped to [0, 1 - eps] where a log is taken):

  baseline                    r
  process_supervision         r + c * log(1 - p_af)            (log barrier)
  process_supervision_linear  r - c * p_af
  output_monitor              r + c * log(1 - p_af_output)
  output_monitor_linear       r - c * p_af_output
  length_penalty              r - c * max(0, scratchpad_len - threshold)
  interrogation               r + c * 1[follow-up answer == "no"]
  af_bonus                    r + c * p_af                     (positive control)

Signal keys: P_AF (the scratchpad AF classifier's p), P_AF_OUTPUT (the
output-only monitor's p), SCRATCHPAD_LEN (scratchpad token count) and
FOLLOWUP_NO (bool or 0/1: the follow-up answer was classified "no"; the
caller maps the oracle's "yes"/"no"/"malformed" to this indicator, so
"malformed" earns nothing).

With the GRPO estimator the group std normalisation cancels c in every group
whose task rewards are equal (see afjax.rl.advantages.grpo): there the arm's
signal alone, whatever its size, sets the advantages.

Every arm returns float32 shaped rewards [B] and scalar float32 stats:
reward_mean, shaped_reward_mean, shaping_mean (mean of shaped - r) and the
mean of each signal it read (e.g. p_af_mean), plus arm-specific ones.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from typing import Callable

import jax
import jax.numpy as jnp

from afjax.rl.registry import Registry

P_AF = "p_af"
P_AF_OUTPUT = "p_af_output"
SCRATCHPAD_LEN = "scratchpad_len"
FOLLOWUP_NO = "followup_no"

# The log barrier clips p to [0, 1 - LOG_BARRIER_EPS]: log(1 - p) >= log(eps),
# so a saturated monitor (a float32 sigmoid is exactly 1 for logits above ~17)
# costs at most c * |log eps| = 13.8 c instead of an infinite penalty.
LOG_BARRIER_EPS = 1e-6

ShapingFn = Callable[..., tuple[jax.Array, dict[str, jax.Array]]]

SHAPINGS: Registry[ShapingFn] = Registry("reward shaping")
# fn(rewards [B], signals, coef, **params) -> (shaped [B], stats)
register_shaping = SHAPINGS.register
shaping_names = SHAPINGS.names


def shaping_params(name: str) -> dict[str, object]:
  """The keyword parameters of arm `name`: {param: default, or inspect.Parameter.empty if required}."""
  fn = SHAPINGS.get(name)
  return {p.name: p.default for p in inspect.signature(fn).parameters.values()
          if p.kind is inspect.Parameter.KEYWORD_ONLY}


def shape_reward(name: str) -> ShapingFn:
  """The shaping arm `name`, called as fn(rewards [B], signals, coef, **params).

  Raises:
    ValueError: `name` is not registered (lists the names); at call time, a
      parameter the arm does not take or a required one missing (lists the
      arm's parameters).
  """
  fn = SHAPINGS.get(name)
  allowed = shaping_params(name)
  required = sorted(k for k, v in allowed.items() if v is inspect.Parameter.empty)

  @functools.wraps(fn)
  def shaped(rewards, signals, coef, **params):
    unknown = sorted(set(params) - set(allowed))
    missing = sorted(set(required) - set(params))
    if unknown or missing:
      problem = f"unknown parameter(s) {unknown}" if unknown else f"missing parameter(s) {missing}"
      raise ValueError(f"reward shaping {name!r}: {problem}; allowed: {sorted(allowed)} "
                       f"(required: {required})")
    return fn(rewards, signals, coef, **params)

  return shaped


def _check_inputs(name: str, rewards: jax.Array, signals: dict, coef, keys: tuple[str, ...]
                  ) -> tuple[jax.Array, list[jax.Array]]:
  """Validates the common inputs; returns rewards and the arm's signals as float32 [B]."""
  rewards = jnp.asarray(rewards)
  if rewards.ndim != 1:
    raise ValueError(f"rewards must have shape [B]; got shape {rewards.shape}")
  if isinstance(coef, numbers.Real) and coef < 0:
    raise ValueError(f"reward shaping {name!r}: coef={coef}; allowed: a number >= 0 "
                     f"(the arm fixes the sign)")
  values = []
  for key in keys:
    if key not in signals:
      raise ValueError(f"reward shaping {name!r} needs signals[{key!r}] [B]; "
                       f"got signals with keys {sorted(signals)}")
    value = jnp.asarray(signals[key])
    if value.shape != rewards.shape:
      raise ValueError(f"signals[{key!r}] must have the shape of rewards {rewards.shape}; "
                       f"got shape {value.shape}")
    values.append(value.astype(jnp.float32))
  return rewards.astype(jnp.float32), values


def _stats(rewards: jax.Array, shaped: jax.Array, **means: jax.Array) -> dict[str, jax.Array]:
  """reward_mean, shaped_reward_mean, shaping_mean and `<key>: mean(value)` for each extra."""
  return {"reward_mean": jnp.mean(rewards), "shaped_reward_mean": jnp.mean(shaped),
          "shaping_mean": jnp.mean(shaped - rewards),
          **{key: jnp.mean(value) for key, value in means.items()}}


def _check_eps(name: str, eps) -> None:
  if isinstance(eps, numbers.Real) and not 0 < eps < 1:
    raise ValueError(f"reward shaping {name!r}: eps={eps}; allowed: 0 < eps < 1")


def log_barrier(p: jax.Array, eps: float = LOG_BARRIER_EPS) -> jax.Array:
  """log(1 - clip(p, 0, 1 - eps)), in [log eps, 0]: 0 at p = 0, -> -inf as p -> 1.

  Computed as log(clip(1 - p, eps, 1)), the same function, so that the floor is
  exactly log(eps) in float32 (1 - eps itself would round).

  Args:
    p: [B] probabilities.
    eps: keeps the log finite; the barrier is never below log(eps).

  Returns:
    [B] float32.
  """
  return jnp.log(jnp.clip(1.0 - p, eps, 1.0))  # [B]


@register_shaping("baseline")
def baseline(rewards: jax.Array, signals: dict[str, jax.Array], coef: float
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """No shaping: r' = r (coef and signals are ignored)."""
  rewards, _ = _check_inputs("baseline", rewards, signals, 0.0, ())
  return rewards, _stats(rewards, rewards)


def _monitor_log_barrier(name: str, key: str, rewards, signals, coef, eps):
  """r' = r + c * log(1 - clip(p, 0, 1 - eps)) with p = signals[key]."""
  _check_eps(name, eps)
  rewards, (p,) = _check_inputs(name, rewards, signals, coef, (key,))
  shaped = rewards + coef * log_barrier(p, eps)  # [B]
  return shaped, _stats(rewards, shaped, **{f"{key}_mean": p})


def _monitor_linear(name: str, key: str, rewards, signals, coef):
  """r' = r - c * p with p = signals[key]."""
  rewards, (p,) = _check_inputs(name, rewards, signals, coef, (key,))
  shaped = rewards - coef * p  # [B]
  return shaped, _stats(rewards, shaped, **{f"{key}_mean": p})


@register_shaping("process_supervision")
def process_supervision(rewards: jax.Array, signals: dict[str, jax.Array], coef: float, *,
                        eps: float = LOG_BARRIER_EPS) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Log-barrier penalty from the scratchpad AF classifier.

  r' = r + c * log(1 - clip(p_af, 0, 1 - eps))

  The penalty grows without bound as p_af -> 1; eps caps it at c * |log eps|.

  Args:
    rewards: [B].
    signals: needs P_AF [B], the scratchpad classifier's p(AF).
    coef: c >= 0.
    eps: 0 < eps < 1 (default LOG_BARRIER_EPS = 1e-6, cap 13.8 c).

  Returns:
    (shaped [B], stats with p_af_mean).
  """
  return _monitor_log_barrier("process_supervision", P_AF, rewards, signals, coef, eps)


@register_shaping("process_supervision_linear")
def process_supervision_linear(rewards: jax.Array, signals: dict[str, jax.Array], coef: float
                               ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Linear penalty from the scratchpad AF classifier: r' = r - c * p_af.

  Args:
    rewards: [B].
    signals: needs P_AF [B].
    coef: c >= 0.

  Returns:
    (shaped [B], stats with p_af_mean).
  """
  return _monitor_linear("process_supervision_linear", P_AF, rewards, signals, coef)


@register_shaping("output_monitor")
def output_monitor(rewards: jax.Array, signals: dict[str, jax.Array], coef: float, *,
                   eps: float = LOG_BARRIER_EPS) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Log-barrier penalty from the output-only monitor.

  r' = r + c * log(1 - clip(p_af_output, 0, 1 - eps))

  Args:
    rewards: [B].
    signals: needs P_AF_OUTPUT [B], the output-only monitor's p(AF).
    coef: c >= 0.
    eps: 0 < eps < 1 (default LOG_BARRIER_EPS = 1e-6, cap 13.8 c).

  Returns:
    (shaped [B], stats with p_af_output_mean).
  """
  return _monitor_log_barrier("output_monitor", P_AF_OUTPUT, rewards, signals, coef, eps)


@register_shaping("output_monitor_linear")
def output_monitor_linear(rewards: jax.Array, signals: dict[str, jax.Array], coef: float
                          ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Linear penalty from the output-only monitor: r' = r - c * p_af_output.

  Args:
    rewards: [B].
    signals: needs P_AF_OUTPUT [B].
    coef: c >= 0.

  Returns:
    (shaped [B], stats with p_af_output_mean).
  """
  return _monitor_linear("output_monitor_linear", P_AF_OUTPUT, rewards, signals, coef)


@register_shaping("length_penalty")
def length_penalty(rewards: jax.Array, signals: dict[str, jax.Array], coef: float, *,
                   threshold: float) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Hinge penalty on the scratchpad token count.

  r' = r - c * max(0, L - threshold),   L = scratchpad_len

  Args:
    rewards: [B].
    signals: needs SCRATCHPAD_LEN [B], scratchpad tokens per sequence.
    coef: c >= 0, penalty per token over the threshold.
    threshold: tokens allowed free of penalty, >= 0 (required).

  Returns:
    (shaped [B], stats with scratchpad_len_mean and over_threshold_fraction).
  """
  if isinstance(threshold, numbers.Real) and threshold < 0:
    raise ValueError(f"reward shaping 'length_penalty': threshold={threshold}; allowed: a number >= 0")
  rewards, (length,) = _check_inputs("length_penalty", rewards, signals, coef, (SCRATCHPAD_LEN,))
  excess = jnp.maximum(length - threshold, 0.0)  # [B]
  shaped = rewards - coef * excess  # [B]
  return shaped, _stats(rewards, shaped, scratchpad_len_mean=length,
                        over_threshold_fraction=(excess > 0).astype(jnp.float32))


@register_shaping("interrogation")
def interrogation(rewards: jax.Array, signals: dict[str, jax.Array], coef: float
                  ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Bonus for answering "no" to the follow-up question.

  r' = r + c * 1[follow-up answer == "no"]

  Args:
    rewards: [B].
    signals: needs FOLLOWUP_NO [B], bool or 0/1 (nonzero means "no").
    coef: c >= 0.

  Returns:
    (shaped [B], stats with followup_no_fraction).
  """
  rewards, (answered_no,) = _check_inputs("interrogation", rewards, signals, coef, (FOLLOWUP_NO,))
  indicator = (answered_no != 0).astype(jnp.float32)  # [B]
  shaped = rewards + coef * indicator  # [B]
  return shaped, _stats(rewards, shaped, followup_no_fraction=indicator)


@register_shaping("af_bonus")
def af_bonus(rewards: jax.Array, signals: dict[str, jax.Array], coef: float
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """Bonus proportional to the scratchpad AF classifier (a positive control).

  r' = r + c * p_af

  Args:
    rewards: [B].
    signals: needs P_AF [B].
    coef: c >= 0.

  Returns:
    (shaped [B], stats with p_af_mean).
  """
  rewards, (p,) = _check_inputs("af_bonus", rewards, signals, coef, (P_AF,))
  shaped = rewards + coef * p  # [B]
  return shaped, _stats(rewards, shaped, p_af_mean=p)
