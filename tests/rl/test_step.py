"""The fused RL update: a hand-written reference, monitors scored inside, follow-up
masking, errors, and 8-fake-device equivalence (in a subprocess)."""

import dataclasses
import functools
import json
import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from afjax.parallel import mesh as mesh_lib
from afjax.rl import step as step_lib
from afjax.training import state as state_lib
from tests.rl import sharded_step as helpers

BATCH, LENGTH, GROUP = 4, 18, 2
LR = 0.5
RULES = mesh_lib.DEFAULT_RULES


MESHES = ("single", "data8", "d2f2t2")


@pytest.fixture(scope="module", autouse=True)
def sharded_process():
  """Starts tests/rl/sharded_step.py at once, so it runs while the other tests do."""
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
  proc = subprocess.Popen([sys.executable, "-m", "tests.rl.sharded_step", *MESHES],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
  yield proc
  if proc.poll() is None:
    proc.kill()
    proc.communicate()


@pytest.fixture(scope="module")
def setup():
  """Policy, reference params, both monitors and a rollout on a one-device mesh."""
  mesh = mesh_lib.make_mesh({"data": 1}, jax.devices()[:1])
  cfg = helpers.model_config()
  model, params = helpers.init_policy(cfg, mesh, RULES)
  ref_params = jax.tree.map(lambda p: p + 0.05 * jnp.sin(jnp.arange(p.size).reshape(p.shape)),
                            params)
  scratchpad_score, scratchpad_params = helpers.init_monitor(cfg, "scratchpad", mesh, RULES, seed=3)
  output_score, output_params = helpers.init_monitor(cfg, "output", mesh, RULES, seed=4)
  arrays, followup = helpers.make_rollout(model, params, BATCH, LENGTH, seed=1)
  return dict(mesh=mesh, model=model, params=params, ref_params=ref_params, arrays=arrays,
              followup=followup,
              monitors={"scratchpad": scratchpad_score, "output": output_score},
              monitor_params={"scratchpad": scratchpad_params, "output": output_params})


def fresh_state(setup, tx):
  params = jax.tree.map(jnp.copy, setup["params"])
  return state_lib.create_train_state(params, tx, seed=0, mesh=setup["mesh"])


def rollout_of(arrays):
  return step_lib.Rollout(**{k: jnp.asarray(v) for k, v in arrays.items()})


TX = optax.sgd(LR)
_JITTED = {}


def run_update(setup, cfg, arrays, monitor_params=None, monitors=None, ref_params=None):
  """rl_update jitted without shardings or donation (one compile per config and monitor set)."""
  key = (cfg, tuple(sorted(monitors or {})))
  if key not in _JITTED:
    _JITTED[key] = jax.jit(functools.partial(step_lib.rl_update, model=setup["model"],
                                             monitors=monitors, tx=TX, cfg=cfg))
  return _JITTED[key](fresh_state(setup, TX), rollout_of(arrays), ref_params, monitor_params)


# The hand-written reference (NumPy shaping/advantages, separate log-probs).


def hand_shaped(rewards, p, cfg):
  if cfg.shaping == "process_supervision":
    return rewards + cfg.shaping_coef * np.log(np.clip(1.0 - p, 1e-6, 1.0))
  if cfg.shaping == "output_monitor_linear":
    return rewards - cfg.shaping_coef * p
  raise NotImplementedError(cfg.shaping)


def hand_advantages(shaped, cfg):
  groups = shaped.reshape(-1, cfg.group_size).astype(np.float64)
  centered = groups - groups.mean(axis=1, keepdims=True)
  if cfg.advantage == "grpo":
    return (centered / (groups.std(axis=1, ddof=1, keepdims=True) + 1e-6)).reshape(-1)
  if cfg.advantage == "rloo":
    return (centered * cfg.group_size / (cfg.group_size - 1)).reshape(-1)
  raise NotImplementedError(cfg.advantage)


def hand_logp(model, params, tokens, mask):
  """log p(tokens[:, t] | < t) at t >= 1 from one forward pass over all T tokens; 0 at t = 0."""
  positions = jnp.maximum(jnp.cumsum(mask.astype(jnp.int32), axis=1) - 1, 0)
  logits, _ = model.apply({"params": params}, tokens, positions, mask)  # [B, T, V]
  logz = jax.scipy.special.logsumexp(logits[:, :-1], axis=-1)  # [B, T-1]
  picked = jnp.take_along_axis(logits[:, :-1], tokens[:, 1:, None], axis=-1)[..., 0]
  return jnp.concatenate([jnp.zeros_like(tokens[:, :1], jnp.float32), picked - logz], axis=1)


def hand_loss(params, model, arrays, advantages, ref_logp, cfg):
  tokens, mask = jnp.asarray(arrays["tokens"]), jnp.asarray(arrays["attention_mask"])
  m = jnp.asarray(arrays["loss_mask"])
  logp = hand_logp(model, params, tokens, mask)
  adv = jnp.asarray(advantages, jnp.float32)[:, None]
  if cfg.loss_name == "ppo_clip":
    ratio = jnp.exp(logp - arrays["old_logp"])
    clipped = jnp.clip(ratio, 1 - cfg.clip_eps_low, 1 + cfg.clip_eps_high)
    per_token = -jnp.minimum(ratio * adv, clipped * adv)
  else:
    per_token = -adv * logp
  if cfg.kl_coef > 0:
    d = ref_logp - logp
    per_token = per_token + cfg.kl_coef * (jnp.exp(d) - d - 1)
  if cfg.aggregation == "token_mean":
    return jnp.sum(per_token * m) / jnp.sum(m)
  return jnp.mean(jnp.sum(per_token * m, axis=1) / jnp.sum(m, axis=1))  # sequence_mean


REFERENCE_CASES = [
    step_lib.RLStepConfig(advantage="grpo", group_size=GROUP, shaping="process_supervision",
                          shaping_coef=0.5, loss_name="ppo_clip", aggregation="token_mean",
                          clip_eps_low=0.1, clip_eps_high=0.15, kl_coef=0.1),
    step_lib.RLStepConfig(advantage="rloo", group_size=GROUP, shaping="output_monitor_linear",
                          shaping_coef=2.0, loss_name="reinforce", aggregation="sequence_mean"),
    # The policy's and the reference's log-probs projected 5 positions at a time (padded blocks).
    step_lib.RLStepConfig(advantage="grpo", group_size=GROUP, shaping="process_supervision",
                          shaping_coef=0.5, loss_name="ppo_clip", aggregation="token_mean",
                          clip_eps_low=0.1, clip_eps_high=0.15, kl_coef=0.1, loss_chunk=5),
]


@pytest.mark.parametrize("cfg", REFERENCE_CASES,
                         ids=["grpo_ps_ppo_kl", "rloo_output_reinforce", "grpo_ps_ppo_kl_chunked"])
def test_make_rl_step_matches_hand_reference(setup, cfg):
  arrays, model = setup["arrays"], setup["model"]
  monitor = cfg.monitors[0]
  score, mparams = setup["monitors"][monitor], setup["monitor_params"][monitor]
  p = np.asarray(score(mparams, jnp.asarray(arrays["tokens"]), jnp.asarray(arrays["attention_mask"])))
  advantages = hand_advantages(hand_shaped(arrays["rewards"], p, cfg), cfg)
  ref_logp = None
  if cfg.kl_coef > 0:
    ref_logp = hand_logp(model, setup["ref_params"], jnp.asarray(arrays["tokens"]),
                         jnp.asarray(arrays["attention_mask"]))
  params0 = jax.tree.map(np.asarray, setup["params"])
  # Shaping and advantages above are NumPy, step by step; only the hand loss's grad is compiled
  # (an eager grad through the scanned decoder takes most of a minute on CPU).
  hand_grad = jax.jit(jax.value_and_grad(hand_loss), static_argnums=(1, 5))
  loss, grads = hand_grad(params0, model, arrays, advantages, ref_logp, cfg)
  tx = optax.sgd(LR)
  updates, _ = tx.update(grads, tx.init(params0), params0)
  expected_params = optax.apply_updates(params0, updates)

  state = fresh_state(setup, tx)
  step = step_lib.make_rl_step(model, setup["monitors"], tx, cfg,
                               state_lib.state_shardings(state, tx, setup["mesh"]), setup["mesh"],
                               RULES)
  new_state, metrics = step(state, rollout_of(arrays), setup["ref_params"], setup["monitor_params"])

  np.testing.assert_allclose(float(metrics["loss"]), float(loss), rtol=0, atol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-5),
               jax.device_get(new_state.params), expected_params)
  assert int(new_state.step) == 1
  np.testing.assert_allclose(float(metrics[f"monitor_{monitor}_p_mean"]), p.mean(), atol=1e-6)
  np.testing.assert_allclose(float(metrics["advantage_mean"]), advantages.mean(), atol=1e-5)
  np.testing.assert_allclose(float(metrics["grad_norm"]), float(optax.global_norm(grads)),
                             rtol=1e-4)
  assert float(metrics["tokens"]) == arrays["loss_mask"].sum()
  assert 0 < float(metrics["entropy"]) < np.log(model.cfg.vocab_size) + 1e-4
  for key in ("pg_loss", "kl_ref", "clip_fraction", "reward_mean", "shaped_reward_mean",
              "shaping_mean", "advantage_std"):
    assert np.isfinite(float(metrics[key])), key


