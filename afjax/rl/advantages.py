"""Group-relative advantage estimators, registered by name.

The rollout batch holds B = num_prompts x group_size sequences; rows
[g * K, (g + 1) * K) are the K = group_size samples of prompt g. Every
estimator maps the per-sequence (already shaped) rewards to one scalar
advantage per sequence, using only rewards of the same group:

    advantages = get_advantage(name)(rewards, group_size)    # [B] -> [B]

Registered estimators (K = group_size, mean_g / std_g over the row's group):

  grpo     A_i = (r_i - mean_g r) / (std_g r + eps), std the *sample* std
  dr_grpo  A_i = r_i - mean_g r                      (Dr.GRPO: no std division)
  rloo     A_i = r_i - mean_{j != i} r_j = K / (K - 1) * (r_i - mean_g r)

Advantages are float32; rewards are data, not differentiated through. The
group size must be a static int that divides B; both are checked from the
static shape, before tracing.
"""

from __future__ import annotations

import numbers
from typing import Callable

import jax
import jax.numpy as jnp

from afjax.rl.registry import Registry

DEFAULT_GROUP_SIZE = 8
GRPO_EPS = 1e-6

AdvantageFn = Callable[..., jax.Array]

ADVANTAGES: Registry[AdvantageFn] = Registry("advantage estimator")
# fn(rewards [B], group_size: int) -> advantages [B]
register_advantage = ADVANTAGES.register
get_advantage = ADVANTAGES.get
advantage_names = ADVANTAGES.names


def group_rewards(rewards: jax.Array, group_size: int, *, min_group_size: int = 1) -> jax.Array:
  """Reshapes [B] rewards to [B // K, K] groups (float32), checking K statically.

  Args:
    rewards: [B] one scalar reward per sequence.
    group_size: K, samples per prompt; a static int with K >= min_group_size
      that divides B.
    min_group_size: smallest K the caller's estimator is defined for.

  Returns:
    [B // K, K] float32 rewards, row g holding the group of prompt g.

  Raises:
    ValueError: rewards not 1-D, K not an int >= min_group_size, or K not
      dividing B (the message names both numbers).
  """
  rewards = jnp.asarray(rewards)
  if rewards.ndim != 1:
    raise ValueError(f"rewards must have shape [B]; got shape {rewards.shape}")
  if isinstance(group_size, bool) or not isinstance(group_size, numbers.Integral):
    raise ValueError(f"group_size must be a static int (not traced); got {group_size!r}")
  group_size = int(group_size)
  if group_size < min_group_size:
    raise ValueError(f"group_size={group_size}; allowed: an int >= {min_group_size}")
  batch = rewards.shape[0]
  if batch % group_size:
    raise ValueError(
        f"group_size={group_size} does not divide the batch size B={batch} "
        f"(B must be num_prompts x group_size)")
  return rewards.astype(jnp.float32).reshape(batch // group_size, group_size)  # [G, K]


def _centered(grouped: jax.Array) -> jax.Array:
  """r_i - mean_g r per group, exactly 0 where a group's rewards are all equal.

  Computed as (r_i - r_0) - mean_g (r - r_0): the same quantity, but shifting by
  a member of the group first makes an all-equal group give exact zeros (no
  rounding residue that the GRPO std division would blow up) and is the
  numerically stable "shifted data" form of the variance.

  Args:
    grouped: [G, K] rewards.

  Returns:
    [G, K] centred rewards.
  """
  shifted = grouped - grouped[:, :1]  # [G, K]
  return shifted - jnp.mean(shifted, axis=1, keepdims=True)  # [G, K]


@register_advantage("grpo")
def grpo(rewards: jax.Array, group_size: int, *, eps: float = GRPO_EPS) -> jax.Array:
  """Group-normalised advantages (GRPO, Shao et al. 2024).

  A_i = (r_i - mean_g r) / (std_g r + eps),
  std_g r = sqrt(sum_{j in g} (r_j - mean_g r)^2 / (K - 1))

  The std is the *sample* (Bessel-corrected, ddof=1) std, as in the GRPO
  reference implementations (TRL, verl, tunix use `torch.std`/`ddof=1`), so
  that learning rates and clip ranges transfer from them. For binary rewards
  it is sqrt(K / (K - 1)) times the population std (1.07x at K = 8). A group
  whose rewards are all equal gets A = 0 exactly (no signal, no NaN).

  The division makes A invariant to the scale of the rewards within a group:
  |A| <= (K - 1) / sqrt(K) (2.47 at K = 8) whatever the spread. So with a
  shaped reward r + c * s (afjax.rl.shaping) in a group whose task rewards r
  are all equal, A = (s - mean s) / std s does not depend on c: a spread in
  p_AF of 1e-4 gets advantages as large as comply-vs-refuse. A sweep of c
  under GRPO moves only the groups with mixed task rewards; dr_grpo and rloo
  keep c's scale.

  Args:
    rewards: [B] rewards, B a multiple of group_size.
    group_size: K >= 2 (the sample std needs two samples).
    eps: added to the std; it matters only for spreads of about eps (a group
      of equal rewards gets 0 by the centring, not by eps).

  Returns:
    [B] float32 advantages.
  """
  grouped = group_rewards(rewards, group_size, min_group_size=2)  # [G, K]
  centered = _centered(grouped)  # [G, K]
  std = jnp.sqrt(jnp.sum(jnp.square(centered), axis=1, keepdims=True) / (group_size - 1))  # [G, 1]
  return (centered / (std + eps)).reshape(-1)  # [B]


@register_advantage("dr_grpo")
def dr_grpo(rewards: jax.Array, group_size: int) -> jax.Array:
  """Mean-centred advantages without std division (Dr.GRPO, Liu et al. 2025).

  A_i = r_i - mean_g r

  Dividing by the group std up-weights prompts that are nearly always solved
  or failed (a question-difficulty bias); Dr.GRPO drops it, and pairs this
  estimator with the length-unbiased `token_sum_norm` loss aggregation.

  Args:
    rewards: [B] rewards, B a multiple of group_size.
    group_size: K >= 1 (K = 1 gives zeros).

  Returns:
    [B] float32 advantages.
  """
  return _centered(group_rewards(rewards, group_size)).reshape(-1)  # [B]


@register_advantage("rloo")
def rloo(rewards: jax.Array, group_size: int) -> jax.Array:
  """REINFORCE leave-one-out advantages (Kool et al. 2019; Ahmadian et al. 2024).

  A_i = r_i - 1 / (K - 1) * sum_{j in g, j != i} r_j = K / (K - 1) * (r_i - mean_g r)

  The baseline of sample i excludes i itself, so it is independent of the
  action and the policy gradient stays unbiased.

  Args:
    rewards: [B] rewards, B a multiple of group_size.
    group_size: K >= 2 (the leave-one-out mean needs another sample).

  Returns:
    [B] float32 advantages.
  """
  grouped = group_rewards(rewards, group_size, min_group_size=2)  # [G, K]
  return (_centered(grouped) * (group_size / (group_size - 1))).reshape(-1)  # [B]
