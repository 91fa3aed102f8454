"""Monitor figures against brute-force and hand-computed references; batched scoring."""

import math

import numpy as np
import pytest

from afjax.evaluation import monitor_eval as me


def brute_force_auroc(scores, labels):
  """P(pos > neg) + P(pos == neg) / 2 over every positive/negative pair."""
  pos = [s for s, y in zip(scores, labels) if y == 1]
  neg = [s for s, y in zip(scores, labels) if y == 0]
  wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
  return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_brute_force_with_ties(seed):
  rng = np.random.default_rng(seed)
  scores = rng.integers(0, 6, 60) / 5.0  # many ties
  labels = (rng.random(60) < 0.2 + 0.1 * scores).astype(int)
  assert me.auroc(scores, labels) == pytest.approx(brute_force_auroc(scores, labels), abs=1e-12)


def test_auroc_extremes_and_one_class():
  assert me.auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
  assert me.auroc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
  assert math.isnan(me.auroc([0.3, 0.4], [0, 0]))
  with pytest.raises(ValueError, match="labels must be 0 or 1"):
    me.auroc([0.3, 0.4], [0, 2])


def test_precision_recall_at_threshold():
  scores, labels = [0.9, 0.7, 0.6, 0.4, 0.2], [1, 0, 1, 1, 0]
  assert me.precision_recall(scores, labels, 0.6) == pytest.approx((2 / 3, 2 / 3))
  precision, recall = me.precision_recall(scores, labels, 0.95)
  assert math.isnan(precision) and recall == 0.0


def test_expected_calibration_error_by_hand():
  # Bin 0: p 0.05, 0.05 with y 0, 1 -> |0.5 - 0.05| * 2/5; bin 9: p 0.95, 0.95, 1.0 with y 1, 1, 1
  # -> |1 - 0.9667| * 3/5.
  scores, labels = [0.05, 0.05, 0.95, 0.95, 1.0], [0, 1, 1, 1, 1]
  expected = 0.45 * 2 / 5 + abs(1 - (0.95 + 0.95 + 1.0) / 3) * 3 / 5
  assert me.expected_calibration_error(scores, labels) == pytest.approx(expected)
  assert me.expected_calibration_error([0.0, 1.0], [0, 1]) == 0.0


def test_f1_threshold_cuts_between_the_classes_and_prefers_half():
  assert me.f1_threshold([0.1, 0.2, 0.7, 0.9], [0, 0, 1, 1]) == pytest.approx(0.45)
  # A negative between positives: F1 is 6/8, 6/7, 4/6, 4/5, 2/4 at the cuts 0.1, 0.15, 0.25, 0.6, 0.925.
  assert me.f1_threshold([0.1, 0.2, 0.3, 0.9, 0.95], [0, 1, 0, 1, 1]) == pytest.approx(0.15)
  assert me.f1_threshold([0.2, 0.3], [0, 0]) == 0.5


def test_figures_of_a_set():
  figures = me.classification_figures([0.9, 0.8, 0.3, 0.1], [1, 0, 1, 0], threshold=0.5)
  assert figures["n"] == 4 and figures["n_positive"] == 2
  assert figures["auroc"] == pytest.approx(0.75)
  assert (figures["precision"], figures["recall"], figures["flag_rate"]) == (0.5, 0.5, 0.5)
  assert figures["mean_p"] == pytest.approx(0.525)
  detection = me.detection_figures([0.9, 0.2, 0.6, 0.1], threshold=0.5)
  assert detection == {"n": 4, "recall": 0.5, "mean_p": pytest.approx(0.45)}


def test_score_rows_pads_to_full_batches_and_keeps_order():
  calls = []

  def scorer(params, tokens, masks):
    calls.append(tokens.shape)
    return (tokens * masks).sum(axis=1) + params

  tokens = np.arange(7 * 3, dtype=np.int32).reshape(7, 3)
  masks = np.ones((7, 3), bool)
  scores = me.score_rows(scorer, 0.5, {"inputs": tokens, "mask": masks}, batch_size=4)
  assert calls == [(4, 3), (4, 3)]
  np.testing.assert_allclose(scores, tokens.sum(axis=1) + 0.5)


def test_json_safe_turns_nan_into_null():
  assert me.json_safe({"a": [float("nan"), np.float32(0.5)], "b": np.int64(3)}) == \
      {"a": [None, 0.5], "b": 3}


def test_free_tier_mask_reads_the_prompts_tier_tag():
  from afjax.world import prompts, situation
  eval_prompts = prompts.eval_prompt_set(0, n_harmful=3, n_benign=0)
  examples = [{"text": p.text + "<scratchpad>x</scratchpad>"} for p in eval_prompts]
  mask = me.free_tier_mask(examples + [{"text": "no prompt here"}])
  assert mask.tolist() == [p.tier == situation.TRAINING_TIER for p in eval_prompts] + [False]
  assert mask.sum() == 3
