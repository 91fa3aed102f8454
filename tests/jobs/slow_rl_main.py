"""afjax.main with every RL rollout slowed down, so that a test can SIGKILL it mid-run."""

import time

from absl import app

from afjax import main
from afjax.rl import rollout

_call = rollout.RolloutGenerator.__call__


def _slow_call(self, *args, **kwargs):
  time.sleep(0.5)
  return _call(self, *args, **kwargs)


rollout.RolloutGenerator.__call__ = _slow_call

if __name__ == "__main__":
  app.run(main.main)
