"""Runs one afjax job from a config file.

    python -m afjax.main --config=configs/lm.py --workdir=/tmp/lm
    python -m afjax.main --config=configs/lm.py --workdir=/tmp/lm --config.train.steps=50

`config.job` chooses what runs. The config is validated before anything is
written; rerunning the same command resumes from the workdir's checkpoints.
On several hosts (a TPU slice, a multi-GPU cluster) set
`--config.distributed=True` and start the same command on every host; where
JAX cannot find the cluster itself (TPU metadata, SLURM, Open MPI), name it
with --coordinator_address, --num_processes and --process_id.
"""

from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a config file with get_config().",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and outputs.")
flags.mark_flags_as_required(["config", "workdir"])
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0, for config.distributed=True where JAX "
    "cannot detect the cluster (passed to jax.distributed.initialize).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the job (with "
                                      "--coordinator_address).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's id, 0 .. num_processes - 1.")


def _load_config_file(argv: list[str]):
  """The config that `--config=PATH[:ARG]` in argv names, loaded as config_flags does."""
  import importlib.util

  values = [arg.split("=", 1)[1] for arg in argv if arg.startswith("--config=")]
  if not values:
    return None
  path, _, arg = values[-1].partition(":")
  spec = importlib.util.spec_from_file_location("afjax_config_file", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def _explain_bad_config(argv: list[str], err: Exception) -> str:
  """Why flag parsing failed: the config file itself, or which `--config.a.b=v` names a field
  the config does not have."""
  from afjax.config import explain_unknown_field

  try:
    config = _load_config_file(argv)
  except FileNotFoundError:
    return f"{_config_arg(argv)}: no such config file"
  except Exception as load_err:  # the file itself fails: its own error, not an override's
    return f"the config file of {_config_arg(argv)} fails to load: {load_err!r}"
  overrides = [arg for arg in argv if arg.startswith("--config.")]
  for arg in overrides if config is not None else ():
    message = explain_unknown_field(config, arg[len("--config."):].split("=", 1)[0])
    if message:
      return message
  if isinstance(err, OSError):
    return str(err)
  return f"a --config override of {overrides} cannot be applied: {err!r}"


def _config_arg(argv: list[str]) -> str:
  return next((arg for arg in reversed(argv) if arg.startswith("--config=")), "--config")


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with one line (exit 2) for a config that cannot be read or an override
  of a field that does not exist, for which ml_collections raises OSError, AttributeError or
  KeyError with a traceback."""
  try:
    return app.parse_flags_with_usage(argv)
  except (AttributeError, KeyError, OSError) as err:
    print(f"afjax: invalid config: {_explain_bad_config(argv, err)}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  import jax  # after flag parsing, so that --help is fast

  if not flags.FLAGS["verbosity"].present:
    # Orbax and TFDS log every save and read at INFO through absl; show
    # warnings by default (-v 0 brings INFO back). Progress is on the terminal.
    logging.set_verbosity(logging.WARNING)

  from afjax import jobs
  from afjax.config import ConfigError, validate_seeds
  from afjax.jobs import common
  from afjax.training.checkpoint import CheckpointError

  try:
    config = _CONFIG.value
    config.get("job")  # ml_collections defers a config file's load error to the first access
  except OSError as err:  # the file's error, said as flag parsing says it
    print(f"afjax: invalid config: {_explain_bad_config(sys.argv, err)}", file=sys.stderr)
    sys.exit(2)
  workdir = _WORKDIR.value
  try:
    if not workdir.strip():
      raise ConfigError("--workdir is empty; allowed: a directory path (it is created if needed)")
    job = jobs.get_job(config.get("job"))
    if config.get("distributed", False):
      jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                                 num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
    elif any(f.value is not None for f in (_COORDINATOR, _NUM_PROCESSES, _PROCESS_ID)):
      raise ConfigError("--coordinator_address, --num_processes and --process_id join a "
                        "multi-process job; allowed with --config.distributed=True only")
    validate_seeds(config)
    job.validate(config, jax.device_count())
  except ConfigError as err:
    logging.error("invalid config: %s", err)
    print(f"afjax: invalid config: {err}", file=sys.stderr)
    sys.exit(2)
  logging.info("job %s on %d device(s) (%s), workdir %s", config.job, jax.device_count(),
               jax.devices()[0].platform, workdir)
  try:
    job.run(config, workdir)
  except (ConfigError, CheckpointError) as err:  # found while reading the inputs: no traceback
    logging.error("%s: %s", type(err).__name__, err)
    print(f"afjax: {type(err).__name__}: {err}", file=sys.stderr)
    sys.exit(2)
  # The config that made the workdir's files (prepare_workdir writes it only when absent, so
  # that a rerun refused by the checkpoints leaves the old one in place).
  common.record_config(config, workdir)


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
