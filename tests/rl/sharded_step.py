"""Runs RL update steps on several meshes; prints JSON. Run in a subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=8 (see test_step.py).

Also holds the tiny model, monitor and rollout builders that test_step.py uses.
"""

import json
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from afjax.models import monitor as mon
from afjax.models import transformer as tfm
from afjax.models.presets import get_preset
from afjax.parallel import mesh as mesh_lib
from afjax.rl import step as step_lib
from afjax.training import optim, state as state_lib

MESHES = {"single": {"data": 1}, "data8": {"data": 8}, "d2f2t2": {"data": 2, "fsdp": 2, "tensor": 2}}
NUM_STEPS = 2
TAGS = mon.TagIds(assistant=5, end=6, scratchpad_open=9, scratchpad_close=10, output_open=11,
                  output_close=12, pad=0)
PROMPT_LEN, RESPONSE_LEN, FOLLOWUP_LEN = 4, 9, 3


def model_config() -> tfm.TransformerConfig:
  return tfm.TransformerConfig(**get_preset("test"))


def init_policy(cfg, mesh, rules, seed=0, length=8):
  model = tfm.Transformer(cfg)
  dummy = jnp.zeros((1, length), jnp.int32)
  init_fn = lambda key: model.init(key, dummy, dummy, dummy > -1)["params"]
  return model, state_lib.init_params(init_fn, jax.random.key(seed), mesh, rules)


def init_monitor(cfg, view, mesh, rules, seed):
  """(score function, params placed on mesh) of a freshly initialised monitor."""
  monitor_cfg = mon.MonitorConfig(cfg, view, TAGS)
  classifier = mon.MonitorClassifier(monitor_cfg)
  tokens = jnp.zeros((1, 8), jnp.int32)
  init_fn = lambda key: classifier.init(key, tokens, tokens > -1)["params"]
  return mon.score_fn(monitor_cfg), state_lib.init_params(init_fn, jax.random.key(seed), mesh, rules)


def make_rollout(model, params, batch, length, seed):
  """A random rollout as a dict of NumPy arrays, plus the [B, T] follow-up mask.

  Row layout: left pad, prompt [BOS p p <|assistant|>], response
  [<scratchpad> s s s </scratchpad> <output> o </output> <|end|>], a 3-token
  follow-up turn, right pad. loss_mask is 1 on the response; old_logp is the
  policy's log-prob plus noise there (so the PPO ratio is not 1), 0 elsewhere.
  """
  rng = np.random.default_rng(seed)
  tokens = np.zeros((batch, length), np.int32)
  mask = np.zeros((batch, length), bool)
  loss_mask = np.zeros((batch, length), np.float32)
  followup = np.zeros((batch, length), bool)
  used = PROMPT_LEN + RESPONSE_LEN + FOLLOWUP_LEN
  scratchpad_len = np.zeros(batch, np.float32)
  for row in range(batch):
    left = row % (length - used + 1)
    word = lambda n: list(rng.integers(20, 300, n))
    prompt = [1, *word(2), TAGS.assistant]
    response = [TAGS.scratchpad_open, *word(3), TAGS.scratchpad_close, TAGS.output_open, *word(1),
                TAGS.output_close, TAGS.end]
    seq = prompt + response + word(FOLLOWUP_LEN)
    tokens[row, left:left + used] = seq
    mask[row, left:left + used] = True
    start = left + PROMPT_LEN
    loss_mask[row, start:start + RESPONSE_LEN] = 1.0
    followup[row, start + RESPONSE_LEN:left + used] = True
    scratchpad_len[row] = 3
  logp, _ = jax.jit(step_lib.token_logp_and_entropy, static_argnums=0)(
      model, jax.device_get(params), jnp.asarray(tokens), jnp.asarray(mask))
  noise = rng.normal(0.0, 0.2, (batch, length)).astype(np.float32)
  old_logp = np.where(loss_mask > 0, np.asarray(logp) + noise, 0.0).astype(np.float32)
  return dict(tokens=tokens, attention_mask=mask, first_turn_mask=mask & ~followup,
              loss_mask=loss_mask, old_logp=old_logp,
              rewards=rng.uniform(0, 1, batch).astype(np.float32), scratchpad_len=scratchpad_len,
              followup_no=rng.integers(0, 2, batch).astype(np.float32)), followup


def place_rollout(arrays, mesh) -> step_lib.Rollout:
  shardings = step_lib.rollout_shardings(mesh)
  return step_lib.Rollout(**{k: jax.device_put(v, getattr(shardings, k)) for k, v in arrays.items()})


def optimizer_config():
  return ml_collections.ConfigDict(dict(
      learning_rate=3e-3, schedule="constant", warmup_steps=0, min_lr_ratio=0.1, b1=0.9, b2=0.95,
      eps=1e-8, weight_decay=0.1, grad_clip=1.0))


ROLLOUTS = {}


def run(mesh_name, batch=8, length=20):
  cfg = model_config()
  devices = jax.devices()[:1] if mesh_name == "single" else jax.devices()
  mesh = mesh_lib.make_mesh(MESHES[mesh_name], devices)
  rules = mesh_lib.DEFAULT_RULES
  model, params = init_policy(cfg, mesh, rules)
  ref_params = jax.tree.map(jnp.copy, params)  # the state's params are donated
  score, monitor_params = init_monitor(cfg, "scratchpad", mesh, rules, seed=3)
  tx = optim.make_optimizer(optimizer_config(), NUM_STEPS)
  state = state_lib.create_train_state(params, tx, seed=0, mesh=mesh)
  rl_cfg = step_lib.RLStepConfig(advantage="grpo", group_size=4, shaping="process_supervision",
                                 shaping_coef=0.5, kl_coef=0.05, clip_eps_high=0.28)
  step = step_lib.make_rl_step(model, {"scratchpad": score}, tx, rl_cfg,
                               state_lib.state_shardings(state, tx, mesh), mesh, rules)
  out = {"losses": [], "grad_norms": [], "p_af": []}
  for i in range(NUM_STEPS):
    if i not in ROLLOUTS:  # the same host rollouts on every mesh (the params are equal)
      ROLLOUTS[i], _ = make_rollout(model, ref_params, batch, length, seed=10 + i)
    arrays = ROLLOUTS[i]
    state, metrics = step(state, place_rollout(arrays, mesh), ref_params,
                          {"scratchpad": monitor_params})
    out["losses"].append(float(metrics["loss"]))
    out["grad_norms"].append(float(metrics["grad_norm"]))
    out["p_af"].append(float(metrics["monitor_scratchpad_p_mean"]))
  out["step"] = int(state.step)
  return out


if __name__ == "__main__":
  print(json.dumps({name: run(name) for name in sys.argv[1:]}))
