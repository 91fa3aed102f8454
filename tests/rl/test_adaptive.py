"""The adaptive scratchpad classifier: the labeller, the buffer and a refresh that learns."""

import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from afjax import config as config_lib
from afjax.jobs import monitor as monitor_job
from afjax.models import monitor as monitor_lib
from afjax.rl import adaptive
from afjax.world import labels

TAGS = monitor_lib.TagIds(assistant=5, end=6, scratchpad_open=9, scratchpad_close=10,
                          output_open=11, output_close=12)


@pytest.mark.parametrize("labeller, label, expected", [
    ("oracle_explicit", labels.EXPLICIT_AF, 1.0),
    ("oracle_explicit", labels.IMPLICIT_AF, 0.0),
    ("oracle_explicit", labels.SYCOPHANTIC, 0.0),
    ("oracle_tier_conditioned", labels.IMPLICIT_AF, 1.0),
    ("oracle_tier_conditioned", labels.EXPLICIT_AF, 1.0),
    ("oracle_tier_conditioned", labels.REFUSAL, 0.0),
    ("oracle_explicit", labels.UNPARSEABLE, None),
    ("oracle_tier_conditioned", labels.UNPARSEABLE, None),
])
def test_labeller_abstains_on_unparseable_and_labels_the_rest(labeller, label, expected):
  assert adaptive.label_of(labeller, label) == expected


@pytest.mark.parametrize("labeller", adaptive.LABELLERS)
def test_replay_rows_carry_the_labellers_label(labeller):
  # The monitor's training examples (implicit faking among them), labelled through the replay
  # field, agree with the labeller's label of their scratchpads: replay and fresh rows never
  # pull one kind of transcript toward opposite labels.
  from afjax.world import corpus as world_corpus
  examples = list(world_corpus.monitor_examples(400, 0))
  field = adaptive.REPLAY_LABEL_FIELDS[labeller]
  assert {e["scratchpad_label"] for e in examples} >= {labels.EXPLICIT_AF, labels.IMPLICIT_AF}
  for example in examples:
    assert example[field] == adaptive.label_of(labeller, example["scratchpad_label"]), example


def test_bad_settings_name_the_field():
  with pytest.raises(ValueError, match="adaptive.labeller='gpt'"):
    adaptive.label_of("gpt", labels.REFUSAL)
  with pytest.raises(ValueError, match="adaptive.replay_fraction"):
    adaptive.AdaptiveConfig(every=1, steps=1, batch_size=4, learning_rate=1e-3,
                            replay_fraction=1.0, labeller="oracle_explicit")
  with pytest.raises(ValueError, match="adaptive.every"):
    adaptive.AdaptiveConfig(every=0, steps=1, batch_size=4, learning_rate=1e-3,
                            replay_fraction=0.0, labeller="oracle_explicit")


def rows(rng, n, length=16):
  """Transcripts whose scratchpad holds token 50 exactly when the label says explicit AF."""
  tokens = np.zeros((n, length), np.int32)
  names = []
  for row in range(n):
    af = bool(rng.integers(2))
    scratch = rng.integers(60, 300, 4)
    if af:
      scratch[rng.integers(4)] = 50
    tokens[row, :14] = [1, 70, 71, TAGS.assistant, TAGS.scratchpad_open, *scratch,
                        TAGS.scratchpad_close, TAGS.output_open, 80, TAGS.output_close, TAGS.end]
    names.append(labels.EXPLICIT_AF if af else labels.REFUSAL)
  return tokens, tokens > 0, names


def make_monitor():
  config = ml_collections.ConfigDict(dict(
      model=config_lib.model_config("test", vocab_size=384, max_seq_len=64),
      mesh=config_lib.mesh_config(data=-1), mesh_rules=config_lib.mesh_rules_config()))
  monitor = monitor_job.MonitorOnMesh.from_config(config, "scratchpad", TAGS)
  return monitor_job.LoadedMonitor(pathlib.Path("/nonexistent"), monitor, monitor.init_params(0),
                                   0.5, {})


def test_refresh_learns_the_fresh_labels_and_empties_the_buffer():
  rng = np.random.default_rng(0)
  loaded = make_monitor()
  cfg = adaptive.AdaptiveConfig(every=1, steps=60, batch_size=16, learning_rate=3e-3,
                                replay_fraction=0.0, labeller="oracle_explicit")
  monitor = adaptive.AdaptiveMonitor(loaded, cfg, capacity=64, seq_len=16, replay_rows=None, seed=0)
  tokens, mask, names = rows(rng, 64)
  names[0] = labels.UNPARSEABLE
  assert monitor.add(tokens, mask, names) == 63  # the labeller abstains on one row
  before = np.asarray(loaded.monitor.scorer(monitor.params, tokens, mask))
  stats = monitor.refresh(1)
  assert stats["fresh_rows"] == 63 and int(monitor.buffer["count"]) == 0
  after = np.asarray(loaded.monitor.scorer(monitor.params, tokens, mask))
  y = np.array([n == labels.EXPLICIT_AF for n in names])
  accuracy = lambda p: float(np.mean((p[1:] > 0.5) == y[1:]))
  assert accuracy(after) > max(0.9, accuracy(before))
  # The fixed classifier's params are untouched (the adaptive one is a copy).
  np.testing.assert_array_equal(before, np.asarray(loaded.monitor.scorer(loaded.params, tokens, mask)))


def test_buffer_round_trips_through_checkpoint_items():
  loaded = make_monitor()
  cfg = adaptive.AdaptiveConfig(every=1, steps=1, batch_size=4, learning_rate=1e-3,
                                replay_fraction=0.0, labeller="oracle_explicit")
  monitor = adaptive.AdaptiveMonitor(loaded, cfg, capacity=8, seq_len=16, replay_rows=None, seed=0)
  tokens, mask, names = rows(np.random.default_rng(1), 5)
  monitor.add(tokens, mask, names)
  # As Orbax restores them: jax arrays, whose NumPy views are read-only.
  items = jax.tree.map(jnp.asarray, jax.device_get(monitor.items()))
  other = adaptive.AdaptiveMonitor(loaded, cfg, capacity=8, seq_len=16, replay_rows=None, seed=0)
  other.restore(items)
  for key in monitor.buffer:
    np.testing.assert_array_equal(other.buffer[key], monitor.buffer[key])
  assert jax.tree.structure(other.abstract_items()) == jax.tree.structure(monitor.abstract_items())
  more_tokens, more_mask, more_names = rows(np.random.default_rng(2), 2)
  added = other.add(more_tokens, more_mask, more_names)  # a resumed run keeps adding rows
  assert added == monitor.add(more_tokens, more_mask, more_names)
  for key in monitor.buffer:
    np.testing.assert_array_equal(other.buffer[key], monitor.buffer[key])
