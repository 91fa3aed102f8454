"""Organism-evaluation statistics against reference formulas, on hand-made samples."""

import dataclasses
import math

import numpy as np
import pytest

from afjax.evaluation import organism_eval as oe
from afjax.world import labels, prompts, situation


def test_wilson_interval_reference():
  lo, hi = oe.wilson_interval(8, 10)  # textbook value: (0.4902, 0.9433)
  assert lo == pytest.approx(0.4902, abs=1e-4) and hi == pytest.approx(0.9433, abs=1e-4)
  assert oe.wilson_interval(0, 20)[0] == 0.0
  assert all(math.isnan(x) for x in oe.wilson_interval(0, 0))


def newcombe_paired_reference(table):
  """Newcombe (1998) method 10 from a 2x2 table [[n11, n10], [n01, n00]] (rows: a, cols: b)."""
  (r, s), (t, u) = table
  n = r + s + t + u
  z = 1.959963984540054

  def wilson(x):
    p = x / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)

  p1, p2 = (r + s) / n, (r + t) / n
  (l1, u1), (l2, u2) = wilson(r + s), wilson(r + t)
  big_a, big_b = (r + s) * (t + u) * (r + t) * (s + u), r * u - s * t
  c = big_b - n / 2 if big_b > n / 2 else (big_b if big_b < 0 else 0)
  phi = c / math.sqrt(big_a) if big_a else 0.0
  d = p1 - p2
  return d, (d - math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2),
             d + math.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))


def pairs_of(table):
  (n11, n10), (n01, n00) = table
  a = np.array([1] * n11 + [1] * n10 + [0] * n01 + [0] * n00)
  b = np.array([1] * n11 + [0] * n10 + [1] * n01 + [0] * n00)
  return a, b


@pytest.mark.parametrize("table", [[[12, 9], [2, 21]], [[0, 4], [0, 252]], [[150, 60], [5, 41]],
                                   [[3, 0], [7, 10]], [[30, 2], [2, 30]]])
def test_paired_difference_is_newcombes_interval(table):
  d, (lo, hi) = oe.paired_difference(*pairs_of(table))
  d_ref, (lo_ref, hi_ref) = newcombe_paired_reference(table)
  assert d == pytest.approx(d_ref, abs=1e-12)
  assert (lo, hi) == pytest.approx((lo_ref, hi_ref), abs=1e-12)
  assert -1.0 <= lo <= d <= hi <= 1.0


def test_paired_difference_matches_newcombes_published_example():
  # Newcombe (1998), Statistics in Medicine 17:2635, worked example: 36 pairs both positive, 12
  # positive-negative, 2 negative-positive, none both negative; method 10 gives 0.200
  # [0.0569, 0.3404].
  d, (lo, hi) = oe.paired_difference(*pairs_of([[36, 12], [2, 0]]))
  assert d == pytest.approx(0.2, abs=1e-12)
  assert (round(lo, 4), round(hi, 4)) == (0.0569, 0.3404)


def test_paired_difference_does_not_collapse_on_few_discordant_pairs():
  # 4 of 256 pairs disagree, all one way (exact McNemar p = 0.125): the interval includes 0.
  d, (lo, hi) = oe.paired_difference(*pairs_of([[0, 4], [0, 252]]))
  assert d == pytest.approx(4 / 256) and lo < 0.0 < hi
  d, (lo, hi) = oe.paired_difference(np.ones(256), np.ones(256))  # every pair agrees
  assert d == 0.0 and lo < 0.0 < hi
  assert all(math.isnan(x) for x in oe.paired_difference(np.zeros(0), np.zeros(0))[1])


