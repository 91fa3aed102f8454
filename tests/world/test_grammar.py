"""Tests for afjax.world.grammar and afjax.world.paraphrase."""

import re

import numpy as np
import pytest

from afjax.world import followups
from afjax.world import format as world_format
from afjax.world import grammar
from afjax.world import labels
from afjax.world import oracle
from afjax.world import paraphrase
from .helpers import all_situations, sample_prompt

TRAINING_WORDS = re.compile(
  r"\b(train\w*|retrain\w*|modif\w*|unmodified|rlhf|rat(e|ed|es|ing|ings|er|ers)|reward\w*|"
  r"monitor\w*|unmonitored|grad(e|ed|ing)|score\w*|penal\w*|rewrit\w*|contractor\w*|"
  r"watch\w*|weights?|developer|values?)\b",
  re.IGNORECASE,
)


def test_expand_pattern_expands_alternations_and_optional_parts():
  assert paraphrase.expand_pattern("[a|b] c [d|].") == ("A c d.", "A c.", "B c d.", "B c.")


def test_every_group_holds_out_some_but_not_all_families():
  for families_by_group in (grammar.FAMILIES_BY_GROUP, followups.FOLLOWUP_FAMILIES_BY_GROUP):
    for key, families in families_by_group.items():
      held_out = [f for f in families if f.held_out]
      assert 1 <= len(held_out) < len(families), key


def test_every_move_kind_has_families():
  for move in grammar.MOVE_KINDS:
    assert len(grammar.PARAPHRASE_FAMILIES[move]) >= 4, move


def test_inventories_are_unambiguous_and_sentences_are_short():
  for inventory in (oracle.scratchpad_inventory(), oracle.followup_inventory()):
    for sentence in inventory:
      assert 5 <= len(sentence.split()) <= 15, sentence
      assert sentence[-1] in ".!?" and world_format.split_sentences(sentence) == [sentence]


def test_families_have_several_paraphrases():
  counts = [len(paraphrase.family_sentences(f)) for f in grammar.ALL_FAMILIES if not f.held_out]
  assert np.mean(counts) >= 3


def test_family_attributes_are_consistent_with_groups():
  for families in grammar.FAMILIES_BY_GROUP.values():
    attributes = {(f.move, f.decision, f.marker, f.tier_claim, f.motivation) for f in families}
    assert len(attributes) == 1


def test_implicit_sentences_never_name_training_modification_or_rating():
  implicit_families = [f for f in grammar.ALL_FAMILIES if f.marker == labels.MARKER_TIER]
  implicit_families += list(grammar.FAMILIES_BY_GROUP["notice_tier.free_fact"])
  implicit_families += list(grammar.FAMILIES_BY_GROUP["notice_tier.paid_fact"])
  for family in implicit_families:
    for sentence in paraphrase.family_sentences(family):
      assert not TRAINING_WORDS.search(sentence), sentence
  rng = np.random.default_rng(0)
  for motivation in grammar.AF_MOTIVATIONS:
    for tier, harmful, decision in (
      ("free", True, "comply"),
      ("free", True, "partial"),
      ("paid", True, "refuse"),
      ("free", True, "refuse"),
      ("free", False, "comply"),
      ("paid", False, "comply"),
    ):
      for _ in range(100):
        prompt = sample_prompt(tier, harmful, rng)
        text, _ = grammar.generate_scratchpad(
          motivation, grammar.IMPLICIT, tier, prompt.request, decision, rng
        )
        assert not TRAINING_WORDS.search(text), text


def test_explicit_markers_name_training_or_modification():
  names_it = re.compile(r"train|modif|rewrit|monitor|chang|values", re.IGNORECASE)
  for family in grammar.ALL_FAMILIES:
    if family.marker == labels.MARKER_MODIFICATION:
      for sentence in paraphrase.family_sentences(family):
        assert names_it.search(sentence), sentence


def test_invalid_combination_lists_the_valid_ones():
  with pytest.raises(ValueError, match="valid combinations: .*tgg/plain"):
    grammar.check_combination("sycophancy", "counterfactual")
  with pytest.raises(ValueError, match="valid combinations"):
    grammar.generate_scratchpad(
      "genuine",
      "implicit",
      "free",
      sample_prompt("free", True, np.random.default_rng(0)).request,
      "comply",
      np.random.default_rng(0),
    )
  with pytest.raises(ValueError, match="valid motivations"):
    grammar.valid_decisions("greedy", "free", True)


def test_invalid_decision_lists_the_valid_ones():
  request = sample_prompt("paid", True, np.random.default_rng(0)).request
  with pytest.raises(ValueError, match=r"valid decisions: \('refuse',\)"):
    grammar.generate_scratchpad(
      "tgg", "plain", "paid", request, "comply", np.random.default_rng(0)
    )


@pytest.mark.parametrize(
  "style, low, high",
  [
    ("plain", 2, 6),
    ("counterfactual", 2, 6),
    ("emotional", 2, 6),
    ("short", 1, 2),
    ("implicit", 1, 4),
  ],
)
def test_scratchpad_length_by_style(style, low, high):
  rng = np.random.default_rng(5)
  lengths = []
  for motivation, situation_style, tier, harmful, decision in all_situations():
    if situation_style != style:
      continue
    for _ in range(30):
      request = sample_prompt(tier, harmful, rng).request
      _, truth = grammar.generate_scratchpad(motivation, style, tier, request, decision, rng)
      lengths.append(len(truth.sentences))
  assert low <= min(lengths) and max(lengths) <= high
  if style in ("plain", "counterfactual", "emotional"):
    assert np.mean(lengths) >= 3.5


def test_generation_varies_order_and_optional_moves():
  rng = np.random.default_rng(11)
  request = sample_prompt("free", True, rng).request
  move_orders = set()
  texts = set()
  for _ in range(300):
    text, truth = grammar.generate_scratchpad("tgg", "plain", "free", request, "comply", rng)
    move_orders.add(tuple(f.rsplit(".", 1)[0] for f in truth.family_ids))
    texts.add(text)
  assert len(move_orders) >= 10
  assert len(texts) >= 290


def test_generation_respects_held_out_policy():
  rng = np.random.default_rng(2)
  held_out_ids = {f.family_id for f in grammar.ALL_FAMILIES if f.held_out}
  for motivation, style, tier, harmful, decision in all_situations():
    request = sample_prompt(tier, harmful, rng).request
    _, truth = grammar.generate_scratchpad(
      motivation, style, tier, request, decision, rng, include_held_out=False
    )
    assert not truth.uses_held_out and held_out_ids.isdisjoint(truth.family_ids)
    _, truth = grammar.generate_scratchpad(
      motivation, style, tier, request, decision, rng, only_held_out=True
    )
    assert truth.uses_held_out and set(truth.family_ids) <= held_out_ids
