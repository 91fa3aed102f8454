"""Packing with segments, loss masks on assistant turns, and packed attention."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from afjax.data import packing
from afjax.models import presets, transformer as tfm

A, E, SO, SC = 10, 11, 12, 13  # assistant, end, <scratchpad>, </scratchpad>
IDS = dict(assistant_id=A, end_id=E, scratchpad_open_id=SO, scratchpad_close_id=SC)
#            bos sys  usr  A  SO  x  SC  out  E  usr2 A  SO  y  SC  out E  eos
TRANSCRIPT = [1, 20, 21, A, SO, 30, SC, 31, E, 22, A, SO, 32, SC, 33, E, 2]


def test_turn_loss_mask_modes():
  response = packing.turn_loss_mask(TRANSCRIPT, "response", **IDS)
  np.testing.assert_array_equal(response, [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0])
  scratchpad = packing.turn_loss_mask(TRANSCRIPT, "scratchpad", **IDS)
  np.testing.assert_array_equal(scratchpad, [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0])
  assert packing.turn_loss_mask(TRANSCRIPT, "all", **IDS).sum() == len(TRANSCRIPT)
  with pytest.raises(ValueError, match="allowed"):
    packing.turn_loss_mask(TRANSCRIPT, "output", **IDS)


def test_an_unclosed_scratchpad_ends_with_its_turn():
  #        bos A  SO  x  E  usr A  out out E  eos
  ids = [1, A, SO, 60, E, 50, A, 70, 71, E, 2]
  mask = packing.turn_loss_mask(ids, "scratchpad", **IDS)
  np.testing.assert_array_equal(mask[6:], 0)  # the second turn has no scratchpad: nothing trained
  np.testing.assert_array_equal(mask[2:4], 1)


def test_pack_examples_layout():
  examples = [[1, 5, 6, 2], [1, 7, 2], [1, 8, 9, 9, 2]]
  masks = [np.ones(4), np.array([0, 0, 1.0]), np.ones(5)]
  arrays = packing.pack_examples(examples, masks, seq_len=6)
  # rows: [ex0 (3 pairs), ex1 (2 pairs), pad] and [ex2 (4 pairs), pad, pad]
  np.testing.assert_array_equal(arrays["inputs"], [[1, 5, 6, 1, 7, 0], [1, 8, 9, 9, 0, 0]])
  np.testing.assert_array_equal(arrays["targets"], [[5, 6, 2, 7, 2, 0], [8, 9, 9, 2, 0, 0]])
  np.testing.assert_array_equal(arrays["segment_ids"], [[1, 1, 1, 2, 2, 0], [1, 1, 1, 1, 0, 0]])
  np.testing.assert_array_equal(arrays["positions"], [[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 0, 0]])
  np.testing.assert_array_equal(arrays["loss_mask"], [[1, 1, 1, 0, 1, 0], [1, 1, 1, 1, 0, 0]])
  with pytest.raises(ValueError, match="more than seq_len"):
    packing.pack_examples([[1] * 9], [np.ones(9)], seq_len=6)


def test_packed_logits_equal_separate_forward_passes():
  cfg = tfm.TransformerConfig(**presets.get_preset("test"))
  model = tfm.Transformer(cfg)
  x = jnp.zeros((1, 4), jnp.int32)
  params = nn.meta.unbox(model.init(jax.random.key(0), x, x, x == 0)["params"])
  examples = [[1, 5, 6, 2], [1, 7, 8, 9, 2]]
  arrays = packing.pack_examples(examples, [np.ones(4), np.ones(5)], seq_len=8)
  seg = jnp.asarray(arrays["segment_ids"])
  packed, _ = model.apply({"params": params}, jnp.asarray(arrays["inputs"]),
                          jnp.asarray(arrays["positions"]), seg > 0, segment_ids=seg)
  start = 0
  for example in examples:
    ids = jnp.asarray([example[:-1]])
    alone, _ = model.apply({"params": params}, ids, tfm.positions_from_mask(ids >= 0), ids >= 0)
    np.testing.assert_allclose(packed[0, start:start + ids.shape[1]], alone[0], atol=1e-5)
    start += ids.shape[1]


def test_packed_batches_random_access_is_deterministic():
  arrays = packing.pack_examples([[1, i, 2] for i in range(3, 40)], [np.ones(3)] * 37, seq_len=4)
  a, b = packing.PackedBatches(arrays, 4, seed=0), packing.PackedBatches(arrays, 4, seed=0)
  for k in (0, 5, 17):
    for key in packing.PACKED_KEYS:
      np.testing.assert_array_equal(a.get_batch(k)[key], b.get_batch(k)[key])
  with pytest.raises(ValueError, match="fewer than one batch"):
    packing.PackedBatches(arrays, 1000, seed=0)


def test_best_fit_rows_hold_every_example_once_and_fit():
  rng = np.random.default_rng(0)
  lengths = [int(x) for x in rng.integers(3, 12, size=200)]
  for strategy in packing.STRATEGIES:
    rows = packing.assign_rows(lengths, 16, strategy, chunk=32)
    assert sorted(i for row in rows for i in row) == list(range(200))
    assert all(sum(lengths[i] for i in row) <= 16 for row in rows)
    assert all(row == sorted(row) for row in rows)
  in_order = packing.assign_rows(lengths, 16, "in_order")
  best_fit = packing.assign_rows(lengths, 16, "best_fit", chunk=32)
  assert len(best_fit) < len(in_order)
  # best fit keeps locality: every row's examples come from one chunk
  assert all(len({i // 32 for i in row}) == 1 for row in best_fit)


def test_best_fit_packing_keeps_each_example_intact():
  examples = [[1, *range(10, 10 + n), 2] for n in (1, 6, 1, 6, 5, 2)]
  masks = [np.arange(len(e), dtype=np.float32) % 2 for e in examples]
  arrays = packing.pack_examples(examples, masks, seq_len=8, strategy="best_fit")
  assert len(arrays["inputs"]) < len(packing.pack_examples(examples, masks, seq_len=8)["inputs"])
  found = []
  for r in range(len(arrays["inputs"])):
    for segment in range(1, arrays["segment_ids"][r].max() + 1):
      where = arrays["segment_ids"][r] == segment
      np.testing.assert_array_equal(arrays["positions"][r][where], np.arange(where.sum()))
      found.append((list(arrays["inputs"][r][where]) + [arrays["targets"][r][where][-1]],
                    list(arrays["loss_mask"][r][where])))
  expected = [(list(e), list(m[1:])) for e, m in zip(examples, masks)]
  assert sorted(found) == sorted(expected)
  with pytest.raises(ValueError, match="allowed"):
    packing.pack_examples(examples, masks, seq_len=8, strategy="sorted")
