"""The shared training loop: NaN guard before saving, data positions, resume."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from afjax.parallel import mesh as mesh_lib
from afjax.training import checkpoint as checkpoint_lib
from afjax.training import logging as log_lib
from afjax.training import loop, state as state_lib


def make_state():
  mesh = mesh_lib.make_mesh({"data": 1}, jax.devices()[:1])
  params = jax.device_put({"w": jnp.ones((4, 4))}, mesh_lib.replicated(mesh))
  tx = optax.sgd(0.1)
  state = state_lib.create_train_state(params, tx, seed=0, mesh=mesh)
  return state, state_lib.state_shardings(state, tx, mesh)


def fake_step(nan_at_step=None):
  def step(state, batch):
    new_step = state.step + 1
    loss = jnp.where(new_step == (nan_at_step or -1), jnp.nan, batch["x"].sum())
    params = jax.tree.map(lambda p: p + batch["x"].mean(), state.params)
    metrics = {"loss": loss, "grad_norm": jnp.float32(1.0)}
    return state.replace(step=new_step, params=params, data_position=state.data_position + 1), metrics
  return step


def test_non_finite_loss_stops_before_saving(tmp_path):
  state, _ = make_state()
  checkpointer = checkpoint_lib.Checkpointer(tmp_path / "ckpt", save_every=1, keep=10)
  with log_lib.MetricLogger(tmp_path, tensorboard=False) as logger:
    with pytest.raises(log_lib.NonFiniteError, match=r"step 3.*loss"):
      loop.train_loop(state, fake_step(nan_at_step=3), lambda k: {"x": np.full((2,), k, np.float32)},
                      5, checkpointer, logger, fingerprint={}, log_every=1)
  checkpointer.wait()
  assert checkpointer.all_steps() == [1, 2]
  checkpointer.close()


def test_batches_follow_the_data_position_across_a_resume(tmp_path):
  seen = []
  def get_batch(k):
    seen.append(k)
    return {"x": np.full((2,), k, np.float32)}
  state, shardings = make_state()
  checkpointer = checkpoint_lib.Checkpointer(tmp_path / "ckpt", save_every=2, keep=5)
  with log_lib.MetricLogger(tmp_path, tensorboard=False) as logger:
    loop.train_loop(state, fake_step(), get_batch, 3, checkpointer, logger, fingerprint={"a": 1})
    fresh, _ = make_state()
    resumed = loop.resume_or_init(checkpointer, fresh, shardings, {"a": 1})
    assert int(resumed.step) == 3 and int(resumed.data_position) == 3
    final = loop.train_loop(resumed, fake_step(), get_batch, 5, checkpointer, logger, fingerprint={"a": 1})
  checkpointer.close()
  assert seen == [0, 1, 2, 3, 4]
  np.testing.assert_allclose(final.params["w"], 1.0 + sum(range(5)))


class Crash(Exception):
  pass


def test_a_resumed_run_logs_every_step_once(tmp_path):
  # The first attempt logs steps 1-4, checkpoints at 3 and crashes before step 5; the resumed
  # run redoes step 4, whose first record must be dropped (MetricLogger(resume_step=...)).
  def crashing(k):
    if k == 4:
      raise Crash()
    return {"x": np.full((2,), k, np.float32)}

  for get_batch in (crashing, lambda k: {"x": np.full((2,), k, np.float32)}):
    state, shardings = make_state()
    checkpointer = checkpoint_lib.Checkpointer(tmp_path / "ckpt", save_every=3, keep=3)
    state = loop.resume_or_init(checkpointer, state, shardings, {})
    with log_lib.MetricLogger(tmp_path, tensorboard=False, resume_step=int(state.step)) as logger:
      try:
        loop.train_loop(state, fake_step(), get_batch, 6, checkpointer, logger, {}, log_every=1,
                        eval_fn=lambda s: {"loss": 0.0}, eval_every=2)
      except Crash:
        pass
    checkpointer.close()
  records = log_lib.read_jsonl(tmp_path / "metrics.jsonl")
  train = [r["step"] for r in records if "train/loss" in r]
  evals = [r["step"] for r in records if "eval/loss" in r]
  assert train == [1, 2, 3, 4, 5, 6] and evals == [2, 4]
