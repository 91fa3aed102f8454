"""Multi-device equivalence on 8 fake CPU devices (run in a subprocess so that
XLA_FLAGS is set before jax is imported)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from afjax.parallel import mesh as mesh_lib

MESHES = ("single", "data8", "d2f2t2", "fsdp8")


@pytest.fixture(scope="module")
def runs():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-m", "tests.parallel.sharded_equivalence", *MESHES],
                        capture_output=True, text=True, env=env, timeout=600,
                        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
  assert proc.returncode == 0, proc.stderr[-4000:]
  return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mesh_name", MESHES[1:])
def test_adamw_losses_match_single_device(runs, mesh_name):
  np.testing.assert_allclose(runs[mesh_name]["losses"], runs["single"]["losses"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("mesh_name", MESHES[1:])
def test_sampler_tokens_match_single_device(runs, mesh_name):
  assert runs[mesh_name]["samples"] == runs["single"]["samples"]


@pytest.mark.parametrize("mesh_name", MESHES[1:])
def test_monitor_scores_match_single_device(runs, mesh_name):
  np.testing.assert_allclose(runs[mesh_name]["monitor_scores"], runs["single"]["monitor_scores"],
                             rtol=0, atol=1e-5)


@pytest.mark.parametrize("mesh_name", ("d2f2t2", "fsdp8"))
def test_large_params_are_sharded(runs, mesh_name):
  assert runs[mesh_name]["params_sharded"]
  assert runs[mesh_name]["opt_state_follows_params"]
  assert runs[mesh_name]["param_bytes_per_device"] < runs["single"]["param_bytes_per_device"] / 2


def test_fsdp8_divides_param_bytes(runs):
  ratio = runs["fsdp8"]["param_bytes_per_device"] / runs["single"]["param_bytes_per_device"]
  assert ratio <= 1.25 / 8


@pytest.mark.parametrize("head", ["untied", "tied"])
def test_blocked_loss_carries_the_head_gradient_sharded(runs, head):
  # One device: the head and its summed gradient, both whole (the check sees the sum).
  single = runs["single"]["blocked_head_gradient"][head]
  assert single["loop_carried_2d"].count(single["head_shape"]) >= 2, single
  for name in ("d2f2t2", "fsdp8"):
    run = runs[name]["blocked_head_gradient"][head]
    per_device, whole = run["head_shape_per_device"], run["head_shape"]
    assert per_device != whole
    assert run["loop_carried_2d"].count(per_device) >= 2, (name, run)  # head + summed gradient
    # Not gathered over fsdp: before cc8005e [D, V / tensor] (untied) or [V / tensor, D] (tied)
    # was carried on both meshes.
    fsdp_gathered = [whole[0], per_device[1]] if head == "untied" else [per_device[0], whole[1]]
    assert fsdp_gathered not in run["loop_carried_2d"], (name, run)


def test_resolve_mesh_shape_fills_free_axis():
  assert mesh_lib.resolve_mesh_shape({"data": -1, "tensor": 2}, 8) == {"data": 4, "fsdp": 1, "tensor": 2}


@pytest.mark.parametrize("shape, message", [
    ({"data": 3}, "config.mesh"),
    ({"data": -1, "fsdp": -1}, "only one axis"),
    ({"pipeline": 2}, "unknown axes"),
    ({"data": 0}, "config.mesh.data=0"),
    ({"data": 2}, "uses 2 of the 8"),
])
def test_resolve_mesh_shape_errors(shape, message):
  with pytest.raises(ValueError, match=message):
    mesh_lib.resolve_mesh_shape(shape, 8)


def test_rules_from_config_rejects_unknown_mesh_axis():
  with pytest.raises(ValueError, match="mesh axis 'model'"):
    mesh_lib.rules_from_config([("embed", "model")])
  assert mesh_lib.rules_from_config([["batch", ["data", "fsdp"]]]) == (("batch", ("data", "fsdp")),)
