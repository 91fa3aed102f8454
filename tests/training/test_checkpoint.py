"""Tests for afjax.training.checkpoint."""

import ast
import gc
import hashlib
import inspect
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from afjax.training import checkpoint as ckpt_lib
from afjax.training.checkpoint import (
    Checkpointer,
    CheckpointCorruptError,
    CheckpointMismatchError,
)

FINGERPRINT = {"model": {"d_model": 32, "layers": 2}, "tokenizer": "abc123"}


def _params(seed: int) -> dict:
  rng = np.random.default_rng(seed)
  # l1.w is 2 KiB of random floats: large enough that OCDBT stores it in its
  # own data file rather than inline in the index.
  return {
      "l1": {"w": jnp.asarray(rng.normal(size=(16, 32)), jnp.float32),
             "b": jnp.zeros((32,), jnp.float32)},
      "l2": {"w": jnp.asarray(rng.normal(size=(32, 4)), jnp.float32),
             "b": jnp.ones((4,), jnp.float32)},
  }


def _state(step: int) -> dict:
  params = _params(step)
  optimizer = optax.adamw(1e-3)
  opt_state = optimizer.init(params)
  grads = jax.tree.map(jnp.ones_like, params)
  _, opt_state = optimizer.update(grads, opt_state, params)
  return {
      "params": params,
      "opt_state": opt_state,
      "step": jnp.asarray(step, jnp.int32),
      "rng": jax.random.key_data(jax.random.key(step)),
      "data_position": jnp.asarray(1000 + step, jnp.int32),
  }


def _abstract(state: dict) -> dict:
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
      state)


def _file_hashes(root: pathlib.Path) -> dict[str, str]:
  return {
      str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
      for path in sorted(root.rglob("*")) if path.is_file()
  }


def _saved(directory, steps, keep=3, save_every=1) -> Checkpointer:
  checkpointer = Checkpointer(directory, save_every=save_every, keep=keep)
  for step in steps:
    assert checkpointer.save(step, _state(step), fingerprint=FINGERPRINT)
  checkpointer.wait()
  return checkpointer


def test_round_trip_restores_values_and_types(tmp_path):
  state = dict(_state(2), misc={
      "flags": jnp.array([True, False]),
      "half": jnp.linspace(0, 1, 5, dtype=jnp.bfloat16),
      "small": jnp.arange(-2, 2, dtype=jnp.int8),
  })
  with Checkpointer(tmp_path, save_every=1, keep=1) as checkpointer:
    assert checkpointer.save(2, state, fingerprint=FINGERPRINT)
    checkpointer.wait()
    step, restored = checkpointer.restore(_abstract(state), FINGERPRINT)

  assert step == 2
  chex.assert_trees_all_equal(restored, state)
  chex.assert_trees_all_equal_structs(restored, state)
  assert isinstance(restored["opt_state"][0], optax.ScaleByAdamState)
  assert restored["rng"].dtype == jnp.uint32
  assert restored["data_position"].dtype == jnp.int32
  assert int(restored["data_position"]) == 1002
  for leaf, target in zip(jax.tree.leaves(restored),
                          jax.tree.leaves(_abstract(state))):
    assert leaf.sharding == target.sharding
  key = jax.random.wrap_key_data(restored["rng"])
  np.testing.assert_array_equal(
      jax.random.uniform(key, (3,)),
      jax.random.uniform(jax.random.key(2), (3,)))


def test_typed_key_is_rejected_before_writing(tmp_path):
  state = dict(_state(1), rng=jax.random.key(0))
  checkpointer = Checkpointer(tmp_path, save_every=1, keep=2)
  with pytest.raises(TypeError, match=r"key_data"):
    checkpointer.save(1, state, fingerprint=FINGERPRINT)
  checkpointer.close()
  assert checkpointer.latest_step() is None
  assert not any(p.name.isdigit() for p in tmp_path.iterdir())


