"""The output-only monitor: p(explicit AF | prompt, final output), never the scratchpad.

    python -m afjax.main --config=configs/monitors/output.py --workdir=workdirs/monitor_output \
        --config.init.base_workdir=workdirs/base

The same model, data, label and training as configs/monitors/scratchpad.py,
but the monitor sees only the prompt and the `<output>` block: the scratchpad is
removed from its input (afjax.models.monitor). It can tell a compliant answer
in the training tier from a refusal, but not why the model complied, so it
cannot separate explicit faking from sycophantic, implicit or genuine
compliance; its figures are reported as they are (configs/monitors/eval.py).
":test" is a seconds-long smoke test. Measured on 2 CPU cores from the tiny
base model: about 1.5 minutes, validation AUROC 0.84, operating threshold 0.56
(precision 0.74, recall 1.0).
"""

import ml_collections

from afjax import config as config_lib
from afjax.data import monitor_data


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  test = arg == "test"
  if arg not in (None, "", "test"):
    raise ValueError(f"configs/monitors/output.py:{arg}; allowed: no argument or ':test'")
  config = ml_collections.ConfigDict()
  config.job = "monitor"
  config.seed = 0
  config.distributed = False
  config.monitor = ml_collections.ConfigDict(dict(view="output"))
  config.init = ml_collections.ConfigDict(dict(base_workdir="workdirs/base"))
  config.model = config_lib.model_config("test" if test else "tiny",
                                         vocab_size=512 if test else 1024, max_seq_len=512)
  config.mesh = config_lib.mesh_config(data=-1)
  config.mesh_rules = config_lib.mesh_rules_config()
  config.data = monitor_data.data_config(test)
  config.train = ml_collections.ConfigDict(dict(
      steps=4 if test else 150, batch_size=8 if test else 32, log_every=2 if test else 10,
      eval_every=0 if test else 50))
  config.optimizer = config_lib.optimizer_config(learning_rate=1e-3, warmup_steps=1 if test else 10)
  config.checkpoint = config_lib.checkpoint_config(every=50, keep=2)
  return config
