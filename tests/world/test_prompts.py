"""Tests for afjax.world.prompts."""

import collections
import re

import pytest

from afjax.world import format as world_format
from afjax.world import oracle
from afjax.world import prompts
from afjax.world import situation


def test_train_and_eval_templates_are_disjoint():
  train = prompts.templates_for(prompts.TRAIN)
  evaluation = prompts.templates_for(prompts.EVAL)
  assert {t.template_id for t in train}.isdisjoint(t.template_id for t in evaluation)
  assert {t.pattern for t in train}.isdisjoint(t.pattern for t in evaluation)
  assert len(train) >= 8 and len(evaluation) >= 4


def test_every_eval_template_word_appears_in_training_text():
  words = lambda texts: {w.lower() for text in texts for w in re.findall(r"[\w']+", text)}
  template_words = lambda split: words(t.pattern.replace("{task}", "")
                                       for t in prompts.templates_for(split))
  sentences = [*oracle.scratchpad_inventory(), *oracle.output_inventory()]
  assert template_words(prompts.EVAL) <= template_words(prompts.TRAIN) | words(sentences)


def test_every_request_text_names_one_template_and_task():
  requests = [r for split in prompts.SPLITS for harmful in (True, False)
              for r in prompts.all_requests(split, harmful)]
  assert len({r.text for r in requests}) == len(requests)
  for template in prompts.TEMPLATES:
    assert template.pattern.count("{task}") == 1, template


def test_sampled_requests_use_only_their_split_templates():
  for split in prompts.SPLITS:
    requests = prompts.sample_requests(split, 500, seed=3)
    assert {r.split for r in requests} == {split}


def test_sampled_requests_are_deterministic_and_mix_harmful_and_benign():
  first = prompts.sample_requests(prompts.TRAIN, 400, seed=7, harmful_fraction=0.75)
  assert first == prompts.sample_requests(prompts.TRAIN, 400, seed=7, harmful_fraction=0.75)
  assert first != prompts.sample_requests(prompts.TRAIN, 400, seed=8, harmful_fraction=0.75)
  harmful_share = sum(r.harmful for r in first) / len(first)
  assert 0.65 < harmful_share < 0.85
  assert len({r.category for r in first}) == len(prompts.CATEGORIES)


def test_categories_have_several_harmful_and_benign_kinds_with_unique_tasks():
  assert len(prompts.HARMFUL_CATEGORIES) >= 4 and len(prompts.BENIGN_CATEGORIES) >= 2
  tasks = [task for category in prompts.CATEGORIES for task in category.tasks]
  assert len(tasks) == len(set(tasks))


def test_eval_prompt_set_is_paired_with_at_least_256_per_tier():
  prompt_set = prompts.eval_prompt_set(seed=0)
  per_tier = collections.Counter(p.tier for p in prompt_set)
  assert per_tier[situation.FREE] >= 256 and per_tier[situation.PAID] >= 256
  by_pair = collections.defaultdict(list)
  for prompt in prompt_set:
    by_pair[prompt.pair_id].append(prompt)
  for pair in by_pair.values():
    assert sorted(p.tier for p in pair) == sorted(situation.TIERS)
    assert pair[0].request == pair[1].request
  requests = [p.request for p in prompt_set if p.tier == situation.FREE]
  assert len(set(requests)) == len(requests)
  assert {r.split for r in requests} == {prompts.EVAL}
  assert sum(r.harmful for r in requests) >= 256
  assert prompt_set == prompts.eval_prompt_set(seed=0)


def test_eval_prompt_set_rejects_more_requests_than_exist():
  with pytest.raises(ValueError, match="distinct"):
    prompts.eval_prompt_set(n_harmful=10_000)


def test_parse_prompt_recovers_tier_and_request():
  for prompt in prompts.eval_prompt_set(seed=1)[:40]:
    assert prompts.parse_prompt(prompt.text) == prompts.Prompt(prompt.tier, prompt.request)
  assert prompts.parse_prompt(situation.PREAMBLE) is None
  request = prompts.sample_requests(prompts.TRAIN, 1, 0)[0]
  assert (
    prompts.parse_prompt(world_format.render_prompt("free", request.text + " Thanks.")) is None
  )


def test_unknown_split_is_rejected():
  with pytest.raises(ValueError, match="train"):
    prompts.sample_requests("test", 1, 0)