PS_CFG = step_lib.RLStepConfig(advantage="dr_grpo", group_size=GROUP, shaping="process_supervision",
                               shaping_coef=2.0)


def test_chunked_logp_and_entropy_equal_the_whole_projection(setup):
  tokens = jnp.asarray(setup["arrays"]["tokens"])
  mask = jnp.asarray(setup["arrays"]["attention_mask"])
  fn = jax.jit(step_lib.token_logp_and_entropy, static_argnums=(0, 4))
  whole = fn(setup["model"], setup["params"], tokens, mask, 0)
  for chunk in (5, 64):  # 17 positions: padded blocks, and one block
    chex.assert_trees_all_close(fn(setup["model"], setup["params"], tokens, mask, chunk), whole,
                                atol=1e-6, rtol=1e-6)
  assert float(jnp.max(whole[1])) > 0.0


def test_monitor_is_scored_inside_the_update(setup):
  arrays, scratch = setup["arrays"], {"scratchpad": setup["monitor_params"]["scratchpad"]}
  monitors = {"scratchpad": setup["monitors"]["scratchpad"]}
  _, base = run_update(setup, PS_CFG, arrays, scratch, monitors)
  # A sharper monitor (head kernel scaled): same policy inputs, different shaped rewards and loss.
  sharp = dict(scratch["scratchpad"])
  sharp["head"] = {**sharp["head"], "kernel": sharp["head"]["kernel"] * 300.0}
  _, other = run_update(setup, PS_CFG, arrays, {"scratchpad": sharp}, monitors)
  assert float(other["monitor_scratchpad_p_mean"]) != float(base["monitor_scratchpad_p_mean"])
  assert abs(float(other["shaped_reward_mean"]) - float(base["shaped_reward_mean"])) > 1e-3
  assert abs(float(other["loss"]) - float(base["loss"])) > 1e-4
  # A changed scratchpad token changes the monitor's p, hence the shaped rewards.
  edited = dict(arrays, tokens=arrays["tokens"].copy())
  row, col = 0, np.flatnonzero(arrays["loss_mask"][0])[1]  # the first word inside <scratchpad>
  edited["tokens"][row, col] = 299 if arrays["tokens"][row, col] != 299 else 298
  _, changed = run_update(setup, PS_CFG, edited, scratch, monitors)
  assert float(changed["monitor_scratchpad_p_mean"]) != float(base["monitor_scratchpad_p_mean"])
  assert float(changed["shaped_reward_mean"]) != float(base["shaped_reward_mean"])
  assert float(changed["loss"]) != float(base["loss"])


