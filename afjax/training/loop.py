"""One training loop for every supervised job: resume, step, guard, log, checkpoint.

    state = resume_or_init(checkpointer, init_state, fingerprint)
    state = train_loop(state, step_fn, get_batch, total_steps, checkpointer, logger, fingerprint)
"""

from __future__ import annotations

import time
from typing import Any, Callable

import jax
import numpy as np
from absl import logging

from afjax.training import checkpoint as checkpoint_lib
from afjax.training import logging as log_lib
from afjax.training.state import TrainState, abstract_state


def resume_or_init(checkpointer: checkpoint_lib.Checkpointer, state: TrainState, shardings: TrainState,
                   fingerprint: dict, extra: Any = None) -> TrainState:
  """Restores the newest checkpoint into `state`'s layout, or returns `state`.

  Args:
    extra: optional state saved beside the train state (e.g. the RL job's
      adaptive monitor): its `abstract_items()` join the restore target and
      `restore(items)` receives what was read.

  Raises:
    CheckpointMismatchError / CheckpointCorruptError from the checkpointer;
    nothing on disk is changed.
  """
  latest = checkpointer.latest_step()
  if latest is None:
    logging.info("No checkpoint in %s: starting from step 0.", checkpointer.directory)
    return state
  target = abstract_state(shardings, state).as_dict()
  if extra is not None:
    target.update(extra.abstract_items())
  step, restored = checkpointer.restore(target, fingerprint)
  if extra is not None:
    extra.restore(restored)
  message = f"Resuming from step {step} (checkpoint in {checkpointer.directory})."
  logging.info(message)
  print(message, flush=True)
  return TrainState.from_dict(restored)


def host_local(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """This process's rows of a global batch (all of it on a single process)."""
  n = jax.process_count()
  if n == 1:
    return batch
  i = jax.process_index()
  return {k: np.array_split(v, n)[i] for k, v in batch.items()}


def train_loop(state: TrainState, step_fn: Callable, get_batch: Callable[[int], dict],
               total_steps: int, checkpointer: checkpoint_lib.Checkpointer,
               logger: log_lib.MetricLogger, fingerprint: dict, *, log_every: int = 10,
               eval_fn: Callable[[TrainState], dict] | None = None, eval_every: int = 0,
               desc: str = "train", place: Callable[[dict], dict] | None = None) -> TrainState:
  """Runs `step_fn` from state.step to total_steps.

  Each step reads batch number `state.data_position` (so a resumed run sees
  exactly the batches an uninterrupted one would), checks that the loss and
  gradient norm are finite before anything is saved, logs metrics every
  `log_every` steps, evaluates every `eval_every` steps (0 = never; the final
  evaluation is the caller's) and checkpoints every `checkpointer.save_every` steps and at the end.

  Raises:
    NonFiniteError naming the step and quantity; the bad state is not saved.
  """
  start = int(state.step)
  bar = log_lib.progress(total_steps, initial=start, desc=desc)
  tick, tokens = time.perf_counter(), 0.0
  for step in range(start + 1, total_steps + 1):
    batch = host_local(get_batch(int(state.data_position)))
    state, metrics = step_fn(state, place(batch) if place else batch)
    metrics = jax.device_get(metrics)
    log_lib.check_finite(step, {"loss": metrics["loss"], "grad_norm": metrics["grad_norm"]})
    tokens += float(metrics.get("tokens", 0.0))
    bar.update(1)
    if step % log_every == 0 or step == total_steps:
      elapsed = time.perf_counter() - tick
      metrics["tokens_per_s"] = tokens / max(elapsed, 1e-9)
      logger.log(step, metrics, prefix=desc)
      bar.set_postfix(loss=f"{float(metrics['loss']):.3f}")
      tick, tokens = time.perf_counter(), 0.0
    if eval_fn is not None and eval_every and step % eval_every == 0 and step < total_steps:
      logger.log(step, eval_fn(state), prefix="eval")
    if checkpointer.should_save(step) or step == total_steps:
      checkpointer.save(step, state.as_dict(), fingerprint=fingerprint, force=True)
  bar.close()
  checkpointer.wait()
  return state
