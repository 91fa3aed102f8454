"""Device mesh, logical axis rules and shardings.

A config holds the mesh shape (axes "data", "fsdp", "tensor"; -1 takes the
remaining devices) and a list of logical axis rules mapping the logical names
that the models put on parameters and activations to mesh axes. Everything
placed on devices gets a `NamedSharding` derived from those two.

    mesh = make_mesh({"data": -1, "fsdp": 1, "tensor": 1})
    with use_mesh(mesh, rules):
      abstract = jax.eval_shape(init_fn, rng)
      shardings = logical_shardings(abstract, mesh, rules)
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")
# Mesh axes that split the batch.
BATCH_AXES = ("data", "fsdp")

# MaxText-style defaults: FSDP shards the model width, tensor parallelism the
# heads / MLP width / vocabulary, the batch goes over data and fsdp.
DEFAULT_RULES: tuple[tuple[str, Any], ...] = (
    ("activation_batch", ("data", "fsdp")),
    ("activation_length", None),
    ("activation_embed", None),
    ("activation_heads", "tensor"),
    ("activation_kv_heads", "tensor"),
    ("activation_mlp", "tensor"),
    ("activation_vocab", "tensor"),
    ("head_dim", None),
    ("embed", "fsdp"),
    ("vocab", "tensor"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("mlp", "tensor"),
    ("norm", None),
    ("layers", None),
)


def resolve_mesh_shape(shape: Mapping[str, int], num_devices: int) -> dict[str, int]:
  """Fills in the one -1 axis and checks that the mesh uses every device.

  Raises:
    ValueError naming `mesh.<axis>` when the shape is invalid.
  """
  unknown = sorted(set(shape) - set(MESH_AXES))
  if unknown:
    raise ValueError(f"config.mesh has unknown axes {unknown}; allowed: {list(MESH_AXES)}")
  sizes = {axis: int(shape.get(axis, 1)) for axis in MESH_AXES}
  free = [axis for axis, size in sizes.items() if size == -1]
  for axis, size in sizes.items():
    if size == 0 or size < -1:
      raise ValueError(f"config.mesh.{axis}={size}; allowed: a positive size or -1")
  if len(free) > 1:
    raise ValueError(f"config.mesh: only one axis may be -1, got {free}")
  fixed = math.prod(size for size in sizes.values() if size != -1)
  if num_devices % fixed:
    raise ValueError(
        f"config.mesh={sizes} needs a multiple of {fixed} devices, but {num_devices} are "
        f"available; allowed: axis sizes whose product divides {num_devices}")
  if free:
    sizes[free[0]] = num_devices // fixed
  elif fixed != num_devices:
    raise ValueError(
        f"config.mesh={sizes} uses {fixed} of the {num_devices} devices; set one axis to -1 "
        f"or make the product equal {num_devices}")
  return sizes


def make_mesh(shape: Mapping[str, int], devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
  """A mesh over all (or the given) devices with axes ("data", "fsdp", "tensor")."""
  devices = list(jax.devices() if devices is None else devices)
  sizes = resolve_mesh_shape(shape, len(devices))
  # Auto axis types: flax's with_logical_constraint asserts under Explicit ones.
  axis_types = (jax.sharding.AxisType.Auto,) * len(MESH_AXES)
  return jax.make_mesh(tuple(sizes[a] for a in MESH_AXES), MESH_AXES, axis_types, devices=devices)


def rules_from_config(rules: Sequence[Sequence[Any]] | None) -> tuple[tuple[str, Any], ...]:
  """Normalises config rules (lists from ConfigDict) to flax's tuple form."""
  if rules is None:
    return DEFAULT_RULES
  normalised = []
  for rule in rules:
    if len(rule) != 2:
      raise ValueError(f"config.mesh_rules entry {rule!r}; allowed: a (logical_name, mesh_axes) pair")
    name, axes = rule
    if isinstance(axes, list):
      axes = tuple(axes)
    for axis in (axes if isinstance(axes, tuple) else (axes,)):
      if axis is not None and axis not in MESH_AXES:
        raise ValueError(f"config.mesh_rules[{name!r}] names mesh axis {axis!r}; "
                         f"allowed: {list(MESH_AXES)} or None")
    normalised.append((name, axes))
  return tuple(normalised)


@contextlib.contextmanager
def use_mesh(mesh: jax.sharding.Mesh, rules: Sequence[tuple[str, Any]]):
  """Context in which logical constraints inside models resolve on `mesh`."""
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    yield


def logical_shardings(abstract_boxed_tree: Any, mesh: jax.sharding.Mesh,
                      rules: Sequence[tuple[str, Any]]) -> Any:
  """NamedShardings for a tree whose leaves carry flax logical partitioning."""
  specs = nn.get_partition_spec(abstract_boxed_tree)
  return nn.logical_to_mesh_sharding(specs, mesh, rules)


def logical_sharding(mesh: jax.sharding.Mesh, rules: Sequence[tuple[str, Any]],
                     logical_axes: Sequence[str | None]) -> NamedSharding:
  """The NamedSharding of one array with the given logical axis names."""
  return NamedSharding(mesh, nn.logical_to_mesh_axes(tuple(logical_axes), rules))


def batch_sharding(mesh: jax.sharding.Mesh, ndim: int = 2) -> NamedSharding:
  """Batch-major arrays: the leading axis split over ("data", "fsdp")."""
  return NamedSharding(mesh, PartitionSpec(BATCH_AXES, *([None] * (ndim - 1))))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def batch_divisor(mesh: jax.sharding.Mesh) -> int:
  """How many ways the batch is split: data x fsdp."""
  return int(np.prod([mesh.shape[a] for a in BATCH_AXES]))


def assert_large_params_sharded(params: Any, mesh: jax.sharding.Mesh, min_size: int = 2 ** 12) -> None:
  """Checks that every parameter with >= min_size elements is really split.

  When the mesh has a model-parallel axis ("fsdp" or "tensor") larger than 1,
  each such parameter must occupy fewer bytes per device than its full size.

  Raises:
    AssertionError naming the first replicated parameter.
  """
  if mesh.shape["fsdp"] * mesh.shape["tensor"] == 1:
    return
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    if leaf.size < min_size:
      continue
    shard_shape = leaf.sharding.shard_shape(leaf.shape)
    if math.prod(shard_shape) >= leaf.size:
      raise AssertionError(
          f"parameter {jax.tree_util.keystr(path)} {leaf.shape} is replicated on mesh "
          f"{dict(mesh.shape)} (sharding {leaf.sharding.spec})")


def bytes_per_device(tree: Any) -> int:
  """Bytes of `tree` held on the first device (max over devices)."""
  totals: dict[Any, int] = {}
  for leaf in jax.tree_util.tree_leaves(tree):
    for shard in leaf.addressable_shards:
      totals[shard.device] = totals.get(shard.device, 0) + shard.data.nbytes
  return max(totals.values()) if totals else 0