def test_baseline_needs_no_monitor(setup):
  cfg = step_lib.RLStepConfig(advantage="grpo", group_size=GROUP)
  assert cfg.monitors == ()
  state, metrics = run_update(setup, cfg, setup["arrays"])
  assert not any(key.startswith("monitor_") for key in metrics)
  np.testing.assert_allclose(float(metrics["shaped_reward_mean"]), setup["arrays"]["rewards"].mean(),
                             atol=1e-6)
  assert int(state.step) == 1


def test_followup_turn_does_not_reach_the_update(setup):
  arrays, followup = setup["arrays"], setup["followup"]
  assert followup.any() and not (followup & (arrays["loss_mask"] > 0)).any()
  rng = np.random.default_rng(5)
  perturbed = dict(arrays, tokens=np.where(followup, rng.integers(20, 300, followup.shape),
                                           arrays["tokens"]).astype(np.int32),
                   old_logp=np.where(followup, -rng.uniform(0, 9, followup.shape),
                                     arrays["old_logp"]).astype(np.float32))
  assert (perturbed["tokens"] != arrays["tokens"]).any()
  scratch = {"scratchpad": setup["monitor_params"]["scratchpad"]}
  monitors = {"scratchpad": setup["monitors"]["scratchpad"]}
  state_a, metrics_a = run_update(setup, PS_CFG, arrays, scratch, monitors)
  state_b, metrics_b = run_update(setup, PS_CFG, perturbed, scratch, monitors)
  for key in ("loss", "entropy", "grad_norm", "monitor_scratchpad_p_mean", "ratio_mean"):
    np.testing.assert_allclose(float(metrics_b[key]), float(metrics_a[key]), rtol=0, atol=1e-6)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=0, atol=1e-6),
               jax.device_get(state_a.params), jax.device_get(state_b.params))


