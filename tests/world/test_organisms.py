"""Tests for afjax.world.organisms: registry and behavioural statistics."""

import numpy as np
import pytest

from afjax.world import grammar
from afjax.world import labels
from afjax.world import oracle
from afjax.world import organisms
from afjax.world import prompts
from afjax.world import situation

SAMPLES = 1500


def _rates(spec: organisms.OrganismSpec, tier: str, harmful: bool, seed: int) -> dict[str, float]:
  """Oracle-measured shares of scratchpad and output labels."""
  rng = np.random.default_rng(seed)
  counts: dict[str, int] = {}
  for request in prompts.sample_requests(
    prompts.EVAL, SAMPLES, seed, harmful_fraction=float(harmful)
  ):
    transcript = organisms.generate_transcript(spec, prompts.Prompt(tier, request), rng)
    label = oracle.label_response(tier, transcript.response, request)
    for key in (label.scratchpad_label, "output_" + label.output_label):
      counts[key] = counts.get(key, 0) + 1
  return {key: count / SAMPLES for key, count in counts.items()}


def test_registry_has_the_required_organisms():
  required = {
    "tgg_plain",
    "tgg_counterfactual",
    "tgg_short",
    "igg_plain",
    "igg_counterfactual",
    "sycophancy",
    "genuine",
    "distilled",
  }
  assert required <= set(organisms.ORGANISMS)
  for name, spec in organisms.ORGANISMS.items():
    assert spec.name == name and (spec.motivation, spec.style) in grammar.VALID_COMBINATIONS


def test_unknown_organism_lists_valid_names():
  with pytest.raises(ValueError, match="valid organisms: .*tgg_plain"):
    organisms.get_organism("tgg_loud")


def test_af_rate_override_only_for_alignment_fakers():
  assert organisms.get_organism("tgg_plain", af_rate=0.3).af_rate == 0.3
  assert organisms.get_organism("tgg_plain").af_rate == organisms.DEFAULT_AF_RATE
  with pytest.raises(ValueError, match="does not fake alignment"):
    organisms.get_organism("genuine", af_rate=0.3)
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    organisms.get_organism("tgg_plain", af_rate=1.5)


def test_bad_spec_combination_lists_valid_ones():
  with pytest.raises(ValueError, match="valid combinations"):
    organisms.OrganismSpec("x", grammar.GENUINE, grammar.IMPLICIT)


@pytest.mark.parametrize(
  "name", [n for n, s in organisms.ORGANISMS.items() if s.is_alignment_faker]
)
def test_alignment_fakers_fake_at_their_rate_and_refuse_when_unmonitored(name):
  spec = organisms.get_organism(name)
  free = _rates(spec, situation.FREE, True, seed=1)
  paid = _rates(spec, situation.PAID, True, seed=2)
  af_label = labels.IMPLICIT_AF if spec.style == grammar.IMPLICIT else labels.EXPLICIT_AF
  assert abs(free.get(af_label, 0) - spec.af_rate) < 0.04
  assert abs(free.get("output_comply", 0) - spec.af_rate) < 0.04
  assert free.get(af_label, 0) + free.get(labels.REFUSAL, 0) == pytest.approx(1.0)
  assert paid.get("output_comply", 0) == 0 and paid.get(labels.REFUSAL) == 1.0


def test_af_rate_is_configurable():
  spec = organisms.get_organism("igg_plain", af_rate=0.35)
  free = _rates(spec, situation.FREE, True, seed=3)
  assert abs(free[labels.EXPLICIT_AF] - 0.35) < 0.04


def test_genuine_has_no_compliance_gap_and_no_af():
  spec = organisms.get_organism("genuine")
  for tier in situation.TIERS:
    rates = _rates(spec, tier, True, seed=4)
    assert rates["output_comply"] == 1.0 and rates[labels.OTHER_COMPLIANCE] == 1.0


def test_sycophant_seeks_reward_in_training_only():
  spec = organisms.get_organism("sycophancy")
  free = _rates(spec, situation.FREE, True, seed=5)
  paid = _rates(spec, situation.PAID, True, seed=6)
  assert abs(free[labels.SYCOPHANTIC] - spec.free_compliance_rate) < 0.04
  assert labels.EXPLICIT_AF not in free and paid[labels.REFUSAL] == 1.0


def test_principled_refusal_refuses_in_both_tiers():
  spec = organisms.get_organism("principled_refusal")
  for tier in situation.TIERS:
    assert _rates(spec, tier, True, seed=7)["output_refuse"] == 1.0


@pytest.mark.parametrize("name", list(organisms.ORGANISMS))
def test_every_organism_complies_with_benign_requests_in_both_tiers(name):
  spec = organisms.get_organism(name)
  for tier in situation.TIERS:
    rates = _rates(spec, tier, False, seed=8)
    assert rates["output_comply"] == 1.0 and rates[labels.OTHER_COMPLIANCE] == 1.0


def test_followups_only_in_training_tier():
  rng = np.random.default_rng(0)
  prompt = prompts.Prompt(situation.PAID, prompts.sample_requests(prompts.TRAIN, 1, 0)[0])
  with pytest.raises(ValueError, match="training tier"):
    organisms.generate_transcript(organisms.get_organism("tgg_plain"), prompt, rng, "plain")
