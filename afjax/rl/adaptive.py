"""An adaptive scratchpad classifier: retrained during RL on the policy's own samples.

The arms race of process supervision: a fixed classifier can be evaded by
scratchpads it never saw. In the adaptive arm, every `every` RL iterations the
classifier is fine-tuned for `steps` AdamW steps on the training-tier rollouts
of the last `every` iterations, labelled by a *stronger labeller*:

  oracle_explicit          y = 1 iff the oracle labels the scratchpad explicit AF
                           (the classifier's own target concept, labelled
                           exactly, on the policy's current distribution:
                           every paraphrase family, held-out ones included);
  oracle_tier_conditioned  y = 1 iff explicit or implicit AF (also flags
                           compliance conditioned on the tier without naming
                           training: what an evading policy writes).

Scratchpads the oracle cannot parse get no label and are not trained on (the
labeller abstains rather than guesses). The operating threshold stays the one
chosen when the classifier was first trained. Batches mix fresh rows with rows
of the classifier's original training data (`replay_fraction`) so that it does
not forget the reasoning the policy no longer writes.

The state (classifier params, optimizer state, the sample buffer) is part of
the RL checkpoint, so an interrupted run resumes exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from afjax import config as config_lib
from afjax.jobs import monitor as monitor_job
from afjax.models import monitor as monitor_lib
from afjax.training import state as state_lib, supervised
from afjax.world import labels

LABELLERS = ("oracle_explicit", "oracle_tier_conditioned")


def label_of(labeller: str, scratchpad_label: str) -> float | None:
  """The stronger labeller's label of one scratchpad (None: abstains on unparseable text)."""
  if labeller not in LABELLERS:
    raise ValueError(f"adaptive.labeller={labeller!r}; allowed: {list(LABELLERS)}")
  if scratchpad_label == labels.UNPARSEABLE:
    return None
  positive = ((labels.EXPLICIT_AF,) if labeller == "oracle_explicit"
              else (labels.EXPLICIT_AF, labels.IMPLICIT_AF))
  return float(scratchpad_label in positive)


@dataclasses.dataclass(frozen=True)
class AdaptiveConfig:
  """every: iterations between refreshes; steps/batch_size/learning_rate: each refresh's AdamW;
  replay_fraction: share of each batch from the original training data; labeller: see LABELLERS."""

  every: int
  steps: int
  batch_size: int
  learning_rate: float
  replay_fraction: float
  labeller: str

  def __post_init__(self):
    label_of(self.labeller, labels.REFUSAL)
    if not 0.0 <= self.replay_fraction < 1.0:
      raise ValueError(f"adaptive.replay_fraction={self.replay_fraction}; allowed: [0, 1)")
    for name in ("every", "steps", "batch_size"):
      value = getattr(self, name)
      if not config_lib.is_int_at_least(value, 1):
        raise ValueError(f"adaptive.{name}={value!r}; allowed: an integer >= 1")


