"""Tests for packed, shuffled, random-access LM batches."""

import itertools

import numpy as np
import pytest

from afjax.data import corpus
from afjax.data import loaders
from afjax.data import tokenizer as tokenizer_lib

SEQ_LEN = 16
BATCH_SIZE = 4


@pytest.fixture(scope="module")
def documents():
  return corpus.generate_lm_corpus(60, seed=0)


@pytest.fixture(scope="module")
def tokenizer(documents):
  return tokenizer_lib.train_tokenizer(documents, vocab_size=300)


@pytest.fixture(scope="module")
def windows(documents, tokenizer):
  return loaders.tokenize_and_pack(documents, tokenizer, SEQ_LEN)


@pytest.fixture(scope="module")
def even_windows(windows):
  """Windows trimmed to a whole number of batches, so epochs align with batches."""
  num_windows = (windows.shape[0] // BATCH_SIZE) * BATCH_SIZE
  return windows[:num_windows]


def test_pack_concatenates_bos_document_eos_and_drops_remainder(
  documents, tokenizer, windows
):
  stream = np.concatenate(
    [
      [tokenizer_lib.BOS_ID, *ids, tokenizer_lib.EOS_ID]
      for ids in tokenizer_lib.encode_batch(tokenizer, documents)
    ]
  )
  num_windows = len(stream) // (SEQ_LEN + 1)
  assert windows.dtype == np.int32
  assert windows.shape == (num_windows, SEQ_LEN + 1)
  np.testing.assert_array_equal(windows.reshape(-1), stream[: windows.size])
  assert windows[0, 0] == tokenizer_lib.BOS_ID


def test_pack_accepts_tfds_style_examples(documents, tokenizer, windows):
  examples = [{"text": d.encode("utf-8")} for d in documents]
  np.testing.assert_array_equal(
    loaders.tokenize_and_pack(examples, tokenizer, SEQ_LEN), windows
  )


def test_pack_of_too_little_text_gives_no_windows(tokenizer):
  assert loaders.tokenize_and_pack(["hi"], tokenizer, 64).shape == (0, 65)


def test_batch_shapes_dtypes_and_shifted_targets(windows):
  batch = loaders.LMBatches(windows, BATCH_SIZE, seed=0).get_batch(3)
  assert batch["inputs"].shape == (BATCH_SIZE, SEQ_LEN)
  assert batch["inputs"].dtype == np.int32
  assert batch["targets"].dtype == np.int32
  assert batch["loss_mask"].dtype == np.float32
  np.testing.assert_array_equal(batch["targets"][:, :-1], batch["inputs"][:, 1:])
  np.testing.assert_array_equal(batch["loss_mask"], 1.0)
  window_rows = {tuple(row) for row in windows}
  for inputs, targets in zip(batch["inputs"], batch["targets"]):
    assert tuple(inputs) + (targets[-1],) in window_rows


def test_batches_are_deterministic_given_the_seed(windows):
  first = loaders.LMBatches(windows, BATCH_SIZE, seed=5)
  second = loaders.LMBatches(windows, BATCH_SIZE, seed=5)
  for position in range(30):
    np.testing.assert_array_equal(
      first.get_batch(position)["inputs"], second.get_batch(position)["inputs"]
    )


def test_different_seeds_shuffle_differently(windows):
  first = loaders.LMBatches(windows, BATCH_SIZE, seed=0).get_batch(0)["inputs"]
  second = loaders.LMBatches(windows, BATCH_SIZE, seed=1).get_batch(0)["inputs"]
  assert not np.array_equal(first, second)


def test_get_batch_equals_the_kth_batch_of_a_fresh_iterator(windows):
  batches = loaders.LMBatches(windows, BATCH_SIZE, seed=2)
  fresh = list(itertools.islice(iter(batches), 25))
  for position in (0, 7, 24):
    resumed = loaders.LMBatches(windows, BATCH_SIZE, seed=2)
    from_position = next(resumed.iterate(start=position))
    for key in ("inputs", "targets", "loss_mask"):
      np.testing.assert_array_equal(resumed.get_batch(position)[key], fresh[position][key])
      np.testing.assert_array_equal(from_position[key], fresh[position][key])


def _epoch_inputs(batches, epoch):
  steps = batches.num_windows // batches.batch_size
  return np.concatenate(
    [batches.get_batch(epoch * steps + step)["inputs"] for step in range(steps)]
  )  # [N, T]


def test_each_epoch_is_a_different_permutation_of_all_windows(even_windows):
  batches = loaders.LMBatches(even_windows, BATCH_SIZE, seed=0)
  epochs = [_epoch_inputs(batches, epoch) for epoch in range(3)]
  expected = sorted(map(tuple, even_windows[:, :-1]))
  for epoch_inputs in epochs:
    assert sorted(map(tuple, epoch_inputs)) == expected
  assert not np.array_equal(epochs[0], epochs[1])
  assert not np.array_equal(epochs[1], epochs[2])
  assert batches.epoch_of(len(even_windows) // BATCH_SIZE) == 1


def test_too_small_corpus_raises(windows):
  with pytest.raises(ValueError, match="fewer than one batch"):
    loaders.LMBatches(windows[:3], batch_size=4, seed=0)


def test_too_small_source_raises_through_from_source(tokenizer):
  with pytest.raises(ValueError, match="fewer than one batch"):
    loaders.LMBatches.from_source(["Alice slept."], tokenizer, 64, 2, seed=0)


@pytest.mark.parametrize(
  "kwargs, field",
  [
    (dict(batch_size=0, seed=0), "batch_size"),
    (dict(batch_size=2, seed=-1), "seed"),
  ],
)
def test_bad_batch_arguments_raise(windows, kwargs, field):
  with pytest.raises(ValueError, match=field):
    loaders.LMBatches(windows, **kwargs)


def test_bad_seq_len_and_position_raise(documents, tokenizer, windows):
  with pytest.raises(ValueError, match="seq_len"):
    loaders.tokenize_and_pack(documents, tokenizer, 0)
  with pytest.raises(ValueError, match="position"):
    loaders.LMBatches(windows, BATCH_SIZE, seed=0).get_batch(-1)
