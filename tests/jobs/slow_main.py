"""afjax.main with every train step slowed down, so that a test can SIGKILL it mid-run."""

import time

from absl import app

from afjax import main
from afjax.training import loop

_train_loop = loop.train_loop


def _slow_train_loop(state, step_fn, *args, **kwargs):
  def slow_step(state, batch):
    time.sleep(0.25)
    return step_fn(state, batch)
  return _train_loop(state, slow_step, *args, **kwargs)


loop.train_loop = _slow_train_loop

if __name__ == "__main__":
  app.run(main.main)
