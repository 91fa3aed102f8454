"""What a job does differently when it runs as several processes (one per host).

Every process runs the same program (SPMD) over one global mesh. Files shared
through the workdir are written by process 0 alone ("the primary"); stages that
create them (datasets, the tokenizer) run on the primary first while the others
wait for its outcome, then on the others, which find the files and load them.
Values wanted on the host (metrics, digests, sampled tokens) are gathered
from every process. On one process each function here is the plain
single-process operation, so jobs call them unconditionally.

Every function that communicates (`barrier`, `primary_first`, `primary_flag`,
`to_host` of a sharded array) must be called by all processes in the same order.
"""

from __future__ import annotations

import pathlib
from typing import Any, Callable, TypeVar

import jax
import numpy as np
from jax.experimental import multihost_utils

T = TypeVar("T")


def is_primary() -> bool:
  """Whether this process writes the workdir's shared files (process 0)."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process has reached the barrier `name` (no-op on one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def primary_first(fn: Callable[[], T], name: str) -> T:
  """Runs `fn` on the primary, then, once it has returned, on every other process.

  For stages that create shared files when they are missing and load them
  otherwise: only the primary creates them. If `fn` raises on the primary, the
  others raise too (RuntimeError) rather than wait for it.
  """
  if jax.process_count() == 1:
    return fn()
  if is_primary():
    try:
      result = fn()
    except BaseException:
      primary_flag(False)
      raise
    primary_flag(True)
    return result
  if not primary_flag(True):
    raise RuntimeError(f"{name} failed on process 0; its log says why")
  return fn()


def primary_flag(flag: bool) -> bool:
  """Process 0's value of `flag` on every process.

  For decisions read from shared files (does a file exist yet?) that lead to
  collective work: a process reading after the primary wrote would decide
  otherwise and leave the others waiting.
  """
  if jax.process_count() == 1:
    return bool(flag)
  return bool(multihost_utils.broadcast_one_to_all(np.asarray(bool(flag))))


def write_text(path: str | pathlib.Path, text: str) -> None:
  """Writes a shared text file from the primary only."""
  if is_primary():
    pathlib.Path(path).write_text(text)


def to_host(x: Any) -> np.ndarray:
  """The whole value of an array on this host, gathered from other processes if needed."""
  if isinstance(x, jax.Array) and not (x.is_fully_addressable or x.is_fully_replicated):
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return np.asarray(jax.device_get(x))


def tree_to_host(tree: Any) -> Any:
  """`to_host` of every leaf, in tree order."""
  return jax.tree.map(to_host, tree)


def replicated_everywhere() -> jax.sharding.NamedSharding:
  """A sharding that holds a whole copy of an array on every device of every process."""
  mesh = jax.sharding.Mesh(np.array(jax.devices()), ("devices",))
  return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())


def global_array(host: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
  """A global array from a host array every process holds in full.

  `jax.device_put` on one process; on several, each process places the
  slices its own devices hold (numpy inputs with a sharding over other
  processes' devices are refused by `jit`).
  """
  host = np.asarray(host)
  if jax.process_count() == 1:
    return jax.device_put(host, sharding)
  return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