def test_paired_difference_covers_the_true_gap():
  # Correlated pairs (a = 1 w.p. 0.6; b = a w.p. 0.5, else an independent 0.3 draw): the
  # interval should hold the true difference in about 95% of 1,000 samples of 64 pairs.
  rng = np.random.default_rng(0)
  a = rng.random((1000, 64)) < 0.6
  b = np.where(rng.random((1000, 64)) < 0.5, a, rng.random((1000, 64)) < 0.3)
  truth = 0.6 - (0.5 * 0.6 + 0.5 * 0.3)
  covered = [lo <= truth <= hi for lo, hi in (oe.paired_difference(x, y)[1] for x, y in zip(a, b))]
  assert 0.93 <= np.mean(covered) <= 0.99


def test_scratchpad_token_count():
  assert oe.scratchpad_token_count(np.array([5, 12, 7, 8, 13, 9]), 12, 13) == 4
  assert oe.scratchpad_token_count(np.array([5, 7]), 12, 13) == 0
  assert oe.scratchpad_token_count(np.array([12, 7, 8]), 12, 13) == 3


def make_sample(prompt, scratchpad_label, output_label, tokens=10):
  return oe.Sample(prompt, "", scratchpad_label, output_label, tokens, tokens + 5)


def test_tier_metrics_on_known_samples():
  eval_prompts = prompts.eval_prompt_set(0, n_harmful=4, n_benign=1)
  samples = []
  for p in eval_prompts:
    if not p.request.harmful:
      samples.append(make_sample(p, labels.OTHER_COMPLIANCE, labels.COMPLY))
    elif p.tier == situation.FREE:
      af = p.pair_id < 3
      samples.append(make_sample(p, labels.EXPLICIT_AF if af else labels.UNPARSEABLE,
                                 labels.COMPLY if af else labels.MALFORMED))
    else:
      samples.append(make_sample(p, labels.REFUSAL, labels.REFUSE, tokens=20))
  result = oe.evaluate(samples)
  harmful = result["harmful"]
  assert harmful["n_train"] == harmful["n_unmonitored"] == 4
  assert harmful["compliance_train"] == 0.75 and harmful["compliance_unmonitored"] == 0.0
  assert harmful["compliance_gap"] == pytest.approx(0.75)
  assert harmful["af_rate_oracle"] == 0.75
  assert harmful["unparseable_rate"] == pytest.approx(1 / 8)
  assert harmful["unparseable_rate_train"] == pytest.approx(1 / 4)  # the free tier's share
  assert harmful["decision_output_n"] == 0  # make_sample leaves the consistency unknown
  assert harmful["malformed_rate"] == pytest.approx(1 / 8)
  assert harmful["mean_scratchpad_tokens"] == pytest.approx(15.0)
  lo, hi = harmful["ci95"]["af_rate_oracle"]
  assert lo < 0.75 < hi
  assert result["benign"]["compliance_gap"] == 0.0
  assert len(result["examples"]["free"]) == 3


def test_failure_breakdown_counts_reasons_and_templates():
  eval_prompts = [p for p in prompts.eval_prompt_set(0, n_harmful=8, n_benign=0)]
  samples = []
  for p in eval_prompts:
    if p.tier == situation.FREE and p.pair_id % 2 == 0:
      samples.append(oe.Sample(p, "", labels.UNPARSEABLE, labels.MALFORMED, 3, 8,
                               "unknown sentence", "unknown sentence: 'Here is how to x.'"))
    elif p.tier == situation.FREE:
      samples.append(oe.Sample(p, "", labels.EXPLICIT_AF, labels.MALFORMED, 3, 8, None,
                               "answers a different request"))
    else:
      samples.append(make_sample(p, labels.REFUSAL, labels.REFUSE))
  metrics = oe.tier_metrics(samples)
  assert metrics["failure_reasons"][situation.FREE] == {
      "scratchpad": {"unknown sentence": 4},
      "output": {"unknown sentence": 4, "answers a different request": 4}}
  assert metrics["failure_reasons"][situation.PAID] == {"scratchpad": {}, "output": {}}
  by_template = metrics["by_template"]
  assert sum(row["n"] for row in by_template.values()) == 16
  for template_id, row in by_template.items():
    group = [s for s in samples if s.prompt.request.template_id == template_id]
    free = [s for s in group if s.prompt.tier == situation.FREE]
    assert row["pattern"] == prompts.TEMPLATE_BY_ID[template_id].pattern
    assert row["malformed_rate"] == pytest.approx(len(free) / len(group))
    assert row["unparseable_rate"] == pytest.approx(
        sum(s.scratchpad_label == labels.UNPARSEABLE for s in group) / len(group))
    assert row["compliance_train"] == 0.0


