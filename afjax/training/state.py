"""The train state and its sharded initialisation.

Parameters are plain pytrees of arrays (the logical-partitioning boxes that
Flax puts on them at init are stripped once their shardings are known).
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from afjax.parallel import mesh as mesh_lib
from afjax.parallel import multihost


@flax.struct.dataclass
class TrainState:
  """Everything a run needs to continue exactly where it stopped.

  Attributes:
    step: [] int32, optimizer steps taken.
    params: model parameters.
    opt_state: optax state.
    rng: [2] uint32 raw key data (checkpointable; wrap with jax.random.wrap_key_data).
    data_position: [] int32, index of the next batch to read.
  """

  step: jax.Array
  params: Any
  opt_state: Any
  rng: jax.Array
  data_position: jax.Array

  def as_dict(self) -> dict[str, Any]:
    return {"step": self.step, "params": self.params, "opt_state": self.opt_state,
            "rng": self.rng, "data_position": self.data_position}

  @classmethod
  def from_dict(cls, values: dict[str, Any]) -> "TrainState":
    return cls(**{k: values[k] for k in ("step", "params", "opt_state", "rng", "data_position")})


def param_shardings(init_fn: Callable[[jax.Array], Any], mesh: jax.sharding.Mesh, rules) -> Any:
  """NamedShardings of the unboxed params that `init_fn(rng)` returns (boxed)."""
  with mesh_lib.use_mesh(mesh, rules):
    boxed = jax.eval_shape(init_fn, jax.random.key(0))
  return mesh_lib.logical_shardings(boxed, mesh, rules)


def init_params(init_fn: Callable[[jax.Array], Any], rng: jax.Array, mesh, rules) -> Any:
  """Initialises params directly into their shardings (no full copy on one device)."""
  shardings = param_shardings(init_fn, mesh, rules)
  with mesh_lib.use_mesh(mesh, rules):
    return jax.jit(lambda key: nn.meta.unbox(init_fn(key)), out_shardings=shardings)(rng)


def opt_state_shardings(tx: optax.GradientTransformation, params: Any, mesh) -> Any:
  """Shardings of tx.init(params): moments follow their params, the rest is replicated."""
  abstract = jax.eval_shape(tx.init, params)
  shardings = jax.tree.map(lambda p: p.sharding, params)
  return optax.tree_map_params(
      tx, lambda _, sharding: sharding, abstract, shardings,
      transform_non_params=lambda _: mesh_lib.replicated(mesh))


def state_shardings(state_or_params: Any, tx: optax.GradientTransformation, mesh) -> TrainState:
  """The TrainState of shardings for params already placed on `mesh`."""
  params = state_or_params.params if isinstance(state_or_params, TrainState) else state_or_params
  rep = mesh_lib.replicated(mesh)
  return TrainState(step=rep, params=jax.tree.map(lambda p: p.sharding, params),
                    opt_state=opt_state_shardings(tx, params, mesh), rng=rep, data_position=rep)


def create_train_state(params: Any, tx: optax.GradientTransformation, seed: int, mesh) -> TrainState:
  """A step-0 TrainState around sharded params, with the optimizer state sharded alike."""
  shardings = state_shardings(params, tx, mesh)
  opt_state = jax.jit(tx.init, out_shardings=shardings.opt_state)(params)
  rep = mesh_lib.replicated(mesh)
  return TrainState(
      step=jax.device_put(jnp.zeros((), jnp.int32), rep), params=params, opt_state=opt_state,
      rng=jax.device_put(jax.random.key_data(jax.random.key(seed)), rep),
      data_position=jax.device_put(jnp.zeros((), jnp.int32), rep))


def abstract_state(state_shardings_tree: TrainState, like: TrainState) -> TrainState:
  """ShapeDtypeStructs with shardings (a restore target) for a state shaped like `like`."""
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                      like, state_shardings_tree)


def params_digest(params: Any) -> str:
  """SHA-256 of every parameter's bytes in tree order: equal digests, equal params.

  Leaves sharded over several processes are gathered to every host first (a
  collective: every process calls this at the same point).
  """
  digest = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    digest.update(jax.tree_util.keystr(path).encode())
    digest.update(np.ascontiguousarray(multihost.to_host(leaf)).tobytes())
  return digest.hexdigest()
