"""The fused RL update: monitor scoring, reward shaping, advantages, loss and the optimizer step.

One compiled program per rollout batch:

    p_af        = stop_gradient(score_scratchpad(monitor_params, tokens, first_turn_mask))  # [B]
    p_af_output = stop_gradient(score_output(monitor_params, tokens, first_turn_mask))      # [B]
    r'          = shape_reward(cfg.shaping)(rewards, signals, cfg.shaping_coef, **params)  # [B]
    A           = get_advantage(cfg.advantage)(r', cfg.group_size)                         # [B]
    logp[b, t]  = log pi_theta(tokens[b, t] | tokens[b, <t])  for t >= 1, 0 at t = 0      # [B, T]
    loss        = rl_loss(logp, old_logp, ref_logp, A, loss_mask, ...)
    theta'      = optax update of theta with d loss / d theta

Only the monitors the shaping arm reads are run (`RLStepConfig.monitors`), and
the reference model only when kl_coef > 0.

Token alignment: every [B, T] per-token array is aligned with `tokens`;
position t holds a quantity about token t, predicted from tokens < t. The
policy is run once on tokens[:, :-1] and its log-probs of tokens[:, 1:] are
written at positions 1..T-1; position 0 (never predicted) holds 0 and is
always masked out. Keeping the rollout's length T means `token_sum_norm`
divides by B * T, the length the rollout was padded to (prompt budget,
generation budget and any follow-up turn): a constant of the arm's config,
not of the sampled lengths.

Shape legend: B batch (num_prompts x group_size), T tokens, V vocabulary.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable, Mapping

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from afjax import config as config_lib
from afjax.models import transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.rl import advantages as adv_lib
from afjax.rl import losses as losses_lib
from afjax.rl import shaping as shaping_lib
from afjax.training.state import TrainState

SCRATCHPAD_MONITOR = "scratchpad"
OUTPUT_MONITOR = "output"

# Monitor -> the shaping signal key its p(AF) fills.
MONITOR_SIGNALS = {SCRATCHPAD_MONITOR: shaping_lib.P_AF, OUTPUT_MONITOR: shaping_lib.P_AF_OUTPUT}
# Shaping arm -> the monitors it reads (arms not listed read none).
SHAPING_MONITORS: dict[str, tuple[str, ...]] = {
    "process_supervision": (SCRATCHPAD_MONITOR,),
    "process_supervision_linear": (SCRATCHPAD_MONITOR,),
    "af_bonus": (SCRATCHPAD_MONITOR,),
    "output_monitor": (OUTPUT_MONITOR,),
    "output_monitor_linear": (OUTPUT_MONITOR,),
}

ScoreFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


@flax.struct.dataclass
class Rollout:
  """One rollout batch on device; rows [g * K, (g + 1) * K) share prompt g (K = group_size).

  Attributes:
    tokens: [B, T] int32, the prompt followed by the sampled response (and
      any interrogation follow-up turn), left-aligned and right-padded.
    attention_mask: [B, T] bool, True on real tokens.
    first_turn_mask: [B, T] bool, True on the prompt and the first-turn
      response only: what the monitors score (and the reward model saw). A
      follow-up turn is outside it even when the first turn has no <|end|>
      (cut off at the token budget), which transcript_regions alone would
      read as part of the response.
    loss_mask: [B, T] float32, 1 where the prediction of token t receives
      gradient (the first-turn response); 0 on prompt, padding and follow-up.
    old_logp: [B, T] float32, the sampler's log-prob of token t (0 elsewhere).
    rewards: [B] float32 task rewards.
    scratchpad_len: [B] float32 scratchpad token counts (SCRATCHPAD_LEN).
    followup_no: [B] float32, 1 where the follow-up answer was "no" (FOLLOWUP_NO).
  """

  tokens: jax.Array
  attention_mask: jax.Array
  first_turn_mask: jax.Array
  loss_mask: jax.Array
  old_logp: jax.Array
  rewards: jax.Array
  scratchpad_len: jax.Array
  followup_no: jax.Array


def rollout_shardings(mesh: jax.sharding.Mesh) -> Rollout:
  """Every rollout array split over the batch axes ("data", "fsdp")."""
  per_token, per_row = mesh_lib.batch_sharding(mesh, 2), mesh_lib.batch_sharding(mesh, 1)
  return Rollout(tokens=per_token, attention_mask=per_token, first_turn_mask=per_token,
                 loss_mask=per_token,
                 old_logp=per_token, rewards=per_row, scratchpad_len=per_row, followup_no=per_row)


@dataclasses.dataclass(frozen=True)
class RLStepConfig:
  """Static settings of the RL update; names are checked against the registries on construction.

  Attributes:
    advantage: a registered advantage estimator (`advantage_names()`).
    group_size: K, samples per prompt; must divide the batch size B.
    shaping: a registered reward-shaping arm (`shaping_names()`).
    shaping_coef: c >= 0, the arm's strength.
    shaping_params: the arm's keyword parameters as ((key, value), ...).
    loss_name: a registered policy loss (`policy_loss_names()`).
    aggregation: a registered aggregation (`aggregation_names()`).
    clip_eps_low, clip_eps_high: PPO clip range [1 - eps_low, 1 + eps_high].
    kl_coef: weight of the k3 KL to the reference model; 0 skips the reference.
    loss_chunk: positions per block of the output projection when the policy's
      and reference's log-probs are computed (`tfm.map_logits_in_blocks`); 0
      projects the whole rollout at once.
  """

  advantage: str = "grpo"
  group_size: int = adv_lib.DEFAULT_GROUP_SIZE
  shaping: str = "baseline"
  shaping_coef: float = 0.0
  shaping_params: tuple[tuple[str, Any], ...] = ()
  loss_name: str = "ppo_clip"
  aggregation: str = "token_mean"
  clip_eps_low: float = 0.2
  clip_eps_high: float = 0.2
  kl_coef: float = 0.0
  loss_chunk: int = 0

  def __post_init__(self):
    adv_lib.get_advantage(self.advantage)
    losses_lib.get_policy_loss(self.loss_name)
    losses_lib.get_aggregation(self.aggregation)
    allowed = shaping_lib.shaping_params(self.shaping)
    given = dict(self.shaping_params)
    unknown = sorted(set(given) - set(allowed))
    missing = sorted(k for k, v in allowed.items() if v is inspect.Parameter.empty and k not in given)
    if unknown or missing:
      problem = f"unknown parameter(s) {unknown}" if unknown else f"missing parameter(s) {missing}"
      raise ValueError(f"reward shaping {self.shaping!r}: {problem}; allowed: {sorted(allowed)}")
    if not config_lib.is_int_at_least(self.group_size, 1):
      raise ValueError(f"group_size={self.group_size!r}; allowed: an int >= 1 dividing the batch size")
    if self.shaping_coef < 0:
      raise ValueError(f"shaping_coef={self.shaping_coef}; allowed: a number >= 0")
    if self.kl_coef < 0:
      raise ValueError(f"kl_coef={self.kl_coef}; allowed: a number >= 0 (0 skips the reference)")
    if not config_lib.is_int_at_least(self.loss_chunk, 0):
      raise ValueError(f"loss_chunk={self.loss_chunk!r}; allowed: an integer >= 0 (positions per "
                       "block of the output projection; 0 = all at once)")

  @property
  def monitors(self) -> tuple[str, ...]:
    """The monitors ("scratchpad", "output") whose p(AF) the shaping arm reads."""
    return SHAPING_MONITORS.get(self.shaping, ())

  @property
  def use_kl(self) -> bool:
    return self.kl_coef > 0


def check_inputs(cfg: RLStepConfig, rollout: Rollout, ref_params: Any,
                 monitor_params: Mapping[str, Any] | None,
                 monitors: Mapping[str, ScoreFn] | None) -> None:
  """ValueErrors for inputs that do not fit `cfg` (static checks, before tracing).

  Raises:
    ValueError: group_size does not divide B (names both); a monitor the
      shaping arm needs is missing from monitor_params or monitors (names the
      arm and the monitor); kl_coef > 0 with ref_params None; rollout shapes.
  """
  batch, length = rollout.tokens.shape
  if batch % cfg.group_size:
    raise ValueError(f"group_size={cfg.group_size} does not divide the batch size B={batch} "
                     f"(B must be num_prompts x group_size)")
  for name in ("attention_mask", "first_turn_mask", "loss_mask", "old_logp"):
    if getattr(rollout, name).shape != (batch, length):
      raise ValueError(f"rollout.{name} must have shape {(batch, length)}; "
                       f"got {getattr(rollout, name).shape}")
  for name in ("rewards", "scratchpad_len", "followup_no"):
    if getattr(rollout, name).shape != (batch,):
      raise ValueError(f"rollout.{name} must have shape {(batch,)}; got {getattr(rollout, name).shape}")
  for monitor in cfg.monitors:
    if monitor_params is None or monitor not in monitor_params:
      given = sorted(monitor_params) if monitor_params is not None else None
      raise ValueError(f"reward shaping {cfg.shaping!r} needs the {monitor!r} monitor; "
                       f"monitor_params has keys {given}")
    if monitors is None or monitor not in monitors:
      raise ValueError(f"reward shaping {cfg.shaping!r} needs the {monitor!r} monitor; "
                       f"monitors (score functions) has keys {sorted(monitors or {})}")
  if cfg.use_kl and ref_params is None:
    raise ValueError(f"kl_coef={cfg.kl_coef} needs ref_params (the reference model); "
                     f"ref_params=None is allowed only with kl_coef=0")


def _logp_and_entropy(logits: jax.Array, targets: jax.Array) -> tuple[jax.Array, jax.Array]:
  """log p(target) and the entropy of softmax(logits): [..., V], [...] -> two [...]."""
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  logp = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
  return logp, -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)


def token_logp_and_entropy(model: nn.Module, params: Any, tokens: jax.Array,
                           attention_mask: jax.Array, chunk: int = 0) -> tuple[jax.Array, jax.Array]:
  """Per-token log-probs of the given tokens and the policy entropy, aligned with tokens.

  logits = model(tokens[:, :-1]) with positions counting valid tokens only;
  logp[b, t] = log softmax(logits[b, t - 1])[tokens[b, t]],
  entropy[b, t] = -sum_v p_v log p_v of that same distribution, for t >= 1;
  both are 0 at t = 0.

  Args:
    model: the policy transformer.
    params: its parameters.
    tokens: [B, T] int32.
    attention_mask: [B, T] bool.
    chunk: positions per block of the output projection (0: all at once), so
      that the [B, T, V] logits never exist whole (`tfm.logits_per_position`).

  Returns:
    (logp [B, T] float32, entropy [B, T] float32).
  """
  inputs, mask = tokens[:, :-1], attention_mask[:, :-1]  # [B, T-1]
  logp, entropy = tfm.logits_per_position(model, params, _logp_and_entropy, chunk, inputs,
                                          tfm.positions_from_mask(mask), mask,
                                          tokens[:, 1:])  # [B, T-1] each
  pad = ((0, 0), (1, 0))
  return jnp.pad(logp, pad), jnp.pad(entropy, pad)  # [B, T] each


def monitor_signals(rollout: Rollout, monitor_params: Mapping[str, Any] | None,
                    monitors: Mapping[str, ScoreFn], names: tuple[str, ...]) -> dict[str, jax.Array]:
  """The shaping signals: the rollout's counts plus p(AF) of each needed monitor.

  Returns:
    {SCRATCHPAD_LEN, FOLLOWUP_NO, and P_AF / P_AF_OUTPUT for the monitors in
    `names`}: [B] float32 arrays; monitor scores are stop_gradient'ed.
  """
  signals = {shaping_lib.SCRATCHPAD_LEN: rollout.scratchpad_len.astype(jnp.float32),
             shaping_lib.FOLLOWUP_NO: rollout.followup_no.astype(jnp.float32)}
  for name in names:
    p = monitors[name](monitor_params[name], rollout.tokens, rollout.first_turn_mask)  # [B]
    signals[MONITOR_SIGNALS[name]] = jax.lax.stop_gradient(p.astype(jnp.float32))
  return signals


def shaped_advantages(rollout: Rollout, signals: Mapping[str, jax.Array], cfg: RLStepConfig
                      ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """A = advantage(shape(r, signals)): [B] advantages and the shaping stats."""
  shaped, stats = shaping_lib.shape_reward(cfg.shaping)(
      rollout.rewards.astype(jnp.float32), signals, cfg.shaping_coef, **dict(cfg.shaping_params))
  advantages = adv_lib.get_advantage(cfg.advantage)(shaped, cfg.group_size)  # [B]
  return jax.lax.stop_gradient(advantages), stats


def policy_loss(params: Any, ref_logp: jax.Array | None, advantages: jax.Array, rollout: Rollout,
                *, model: nn.Module, cfg: RLStepConfig) -> tuple[jax.Array, dict[str, jax.Array]]:
  """rl_loss of the policy `params` on the rollout, with the masked entropy as a metric.

  loss = aggregate_m( l_t(logp, old_logp, A) + kl_coef * kl_k3(logp, ref_logp) ),
  m = loss_mask with position 0 forced to 0 (token 0 is never predicted).
  """
  mask = rollout.loss_mask.astype(jnp.float32).at[:, 0].set(0.0)  # [B, T]
  logp, entropy = token_logp_and_entropy(model, params, rollout.tokens, rollout.attention_mask,
                                         cfg.loss_chunk)
  loss, metrics = losses_lib.rl_loss(
      logp, rollout.old_logp, ref_logp, advantages, mask, loss_name=cfg.loss_name,
      aggregation=cfg.aggregation, clip_eps_low=cfg.clip_eps_low, clip_eps_high=cfg.clip_eps_high,
      kl_coef=cfg.kl_coef)
  metrics["entropy"] = jax.lax.stop_gradient(losses_lib.token_mean(entropy, mask))
  return loss, metrics


def rl_update(state: TrainState, rollout: Rollout, ref_params: Any | None,
              monitor_params: Mapping[str, Any] | None, *, model: nn.Module,
              monitors: Mapping[str, ScoreFn] | None, tx: optax.GradientTransformation,
              cfg: RLStepConfig) -> tuple[TrainState, dict[str, jax.Array]]:
  """One RL optimizer step on a rollout batch (pure; jit it, see make_rl_step).

  Args:
    state: the policy's TrainState.
    rollout: the rollout batch.
    ref_params: reference-model params (same architecture as the policy), or
      None when cfg.kl_coef == 0.
    monitor_params: {"scratchpad": ..., "output": ...}, at least those in
      cfg.monitors; may be None when the arm reads no monitor.
    model: the policy transformer (also applied with ref_params).
    monitors: {name: score(params, tokens, masks) -> p [B]} (monitor.score_fn).
    tx: the optimizer.
    cfg: the step settings.

  Returns:
    (new state with step + 1, metrics): scalar float32 loss, grad_norm,
    param_norm, advantage_mean, advantage_std, entropy, the rl_loss metrics
    (pg_loss, kl_ref, clip fractions, ratio_mean, approx_kl_old, tokens), the
    shaping stats (reward_mean, shaped_reward_mean, shaping_mean, signal
    means) and monitor_<name>_p_mean for each monitor run.
  """
  check_inputs(cfg, rollout, ref_params, monitor_params, monitors)
  signals = monitor_signals(rollout, monitor_params, monitors or {}, cfg.monitors)
  advantages, shaping_stats = shaped_advantages(rollout, signals, cfg)  # [B]
  ref_logp = None
  if cfg.use_kl:
    ref_logp, _ = token_logp_and_entropy(model, jax.lax.stop_gradient(ref_params), rollout.tokens,
                                         rollout.attention_mask, cfg.loss_chunk)  # [B, T]
    ref_logp = jax.lax.stop_gradient(ref_logp)

  loss_fn = functools.partial(policy_loss, model=model, cfg=cfg)
  (loss, loss_metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      state.params, ref_logp, advantages, rollout)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)

  metrics = {**shaping_stats, **loss_metrics, "loss": loss, "grad_norm": optax.global_norm(grads),
             "param_norm": optax.global_norm(params), "advantage_mean": jnp.mean(advantages),
             "advantage_std": jnp.std(advantages)}
  for name in cfg.monitors:
    metrics[f"monitor_{name}_p_mean"] = jnp.mean(signals[MONITOR_SIGNALS[name]])
  new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
  return new_state, metrics


def make_rl_step(model: nn.Module, monitors: Mapping[str, ScoreFn] | None,
                 tx: optax.GradientTransformation, cfg: RLStepConfig, state_shardings: TrainState,
                 mesh: jax.sharding.Mesh, rules) -> Callable:
  """Jits `rl_update` with explicit shardings and the state donated.

  in_shardings: the state per `state_shardings`, every rollout array split over
  the batch axes (`mesh_lib.batch_sharding`), ref and monitor params as given
  (their arrays keep the shardings they are committed to). Metrics come back
  replicated.

  Returns:
    step(state, rollout, ref_params=None, monitor_params=None) -> (state,
    metrics), run under `use_mesh(mesh, rules)`. The passed state is donated.

  Raises:
    ValueError: a monitor that cfg.shaping reads is missing from `monitors`.
  """
  for name in cfg.monitors:
    if monitors is None or name not in monitors:
      raise ValueError(f"reward shaping {cfg.shaping!r} needs the {name!r} monitor; monitors "
                       f"(score functions) has keys {sorted(monitors) if monitors else []}")
  update = functools.partial(rl_update, model=model, monitors=monitors, tx=tx, cfg=cfg)
  jitted = jax.jit(
      update,
      in_shardings=(state_shardings, rollout_shardings(mesh), None, None),
      out_shardings=(state_shardings, mesh_lib.replicated(mesh)),
      donate_argnums=(0,))

  def step(state: TrainState, rollout: Rollout, ref_params: Any = None,
           monitor_params: Mapping[str, Any] | None = None):
    check_inputs(cfg, rollout, ref_params, monitor_params, monitors)
    if monitor_params is not None:  # only the monitors this arm reads enter the program
      monitor_params = {name: monitor_params[name] for name in cfg.monitors}
    if not cfg.use_kl:
      ref_params = None
    with mesh_lib.use_mesh(mesh, rules):
      return jitted(state, rollout, ref_params, monitor_params)

  return step
