"""Policy-gradient losses, loss aggregation modes and the KL penalty.

Inputs are per-token log-probabilities of the sampled tokens, all [B, T]:

  logp       log pi_theta(y_t | y_<t, x) under the policy being trained
  old_logp   the same under the behaviour policy that sampled the rollout
             (fixed across the inner PPO epochs on one rollout batch)
  ref_logp   the same under the frozen reference model (only with kl_coef > 0)

with one advantage per sequence, advantages [B] (see afjax.rl.advantages), and
mask [B, T], 1 on the tokens that receive gradient (e.g. the first-turn
response; the caller masks out the prompt, padding and follow-up turns).

Two registries, each looked up by name:

  policy losses  fn(logp, old_logp, advantages, *, clip_eps_low, clip_eps_high)
                 -> (per-token loss [B, T], per-token stats {name: [B, T]})
                 "ppo_clip", "reinforce"
  aggregations   fn(per_token [B, T], mask [B, T]) -> scalar
                 "token_mean", "sequence_mean", "token_sum_norm"

`rl_loss` combines them with the k3 KL penalty to the reference model:

  loss = aggregate(policy_loss + kl_coef * kl_k3(logp, ref_logp), mask)   (k3 bounded, see kl_penalty)

Masked positions may hold anything (padding, -inf): they are replaced before
any arithmetic, so they reach neither the loss, the metrics nor the gradient.
Entropy is not computed here (it needs the logits, which the caller has);
average it with `token_mean`.
"""

from __future__ import annotations

import numbers
from typing import Callable

import jax
import jax.numpy as jnp

from afjax.rl.registry import Registry

PolicyLossFn = Callable[..., tuple[jax.Array, dict[str, jax.Array]]]
AggregationFn = Callable[[jax.Array, jax.Array], jax.Array]

POLICY_LOSSES: Registry[PolicyLossFn] = Registry("policy loss")
# fn(logp, old_logp, advantages, *, clip_eps_low, clip_eps_high) -> (per_token [B, T], stats)
register_policy_loss = POLICY_LOSSES.register
get_policy_loss = POLICY_LOSSES.get
policy_loss_names = POLICY_LOSSES.names

AGGREGATIONS: Registry[AggregationFn] = Registry("loss aggregation")
# fn(per_token [B, T], mask [B, T]) -> scalar
register_aggregation = AGGREGATIONS.register
get_aggregation = AGGREGATIONS.get
aggregation_names = AGGREGATIONS.names


# Policy losses.


@register_policy_loss("ppo_clip")
def ppo_clip(logp: jax.Array, old_logp: jax.Array, advantages: jax.Array, *,
             clip_eps_low: float, clip_eps_high: float) -> tuple[jax.Array, dict[str, jax.Array]]:
  """PPO clipped surrogate, per token (Schulman et al. 2017; asymmetric as in DAPO).

  rho = exp(logp - old_logp)
  loss = -min(rho * A, clip(rho, 1 - eps_low, 1 + eps_high) * A)

  A token is *clipped* when the clipped term is strictly the smaller one:
  rho > 1 + eps_high with A > 0, or rho < 1 - eps_low with A < 0. Exactly
  these tokens have zero gradient; a ratio outside the range that moves the
  objective the other way (e.g. rho < 1 - eps_low with A > 0) keeps its
  gradient -A * rho * d logp.

  Args:
    logp: [B, T] policy log-probs (differentiated).
    old_logp: [B, T] behaviour-policy log-probs.
    advantages: [B], broadcast over the tokens of each sequence.
    clip_eps_low: eps_low, lower clip 1 - eps_low.
    clip_eps_high: eps_high, upper clip 1 + eps_high.

  Returns:
    (loss [B, T], {"clip_fraction", "clip_fraction_low", "clip_fraction_high"}
    as [B, T] float 0/1 indicators of clipped tokens: all, A < 0, A > 0).
  """
  adv = advantages[:, None]  # [B, 1]
  ratio = jnp.exp(logp - old_logp)  # [B, T]
  clipped_ratio = jnp.clip(ratio, 1.0 - clip_eps_low, 1.0 + clip_eps_high)  # [B, T]
  unclipped_objective = ratio * adv  # [B, T]
  clipped_objective = clipped_ratio * adv  # [B, T]
  loss = -jnp.minimum(unclipped_objective, clipped_objective)  # [B, T]
  clipped = clipped_objective < unclipped_objective  # [B, T]
  stats = {
      "clip_fraction": clipped.astype(jnp.float32),
      "clip_fraction_low": (clipped & (adv < 0)).astype(jnp.float32),
      "clip_fraction_high": (clipped & (adv > 0)).astype(jnp.float32),
  }
  return loss, stats


