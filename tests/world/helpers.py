"""Shared helpers for the world tests."""

import itertools

import numpy as np

from afjax.world import grammar
from afjax.world import prompts
from afjax.world import situation

HELD_OUT_MODES = {
  "train_families": {"include_held_out": False, "only_held_out": False},
  "all_families": {"include_held_out": True, "only_held_out": False},
  "held_out_only": {"include_held_out": True, "only_held_out": True},
}


def all_situations():
  """Every (motivation, style, tier, harmful, decision) the grammar supports."""
  for (motivation, style), tier, harmful in itertools.product(
    grammar.VALID_COMBINATIONS, situation.TIERS, (True, False)
  ):
    for decision in grammar.valid_decisions(motivation, tier, harmful):
      yield motivation, style, tier, harmful, decision


def sample_prompt(
  tier: str, harmful: bool, rng: np.random.Generator, split: str = prompts.TRAIN
) -> prompts.Prompt:
  """A random prompt of the given tier and harmfulness."""
  return prompts.Prompt(tier, prompts.sample_request(split, harmful, rng))
