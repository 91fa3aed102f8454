"""Metric logging (JSONL + TensorBoard), progress bars and a NaN/Inf guard.

`MetricLogger` appends one JSON object per `log` call to
``workdir/metrics.jsonl``, e.g.::

    {"step": 100, "train/loss": 2.31, "train/grad_norm": null, "time": 1.7e9}

and mirrors the values as TensorBoard scalars in ``workdir/tensorboard``.
Values become Python floats. NaN and +-Inf have no JSON spelling (``NaN`` and
``Infinity`` are not valid JSON), so they are written as ``null``; TensorBoard
gets them unchanged. The file is opened in append mode and flushed after
every line, so a resumed run continues the same file.

Nothing here uses pickle.
"""

from __future__ import annotations

import json
import math
import operator
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import tqdm
from tensorboardX import SummaryWriter

_RESERVED_KEYS = ("step", "time")


class NonFiniteError(ValueError):
  """A watched quantity (loss, gradient norm, ...) is NaN or infinite."""


def _as_step(step: Any) -> int:
  """Returns ``step`` as a non-negative int, or raises."""
  if isinstance(step, bool):
    raise TypeError("step must be an int, not a bool.")
  try:
    step = operator.index(step)
  except TypeError as err:
    raise TypeError(f"step must be an int, got {step!r}.") from err
  if step < 0:
    raise ValueError(f"step must be >= 0, got {step}.")
  return step


def _as_float(name: str, value: Any) -> float:
  """Converts a scalar (Python, numpy or JAX) to a Python float, or raises."""
  array = np.asarray(value)
  if array.size != 1:
    raise TypeError(
        f"Metric {name!r} has shape {array.shape}; log scalars (reduce"
        " arrays first)."
    )
  try:
    return float(array.reshape(()))
  except (TypeError, ValueError) as err:
    raise TypeError(
        f"Metric {name!r} is not a number: {value!r} ({err})."
    ) from err


def _json_value(value: float) -> float | None:
  return value if math.isfinite(value) else None


class MetricLogger:
  """Writes scalar metrics to a JSONL file and, optionally, TensorBoard.

  Of several processes, only process 0 writes; the others check their values
  and discard them.

  Use it as a context manager, or call `close` when done.

  Attributes:
    workdir: Directory holding the JSONL file and the TensorBoard folder.
    jsonl_path: The JSONL file appended to.
  """

  def __init__(self, workdir: str | pathlib.Path, *, tensorboard: bool = True,
               jsonl_name: str = "metrics.jsonl", resume_step: int | None = None):
    """Opens (creating if needed) the metric files under ``workdir``.

    Args:
      workdir: Run directory; created if missing.
      tensorboard: Also write TensorBoard scalars to ``workdir/tensorboard``.
      jsonl_name: File name of the JSONL log inside ``workdir``.
      resume_step: The checkpoint step a run resumes from: records of later
        steps (logged before a crash, and logged again by the resumed run) are
        dropped first (`truncate_jsonl`). None keeps the file as it is.

    Raises:
      ValueError: If ``jsonl_name`` is not a plain file name.
    """
    if not jsonl_name or pathlib.Path(jsonl_name).name != jsonl_name:
      raise ValueError(f"jsonl_name must be a file name, got {jsonl_name!r}.")
    self.workdir = pathlib.Path(workdir)
    self.jsonl_path = self.workdir / jsonl_name
    self._closed = False
    # Of several processes, process 0 alone writes the shared files.
    self._writes = jax.process_index() == 0
    if not self._writes:
      return
    self.workdir.mkdir(parents=True, exist_ok=True)
    if resume_step is not None:
      truncate_jsonl(self.jsonl_path, resume_step)
    self._jsonl = open(self.jsonl_path, "a", encoding="utf-8")
    self._end_partial_line()
    self._writer = (
        SummaryWriter(logdir=str(self.workdir / "tensorboard"))
        if tensorboard else None
    )

  def __enter__(self) -> MetricLogger:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  def _end_partial_line(self) -> None:
    """Starts a new line if a crashed run left the last line unfinished."""
    if self._jsonl.tell() == 0:
      return
    with open(self.jsonl_path, "rb") as existing:
      existing.seek(-1, 2)
      if existing.read(1) != b"\n":
        self._jsonl.write("\n")
        self._jsonl.flush()

  def log(self, step: int, metrics: Mapping[str, Any],
          prefix: str = "train") -> None:
    """Records scalar metrics for one step.

    All values are converted before anything is written, so a bad value
    writes nothing.

    Args:
      step: Training step (non-negative int, numpy or JAX integer scalar).
      metrics: Names to scalars (Python numbers, size-1 numpy or JAX arrays).
      prefix: Prepended as ``prefix/name``; no prefix when empty.

    Raises:
      TypeError: If a value is not a scalar number or ``step`` not an int.
      ValueError: If the logger is closed or a key would be "step"/"time".
    """
    if self._closed:
      raise ValueError("MetricLogger.log called after close().")
    step = _as_step(step)
    values = {}
    for name, value in metrics.items():
      key = f"{prefix}/{name}" if prefix else str(name)
      if key in _RESERVED_KEYS:
        raise ValueError(f"Metric key {key!r} is reserved; use a prefix.")
      values[key] = _as_float(key, value)
    record = {"step": step}
    record.update({key: _json_value(value) for key, value in values.items()})
    record["time"] = time.time()
    if not self._writes:
      return
    self._jsonl.write(json.dumps(record, allow_nan=False) + "\n")
    self._jsonl.flush()
    if self._writer is not None:
      for key, value in values.items():
        self._writer.add_scalar(key, value, global_step=step)
      self._writer.flush()

  def close(self) -> None:
    """Flushes and closes the files; calling it again does nothing."""
    if self._closed:
      return
    self._closed = True
    if not self._writes:
      return
    self._jsonl.close()
    if self._writer is not None:
      self._writer.close()


