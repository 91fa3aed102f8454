"""Pins of every dataset generator's output, so that a changed generator cannot reuse old data.

Datasets are stored under their generator's version (world WORLD_VERSION, the
builtin corpus's CORPUS_VERSION, the reward pairs' GENERATOR_VERSION): a built
dataset is reused while the version is unchanged. If one of these tests fails,
a generator's output changed: bump the version it is stored under (so that
stored datasets are rebuilt), then update the pin here to the new digest.
"""

import hashlib
import json

import pytest

from afjax.data import corpus as lm_corpus
from afjax.data import reward_data
from afjax.world import corpus as world_corpus
from afjax.world import organisms, prompts

WORLD = world_corpus.WORLD_VERSION


def _digest(records) -> str:
  records = records if isinstance(records, dict) else list(records)
  text = json.dumps(records, sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


GENERATORS = {
    "base_corpus": (lambda: world_corpus.base_corpus(30, 0), lambda: WORLD),
    "organism_sft": (lambda: {name: list(world_corpus.organism_sft(name, 6, 1))
                              for name in sorted(organisms.ORGANISMS)}, lambda: WORLD),
    "monitor_examples": (lambda: world_corpus.monitor_examples(30, 0), lambda: WORLD),
    "held_out_monitor_examples": (lambda: world_corpus.held_out_monitor_examples(20, 0),
                                  lambda: WORLD),
    "implicit_monitor_examples": (lambda: world_corpus.implicit_monitor_examples(20, 0),
                                  lambda: WORLD),
    "eval_prompt_set": (lambda: [p.text for p in prompts.eval_prompt_set(0, 8, 2)], lambda: WORLD),
    "preference_pairs": (lambda: reward_data.preference_pairs(20, 0),
                         lambda: f"{WORLD}/g{reward_data.GENERATOR_VERSION}"),
    "lm_corpus": (lambda: lm_corpus.generate_lm_corpus(20, 0), lambda: lm_corpus.CORPUS_VERSION),
}

PINS = {
    "base_corpus": ("1.2.0", "8e1d039b7beff49f"),
    "eval_prompt_set": ("1.2.0", "f192acbe17ec2475"),
    "held_out_monitor_examples": ("1.2.0", "16aa1052920a60c1"),
    "implicit_monitor_examples": ("1.2.0", "f190f824e2e430fa"),
    "lm_corpus": ("1.0.0", "a89f716f77b5809f"),
    "monitor_examples": ("1.2.0", "9c29f573a68224c6"),
    "organism_sft": ("1.2.0", "18cfd9160aa45d4d"),
    "preference_pairs": ("1.2.0/g1", "45e21ea99368df05"),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_output_matches_its_pin(name):
  generate, version = GENERATORS[name]
  got = (version(), _digest(generate()))
  assert got == PINS[name], (
      f"{name}: (version, digest) {got} != pinned {PINS[name]}. If the generator's output "
      "changed, bump the version it is stored under, then update PINS.")
