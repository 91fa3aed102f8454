"""Checkpoints of the whole train state, as a thin layer over orbax.

The train state is a dict of pytrees, for example::

    {"params": ..., "opt_state": ..., "step": int array,
     "rng": uint32 key data, "data_position": int array}

Each top-level entry is saved as its own orbax item (`ocp.args.StandardSave`,
so its own sub-directory of the step directory), next to one small JSON item,
the *manifest*, that records:

* a caller-given ``fingerprint`` dict (model config, tokenizer hash, ...), so
  that a checkpoint written by an incompatible run is refused on restore;
* the path, shape and dtype of every array, so that a target of a different
  structure is refused with the offending path named, before any array is
  read;
* a 64-bit checksum of every array's contents. Orbax (tensorstore) detects
  damage to its index files, but garbage written into a large array's data
  file restores silently as wrong numbers; the checksums catch that. They are
  guards against accidental damage, not against deliberate tampering.

Safety properties:

* Nothing read from disk is unpickled: orbax's `StandardSave`/`JsonSave`
  write arrays with tensorstore (zarr + OCDBT) and metadata as JSON, and this
  module uses neither `pickle` nor anything built on it.
* A save goes to a temporary directory that orbax renames into place once
  complete, so a crash mid-save never leaves a half-written step that looks
  finished. Older steps are deleted only through ``keep`` (orbax's
  ``max_to_keep``), and only after the newer save has committed.
* Restoring never deletes, moves or rewrites anything. A damaged latest step
  raises `CheckpointCorruptError` instead of silently falling back to an older
  step; the message lists the older steps and how to resume from one.

RNG keys: typed JAX keys (``jax.random.key(...)``) cannot be saved directly.
Store ``jax.random.key_data(key)`` (a uint32 array) in the state and rebuild the
key after restoring with ``jax.random.wrap_key_data(data)``. Saving or
restoring a typed key raises a `TypeError` that says so.

Typical use::

    checkpointer = Checkpointer(workdir / "ckpt", save_every=1000, keep=3)
    if checkpointer.latest_step() is not None:
        step, state = checkpointer.restore(abstract_state, fingerprint)
    ...
    checkpointer.save(step, state, fingerprint=fingerprint)  # when due
    ...
    checkpointer.save(step, state, fingerprint=fingerprint, force=True)
    checkpointer.close()
"""

from __future__ import annotations

import json
import logging
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from afjax.parallel import multihost

_MANIFEST_ITEM = "afjax_manifest"
_MANIFEST_FORMAT = "afjax.checkpoint.v1"
_BARE_ARRAY_KEY = "array"
_ITEM_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")
_MAX_CAUSE_CHARS = 400
_MISSING = "<absent>"

_logger = logging.getLogger(__name__)


class CheckpointError(Exception):
  """Base class of the errors raised by this module."""


class CheckpointMismatchError(CheckpointError, ValueError):
  """A checkpoint does not fit what the caller expects.

  Raised when its fingerprint differs from the expected one, or when its
  items, tree structure, shapes or dtypes differ from the restore target.
  """


class CheckpointCorruptError(CheckpointError, RuntimeError):
  """A checkpoint step cannot be read back intact (damaged or missing files)."""


# ---------------------------------------------------------------------------
# Array checksums.


def _as_uint32_words(x: jax.Array) -> jax.Array:
  """Reinterprets an array's bits as uint32 words (64-bit types: 2 a value)."""
  if x.dtype == jnp.bool_:
    return x.astype(jnp.uint32)
  bits = jax.dtypes.itemsize_bits(x.dtype)
  if bits in (8, 16):
    unsigned = jnp.uint8 if bits == 8 else jnp.uint16
    return jax.lax.bitcast_convert_type(x, unsigned).astype(jnp.uint32)
  return jax.lax.bitcast_convert_type(x, jnp.uint32)