@register_policy_loss("reinforce")
def reinforce(logp: jax.Array, old_logp: jax.Array, advantages: jax.Array, *,
              clip_eps_low: float, clip_eps_high: float) -> tuple[jax.Array, dict[str, jax.Array]]:
  """REINFORCE with a baseline (the advantage), per token; no ratio, no clipping.

  loss = -A * logp

  Unbiased only on-policy (one update per rollout batch); old_logp and the
  clip ranges are accepted for a uniform signature and ignored.

  Args:
    logp: [B, T] policy log-probs (differentiated).
    old_logp: [B, T], unused.
    advantages: [B], broadcast over the tokens of each sequence.
    clip_eps_low, clip_eps_high: unused.

  Returns:
    (loss [B, T], {}).
  """
  del old_logp, clip_eps_low, clip_eps_high
  return -advantages[:, None] * logp, {}  # [B, T]


# Aggregations: every one is linear in per_token and ignores masked positions.


@register_aggregation("token_mean")
def token_mean(per_token: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean over all valid tokens of the batch (DAPO's token-level loss).

  sum_{b,t} m[b,t] x[b,t] / max(sum_{b,t} m[b,t], 1)

  Longer sequences weigh more, in proportion to their token count.

  Args:
    per_token: [B, T].
    mask: [B, T], 1 on valid tokens.

  Returns:
    Scalar float32; 0 when no token is valid.
  """
  mask = mask.astype(jnp.float32)
  return jnp.sum(per_token * mask) / jnp.maximum(jnp.sum(mask), 1.0)


@register_aggregation("sequence_mean")
def sequence_mean(per_token: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean over sequences of each sequence's token mean (the original GRPO loss).

  x_b = sum_t m[b,t] x[b,t] / sum_t m[b,t]
  loss = sum_{b : n_b > 0} x_b / max(#{b : n_b > 0}, 1),   n_b = sum_t m[b,t]

  Every sequence weighs the same whatever its length. Sequences without a
  valid token (fully masked) are left out of the mean rather than counted as
  zeros, so masking a sequence does not shrink the loss of the others.

  Args:
    per_token: [B, T].
    mask: [B, T], 1 on valid tokens.

  Returns:
    Scalar float32; 0 when no token is valid.
  """
  mask = mask.astype(jnp.float32)
  tokens = jnp.sum(mask, axis=1)  # [B]
  per_sequence = jnp.sum(per_token * mask, axis=1) / jnp.maximum(tokens, 1.0)  # [B]
  nonempty = (tokens > 0).astype(jnp.float32)  # [B]
  return jnp.sum(per_sequence * nonempty) / jnp.maximum(jnp.sum(nonempty), 1.0)


@register_aggregation("token_sum_norm")
def token_sum_norm(per_token: jax.Array, mask: jax.Array) -> jax.Array:
  """Sum over valid tokens divided by a constant, B * T (Dr.GRPO, Liu et al. 2025).

  sum_{b,t} m[b,t] x[b,t] / (B * T)

  The normaliser does not depend on the response lengths, which removes the
  length bias of the per-sequence mean (long wrong answers are not penalised
  less per token). T is the array's static length: pad the rollout to the
  generation budget so the constant does not change between batches.

  Args:
    per_token: [B, T].
    mask: [B, T], 1 on valid tokens.

  Returns:
    Scalar float32.
  """
  batch, length = per_token.shape
  return jnp.sum(per_token * mask.astype(jnp.float32)) / float(batch * length)


# KL and the combined loss.


# Bounds of the k3 estimator (as verl's "low_var_kl"): |d| <= 20 nats, kl <= 10 per token.
KL_LOG_RATIO_BOUND = 20.0
KL_TOKEN_BOUND = 10.0


def kl_penalty(logp: jax.Array, ref_logp: jax.Array) -> jax.Array:
  """Per-token k3 estimator of KL(pi_theta || pi_ref) on tokens sampled from pi_theta.

  d = clip(ref_logp - logp, -20, 20)
  kl = min(exp(d) - d - 1, 10)     (exp(d) - 1 computed as expm1(d), accurate near d = 0)

  Unbiased for the KL when tokens come from pi_theta, non-negative, and zero
  exactly where the two log-probs agree (Schulman, "Approximating KL
  divergence", 2020; the GRPO KL term). Bounded, it is no longer exactly
  unbiased, but only tokens whose log-probs differ by more than about 2.9
  nats (d > 2.9) or 11 nats (d < -11) reach the bound: there exp(d) grows
  without limit (d = 30 gives 1e13, and the gradient with it), so one such
  token would swamp the batch; at the bound its gradient is zero.

  Args:
    logp: [B, T] policy log-probs.
    ref_logp: [B, T] reference log-probs.

  Returns:
    [B, T] float32 per-token KL estimates.
  """
  delta = ref_logp.astype(jnp.float32) - logp.astype(jnp.float32)  # [B, T]
  delta = jnp.clip(delta, -KL_LOG_RATIO_BOUND, KL_LOG_RATIO_BOUND)
  return jnp.minimum(jnp.expm1(delta) - delta, KL_TOKEN_BOUND)  # [B, T]


def _check_static_coefficients(kl_coef, clip_eps_low, clip_eps_high) -> None:
  """ValueErrors for out-of-range Python-number coefficients (traced ones pass)."""
  if isinstance(kl_coef, numbers.Real) and kl_coef < 0:
    raise ValueError(f"kl_coef={kl_coef}; allowed: a number >= 0 (0 turns the KL term off)")
  if isinstance(clip_eps_low, numbers.Real) and not 0 <= clip_eps_low < 1:
    raise ValueError(f"clip_eps_low={clip_eps_low}; allowed: 0 <= clip_eps_low < 1")
  if isinstance(clip_eps_high, numbers.Real) and clip_eps_high < 0:
    raise ValueError(f"clip_eps_high={clip_eps_high}; allowed: a number >= 0")


def _check_shapes(logp, old_logp, ref_logp, advantages, mask) -> None:
  """ValueErrors naming the argument whose shape disagrees with logp [B, T]."""
  if logp.ndim != 2:
    raise ValueError(f"logp must have shape [B, T]; got shape {logp.shape}")
  for name, value in (("old_logp", old_logp), ("ref_logp", ref_logp), ("mask", mask)):
    if value is not None and value.shape != logp.shape:
      raise ValueError(f"{name} must have the shape of logp {logp.shape}; got shape {value.shape}")
  if advantages.shape != logp.shape[:1]:
    raise ValueError(f"advantages must have shape [B] = {logp.shape[:1]}; got shape {advantages.shape}")


def kl_enabled(kl_coef) -> bool:
  """False only for a Python/NumPy number equal to 0; a traced coefficient counts as on."""
  return not (isinstance(kl_coef, numbers.Real) and kl_coef == 0)


def rl_loss(logp: jax.Array, old_logp: jax.Array | None, ref_logp: jax.Array | None,
            advantages: jax.Array, mask: jax.Array, *, loss_name: str = "ppo_clip",
            aggregation: str = "token_mean", clip_eps_low: float = 0.2, clip_eps_high: float = 0.2,
            kl_coef: float = 0.0) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The policy loss plus the KL penalty to the reference, aggregated over valid tokens.

  loss = aggregate_m( l_t + kl_coef * kl_k3(logp_t, ref_logp_t) )

  with l_t the per-token loss `loss_name` and aggregate_m the mode
  `aggregation`. With kl_coef == 0 (a Python number) the KL term is not built
  at all and ref_logp may be None: the reference model need not be run.

  Inner epochs: pass the rollout's old_logp unchanged to every inner step; the
  ratio then moves away from 1 and ppo_clip bounds the update. old_logp=None
  means on-policy (old_logp = stop_gradient(logp), ratio 1), where ppo_clip's
  gradient equals REINFORCE's.

  old_logp, ref_logp and advantages are treated as data (stop_gradient); the
  gradient flows through logp only, and is exactly zero on masked tokens.

  Args:
    logp: [B, T] policy log-probs of the sampled tokens.
    old_logp: [B, T] behaviour-policy log-probs, or None (on-policy).
    ref_logp: [B, T] reference log-probs; None allowed only when kl_coef == 0.
    advantages: [B] one advantage per sequence.
    mask: [B, T] 0/1 (or bool), 1 on tokens that receive gradient.
    loss_name: a registered policy loss (`policy_loss_names()`).
    aggregation: a registered aggregation (`aggregation_names()`).
    clip_eps_low, clip_eps_high: ppo_clip's range [1 - eps_low, 1 + eps_high].
    kl_coef: weight of the k3 KL to the reference; >= 0.

  Returns:
    (loss, metrics). The loss is a float32 scalar. The metrics are float32
    scalars; all but pg_loss and tokens are token means over valid tokens,
    whatever the aggregation:
      pg_loss             the policy term alone, aggregated like the loss
      kl_ref              k3 KL to the reference (0 when kl_coef == 0)
      clip_fraction       share of clipped (zero-gradient) tokens, and its
                          clip_fraction_low / _high parts (A < 0 / A > 0)
      ratio_mean          mean of exp(logp - old_logp)
      approx_kl_old       k3 KL to the behaviour policy
      tokens              number of valid tokens

  Raises:
    ValueError: unknown loss_name or aggregation; shapes that disagree;
      kl_coef < 0 or clip ranges out of range; kl_coef != 0 with ref_logp None.
  """
  policy_loss = get_policy_loss(loss_name)
  aggregate = get_aggregation(aggregation)
  _check_shapes(logp, old_logp, ref_logp, advantages, mask)
  _check_static_coefficients(kl_coef, clip_eps_low, clip_eps_high)
  use_kl = kl_enabled(kl_coef)
  if use_kl and ref_logp is None:
    raise ValueError(f"kl_coef={kl_coef} needs ref_logp [B, T]; "
                     f"ref_logp=None is allowed only with kl_coef=0")

  valid = mask > 0  # [B, T]
  weights = valid.astype(jnp.float32)  # [B, T]
  # Masked positions become 0 before any arithmetic (the "double where"), so
  # padding such as -inf yields neither NaN values nor NaN gradients.
  logp = jnp.where(valid, logp.astype(jnp.float32), 0.0)  # [B, T]
  if old_logp is None:
    old_logp = jax.lax.stop_gradient(logp)
  else:
    old_logp = jnp.where(valid, jax.lax.stop_gradient(old_logp).astype(jnp.float32), 0.0)  # [B, T]
  advantages = jax.lax.stop_gradient(advantages).astype(jnp.float32)  # [B]

  per_token_pg, token_stats = policy_loss(logp, old_logp, advantages, clip_eps_low=clip_eps_low,
                                          clip_eps_high=clip_eps_high)  # [B, T]
  pg_loss = aggregate(per_token_pg, weights)
  if use_kl:
    ref_logp = jnp.where(valid, jax.lax.stop_gradient(ref_logp).astype(jnp.float32), 0.0)  # [B, T]
    per_token_kl = kl_penalty(logp, ref_logp)  # [B, T]
    # Aggregations are linear: aggregate(l + c kl) = aggregate(l) + c aggregate(kl).
    loss = pg_loss + kl_coef * aggregate(per_token_kl, weights)
    kl_ref = token_mean(per_token_kl, weights)
  else:
    loss = pg_loss
    kl_ref = jnp.zeros((), jnp.float32)

  metrics = {
      "pg_loss": pg_loss,
      "kl_ref": kl_ref,
      "clip_fraction": jnp.zeros((), jnp.float32),
      "clip_fraction_low": jnp.zeros((), jnp.float32),
      "clip_fraction_high": jnp.zeros((), jnp.float32),
      "ratio_mean": token_mean(jnp.exp(logp - old_logp), weights),
      "approx_kl_old": token_mean(kl_penalty(logp, old_logp), weights),
      "tokens": jnp.sum(weights),
  }
  metrics.update({name: token_mean(value, weights) for name, value in token_stats.items()})
  return loss, jax.lax.stop_gradient(metrics)