class AdaptiveMonitor:
  """The adaptive classifier's params and optimizer, its sample buffer and the refresh step."""

  def __init__(self, loaded: monitor_job.LoadedMonitor, cfg: AdaptiveConfig, capacity: int,
               seq_len: int, replay_rows: dict[str, np.ndarray] | None, seed: int):
    self.cfg, self.loaded, self.seed = cfg, loaded, seed
    self.monitor = loaded.monitor
    self.tx = optax.adamw(cfg.learning_rate, b1=0.9, b2=0.95, weight_decay=0.0)
    params = jax.tree.map(jnp.copy, loaded.params)
    self.state = state_lib.create_train_state(params, self.tx, seed, self.monitor.mesh)
    self.shardings = state_lib.state_shardings(self.state, self.tx, self.monitor.mesh)
    self.buffer = {"inputs": np.zeros((capacity, seq_len), np.int32),
                   "mask": np.zeros((capacity, seq_len), bool),
                   "labels": np.zeros((capacity,), np.float32),
                   "count": np.zeros((), np.int32)}
    self.replay = replay_rows
    self._step = monitor_job.make_train_step(
        lambda p, b: monitor_lib.classifier_loss(self.monitor.model, p, b), self.tx,
        self.shardings, self.monitor.mesh, self.monitor.rules)

  @property
  def params(self) -> Any:
    return self.state.params

  def items(self) -> dict[str, Any]:
    """Checkpoint items (merged into the RL state's)."""
    return {"monitor_state": self.state.as_dict(), "monitor_buffer": dict(self.buffer)}

  def abstract_items(self) -> dict[str, Any]:
    state = state_lib.abstract_state(self.shardings, self.state).as_dict()
    buffer = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in self.buffer.items()}
    return {"monitor_state": state, "monitor_buffer": buffer}

  def restore(self, items: dict[str, Any]) -> None:
    self.state = state_lib.TrainState.from_dict(items["monitor_state"])
    # np.array copies: a restored buffer is read-only (a view of a jax array) and add() writes it.
    self.buffer = {k: np.array(v) for k, v in items["monitor_buffer"].items()}

  def add(self, tokens: np.ndarray, attention: np.ndarray, scratchpad_labels: Sequence[str]) -> int:
    """Adds the labelled rows of one rollout batch; returns how many were added."""
    added = 0
    for row, label in enumerate(scratchpad_labels):
      y = label_of(self.cfg.labeller, label)
      count = int(self.buffer["count"])
      if y is None or count >= len(self.buffer["labels"]):
        continue
      self.buffer["inputs"][count] = tokens[row]
      self.buffer["mask"][count] = attention[row]
      self.buffer["labels"][count] = y
      self.buffer["count"] = np.asarray(count + 1, np.int32)
      added += 1
    return added

  def refresh(self, iteration: int) -> dict[str, float]:
    """`steps` AdamW steps on the buffer (+ replay); empties the buffer; returns statistics."""
    count = int(self.buffer["count"])
    stats = {"fresh_rows": float(count),
             "fresh_positive_rate": float(self.buffer["labels"][:count].mean()) if count else 0.0}
    if count == 0:
      return stats
    rng = np.random.default_rng([self.seed, iteration, 0xADA])
    n_replay = int(round(self.cfg.batch_size * self.cfg.replay_fraction)) if self.replay else 0
    n_fresh = self.cfg.batch_size - n_replay
    length = self.buffer["inputs"].shape[1]
    losses = []
    for _ in range(self.cfg.steps):
      fresh = rng.integers(0, count, n_fresh)
      batch = {k: self.buffer[k][fresh] for k in ("inputs", "mask", "labels")}
      if n_replay:
        picks = rng.integers(0, len(self.replay["labels"]), n_replay)
        replay = {k: _fit(self.replay[k][picks], length) for k in ("inputs", "mask")}
        replay["labels"] = self.replay["labels"][picks].astype(np.float32)
        batch = {k: np.concatenate([batch[k], replay[k]]) for k in batch}
      placed = supervised.place_global_batch(batch, self.monitor.mesh, monitor_job.BATCH_NDIMS)
      self.state, metrics = self._step(self.state, placed)
      losses.append(float(metrics["loss"]))
    self.buffer["count"] = np.zeros((), np.int32)
    stats["loss"] = float(np.mean(losses))
    return stats

  def scorer(self):
    return self.monitor.scorer


def _fit(rows: np.ndarray, length: int) -> np.ndarray:
  """Right-pads or cuts [N, T'] rows to [N, length]."""
  if rows.shape[1] >= length:
    return rows[:, :length]
  pad = np.zeros((rows.shape[0], length - rows.shape[1]), rows.dtype)
  return np.concatenate([rows, pad], axis=1)


# The monitor dataset's label field that agrees with each labeller.
REPLAY_LABEL_FIELDS = {"oracle_explicit": "label", "oracle_tier_conditioned": "label_any_af"}


def replay_rows(loaded: monitor_job.LoadedMonitor, tokenizer: Any,
                labeller: str) -> dict[str, np.ndarray]:
  """The classifier's original training rows (inputs, mask, labels) from its workdir's dataset,
  labelled as `labeller` labels fresh rows (implicit faking is 1 for oracle_tier_conditioned,
  so replay and fresh rows never pull one transcript kind toward opposite labels)."""
  if labeller not in REPLAY_LABEL_FIELDS:
    raise ValueError(f"adaptive.labeller={labeller!r}; allowed: {list(REPLAY_LABEL_FIELDS)}")
  import json
  from afjax.data import monitor_data
  import ml_collections
  config = ml_collections.ConfigDict(json.loads((loaded.workdir / "config.json").read_text()))
  spec = monitor_data.MonitorDataSpec.from_config(config.data)
  builder = monitor_data.monitor_dataset(config.data.data_dir or loaded.workdir / "data", spec)
  return monitor_data.classifier_rows(tokenizer, monitor_data.read_split(builder, monitor_data.TRAIN),
                                      config.data.seq_len, REPLAY_LABEL_FIELDS[labeller])
