"""Whole jobs as two processes (jax.distributed over localhost, 4 fake CPU devices each)
give the results of one 8-device process, and a killed two-process run resumes.

`afjax.main` is started as it would be on two hosts (`--config.distributed=True`,
`--coordinator_address`, `--num_processes`, `--process_id`), on the mesh
{data: 2, fsdp: 2, tensor: 2}, so parameters and optimizer state are split
over both processes. Its one-process twin is an 8-fake-device process on the
same mesh (RL), or the session's base model trained in this process (LM). Jobs: the base model's LM training (world corpus:
dataset, tokenizer, packing, training, evaluation, export) and the adaptive
process-supervision RL arm (rollouts, the fused update with the scratchpad
classifier, the classifier's refresh, held-out evaluation, checkpoints holding
host arrays).
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import jax
import numpy as np
import portpicker
import pytest

from afjax.jobs import common
from tests.configs_loader import load_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT_S = 420
ATOL = 1e-5
RTOL = 1e-5  # perplexities are large
MESH = ("--config.mesh.data=2", "--config.mesh.fsdp=2", "--config.mesh.tensor=2")


def start(workdir, devices, config, flags, log_name):
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  log = open(pathlib.Path(f"{workdir}.{log_name}.log"), "w")
  proc = subprocess.Popen([sys.executable, "-m", "afjax.main", f"--config={ROOT / 'configs' / config}",
                           f"--workdir={workdir}", *MESH, *flags],
                          stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
  log.close()
  return proc, pathlib.Path(f"{workdir}.{log_name}.log")


def launch(workdir, config, *flags, single=True):
  """Starts the job as two processes and, if `single`, as one 8-device process (`workdir`_single)."""
  port = portpicker.pick_unused_port()
  procs = {f"process {i}": start(workdir, 4, config, [
      *flags, "--config.distributed=True", f"--coordinator_address=127.0.0.1:{port}",
      "--num_processes=2", f"--process_id={i}"], f"p{i}") for i in range(2)}
  if single:
    procs["single process"] = start(f"{workdir}_single", 8, config, flags, "single")
  return procs


def finish(procs):
  """Waits for every process up to one shared deadline; the first failure, or the deadline,
  kills them all (a process whose peer died would otherwise wait for it)."""
  deadline = time.monotonic() + TIMEOUT_S
  try:
    while any(proc.poll() is None for proc, _ in procs.values()):
      if any(proc.poll() for proc, _ in procs.values()) or time.monotonic() > deadline:
        break
      time.sleep(0.5)
    for name, (proc, log) in procs.items():
      status = "did not finish (killed)" if proc.poll() is None else f"exited with {proc.returncode}"
      assert proc.poll() == 0, f"{name} {status}:\n{log.read_text()[-4000:]}"
  finally:
    for proc, _ in procs.values():
      if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def runs(shared_study, tmp_path_factory):
  """Workdirs of the two-process runs (the single-process ones end in _single)."""
  out = tmp_path_factory.mktemp("multiprocess_jobs")
  rl_flags = ("--config.rl.kl_coef=0.1",  # the reference policy's path too
              f"--config.init.policy_workdir={shared_study / 'organisms' / 'tgg_plain'}",
              f"--config.monitors.scratchpad_workdir={shared_study / 'monitors' / 'scratchpad'}",
              f"--config.monitors.output_workdir={shared_study / 'monitors' / 'output'}")
  # The LM job's one-process twin is the study's base model (the same config on one device).
  procs = {**{f"lm {k}": v for k, v in launch(out / "lm", "organisms/base.py:test",
                                                single=False).items()},
           **{f"rl {k}": v for k, v in launch(out / "rl", "rl/process_supervision_adaptive.py:"
                                               "tgg_plain,test", *rl_flags).items()}}
  finish(procs)
  # Kill-and-resume: drop the last checkpoint and the export, as if the run had died after
  # step 1, and run the two processes again.
  resumed = out / "rl_resumed"
  shutil.copytree(out / "rl", resumed)
  shutil.rmtree(resumed / "ckpt" / "2")
  shutil.rmtree(resumed / common.EXPORT_DIR)
  procs = launch(resumed, "rl/process_supervision_adaptive.py:tgg_plain,test", *rl_flags,
                 single=False)
  finish(procs)
  return out


def records(path):
  return [{k: v for k, v in json.loads(line).items() if k != "time" and not k.startswith("time/")
           and not k.endswith("per_s")} for line in path.read_text().splitlines()]


def assert_records_close(multi, single):
  assert [r["step"] for r in multi] == [r["step"] for r in single] and multi
  for a, b in zip(multi, single):
    assert a.keys() == b.keys()
    for key in a:
      if isinstance(a[key], float):
        np.testing.assert_allclose(a[key], b[key], rtol=RTOL, atol=ATOL,
                                   err_msg=f"{key} @{a['step']}")
      else:
        assert a[key] == b[key], key


def exported(workdir, config_name, arg):
  """The params a run exported, restored on this process's mesh."""
  model = common.ModelOnMesh.from_config(load_config(config_name, arg))
  return common.load_exported_params(workdir, model,
                                     common.file_sha256(workdir / "tokenizer.json"))


