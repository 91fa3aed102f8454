"""Two processes (jax.distributed over localhost, gloo CPU collectives, 4 fake devices
each) form one 8-device mesh and run the fused RL step with the result of one process.

The test starts its own processes (tests/parallel/multiprocess_step.py): the two
workers of the distributed run and, at the same time, one 8-fake-device process
on the same mesh. They share one deadline (TIMEOUT_S); the first failure or the
deadline kills all of them.
"""

import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import portpicker
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT_S = 420
ATOL = 1e-5


def launch(out, devices, *flags):
  """Starts one worker writing `out`; its output goes to `out` + ".log"."""
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  with open(f"{out}.log", "w") as log:
    return subprocess.Popen([sys.executable, "-u", "-m", "tests.parallel.multiprocess_step",
                             f"--out={out}", *flags], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=ROOT)


def finish(procs, logs):
  """Waits for every process up to one shared deadline; the first failure, or the deadline,
  kills them all (a worker whose peer died would otherwise wait for it)."""
  deadline = time.monotonic() + TIMEOUT_S
  try:
    while any(proc.poll() is None for proc in procs.values()):
      failed = {name: proc.returncode for name, proc in procs.items() if proc.poll()}
      if failed or time.monotonic() > deadline:
        break
      time.sleep(0.5)
    for name, proc in procs.items():
      status = "did not finish (killed)" if proc.poll() is None else f"exited with {proc.returncode}"
      assert proc.poll() == 0, f"{name} {status}:\n{pathlib.Path(logs[name]).read_text()[-4000:]}"
  finally:
    for proc in procs.values():
      if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  out = tmp_path_factory.mktemp("multiprocess")
  port = portpicker.pick_unused_port()
  outs = {"process 0": out / "multi0.npz", "process 1": out / "multi1.npz",
          "single process": out / "single.npz"}
  procs = {f"process {i}": launch(outs[f"process {i}"], 4, "--num_processes=2",
                                  f"--process_id={i}", f"--port={port}") for i in range(2)}
  procs["single process"] = launch(outs["single process"], 8)
  finish(procs, {name: f"{path}.log" for name, path in outs.items()})
  load = lambda path: dict(np.load(path))
  return load(out / "multi0.npz"), load(out / "single.npz")


def test_two_processes_form_one_mesh(runs):
  multi, single = runs
  assert int(multi["process_count"]) == 2 and int(single["process_count"]) == 1
  assert int(multi["step"]) == int(single["step"]) == 2


def test_metrics_match_one_process(runs):
  multi, single = runs
  metrics = sorted(k for k in single if k.startswith("metric:"))
  assert "metric:loss" in metrics and "metric:monitor_scratchpad_p_mean" in metrics
  for key in metrics:
    np.testing.assert_allclose(multi[key], single[key], rtol=0, atol=ATOL, err_msg=key)


def test_params_match_one_process(runs):
  multi, single = runs
  params = sorted(k for k in single if k.startswith("param:"))
  assert params and params == sorted(k for k in multi if k.startswith("param:"))
  for key in params:
    np.testing.assert_allclose(multi[key], single[key], rtol=0, atol=ATOL, err_msg=key)