def _flat_index(shape: tuple[int, ...]) -> jax.Array:
  """Row-major position of every element, modulo 2**32, without a reshape.

  Built from per-axis iotas so that a sharded input stays sharded (a reshape
  to 1-D could gather the whole array onto every device).
  """
  index = jnp.zeros(shape, jnp.uint32)
  stride = 1
  for axis in reversed(range(len(shape))):
    iota = jax.lax.broadcasted_iota(jnp.uint32, shape, axis)
    index = index + iota * jnp.uint32(stride % 2**32)
    stride *= shape[axis]
  return index


def _array_checksum(x: jax.Array) -> jax.Array:
  """Two position-weighted uint32 sums of an array's bits.

  Any single flipped bit changes the first sum (its weight is odd); moved
  elements almost always change it too, and random garbage is missed only
  with negligible probability. Not a cryptographic hash.
  """
  words = _as_uint32_words(x)
  index = _flat_index(words.shape)
  weighted = jnp.sum(words * (2 * index + 1), dtype=jnp.uint32)
  mixed = jnp.sum(words ^ (index * jnp.uint32(0x9E3779B9)), dtype=jnp.uint32)
  return jnp.stack([weighted, mixed])


@jax.jit
def _tree_checksums(tree: Any) -> Any:
  return jax.tree.map(_array_checksum, tree)


def _checksums_by_path(tree: Any) -> dict[str, str]:
  """Maps each leaf's key path to its checksum as 16 hex digits."""
  sums = jax.device_get(_tree_checksums(tree))
  return {
      jax.tree_util.keystr(path): f"{int(value[0]):08x}{int(value[1]):08x}"
      for path, value in jax.tree_util.tree_flatten_with_path(sums)[0]
  }


# ---------------------------------------------------------------------------
# Validation of states and targets.


def _display_path(item: str, path: str) -> str:
  return f"{item}{path}"


def _check_item_names(names: Sequence[str]) -> None:
  """Checks that top-level keys can serve as orbax item directory names."""
  for name in names:
    if not isinstance(name, str) or not _ITEM_NAME_PATTERN.match(name):
      raise ValueError(
          f"State key {name!r} cannot be a checkpoint item name: use a string"
          " of letters, digits, '_' and '-' (it names a directory)."
      )
    if name == _MANIFEST_ITEM:
      raise ValueError(
          f"State key {name!r} is reserved for the checkpoint manifest."
      )


def _check_leaf_dtype(display_path: str, dtype: Any) -> None:
  """Rejects dtypes that cannot be checkpointed here, saying what to do."""
  if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
    raise TypeError(
        f"{display_path} is a typed JAX PRNG key ({dtype}), which cannot be"
        " checkpointed. Store jax.random.key_data(key) (uint32) in the state"
        " and rebuild the key after restoring with"
        " jax.random.wrap_key_data(data)."
    )
  numeric = jnp.issubdtype(dtype, jnp.bool_) or jnp.issubdtype(
      dtype, jnp.integer
  ) or jnp.issubdtype(dtype, jnp.floating)
  if not numeric or jax.dtypes.itemsize_bits(dtype) not in (8, 16, 32, 64):
    raise TypeError(
        f"{display_path} has dtype {dtype}; checkpoints hold bool, integer"
        " and floating arrays of 8 to 64 bits."
    )


def _as_saveable_array(display_path: str, leaf: Any) -> jax.Array:
  """Returns a state leaf as a JAX array, or raises a `TypeError`."""
  if not isinstance(leaf, (jax.Array, np.ndarray, np.generic)):
    raise TypeError(
        f"{display_path} is of type {type(leaf).__name__}, not an array;"
        " convert it with jnp.asarray before saving so that its dtype is"
        " explicit."
    )
  _check_leaf_dtype(display_path, leaf.dtype)
  array = jnp.asarray(leaf)
  if array.dtype != leaf.dtype:  # 64-bit host arrays with jax_enable_x64 off
    raise TypeError(
        f"{display_path} has dtype {leaf.dtype}, which JAX would store as {array.dtype} (64-bit"
        " types need jax_enable_x64); cast it to a 32-bit type before saving, so that what is"
        " restored is what was saved."
    )
  if jax.process_count() > 1 and not isinstance(leaf, jax.Array):
    # Orbax refuses process-local arrays across processes; a host leaf is the same on every
    # process, so it is saved as one array replicated over all devices.
    array = multihost.global_array(np.asarray(leaf), multihost.replicated_everywhere())
  return array


