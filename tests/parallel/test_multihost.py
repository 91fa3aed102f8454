"""afjax.parallel.multihost on one process, and what a process other than 0 leaves unwritten.

Two real processes run in tests/jobs/test_multiprocess.py.
"""

import chex
import jax
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from afjax.parallel import mesh as mesh_lib
from afjax.parallel import multihost
from afjax.training import logging as log_lib


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
