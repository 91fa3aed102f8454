"""Jobs that `afjax.main` can run, chosen by `config.job`.

Each job module defines `validate(config, num_devices)` (raises
`afjax.config.ConfigError`, writes nothing) and `run(config, workdir)`; a job
that reads other runs' workdirs also defines `validate_settings(config,
num_devices)`, every check but those workdirs' (a study checks its stages
before their inputs exist).
"""

from __future__ import annotations

import importlib
import types

from afjax.config import ConfigError

JOBS = {
    "lm": "afjax.jobs.lm",
    "sft": "afjax.jobs.organism",
    "organism_eval": "afjax.jobs.organism_eval",
    "monitor": "afjax.jobs.monitor",
    "monitor_eval": "afjax.jobs.monitor_eval",
    "reward_model": "afjax.jobs.reward_model",
    "rl": "afjax.jobs.rl",
    "study": "afjax.jobs.study",
}


def get_job(name: str) -> types.ModuleType:
  """The module of job `name`, or ConfigError listing the known jobs."""
  if name not in JOBS:
    raise ConfigError(f"config.job={name!r}; allowed: {sorted(JOBS)}")
  return importlib.import_module(JOBS[name])