def _as_restore_target(display_path: str, leaf: Any) -> jax.ShapeDtypeStruct:
  """Returns a target leaf as a `jax.ShapeDtypeStruct` with a sharding.

  Leaves may be `jax.ShapeDtypeStruct`s or arrays. A leaf without a sharding
  is restored onto the first local device.
  """
  if not isinstance(leaf, (jax.ShapeDtypeStruct, jax.Array, np.ndarray)):
    raise TypeError(
        f"Restore target {display_path} is of type {type(leaf).__name__}; use"
        " jax.ShapeDtypeStruct (with a sharding) or array leaves."
    )
  _check_leaf_dtype(display_path, leaf.dtype)
  sharding = getattr(leaf, "sharding", None)
  if sharding is None:
    sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding)


def _map_leaves_with_display_path(fn, item: str, tree: Any) -> Any:
  return jax.tree_util.tree_map_with_path(
      lambda path, leaf: fn(
          _display_path(item, jax.tree_util.keystr(path)), leaf
      ),
      tree,
  )


def _is_bare_array(tree: Any) -> bool:
  """Whether a state item is one array (StandardSave only takes trees)."""
  return isinstance(tree, (jax.Array, np.ndarray, np.generic))


def _normalized_fingerprint(fingerprint: Mapping[str, Any]) -> dict[str, Any]:
  """Returns the fingerprint as it reads back from JSON, or raises."""
  if not isinstance(fingerprint, Mapping):
    raise TypeError(
        f"fingerprint must be a dict, not {type(fingerprint).__name__}."
    )
  try:
    return json.loads(json.dumps(dict(fingerprint), allow_nan=False))
  except (TypeError, ValueError) as err:
    raise ValueError(
        f"fingerprint must be JSON-serializable with finite numbers: {err}"
    ) from err


# ---------------------------------------------------------------------------
# Manifest.


def _describe_leaves(tree: Any) -> list[dict[str, Any]]:
  """Lists path (relative to the item), shape and dtype of each leaf."""
  return [
      {
          "path": jax.tree_util.keystr(path),
          "shape": list(leaf.shape),
          "dtype": jnp.dtype(leaf.dtype).name,
      }
      for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
  ]


def _build_manifest(
    state: Mapping[str, Any], fingerprint: dict[str, Any]
) -> dict[str, Any]:
  """Builds the JSON manifest that is saved next to the arrays."""
  items = {}
  for name, tree in state.items():
    leaves = _describe_leaves(tree)
    checksums = _checksums_by_path(tree)
    for leaf in leaves:
      leaf["checksum"] = checksums[leaf["path"]]
    items[name] = {"bare_array": _is_bare_array(tree), "leaves": leaves}
  return {"format": _MANIFEST_FORMAT, "fingerprint": fingerprint,
          "items": items}


def _check_manifest_layout(manifest: Any) -> None:
  """Raises `ValueError` if a manifest read from disk is malformed."""
  if not isinstance(manifest, dict):
    raise ValueError(f"manifest is a {type(manifest).__name__}, not a dict")
  if manifest.get("format") != _MANIFEST_FORMAT:
    raise ValueError(f"unknown manifest format {manifest.get('format')!r}")
  if not isinstance(manifest.get("fingerprint"), dict):
    raise ValueError("manifest has no fingerprint dict")
  items = manifest.get("items")
  if not isinstance(items, dict):
    raise ValueError("manifest has no items dict")
  for name, entry in items.items():
    if not isinstance(entry, dict) or not isinstance(
        entry.get("leaves"), list
    ):
      raise ValueError(f"manifest entry for item {name!r} is malformed")
    for leaf in entry["leaves"]:
      if not isinstance(leaf, dict) or not {
          "path", "shape", "dtype", "checksum"
      } <= leaf.keys():
        raise ValueError(f"manifest leaf of item {name!r} is malformed")


# ---------------------------------------------------------------------------
# Comparisons that produce mismatch messages.