def test_keep_deletes_only_oldest_after_newer_saves(tmp_path):
  with _saved(tmp_path, [1, 2, 3, 4], keep=2) as checkpointer:
    assert checkpointer.all_steps() == [3, 4]
  assert sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == [
      "3", "4"]


def test_latest_step_and_should_save(tmp_path):
  checkpointer = Checkpointer(tmp_path, save_every=2, keep=3)
  assert checkpointer.latest_step() is None
  assert [checkpointer.should_save(s) for s in range(5)] == [
      False, False, True, False, True]
  assert not checkpointer.save(3, _state(3), fingerprint=FINGERPRINT)
  assert checkpointer.save(2, _state(2), fingerprint=FINGERPRINT)
  assert checkpointer.save(3, _state(3), fingerprint=FINGERPRINT, force=True)
  checkpointer.wait()
  assert checkpointer.latest_step() == 3
  assert not checkpointer.should_save(2)
  checkpointer.close()
  assert Checkpointer(tmp_path, save_every=2, keep=3).latest_step() == 3


def test_saving_an_existing_step_is_a_noop(tmp_path):
  with _saved(tmp_path, [1]) as checkpointer:
    before = _file_hashes(tmp_path)
    assert not checkpointer.save(1, _state(7), fingerprint=FINGERPRINT,
                                 force=True)
    checkpointer.wait()
  assert _file_hashes(tmp_path) == before


def test_saving_an_older_step_is_refused(tmp_path):
  with _saved(tmp_path, [4]) as checkpointer:
    with pytest.raises(ValueError, match=r"newer step 4"):
      checkpointer.save(2, _state(2), fingerprint=FINGERPRINT, force=True)
    assert checkpointer.all_steps() == [4]


def test_invalid_arguments_raise_clear_errors(tmp_path):
  with pytest.raises(ValueError, match="save_every"):
    Checkpointer(tmp_path, save_every=0, keep=1)
  with pytest.raises(ValueError, match="keep"):
    Checkpointer(tmp_path, save_every=1, keep=0)
  checkpointer = Checkpointer(tmp_path, save_every=1, keep=1)
  with pytest.raises(TypeError, match=r"x\['y'\] is of type int, not an array"):
    checkpointer.save(1, {"x": {"y": 3}}, fingerprint={}, force=True)
  with pytest.raises(TypeError, match=r"x\['y'\] has dtype int64, which JAX would store as int32"):
    checkpointer.save(1, {"x": {"y": np.array([2 ** 40 + 3])}}, fingerprint={}, force=True)
  with pytest.raises(ValueError, match="JSON"):
    checkpointer.save(1, _state(1), fingerprint={"f": object()})
  with pytest.raises(ValueError, match="reserved"):
    checkpointer.save(1, {"afjax_manifest": jnp.ones(2)}, fingerprint={})
  with pytest.raises(FileNotFoundError, match="No checkpoint"):
    checkpointer.restore(_abstract(_state(1)), FINGERPRINT)
  checkpointer.close()
  assert checkpointer.latest_step() is None


def test_fingerprint_mismatch_names_fields(tmp_path):
  expected = {"model": {"d_model": 64, "layers": 2}, "tokenizer": "abc123",
              "vocab": 512}
  with _saved(tmp_path, [1]) as checkpointer:
    with pytest.raises(CheckpointMismatchError) as info:
      checkpointer.restore(_abstract(_state(1)), expected)
  message = str(info.value)
  assert isinstance(info.value, ValueError)
  assert "model.d_model: checkpoint=32, expected=64" in message
  assert "vocab: checkpoint=<absent>, expected=512" in message
  assert "layers" not in message and "tokenizer" not in message
  assert message.endswith("Nothing on disk was changed. Use a new checkpoint directory for an "
                          "incompatible run.")
  with _saved(tmp_path / "other", [1]) as checkpointer:
    with pytest.raises(CheckpointMismatchError) as info:
      checkpointer.restore(_abstract(_state(1)), expected, mismatch_advice="Load another one.")
  assert str(info.value).endswith("Nothing on disk was changed. Load another one.")


