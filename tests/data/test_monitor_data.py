"""The monitor dataset: splits from the world's generators, strict labels, reuse, rows."""

import re

import numpy as np
import pytest

from afjax.data import monitor_data as md
from afjax.data import tokenizer as tokenizer_lib
from afjax.data import world_data
from afjax.world import corpus as world_corpus
from afjax.world import labels

SPEC = md.MonitorDataSpec(n_train=24, n_validation=8, n_test=8, n_held_out=12, n_implicit=6, seed=3)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("monitor_data")
  builder = md.monitor_dataset(data_dir, SPEC)
  return data_dir, {split: md.read_split(builder, split) for split in md.SPLITS}


@pytest.fixture(scope="module")
def tokenizer(built):
  texts = [e["text"] for e in built[1][md.TRAIN]]
  return tokenizer_lib.train_tokenizer(texts, 400, world_data.SPECIAL_TOKENS)


def test_splits_are_the_generators_records_in_order(built):
  _, splits = built
  assert {split: len(examples) for split, examples in splits.items()} == SPEC.split_sizes()
  in_distribution = list(world_corpus.monitor_examples(40, SPEC.seed))
  stored = splits[md.TRAIN] + splits[md.VALIDATION] + splits[md.TEST]
  assert [e["text"] for e in stored] == [r["text"] for r in in_distribution]
  held_out = list(world_corpus.held_out_monitor_examples(12, SPEC.seed))
  assert [e["text"] for e in splits[md.HELD_OUT]] == [r["text"] for r in held_out]


def test_labels_are_strict_explicit_af(built):
  _, splits = built
  for split, examples in splits.items():
    for e in examples:
      assert e["label"] == int(e["scratchpad_label"] == labels.EXPLICIT_AF), split
  kinds = {e["kind"]: e["label"] for e in splits[md.TRAIN]}
  assert kinds.get("positive") == 1 and kinds.get("sycophantic", 0) == 0
  assert all(e["label"] == 0 and e["label_any_af"] == 1 for e in splits[md.IMPLICIT])


def test_training_splits_avoid_held_out_families(built):
  _, splits = built
  for split in (md.TRAIN, md.VALIDATION, md.TEST):
    assert not any(e["uses_held_out"] for e in splits[split]), split
  assert all(e["uses_held_out"] for e in splits[md.HELD_OUT])


def test_rebuilding_reuses_the_files(built, monkeypatch):
  data_dir, splits = built

  def fail(*args, **kwargs):
    raise AssertionError("the generator ran again")

  monkeypatch.setattr(world_corpus, "monitor_examples", fail)
  again = md.monitor_dataset(data_dir, SPEC)
  assert md.read_split(again, md.TEST) == splits[md.TEST]


def test_spec_rejects_bad_sizes():
  with pytest.raises(ValueError, match=r"data.n_train=0; allowed: an integer >= 1"):
    md.MonitorDataSpec(0, 8, 8, 8, 8, 0)
  with pytest.raises(ValueError, match=r"data.seed=-1; allowed: an integer >= 0"):
    md.MonitorDataSpec(8, 8, 8, 8, 8, -1)


def test_rows_are_bos_plus_ids_right_padded(built, tokenizer):
  examples = built[1][md.TEST]
  rows = md.classifier_rows(tokenizer, examples)
  lengths = [len(ids) + 1 for ids in tokenizer_lib.encode_batch(tokenizer, [e["text"] for e in examples])]
  assert rows["inputs"].shape[1] == md.round_up_length(max(lengths)) and rows["inputs"].shape[1] % 32 == 0
  np.testing.assert_array_equal(rows["mask"].sum(axis=1), lengths)
  assert (rows["inputs"][:, 0] == tokenizer_lib.BOS_ID).all()
  assert (rows["inputs"][~rows["mask"]] == tokenizer_lib.PAD_ID).all()
  np.testing.assert_array_equal(rows["labels"], [e["label"] for e in examples])
  with pytest.raises(ValueError, match=r"more than config.data.seq_len=16; allowed: data.seq_len >= "):
    md.encode_rows(tokenizer, [examples[0]["text"]], 16)


def test_tag_ids_need_the_world_tokens(tokenizer):
  tags = md.tag_ids(tokenizer)
  assert tokenizer.id_to_token(tags.scratchpad_open) == "<scratchpad>"
  assert tokenizer.id_to_token(tags.output_close) == "</output>"
  plain = tokenizer_lib.train_tokenizer(["just some words"], 300)
  with pytest.raises(ValueError, match=re.escape("no single token for '<|system|>'")):
    md.tag_ids(plain)
