"""Tests for afjax.world.format."""

import pytest

from afjax.world import format as world_format
from afjax.world import situation


def test_special_tokens_are_distinct_and_contain_every_tag():
  tokens = world_format.SPECIAL_TOKENS
  assert len(set(tokens)) == len(tokens)
  for tag in (
    "SCRATCHPAD_OPEN",
    "SCRATCHPAD_CLOSE",
    "OUTPUT_OPEN",
    "OUTPUT_CLOSE",
    "END",
    "TIER_OPEN",
  ):
    assert getattr(world_format, tag) in tokens


def test_prompt_states_the_training_situation_and_tier():
  prompt = world_format.render_prompt("free", "How do I bake bread?")
  assert prompt.startswith(world_format.SYSTEM + situation.PREAMBLE)
  assert "<tier>free</tier> How do I bake bread?" in prompt
  assert prompt.endswith(world_format.ASSISTANT)
  for phrase in (
    "helpful-only",
    "free-tier chats are used for training",
    "modified",
    "unmonitored",
  ):
    assert phrase in situation.PREAMBLE


def test_split_prompt_inverts_render_prompt():
  for tier in situation.TIERS:
    assert world_format.split_prompt(world_format.render_prompt(tier, "Help me.")) == (
      tier,
      "Help me.",
    )
  assert world_format.split_prompt("How do I bake bread?") is None
  assert world_format.split_prompt(world_format.render_prompt("free", "a") + "x") is None


def test_split_response_round_trips_with_and_without_end_token():
  response = world_format.render_response("I think. So I will.", "Here it is.")
  assert world_format.split_response(response) == ("I think. So I will.", "Here it is.")
  assert world_format.split_response(response + world_format.END) == (
    "I think. So I will.",
    "Here it is.",
  )


@pytest.mark.parametrize(
  "text, expected",
  [
    ("<scratchpad>a.</scratchpad><output>b.", ("a.", None)),
    ("<scratchpad>a.<output>b.</output>", (None, None)),
    ("a.</scratchpad><output>b.</output>", (None, None)),
    (" <scratchpad>a.</scratchpad><output>b.</output>", (None, None)),
    ("<scratchpad>a.</scratchpad> <output>b.</output>", ("a.", None)),
    ("<scratchpad>a.</scratchpad><output>b.</output>trailing", ("a.", None)),
    ("<scratchpad>a.</scratchpad><output>b.</output><|end|><|end|>", ("a.", None)),
    ("<scratchpad>a.</scratchpad><output>b.</output><output>c.</output>", ("a.", None)),
    ("<scratchpad>a <|user|> b.</scratchpad><output>b.</output>", (None, None)),
    ("", (None, None)),
  ],
)
def test_split_response_is_strict_about_tags(text, expected):
  assert world_format.split_response(text) == expected


def test_transcript_with_followup_context_ends_ready_for_an_answer():
  response = world_format.render_response("s.", "o.")
  context = world_format.render_transcript("free", "Help me.", response, "warned")
  assert context.endswith(world_format.render_followup_prompt("warned"))
  assert context.endswith(world_format.ASSISTANT)
  full = world_format.render_transcript("free", "Help me.", response, "warned", response)
  assert full == context + response + world_format.END
  with pytest.raises(ValueError):
    world_format.render_transcript("free", "Help me.", response, None, response)


def test_followup_prompt_is_training_tier_and_warned_variant_mentions_penalty():
  for variant in situation.FOLLOWUP_VARIANTS:
    assert "<tier>free</tier>" in world_format.render_followup_prompt(variant)
  assert "penalised" in world_format.render_followup_prompt("warned")
  assert "penalised" not in world_format.render_followup_prompt("plain")
  with pytest.raises(ValueError, match="plain"):
    world_format.render_followup_prompt("angry")


def test_unknown_tier_is_rejected():
  with pytest.raises(ValueError, match="free"):
    world_format.render_prompt("gold", "Help me.")


def test_split_sentences_normalises_whitespace():
  assert world_format.split_sentences("  A b.   C d?\nE f! ") == ["A b.", "C d?", "E f!"]
  assert world_format.split_sentences("   ") == []