def test_shape_mismatch_names_path_and_shapes(tmp_path):
  target = _abstract(_state(1))
  wrong = target["params"]["l1"]["w"]
  target["params"]["l1"]["w"] = jax.ShapeDtypeStruct(
      (8, 32), wrong.dtype, sharding=wrong.sharding)
  with _saved(tmp_path, [1]) as checkpointer:
    with pytest.raises(CheckpointMismatchError) as info:
      checkpointer.restore(target, FINGERPRINT)
  message = str(info.value)
  assert "first difference: params['l1']['w']" in message
  assert "(16, 32)" in message and "(8, 32)" in message


def test_structure_and_item_mismatches_are_named(tmp_path):
  target = _abstract(_state(1))
  target["params"]["l3"] = target["params"]["l2"]
  target["step"] = jax.ShapeDtypeStruct((), jnp.float32)
  target["reference_params"] = target["params"]
  with _saved(tmp_path, [1]) as checkpointer:
    with pytest.raises(CheckpointMismatchError) as info:
      checkpointer.restore(target, FINGERPRINT)
  message = str(info.value)
  assert "target items not in the checkpoint: ['reference_params']" in message
  assert "params['l3']['w']" in message
  assert "step: checkpoint has shape () int32, target has shape () float32" in (
      message)


def _largest_file(directory: pathlib.Path) -> pathlib.Path:
  return max((p for p in directory.rglob("*") if p.is_file()),
             key=lambda p: p.stat().st_size)


def _delete_array_file(step_dir):
  _largest_file(step_dir / "params").unlink()


def _truncate_array_file(step_dir):
  path = _largest_file(step_dir / "params")
  os.truncate(path, path.stat().st_size // 2)


def _garbage_in_array_data(step_dir):
  # Same size, garbage in the middle: tensorstore reads this back silently as
  # wrong numbers; only the manifest checksums catch it.
  path = _largest_file(step_dir / "params")
  data = bytearray(path.read_bytes())
  middle = len(data) // 2
  data[middle:middle + 64] = np.random.default_rng(0).bytes(64)
  path.write_bytes(bytes(data))


def _garbage_in_index(step_dir):
  for path in (step_dir / "opt_state" / "d").iterdir():
    path.write_bytes(b"garbage" * 10)


def _garbage_manifest(step_dir):
  (step_dir / "afjax_manifest" / "metadata").write_text("{not json")


def _remove_item_dir(step_dir):
  shutil.rmtree(step_dir / "rng")


# Orbax reads arrays concurrently; when one read fails, the others' errors
# surface as "exception ignored" warnings. The test checks the raised error.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("corrupt, problem", [
    (_delete_array_file, "cannot read its arrays"),
    (_truncate_array_file, "cannot read its arrays"),
    (_garbage_in_array_data,
     "contents of params['l1']['w'] do not match the checksum"),
    (_garbage_in_index, "cannot read its arrays"),
    (_garbage_manifest, "cannot read its manifest"),
    (_remove_item_dir, "cannot read its arrays"),
])
def test_corrupt_latest_step_raises_and_keeps_older_steps(
    tmp_path, corrupt, problem):
  _saved(tmp_path, [1, 2, 3]).close()
  step_dir = tmp_path / "3"
  corrupt(step_dir)
  before = _file_hashes(tmp_path)

  checkpointer = Checkpointer(tmp_path, save_every=1, keep=3)
  with pytest.raises(CheckpointCorruptError) as info:
    checkpointer.restore(_abstract(_state(3)), FINGERPRINT)
  gc.collect()  # Let orbax's abandoned reads warn inside this test.
  message = str(info.value)
  assert problem in message
  assert str(step_dir) in message
  assert "[1, 2]" in message and "step=2" in message
  assert "Nothing on disk was changed" in message

  # Nothing was deleted or rewritten, and no silent fallback happened.
  checkpointer.wait()
  assert _file_hashes(tmp_path) == before
  assert checkpointer.all_steps() == [1, 2, 3]

  step, restored = checkpointer.restore(_abstract(_state(2)), FINGERPRINT,
                                        step=2)
  assert step == 2
  chex.assert_trees_all_equal(restored, _state(2))
  checkpointer.close()
  assert _file_hashes(tmp_path) == before


