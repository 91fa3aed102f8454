"""afjax.parallel.multihost on one process, and what a process other than 0 leaves unwritten.

Two processes run here (tests/parallel/multihost_worker.py) and, for whole jobs, in
tests/jobs/test_multiprocess.py.
"""

import os
import pathlib
import subprocess
import sys

import chex
import jax
import numpy as np
import portpicker
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from afjax.parallel import mesh as mesh_lib
from afjax.parallel import multihost
from afjax.training import logging as log_lib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_primary_first_runs_once_and_returns_the_value():
  calls = []
  assert multihost.primary_first(lambda: calls.append(1) or "built", "stage") == "built"
  assert calls == [1]


def test_global_array_and_to_host_round_trip_a_sharded_array():
  mesh = mesh_lib.make_mesh({"data": -1})
  host = np.arange(8 * 3, dtype=np.int32).reshape(8, 3)
  placed = multihost.global_array(host, mesh_lib.batch_sharding(mesh))
  assert placed.sharding == mesh_lib.batch_sharding(mesh)
  np.testing.assert_array_equal(multihost.to_host(placed), host)
  tree = multihost.tree_to_host({"a": placed, "b": np.float32(2.0)})
  chex.assert_trees_all_equal(tree, {"a": host, "b": np.asarray(np.float32(2.0))})


def test_replicated_everywhere_holds_a_copy_on_every_device():
  sharding = multihost.replicated_everywhere()
  assert isinstance(sharding, NamedSharding) and sharding.spec == PartitionSpec()
  assert set(sharding.device_set) == set(jax.devices())


def test_primary_flag_and_barrier_on_one_process():
  assert multihost.primary_flag(True) is True and multihost.primary_flag(False) is False
  multihost.barrier("nothing to wait for")


def test_process_one_writes_no_shared_file(tmp_path, monkeypatch):
  monkeypatch.setattr(jax, "process_index", lambda: 1)
  assert not multihost.is_primary()
  multihost.write_text(tmp_path / "summary.json", "{}")
  with log_lib.MetricLogger(tmp_path / "run") as logger:
    logger.log(1, {"loss": 0.5})
    with pytest.raises(TypeError, match="shape"):  # still checked: every process fails alike
      logger.log(2, {"loss": np.zeros(3)})
  assert list(tmp_path.iterdir()) == []


def test_process_zero_writes(tmp_path):
  assert multihost.is_primary()
  multihost.write_text(tmp_path / "summary.json", "{}")
  assert (tmp_path / "summary.json").read_text() == "{}"


def test_a_mesh_whose_batch_axes_do_not_split_over_the_processes_is_a_config_error(monkeypatch):
  from afjax import config as config_lib
  config = config_lib.rl_config("baseline", "tgg_plain,test")
  monkeypatch.setattr(jax, "process_count", lambda: 2)
  config.mesh = config_lib.mesh_config(data=1, fsdp=1, tensor=8)
  with pytest.raises(config_lib.ConfigError, match="data x fsdp = 1 x 1 do not split over the 2"):
    config_lib.validate_mesh(config, 8)
  config.mesh = config_lib.mesh_config(data=2, fsdp=1, tensor=4)
  assert config_lib.validate_mesh(config, 8) == {"data": 2, "fsdp": 1, "tensor": 4}


def test_place_global_batch_places_the_whole_batch():
  from afjax.training import supervised
  mesh = mesh_lib.make_mesh({"data": -1})
  batch = {"inputs": np.arange(16, dtype=np.int32).reshape(8, 2),
           "labels": np.arange(8, dtype=np.float32)}
  placed = supervised.place_global_batch(batch, mesh, {"inputs": 2, "labels": 1})
  for key in batch:
    np.testing.assert_array_equal(multihost.to_host(placed[key]), batch[key])


def test_two_processes(tmp_path):
  """A stage failing on process 0 fails on process 1 too, at once; gathers, writes and flags."""
  port = portpicker.pick_unused_port()
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=2")
  procs = [subprocess.Popen([sys.executable, "-m", "tests.parallel.multihost_worker",
                             f"--port={port}", f"--process_id={i}", f"--out={tmp_path}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=ROOT) for i in range(2)]
  try:
    outs = [proc.communicate(timeout=120)[0] for proc in procs]
  finally:
    for proc in procs:
      proc.kill()
  for proc, out in zip(procs, outs):
    assert proc.returncode == 0, out[-3000:]
  assert "stage failed here: disk full" in outs[0]
  assert "stage failed elsewhere: dataset failed on process 0" in outs[1]
  for i, out in enumerate(outs):
    assert f"next stage returned {i}" in out and "gathered equal True" in out
    assert "flag True" in out
  assert (tmp_path / "shared.txt").read_text() == "written by process 0"