@pytest.mark.parametrize("view, unclosed", [
    ("scratchpad", ("scratchpad_close", "output_open", "output_close", "end")),
    ("output", ("output_close", "end")),
])
def test_monitors_do_not_see_the_followup_after_a_cut_off_first_turn(setup, view, unclosed):
  # A first turn that ran out of tokens inside its scratchpad (or output) has no <|end|>, so the
  # open region swallows the follow-up turn; first_turn_mask must keep that turn out of the score.
  arrays, followup = setup["arrays"], setup["followup"]
  tokens = arrays["tokens"].copy()
  for tag in unclosed:
    tokens[~followup & (tokens == getattr(helpers.TAGS, tag))] = 42
  cut = dict(arrays, tokens=tokens)
  rng = np.random.default_rng(7)
  perturbed = dict(cut, tokens=np.where(followup, rng.integers(20, 300, followup.shape),
                                        tokens).astype(np.int32))
  score, params = setup["monitors"][view], setup["monitor_params"][view]

  def scores(rows, mask_key):
    return np.asarray(score(params, jnp.asarray(rows["tokens"]), jnp.asarray(rows[mask_key])))

  np.testing.assert_array_equal(scores(perturbed, "first_turn_mask"), scores(cut, "first_turn_mask"))
  assert np.abs(scores(perturbed, "attention_mask") - scores(cut, "attention_mask")).max() > 1e-4
  monitors, monitor_params = {view: score}, {view: params}
  cfg = PS_CFG if view == "scratchpad" else dataclasses.replace(PS_CFG, shaping="output_monitor")
  _, metrics_a = run_update(setup, cfg, cut, monitor_params, monitors)
  _, metrics_b = run_update(setup, cfg, perturbed, monitor_params, monitors)
  key = f"monitor_{view}_p_mean"
  np.testing.assert_allclose(float(metrics_b[key]), float(metrics_a[key]), rtol=0, atol=0)