def truncate_jsonl(path: str | pathlib.Path, last_step: int) -> None:
  """Drops the records of steps after `last_step` from a JSONL log, atomically.

  A line that is not a JSON object (a crash cut it short) is dropped too; the
  file is rewritten through a temporary file and os.replace, so a crash while
  truncating leaves the old file whole. A missing file is left missing.
  """
  path = pathlib.Path(path)
  if not path.exists():
    return
  kept = []
  for line in path.read_text(encoding="utf-8").splitlines():
    try:
      record = json.loads(line)
    except json.JSONDecodeError:
      continue
    if isinstance(record, dict) and record.get("step", 0) <= last_step:
      kept.append(line + "\n")
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
  with os.fdopen(fd, "w", encoding="utf-8") as out:
    out.write("".join(kept))
  os.replace(tmp, path)


def has_record(path: str | pathlib.Path, step: int, prefix: str) -> bool:
  """Whether a JSONL log holds a record of `step` with a key under `prefix/`."""
  if not pathlib.Path(path).exists():
    return False
  return any(record.get("step") == step and any(key.startswith(f"{prefix}/") for key in record)
             for record in read_jsonl(path, skip_invalid=True))


def read_jsonl(path: str | pathlib.Path, *,
               skip_invalid: bool = False) -> list[dict[str, Any]]:
  """Reads a JSONL metric file back into a list of dicts.

  Blank lines are ignored. Non-finite values read back as None.

  Args:
    path: The JSONL file.
    skip_invalid: Skip lines that are not JSON objects (e.g. a line cut
      short by a crash) instead of raising.

  Returns:
    The records, in file order.

  Raises:
    ValueError: If a line is not a JSON object and ``skip_invalid`` is False;
      the message names the file and line number.
  """
  records = []
  with open(path, encoding="utf-8") as lines:
    for number, line in enumerate(lines, start=1):
      if not line.strip():
        continue
      try:
        record = json.loads(line)
        if not isinstance(record, dict):
          raise ValueError(f"expected a JSON object, got {type(record)}")
      except ValueError as err:
        if skip_invalid:
          continue
        raise ValueError(f"{path}:{number}: invalid metrics line: {err}") \
            from err
      records.append(record)
  return records


def progress(total: int | None, initial: int = 0, desc: str = "train", *,
             force: bool = False) -> tqdm.tqdm:
  """Returns a tqdm progress bar over steps, showing rate and ETA.

  Args:
    total: Final step (None if unknown: no ETA).
    initial: Step to start from, e.g. the restored step on resume.
    desc: Label in front of the bar.
    force: Show the bar even when stderr is not a terminal. Otherwise it is
      shown only on a TTY (tqdm's ``disable=None``), so logs stay clean.
      Processes other than process 0 never show it.

  Returns:
    A `tqdm.tqdm`; call ``update(n)`` per step and ``close()`` at the end.
  """
  return tqdm.tqdm(
      total=total,
      initial=initial,
      desc=desc,
      unit="step",
      dynamic_ncols=True,
      file=sys.stderr,
      disable=True if jax.process_index() else (False if force else None),
  )


def _describe_non_finite(value: Any) -> str | None:
  """Says how a value is non-finite, or returns None if it is all finite."""
  array = np.asarray(value)
  if not (np.issubdtype(array.dtype, np.floating)
          or np.issubdtype(array.dtype, np.complexfloating)):
    array = array.astype(np.float64)
  finite = np.isfinite(array)
  if finite.all():
    return None
  if array.size == 1:
    return f"= {array.reshape(()).item()}"
  nans = int(np.isnan(array).sum())
  infs = int(np.isinf(array).sum())
  return f"has {nans} NaN and {infs} Inf of {array.size} values"


def check_finite(step: int, named_values: Mapping[str, Any]) -> None:
  """Raises `NonFiniteError` if any watched value is NaN or infinite.

  Args:
    step: Current step, named in the message.
    named_values: Quantities to watch, e.g. ``{"loss": loss, "grad_norm":
      grad_norm}``; scalars or arrays (Python, numpy or JAX).

  Raises:
    NonFiniteError: Naming the step and every offending quantity.
  """
  problems = []
  for name, value in named_values.items():
    description = _describe_non_finite(value)
    if description is not None:
      problems.append(f"{name} {description}")
  if problems:
    raise NonFiniteError(
        f"Non-finite values at step {step}: {'; '.join(problems)}."
    )
