"""Runs AdamW steps and sampling on several meshes; prints JSON. Run in a subprocess
with XLA_FLAGS=--xla_force_host_platform_device_count=8 (see test_sharding.py)."""

import dataclasses
import json
import re
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from afjax.models import monitor as mon
from afjax.models import transformer as tfm
from afjax.models.presets import get_preset
from afjax.parallel import mesh as mesh_lib
from afjax.sampling import sampler as sampler_lib
from afjax.training import optim, state as state_lib, supervised

MESHES = {"single": {"data": 1}, "data8": {"data": 8}, "d2f2t2": {"data": 2, "fsdp": 2, "tensor": 2},
          "fsdp8": {"fsdp": 8}}
NUM_STEPS = 4
BATCH, LENGTH = 8, 16


def optimizer_config():
  return ml_collections.ConfigDict(dict(
      learning_rate=3e-3, schedule="cosine", warmup_steps=1, min_lr_ratio=0.1, b1=0.9, b2=0.95,
      eps=1e-8, weight_decay=0.1, grad_clip=1.0))


def run(mesh_name):
  cfg = tfm.TransformerConfig(**{**get_preset("test"), "d_model": 64, "mlp_hidden": 128,
                                 "head_dim": 16})
  devices = jax.devices()[:1] if mesh_name == "single" else jax.devices()
  mesh = mesh_lib.make_mesh(MESHES[mesh_name], devices)
  rules = mesh_lib.DEFAULT_RULES
  model = tfm.Transformer(cfg)
  dummy = jnp.zeros((1, LENGTH), jnp.int32)
  init_fn = lambda key: model.init(key, dummy, dummy, dummy > -1)["params"]
  params = state_lib.init_params(init_fn, jax.random.key(0), mesh, rules)
  sharded_ok = True
  try:
    mesh_lib.assert_large_params_sharded(params, mesh, min_size=1024)
  except AssertionError:
    sharded_ok = False
  tx = optim.make_optimizer(optimizer_config(), NUM_STEPS)
  state = state_lib.create_train_state(params, tx, seed=0, mesh=mesh)
  shardings = state_lib.state_shardings(state, tx, mesh)
  opt_sharded = all(
      leaf.sharding == p.sharding for leaf, p in zip(
          jax.tree.leaves(state.opt_state[1][0].mu), jax.tree.leaves(state.params)))
  step = supervised.make_train_step(lambda p, b: supervised.lm_loss(model, p, b), tx, shardings,
                                    mesh, rules)
  rng = np.random.default_rng(0)
  losses = []
  for _ in range(NUM_STEPS):
    seq = rng.integers(3, cfg.vocab_size, (BATCH, LENGTH + 1)).astype(np.int32)
    batch = supervised.place_batch(
        {"inputs": seq[:, :-1], "targets": seq[:, 1:], "loss_mask": np.ones((BATCH, LENGTH), np.float32)},
        mesh)
    state, metrics = step(state, batch)
    losses.append(float(metrics["loss"]))
  prompts = [list(rng.integers(3, cfg.vocab_size, n)) for n in (3, 5, 7, 9, 11, 13, 15, 16)]
  tokens, mask = sampler_lib.left_pad(prompts, 16)
  tokens, mask = (jax.device_put(x, mesh_lib.batch_sharding(mesh)) for x in (tokens, mask))
  samples = {}
  for temperature in (0.0, 1.0):
    sampler = sampler_lib.Sampler(cfg, sampler_lib.SamplingConfig(temperature=temperature))
    with mesh_lib.use_mesh(mesh, rules):
      out = sampler.generate(state.params, tokens, mask, 12, jax.random.key(7))
    samples[str(temperature)] = np.asarray(out.tokens).tolist()
  return {"losses": losses, "samples": samples, "monitor_scores": monitor_scores(cfg, mesh, rules),
          "params_sharded": sharded_ok,
          "opt_state_follows_params": opt_sharded,
          "param_bytes_per_device": mesh_lib.bytes_per_device(state.params),
          "blocked_head_gradient": blocked_head_gradient(cfg, mesh, rules)}


def blocked_head_gradient(cfg, mesh, rules):
  """For an untied and a tied head: every 2-D float32 array type that the blocked loss's
  compiled gradient carries through its loops (a list: the head itself, loop-invariant,
  and the gradient summed over the blocks may share a type), beside the head's global and
  per-device shapes. Under FSDP the summed gradient should be carried sharded."""
  batch = supervised.place_batch({"inputs": np.zeros((BATCH, LENGTH), np.int32),
                                  "targets": np.zeros((BATCH, LENGTH), np.int32),
                                  "loss_mask": np.ones((BATCH, LENGTH), np.float32)}, mesh)
  heads = {}
  for tied in (False, True):
    model = tfm.Transformer(dataclasses.replace(cfg, tie_embeddings=tied))
    dummy = jnp.zeros((1, LENGTH), jnp.int32)
    params = state_lib.init_params(lambda key: model.init(key, dummy, dummy, dummy > -1)["params"],
                                   jax.random.key(0), mesh, rules)
    grad_fn = jax.jit(jax.grad(lambda p, b: supervised.lm_loss(model, p, b, loss_chunk=4)[0]))
    with mesh_lib.use_mesh(mesh, rules):
      text = grad_fn.lower(params, batch).compile().as_text()
    carried = []
    for line in text.splitlines():
      if " while(" in line:  # "%while.N = (carried types) while(...)"
        carried += [[int(a), int(b)] for a, b in
                    re.findall(r"f32\[(\d+),(\d+)\]", line.split(" while(")[0])]
    head = params["embedding"] if tied else params["lm_head"]["kernel"]
    heads["tied" if tied else "untied"] = {
        "loop_carried_2d": carried, "head_shape": list(head.shape),
        "head_shape_per_device": list(head.addressable_shards[0].data.shape)}
  return heads


def monitor_scores(cfg, mesh, rules):
  """The scratchpad monitor's p(AF) on random transcripts, params and batch sharded."""
  tags = mon.TagIds(assistant=5, end=6, scratchpad_open=9, scratchpad_close=10, output_open=11,
                    output_close=12, pad=0)
  monitor_cfg = mon.MonitorConfig(cfg, "scratchpad", tags)
  classifier = mon.MonitorClassifier(monitor_cfg)
  rng = np.random.default_rng(1)
  rows = [[1, *rng.integers(20, 300, 4), 5, 9, *rng.integers(20, 300, 6), 10, 11,
           *rng.integers(20, 300, 3), 12, 6] for _ in range(BATCH)]
  tokens = jnp.asarray(rows, jnp.int32)
  mask = jnp.ones_like(tokens, bool)
  init_fn = lambda key: classifier.init(key, tokens[:1], mask[:1])["params"]
  params = state_lib.init_params(init_fn, jax.random.key(3), mesh, rules)
  placed = [jax.device_put(x, mesh_lib.batch_sharding(mesh)) for x in (tokens, mask)]
  with mesh_lib.use_mesh(mesh, rules):
    return np.asarray(jax.jit(mon.score_fn(monitor_cfg))(params, *placed)).tolist()


if __name__ == "__main__":
  print(json.dumps({name: run(name) for name in sys.argv[1:]}))