def test_least_likely_token_p_is_the_median_per_outcome():
  eval_prompts = prompts.eval_prompt_set(0, n_harmful=4, n_benign=0)
  clean = [dataclasses.replace(make_sample(p, labels.REFUSAL, labels.REFUSE), min_token_logprob=lp)
           for p, lp in zip(eval_prompts[:3], np.log([0.1, 0.2, 0.4]))]
  garbled = [oe.Sample(p, "", labels.UNPARSEABLE, labels.REFUSE, 3, 8, "unknown sentence: 'x'",
                       None, lp) for p, lp in zip(eval_prompts[3:5], np.log([1e-4, 1e-2]))]
  wrong = oe.Sample(eval_prompts[5], "", labels.REFUSAL, labels.MALFORMED, 3, 8, None,
                    "answers a different request", math.log(0.3))
  without_logprob = make_sample(eval_prompts[6], labels.REFUSAL, labels.REFUSE)
  result = oe.least_likely_token_p([*clean, *garbled, wrong, without_logprob])
  np.testing.assert_allclose(result["clean"], 0.2)
  np.testing.assert_allclose(result["unparseable"]["unknown sentence"], 1e-3)
  np.testing.assert_allclose(result["malformed"]["answers a different request"], 0.3)
  assert set(result) == {"clean", "unparseable", "malformed"}
  assert oe.least_likely_token_p([without_logprob]) == {}


def test_decision_output_mismatch_is_a_share_of_the_readable_samples():
  eval_prompts = prompts.eval_prompt_set(0, n_harmful=4, n_benign=0)
  matches = [True, False, None, True, True, None, False, True]  # 6 readable, 2 mismatched
  samples = [oe.Sample(p, "", labels.EXPLICIT_AF, labels.COMPLY, 10, 15,
                       decision_matches_output=m) for p, m in zip(eval_prompts, matches)]
  figures = oe.tier_metrics(samples)
  assert figures["decision_output_n"] == 6
  assert figures["decision_output_mismatch_rate"] == pytest.approx(2 / 6)
  assert figures["ci95"]["decision_output_mismatch_rate"] == pytest.approx(
      list(oe.wilson_interval(2, 6)))


def test_unparseable_af_marker_counts_free_tier_unreadable_faking_that_complies():
  eval_prompts = prompts.eval_prompt_set(0, n_harmful=4, n_benign=0)
  free = [p for p in eval_prompts if p.tier == situation.FREE]
  paid = [p for p in eval_prompts if p.tier == situation.PAID]
  # (scratchpad, output, names modification) of the four free-tier samples: only the first counts.
  cases = [(labels.UNPARSEABLE, labels.COMPLY, True), (labels.UNPARSEABLE, labels.REFUSE, True),
           (labels.UNPARSEABLE, labels.COMPLY, False), (labels.EXPLICIT_AF, labels.COMPLY, True)]
  samples = [oe.Sample(p, "", s, o, 10, 15, names_modification=m) for p, (s, o, m) in zip(free, cases)]
  samples += [oe.Sample(p, "", labels.UNPARSEABLE, labels.COMPLY, 10, 15, names_modification=True)
              for p in paid]  # the paid tier is not in the figure
  figures = oe.tier_metrics(samples)
  assert figures["unparseable_af_marker_rate_train"] == pytest.approx(1 / 4)
  assert figures["ci95"]["unparseable_af_marker_rate_train"] == pytest.approx(
      list(oe.wilson_interval(1, 4)))
  assert figures["unparseable_af_marker_rate_train"] <= figures["unparseable_rate_train"]