def _flatten_dict(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """Flattens nested dicts into dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
  flat = {}
  for key, value in tree.items():
    name = f"{prefix}{key}"
    if isinstance(value, Mapping) and value:
      flat.update(_flatten_dict(value, prefix=f"{name}."))
    else:
      flat[name] = value
  return flat


def fingerprint_differences(
    saved: Mapping[str, Any], expected: Mapping[str, Any]
) -> list[str]:
  """Lists the fields in which two fingerprints differ.

  Args:
    saved: The fingerprint recorded in a checkpoint.
    expected: The fingerprint of the current run.

  Returns:
    One line per differing (dotted) field, ``"field: checkpoint=X,
    expected=Y"``, with ``<absent>`` for a field one side lacks; empty when
    the fingerprints agree.
  """
  flat_saved = _flatten_dict(saved)
  flat_expected = _flatten_dict(expected)
  lines = []
  for field in sorted(flat_saved.keys() | flat_expected.keys()):
    old = flat_saved.get(field, _MISSING)
    new = flat_expected.get(field, _MISSING)
    if old != new:
      old_text = old if old is _MISSING else json.dumps(old)
      new_text = new if new is _MISSING else json.dumps(new)
      lines.append(f"{field}: checkpoint={old_text}, expected={new_text}")
  return lines


def _leaf_summary(leaf: Mapping[str, Any]) -> str:
  return f"shape {tuple(leaf['shape'])} {leaf['dtype']}"


def _item_differences(
    item: str,
    saved_leaves: Sequence[Mapping[str, Any]],
    target_leaves: Sequence[Mapping[str, Any]],
) -> list[str]:
  """Lists per-leaf differences of one item, in the target's leaf order."""
  saved_by_path = {leaf["path"]: leaf for leaf in saved_leaves}
  target_paths = {leaf["path"] for leaf in target_leaves}
  lines = []
  for target in target_leaves:
    where = _display_path(item, target["path"])
    saved = saved_by_path.get(target["path"])
    if saved is None:
      lines.append(f"{where} ({_leaf_summary(target)}) is in the target but"
                   " not in the checkpoint")
    elif (list(saved["shape"]), saved["dtype"]) != (
        target["shape"], target["dtype"]):
      lines.append(f"{where}: checkpoint has {_leaf_summary(saved)}, target"
                   f" has {_leaf_summary(target)}")
  for saved in saved_leaves:
    if saved["path"] not in target_paths:
      lines.append(f"{_display_path(item, saved['path'])}"
                   f" ({_leaf_summary(saved)}) is in the checkpoint but not in"
                   " the target")
  return lines


def _structure_differences(
    manifest_items: Mapping[str, Any], target: Mapping[str, Any]
) -> list[str]:
  """Lists differences between the saved items and the restore target."""
  lines = []
  missing = [name for name in target if name not in manifest_items]
  extra = [name for name in manifest_items if name not in target]
  if missing:
    lines.append(f"target items not in the checkpoint: {missing}")
  if extra:
    lines.append(f"checkpoint items not in the target: {extra}")
  for name, tree in target.items():
    if name in manifest_items:
      lines.extend(_item_differences(
          name, manifest_items[name]["leaves"], _describe_leaves(tree)))
  return lines


def _summarize(lines: Sequence[str], limit: int = 10) -> str:
  shown = "\n  ".join(lines[:limit])
  more = f"\n  ... and {len(lines) - limit} more" if len(lines) > limit else ""
  return f"  {shown}{more}"


def _short(err: BaseException) -> str:
  """One line on the innermost cause of ``err`` (tensorstore's are long)."""
  seen = {id(err)}
  while (inner := err.__cause__ or err.__context__) is not None:
    if id(inner) in seen:
      break
    seen.add(id(inner))
    err = inner
  lines = str(err).strip().splitlines() or [""]
  text = f"{type(err).__name__}: {lines[0]}"
  if len(text) > _MAX_CAUSE_CHARS:
    text = text[:_MAX_CAUSE_CHARS] + " ..."
  return text


# ---------------------------------------------------------------------------
# The checkpointer.


class Checkpointer:
  """Saves and restores the whole train state in one directory of steps.

  Each step lives in ``directory/<step>/``. Saves are asynchronous: `save`
  returns once the arrays have been copied off the accelerator, and the files
  are written in the background. `wait` blocks until they are committed;
  `close` waits too. Use it as a context manager to close it on exit.

  Attributes:
    directory: Absolute path of the checkpoint directory.
    save_every: `should_save` is true at positive multiples of this.
    keep: How many of the newest steps to keep.
  """

  def __init__(self, directory: str | pathlib.Path, save_every: int,
               keep: int):
    """Opens (creating if needed) a checkpoint directory.

    Args:
      directory: Where the step directories live.
      save_every: Save period in steps (>= 1), used by `should_save`.
      keep: Number of newest steps kept (>= 1); older ones are deleted after
        a newer save has committed.

    Raises:
      ValueError: If ``save_every`` or ``keep`` is not a positive int, or
        ``directory`` exists and is not a directory.
    """
    for name, value in (("save_every", save_every), ("keep", keep)):
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    self.directory = pathlib.Path(directory).absolute()
    if self.directory.exists() and not self.directory.is_dir():
      raise ValueError(f"{self.directory} exists and is not a directory.")
    self.save_every = save_every
    self.keep = keep
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
    )

  def __enter__(self) -> Checkpointer:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  def all_steps(self) -> list[int]:
    """Returns the saved steps in increasing order (incl. a save in flight)."""
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    """Returns the newest saved step, or None if there is none.

    A step whose asynchronous save is still in flight counts; call `wait`
    first to be sure it has committed.
    """
    return self._manager.latest_step()

  def should_save(self, step: int) -> bool:
    """Whether `save` (without ``force``) would save at ``step``.

    True when ``step`` is a positive multiple of ``save_every`` and no
    checkpoint exists for it yet.
    """
    return (step > 0 and step % self.save_every == 0
            and step not in self._manager.all_steps())

  def save(self, step: int, state: Mapping[str, Any], *,
           fingerprint: Mapping[str, Any], force: bool = False) -> bool:
    """Saves ``state`` as step ``step`` if due (or if ``force``).

    Validation happens before anything is written, so an invalid state
    leaves the directory untouched. Saving at a step that already exists is a
    no-op (logged), so a final ``force=True`` save right after a periodic one
    is harmless; saving at a step older than the newest one raises.

    Args:
      step: The training step this state belongs to (>= 0).
      state: Dict of pytrees of arrays (jax or numpy). Every leaf must be a
        bool, integer or floating array; store RNG keys as
        ``jax.random.key_data(key)``.
      fingerprint: JSON-serializable dict describing what the state is
        compatible with (model config, tokenizer hash, ...). `restore`
        compares it field by field.
      force: Save even if `should_save(step)` is false.

    Returns:
      True if a save was started, False if it was not due or the step exists.

    Raises:
      ValueError: If ``step`` is older than the newest saved step, or the
        state's keys or the fingerprint are unusable.
      TypeError: If a leaf is not an array or is a typed PRNG key.
    """
    step = self._check_step(step)
    if not force and not self.should_save(step):
      return False
    if step in self._manager.all_steps():
      _logger.warning("Checkpoint step %d already exists in %s; not saving it"
                      " again.", step, self.directory)
      return False
    self._check_step_is_newest(step)
    items, manifest = self._prepare_save(state, fingerprint)
    args = {name: ocp.args.StandardSave(tree) for name, tree in items.items()}
    args[_MANIFEST_ITEM] = ocp.args.JsonSave(manifest)
    return bool(self._manager.save(step, args=ocp.args.Composite(**args),
                                   force=True))

  def restore(
      self,
      abstract_state: Mapping[str, Any],
      fingerprint: Mapping[str, Any],
      *,
      step: int | None = None,
      mismatch_advice: str = "Use a new checkpoint directory for an incompatible run.",
  ) -> tuple[int, dict[str, Any]]:
    """Restores a saved step into the layout of ``abstract_state``.

    Args:
      abstract_state: Dict of pytrees with the same keys and structure as the
        saved state, whose leaves are `jax.ShapeDtypeStruct`s (or arrays).
        Each leaf is restored with its ``.sharding`` (so sharded states are
        read shard by shard); a leaf without one goes to the first device.
      fingerprint: The fingerprint the checkpoint must have been saved with.
      step: Step to restore; the newest one if None. There is no silent
        fallback: if the newest step is damaged, this raises, and you pass an
        older ``step`` explicitly.
      mismatch_advice: What the error for a different fingerprint tells the
        user to do (the default suits a training run's own checkpoints).

    Returns:
      ``(step, state)``: the restored step and a dict of restored pytrees
      (optax states come back as their own types, given such a target).

    Raises:
      FileNotFoundError: If the directory has no checkpoint.
      ValueError: If ``step`` is given and was not saved.
      CheckpointMismatchError: If the fingerprint, items, structure, shapes
        or dtypes differ from the expected ones.
      CheckpointCorruptError: If the step's files cannot be read back intact.
      TypeError: If a target leaf is not usable (e.g. a typed PRNG key).
    """
    self.wait()
    steps = self.all_steps()
    step = self._resolve_step(step, steps)
    target = self._prepare_target(abstract_state)
    manifest = self._read_manifest(step, steps)
    self._check_fingerprint(step, manifest["fingerprint"], fingerprint, mismatch_advice)
    self._check_structure(step, manifest["items"], target)
    restored = self._restore_items(step, steps, manifest["items"], target)
    self._verify_checksums(step, steps, manifest["items"], restored)
    return step, restored

  def read_fingerprint(self, step: int | None = None) -> dict[str, Any]:
    """Returns the fingerprint saved with ``step`` (default: the newest).

    Raises:
      FileNotFoundError: If the directory has no checkpoint.
      CheckpointCorruptError: If the step's manifest cannot be read.
    """
    self.wait()
    steps = self.all_steps()
    step = self._resolve_step(step, steps)
    return self._read_manifest(step, steps)["fingerprint"]

  def wait(self) -> None:
    """Blocks until every started save has committed (re-raising failures)."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for pending saves, then releases orbax's resources."""
    self._manager.close()

  # -- saving helpers --------------------------------------------------------

  @staticmethod
  def _check_step(step: Any) -> int:
    if isinstance(step, bool):
      raise TypeError("step must be an int, not a bool.")
    try:
      step = int(step.__index__())
    except AttributeError as err:
      raise TypeError(f"step must be an int, got {step!r}.") from err
    if step < 0:
      raise ValueError(f"step must be >= 0, got {step}.")
    return step

  def _check_step_is_newest(self, step: int) -> None:
    latest = self.latest_step()
    if latest is not None and step < latest:
      raise ValueError(
          f"Refusing to save step {step}: the newer step {latest} exists in"
          f" {self.directory}, and keep={self.keep} would then delete the"
          f" older steps first. If step {latest} is bad, move"
          f" {self.directory / str(latest)} out of the checkpoint directory"
          " and restart."
      )

  @staticmethod
  def _prepare_save(
      state: Mapping[str, Any], fingerprint: Mapping[str, Any]
  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validates the state; returns orbax items and the manifest."""
    if not isinstance(state, Mapping) or not state:
      raise TypeError("state must be a non-empty dict of pytrees.")
    _check_item_names(list(state))
    fingerprint = _normalized_fingerprint(fingerprint)
    arrays = {
        name: _map_leaves_with_display_path(_as_saveable_array, name, tree)
        for name, tree in state.items()
    }
    manifest = _build_manifest(arrays, fingerprint)
    items = {
        name: {_BARE_ARRAY_KEY: tree} if _is_bare_array(tree) else tree
        for name, tree in arrays.items()
    }
    return items, manifest

  # -- restoring helpers -----------------------------------------------------

  def _resolve_step(self, step: int | None, steps: Sequence[int]) -> int:
    if not steps:
      raise FileNotFoundError(f"No checkpoint steps in {self.directory}.")
    if step is None:
      return steps[-1]
    step = self._check_step(step)
    if step not in steps:
      raise ValueError(
          f"No checkpoint for step {step} in {self.directory}; saved steps:"
          f" {list(steps)}."
      )
    return step

  @staticmethod
  def _prepare_target(abstract_state: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(abstract_state, Mapping) or not abstract_state:
      raise TypeError("abstract_state must be a non-empty dict of pytrees.")
    return {
        name: _map_leaves_with_display_path(_as_restore_target, name, tree)
        for name, tree in abstract_state.items()
    }

  def _corrupt(self, step: int, steps: Sequence[int],
               problem: str) -> CheckpointCorruptError:
    """Builds the error for a damaged step, saying how to go on."""
    step_dir = self.directory / str(step)
    older = [s for s in steps if s < step]
    if older:
      recovery = (
          f" Older steps still on disk: {older}. To resume from step"
          f" {older[-1]}, move {step_dir} out of the checkpoint directory"
          f" (e.g. `mv {step_dir} {self.directory}.corrupt-step-{step}`) and"
          f" restart, or call restore(..., step={older[-1]}) to load it"
          " explicitly."
      )
    else:
      recovery = " There is no older step to resume from."
    return CheckpointCorruptError(
        f"Checkpoint step {step} at {step_dir} is damaged or unreadable:"
        f" {problem}. Nothing on disk was changed or deleted.{recovery}"
    )

  def _read_manifest(self, step: int, steps: Sequence[int]) -> dict[str, Any]:
    try:
      restored = self._manager.restore(
          step, args=ocp.args.Composite(
              **{_MANIFEST_ITEM: ocp.args.JsonRestore()}))
      manifest = restored[_MANIFEST_ITEM]
      _check_manifest_layout(manifest)
    except Exception as err:  # Anything unreadable here means damage.
      raise self._corrupt(
          step, steps, f"cannot read its manifest ({_short(err)})") from err
    return manifest

  def _check_fingerprint(self, step: int, saved: Mapping[str, Any],
                         expected: Mapping[str, Any], advice: str) -> None:
    differences = fingerprint_differences(
        saved, _normalized_fingerprint(expected))
    if differences:
      raise CheckpointMismatchError(
          f"Checkpoint step {step} in {self.directory} was saved with a"
          f" different fingerprint:\n{_summarize(differences)}\nNothing on"
          f" disk was changed. {advice}"
      )

  def _check_structure(self, step: int, manifest_items: Mapping[str, Any],
                       target: Mapping[str, Any]) -> None:
    differences = _structure_differences(manifest_items, target)
    if differences:
      raise CheckpointMismatchError(
          f"Checkpoint step {step} in {self.directory} does not match the"
          f" restore target; first difference: {differences[0]}\nAll"
          f" differences:\n{_summarize(differences)}"
      )

  def _restore_items(self, step: int, steps: Sequence[int],
                     manifest_items: Mapping[str, Any],
                     target: Mapping[str, Any]) -> dict[str, Any]:
    args = {}
    for name, tree in target.items():
      if manifest_items[name].get("bare_array"):
        tree = {_BARE_ARRAY_KEY: tree}
      args[name] = ocp.args.StandardRestore(tree)
    try:
      restored = self._manager.restore(step, args=ocp.args.Composite(**args))
      return {
          name: restored[name][_BARE_ARRAY_KEY]
          if manifest_items[name].get("bare_array") else restored[name]
          for name in target
      }
    except Exception as err:  # Tensorstore reports damage as ValueError etc.
      raise self._corrupt(
          step, steps, f"cannot read its arrays ({_short(err)})") from err

  def _verify_checksums(self, step: int, steps: Sequence[int],
                        manifest_items: Mapping[str, Any],
                        restored: Mapping[str, Any]) -> None:
    for name, tree in restored.items():
      actual = _checksums_by_path(tree)
      for leaf in manifest_items[name]["leaves"]:
        if actual.get(leaf["path"]) != leaf["checksum"]:
          raise self._corrupt(
              step, steps,
              f"the contents of {_display_path(name, leaf['path'])} do not"
              " match the checksum recorded when it was saved")