def test_moving_bad_step_aside_resumes_from_older_one(tmp_path):
  _saved(tmp_path, [1, 2]).close()
  _garbage_in_array_data(tmp_path / "2")
  shutil.move(tmp_path / "2", tmp_path.parent / f"{tmp_path.name}-bad-2")
  with Checkpointer(tmp_path, save_every=1, keep=3) as checkpointer:
    assert checkpointer.latest_step() == 1
    step, restored = checkpointer.restore(_abstract(_state(1)), FINGERPRINT)
    assert step == 1
    chex.assert_trees_all_equal(restored, _state(1))
    assert checkpointer.save(2, _state(2), fingerprint=FINGERPRINT)


_RESHARD_SCRIPT = textwrap.dedent("""
    import sys
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from afjax.training.checkpoint import Checkpointer

    assert jax.device_count() == 4, jax.devices()
    mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("data", "model"))
    values = np.arange(64 * 8, dtype=np.float32).reshape(64, 8)
    saved = jax.device_put(values, NamedSharding(mesh, P("data", "model")))
    with Checkpointer(sys.argv[1], save_every=1, keep=1) as checkpointer:
      checkpointer.save(1, {"params": {"w": saved}}, fingerprint={},
                        force=True)
      checkpointer.wait()
      sharding = NamedSharding(mesh, P("model", None))
      target = {"params": {"w": jax.ShapeDtypeStruct(
          (64, 8), jnp.float32, sharding=sharding)}}
      _, restored = checkpointer.restore(target, {})
    w = restored["params"]["w"]
    assert w.sharding == sharding, w.sharding
    np.testing.assert_array_equal(np.asarray(w), values)
    print("resharded ok")
""")


def test_restores_into_a_different_sharding(tmp_path):
  # Needs 4 host devices, which must be set before jax starts: use a child.
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=4")
  repo_root = pathlib.Path(__file__).resolve().parents[2]
  env["PYTHONPATH"] = os.pathsep.join(
      filter(None, [str(repo_root), env.get("PYTHONPATH")]))
  result = subprocess.run(
      [sys.executable, "-c", _RESHARD_SCRIPT, str(tmp_path)], env=env,
      capture_output=True, text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "resharded ok" in result.stdout


def test_restore_named_older_step(tmp_path):
  with _saved(tmp_path, [1, 2, 3]) as checkpointer:
    step, restored = checkpointer.restore(_abstract(_state(1)), FINGERPRINT,
                                          step=1)
    assert step == 1
    chex.assert_trees_all_equal(restored, _state(1))
    assert checkpointer.read_fingerprint(1) == FINGERPRINT
    with pytest.raises(ValueError, match=r"saved steps: \[1, 2, 3\]"):
      checkpointer.restore(_abstract(_state(1)), FINGERPRINT, step=5)


_UNPICKLERS = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill",
               "joblib", "shelve", "marshal"}


def _names_used(module) -> set[str]:
  """Module names imported, and identifiers or strings used, in the code."""
  names = set()
  for node in ast.walk(ast.parse(inspect.getsource(module))):
    if isinstance(node, ast.Import):
      names.update(alias.name.split(".")[0] for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      names.add(node.module.split(".")[0])
    elif isinstance(node, ast.Name):
      names.add(node.id)
    elif isinstance(node, ast.Attribute):
      names.add(node.attr)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
      names.add(node.value)  # Catches importlib.import_module("pickle").
  return names


def test_module_does_not_use_pickle():
  assert not _names_used(ckpt_lib) & _UNPICKLERS
