"""The quickstart study: base model -> one organism -> monitors -> five RL arms -> report.

    python -m afjax.main --config=configs/quickstart.py --workdir=workdirs/quickstart

Stages (each cached in its own folder; rerunning skips finished stages and
resumes an interrupted one): the base model on the world corpus, the tgg_plain
organism, the scratchpad AF classifier and the output-only monitor (and their
evaluation), then RL with the arms baseline, process_supervision,
length_penalty, interrogation and output_monitor (one seed each), then
WORKDIR/results.json, WORKDIR/report.md and the plots. ":test" runs the same
pipeline at smoke-test sizes in about a minute.
"""

import ml_collections

from afjax import config as config_lib

ARMS = ("baseline", "process_supervision", "length_penalty", "interrogation", "output_monitor")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/quickstart.py:{arg}; allowed: no argument or ':test'")
  return config_lib.study_config(("tgg_plain",), ARMS, (0,), test=arg == "test")