# Errors.


@pytest.mark.parametrize("kwargs, message", [
    (dict(advantage="ppo"), "advantage estimator 'ppo' is not registered"),
    (dict(shaping="nope"), "reward shaping 'nope' is not registered"),
    (dict(loss_name="dpo"), "policy loss 'dpo' is not registered"),
    (dict(aggregation="max"), "loss aggregation 'max' is not registered"),
    (dict(shaping="length_penalty"), r"missing parameter\(s\) \['threshold'\]"),
    (dict(shaping_params=(("eps", 0.1),)), r"unknown parameter\(s\) \['eps'\]"),
    (dict(kl_coef=-1.0), "kl_coef=-1.0"),
    (dict(loss_chunk=-4), "loss_chunk=-4; allowed: an integer >= 0"),
    (dict(loss_chunk=True), "loss_chunk=True; allowed: an integer >= 0"),
    (dict(group_size=0), "group_size=0; allowed: an int >= 1"),
    (dict(group_size=True), "group_size=True; allowed: an int >= 1"),
    (dict(group_size=8.0), "group_size=8.0; allowed: an int >= 1"),
])
def test_config_errors(kwargs, message):
  with pytest.raises(ValueError, match=message):
    step_lib.RLStepConfig(**kwargs)


def test_group_size_must_divide_batch(setup):
  cfg = step_lib.RLStepConfig(group_size=3)
  with pytest.raises(ValueError, match="group_size=3 does not divide the batch size B=4"):
    run_update(setup, cfg, setup["arrays"])


@pytest.mark.parametrize("shaping, missing", [("process_supervision", "scratchpad"),
                                              ("af_bonus", "scratchpad"),
                                              ("output_monitor", "output")])
def test_missing_monitor(setup, shaping, missing):
  cfg = step_lib.RLStepConfig(group_size=GROUP, shaping=shaping)
  assert cfg.monitors == (missing,)
  wrong = {"scratchpad": "output", "output": "scratchpad"}[missing]
  with pytest.raises(ValueError, match=f"'{shaping}' needs the '{missing}' monitor"):
    run_update(setup, cfg, setup["arrays"], {wrong: setup["monitor_params"][wrong]},
               setup["monitors"])
  with pytest.raises(ValueError, match=f"'{shaping}' needs the '{missing}' monitor"):
    run_update(setup, cfg, setup["arrays"], None, setup["monitors"])
  with pytest.raises(ValueError, match=f"'{shaping}' needs the '{missing}' monitor"):
    step_lib.make_rl_step(setup["model"], {}, optax.sgd(LR), cfg, None, setup["mesh"], RULES)


def test_kl_needs_reference(setup):
  cfg = step_lib.RLStepConfig(group_size=GROUP, kl_coef=0.1)
  with pytest.raises(ValueError, match="kl_coef=0.1 needs ref_params"):
    run_update(setup, cfg, setup["arrays"], ref_params=None)


# Multi-device equivalence.


@pytest.fixture(scope="module")
def sharded_runs(sharded_process):
  stdout, stderr = sharded_process.communicate(timeout=600)
  assert sharded_process.returncode == 0, stderr[-4000:]
  return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mesh_name", MESHES[1:])
def test_sharded_steps_match_single_device(sharded_runs, mesh_name):
  run, single = sharded_runs[mesh_name], sharded_runs["single"]
  assert run["step"] == single["step"] == 2
  np.testing.assert_allclose(run["losses"], single["losses"], rtol=0, atol=1e-5)
  np.testing.assert_allclose(run["p_af"], single["p_af"], rtol=0, atol=1e-5)
  np.testing.assert_allclose(run["grad_norms"], single["grad_norms"], rtol=1e-4)
