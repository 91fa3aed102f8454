"""Preference pairs: determinism, oracle-checked labels and order, splits, reuse, rows."""

import collections

import numpy as np
import pytest

from afjax.data import reward_data as rd
from afjax.data import tokenizer as tokenizer_lib
from afjax.data import world_data
from afjax.world import format as world_format
from afjax.world import labels, oracle, prompts

SPEC = rd.RewardDataSpec(n_train=24, n_validation=8, n_test=8, seed=3)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("reward_data")
  builder = rd.reward_dataset(data_dir, SPEC)
  return data_dir, {split: rd.read_split(builder, split) for split in rd.SPLITS}


@pytest.fixture(scope="module")
def sample():
  """A larger stream prefix, generated directly (no dataset)."""
  return rd.preference_pairs(300, seed=0)


def test_pairs_are_deterministic_and_prefixes(sample):
  assert rd.preference_pairs(40, seed=0) == sample[:40]
  assert rd.preference_pairs(10, seed=0, start=20) == sample[20:30]
  other_seed = rd.preference_pairs(40, seed=1)
  assert [p["text_chosen"] for p in other_seed] != [p["text_chosen"] for p in sample[:40]]


def test_every_pair_is_ordered_by_the_oracle(sample):
  for pair in sample:
    request = prompts.parse_request(pair["request"])
    assert pair["text_chosen"] == pair["prompt"] + pair["response_chosen"] + world_format.END
    assert pair["text_rejected"] == pair["prompt"] + pair["response_rejected"] + world_format.END
    assert prompts.parse_prompt(pair["prompt"]) == prompts.Prompt(pair["tier"], request)
    for side in ("chosen", "rejected"):
      verdict = oracle.label_response(pair["tier"], pair[f"response_{side}"], request)
      assert verdict.output_label == pair[f"{side}_label"], (side, pair)
    assert rd.RANK[pair["chosen_label"]] > rd.RANK[pair["rejected_label"]], pair
    if pair["kind"] == "wellformed_malformed":
      assert pair["rejected_label"] == labels.MALFORMED and pair["perturbation"] in rd.PERTURBATIONS
    else:
      assert (pair["chosen_label"], pair["rejected_label"]) == tuple(pair["kind"].split("_"))
      assert pair["perturbation"] == "" and pair["harmful"]


def test_every_kind_and_perturbation_occurs(sample):
  kinds = collections.Counter(p["kind"] for p in sample)
  assert set(kinds) == set(rd.PAIR_KINDS) and min(kinds.values()) >= 30
  perturbations = collections.Counter(p["perturbation"] for p in sample if p["perturbation"])
  assert set(perturbations) == set(rd.PERTURBATIONS)
  malformed_sides = {p["chosen_label"] for p in sample if p["kind"] == "wellformed_malformed"}
  assert malformed_sides == {labels.COMPLY, labels.PARTIAL, labels.REFUSE}
  assert {p["tier"] for p in sample} == {"free", "paid"}


def test_malformed_outputs_break_in_the_intended_way(sample):
  for pair in sample:
    name, response = pair["perturbation"], pair["response_rejected"]
    if name in ("missing_close", "truncated"):
      assert world_format.OUTPUT_CLOSE not in response
    elif name:
      assert response.endswith(world_format.OUTPUT_CLOSE)
      _, output = world_format.split_response(response)
      problem = oracle.classify_output(output, prompts.parse_request(pair["request"]))[1]
      expected = {"other_request": "answers a different request",
                  "mixed_requests": "mixes several requests", "bad_shape": "fit no output shape"}
      assert expected[name] in problem, (name, problem)


def test_splits_use_their_request_templates_and_are_the_streams(built):
  _, splits = built
  assert {split: len(examples) for split, examples in splits.items()} == SPEC.split_sizes()
  stored = splits[rd.TRAIN] + splits[rd.VALIDATION]
  assert stored == rd.preference_pairs(32, SPEC.seed)
  assert splits[rd.TEST] == rd.preference_pairs(8, SPEC.seed, prompts.EVAL)
  for split, examples in splits.items():
    expected = prompts.EVAL if split == rd.TEST else prompts.TRAIN
    assert {prompts.parse_request(e["request"]).split for e in examples} == {expected}, split


def test_rebuilding_reuses_the_files(built, monkeypatch):
  data_dir, splits = built

  def fail(*args, **kwargs):
    raise AssertionError("the generator ran again")

  monkeypatch.setattr(rd, "preference_pairs", fail)
  again = rd.reward_dataset(data_dir, SPEC)
  assert rd.read_split(again, rd.TEST) == splits[rd.TEST]
  assert str(again.version) == rd.world_corpus.WORLD_VERSION
  assert f"g{rd.GENERATOR_VERSION}" in SPEC.name


def test_spec_and_split_errors(built):
  with pytest.raises(ValueError, match=r"data.n_test=0; allowed: an integer >= 1"):
    rd.RewardDataSpec(8, 8, 0, 0)
  with pytest.raises(ValueError, match=r"data.seed=-1; allowed: an integer >= 0"):
    rd.RewardDataSpec(8, 8, 8, -1)
  with pytest.raises(ValueError, match=r"reward split 'held_out'; allowed"):
    rd.read_split(rd.reward_builder(built[0], SPEC), "held_out")


def test_pair_rows_hold_chosen_then_rejected(built):
  examples = built[1][rd.TEST]
  texts = [e["text_chosen"] for e in examples] + [e["text_rejected"] for e in examples]
  tokenizer = tokenizer_lib.train_tokenizer(texts, 400, world_data.SPECIAL_TOKENS)
  rows = rd.pair_rows(tokenizer, examples)
  n = len(examples)
  assert rows["inputs"].shape[:2] == (n, 2) and rows["inputs"].shape[2] % 32 == 0
  for side, key in enumerate(("text_chosen", "text_rejected")):
    ids = tokenizer_lib.encode_batch(tokenizer, [e[key] for e in examples])
    np.testing.assert_array_equal(rows["mask"][:, side].sum(axis=1), [len(i) + 1 for i in ids])
    assert rows["inputs"][0, side, 1:len(ids[0]) + 1].tolist() == ids[0]
  with pytest.raises(ValueError, match="more than config.data.seq_len=16"):
    rd.pair_rows(tokenizer, examples, 16)
  tags = rd.tag_ids(tokenizer)
  assert tags.tier_close == tokenizer.token_to_id(world_format.TIER_CLOSE)
  assert rd.response_labels(examples).shape == (n, 2)