def assert_params_close(a, b):
  flat_a, flat_b = (dict(jax.tree_util.tree_leaves_with_path(x)) for x in (a, b))
  assert flat_a.keys() == flat_b.keys()
  for path in flat_a:
    np.testing.assert_allclose(np.asarray(flat_a[path]), np.asarray(flat_b[path]), rtol=0,
                               atol=ATOL, err_msg=str(path))


def test_lm_job_matches_one_process(runs, shared_study):
  multi, single = runs / "lm", shared_study / "base"
  assert_records_close(records(multi / "metrics.jsonl"), records(single / "metrics.jsonl"))
  summary = {name: json.loads((d / "lm_summary.json").read_text()) for name, d in
             (("multi", multi), ("single", single))}
  assert summary["multi"]["step"] == summary["single"]["step"] > 0
  np.testing.assert_allclose(summary["multi"]["eval_loss"], summary["single"]["eval_loss"],
                             rtol=0, atol=ATOL)
  assert (multi / "tokenizer.json").read_bytes() == (single / "tokenizer.json").read_bytes()
  assert_params_close(exported(multi, "organisms/base.py", "test"),
                      exported(single, "organisms/base.py", "test"))


def test_rl_job_matches_one_process(runs):
  multi, single = runs / "rl", runs / "rl_single"
  assert_records_close(records(multi / "metrics.jsonl"), records(single / "metrics.jsonl"))
  keys = {k for r in records(multi / "metrics.jsonl") for k in r}
  assert {"rl/loss", "rl/monitor_scratchpad_p_mean", "adaptive/fresh_rows"} <= keys
  assert_records_close(records(multi / "eval.jsonl"), records(single / "eval.jsonl"))
  assert_params_close(exported(multi, "rl/process_supervision_adaptive.py", "tgg_plain,test"),
                      exported(single, "rl/process_supervision_adaptive.py", "tgg_plain,test"))


def test_logs_are_written_once(runs):
  """Process 0 alone writes the shared logs: no record appears twice."""
  for path in (runs / "lm" / "metrics.jsonl", runs / "rl" / "metrics.jsonl",
               runs / "rl" / "eval.jsonl"):
    keys = [(r["step"], tuple(sorted(r))) for r in records(path)]
    assert keys and len(keys) == len(set(keys)), path


def test_killed_two_process_run_resumes_to_the_same_end(runs):
  log = (runs / "rl_resumed.p0.log").read_text()
  assert "Resuming from step 1" in log
  full, resumed = (json.loads((runs / d / "rl_summary.json").read_text())
                   for d in ("rl", "rl_resumed"))
  assert resumed["params_sha256"] == full["params_sha256"]
  assert resumed["curve"] == full["curve"]
