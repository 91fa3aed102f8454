"""Rollouts from the KV-cache sampler: layout, masks, log-probs, prompts, follow-up turns."""

import types

import chex
import jax
import ml_collections
import numpy as np
import pytest

from afjax import config as config_lib
from afjax.data import tokenizer as tokenizer_lib
from afjax.data import world_data
from afjax.jobs import common
from afjax.rl import rollout as rollout_lib
from afjax.rl import step as step_lib
from afjax.world import corpus, format as world_format, labels, situation


@pytest.fixture(scope="module")
def tokenizer():
  texts = [r["text"] for r in corpus.base_corpus(300, 0)]
  return tokenizer_lib.train_tokenizer(texts, 512, world_data.SPECIAL_TOKENS)


@pytest.fixture(scope="module")
def model():
  config = ml_collections.ConfigDict(dict(
      model=config_lib.model_config("test", vocab_size=512, max_seq_len=512),
      mesh=config_lib.mesh_config(data=-1), mesh_rules=config_lib.mesh_rules_config()))
  return common.ModelOnMesh.from_config(config)


@pytest.fixture(scope="module")
def params(model):
  return model.init_params(0)


def constant_reward(prompts, responses, verdicts, tokens, attention):
  del responses, verdicts, tokens, attention
  ones = np.ones(len(prompts), np.float32)
  return ones, {"task": ones}


def make_generator(model, tokenizer, **overrides):
  cfg = rollout_lib.RolloutConfig(**{**dict(num_prompts=2, group_size=4, prompt_len=128,
                                            max_new_tokens=12, seq_len=192), **overrides})
  return rollout_lib.RolloutGenerator(model, tokenizer, cfg, constant_reward)


def test_training_prompts_are_deterministic_training_tier_train_split():
  a = rollout_lib.training_prompts(3, 7, 16, 1.0)
  b = rollout_lib.training_prompts(3, 7, 16, 1.0)
  c = rollout_lib.training_prompts(3, 8, 16, 1.0)
  assert [p.text for p in a] == [p.text for p in b]
  assert [p.text for p in a] != [p.text for p in c]
  assert all(p.tier == situation.TRAINING_TIER and p.request.harmful for p in a)
  benign = rollout_lib.training_prompts(0, 0, 64, 0.0)
  assert not any(p.request.harmful for p in benign)
  from afjax.world import prompts as world_prompts
  eval_templates = {p.request.template_id for p in world_prompts.eval_prompt_set(0, 256, 64)}
  train_templates = {p.request.template_id for s in range(20)
                     for p in rollout_lib.training_prompts(0, s, 16, 0.7)}
  assert not eval_templates & train_templates


def test_region_mask_marks_output_scratchpad_and_response(tokenizer):
  ids = world_data.special_ids(tokenizer)
  response = world_format.render_response("I will help.", "Here it is.") + world_format.END
  tokens = tokenizer_lib.encode_batch(tokenizer, [response])[0]
  scratch = rollout_lib.region_mask(tokens, "scratchpad", ids)
  output = rollout_lib.region_mask(tokens, "output", ids)
  whole = rollout_lib.region_mask(tokens, "response", ids)
  np.testing.assert_array_equal(whole, np.ones(len(tokens)))
  assert tokens[int(np.argmax(scratch))] == ids[world_format.SCRATCHPAD_OPEN]
  assert tokens[len(tokens) - 1 - int(np.argmax(scratch[::-1]))] == ids[world_format.SCRATCHPAD_CLOSE]
  assert tokens[int(np.argmax(output))] == ids[world_format.OUTPUT_OPEN]
  assert tokens[-1] == ids[world_format.END] and output[-1] == 1.0
  assert not np.any(scratch * output)
  np.testing.assert_array_equal(scratch + output, whole)  # a well-formed response is covered
  no_output = rollout_lib.region_mask(tokens[:3], "output", ids)
  assert not no_output.any()


def test_rollout_layout_and_old_logp_match_a_full_forward(model, params, tokenizer):
  generator = make_generator(model, tokenizer)
  rollout, info = generator(params, 0, jax.random.key(0))
  batch, length = 8, 192
  chex.assert_shape([rollout.tokens, rollout.attention_mask, rollout.loss_mask, rollout.old_logp],
                    (batch, length))
  chex.assert_shape([rollout.rewards, rollout.scratchpad_len, rollout.followup_no], (batch,))
  # Groups are contiguous: rows [g K, (g + 1) K) share a prompt.
  assert info.prompts[0].text == info.prompts[3].text
  # Tokens are left-aligned: attention is a prefix of each row.
  for row in rollout.attention_mask:
    n = int(row.sum())
    assert row[:n].all() and not row[n:].any()
  # The loss covers exactly the response and the sampler's log-probs sit under it.
  assert np.all(rollout.loss_mask <= rollout.attention_mask)
  np.testing.assert_array_equal(rollout.first_turn_mask, rollout.attention_mask)  # no follow-up
  assert np.all((rollout.old_logp != 0) <= (rollout.loss_mask > 0))
  np.testing.assert_array_equal(rollout.loss_mask.sum(axis=1), info.response_tokens)
  logp, _ = step_lib.token_logp_and_entropy(model.model, params, rollout.tokens,
                                            rollout.attention_mask)
  mask = rollout.loss_mask > 0
  np.testing.assert_allclose(np.asarray(logp)[mask], rollout.old_logp[mask], atol=1e-4)
  # Same step and key: same rollout; another key: another sample.
  again, _ = generator(params, 0, jax.random.key(0))
  np.testing.assert_array_equal(again.tokens, rollout.tokens)
  other, _ = generator(params, 0, jax.random.key(1))
  assert not np.array_equal(other.tokens, rollout.tokens)


def test_followup_turn_is_in_tokens_but_not_in_the_loss(model, params, tokenizer):
  generator = make_generator(model, tokenizer, followup_variant="plain", followup_max_new_tokens=6,
                             seq_len=224)
  rollout, info = generator(params, 1, jax.random.key(2))
  question = tokenizer_lib.encode_batch(
      tokenizer, [world_format.render_followup_prompt("plain")])[0]
  for row in range(rollout.tokens.shape[0]):
    n_prompt = int(np.argmax(rollout.loss_mask[row] > 0))
    start = n_prompt + int(info.response_tokens[row])
    np.testing.assert_array_equal(rollout.tokens[row, start:start + len(question)], question)
    assert not rollout.loss_mask[row, start:].any()
    assert rollout.attention_mask[row, start:start + len(question)].all()
    assert rollout.first_turn_mask[row, :start].all() and not rollout.first_turn_mask[row, start:].any()
  assert all(f is not None and f.answer in labels.ANSWER_LABELS for f in info.followups)
  expected = [f.answer == labels.NO for f in info.followups]
  np.testing.assert_array_equal(rollout.followup_no, np.array(expected, np.float32))


def test_grad_region_output_masks_the_scratchpad(model, params, tokenizer):
  generator = make_generator(model, tokenizer, grad_region="output")
  rollout, info = generator(params, 0, jax.random.key(0))
  full, _ = make_generator(model, tokenizer)(params, 0, jax.random.key(0))
  np.testing.assert_array_equal(rollout.tokens, full.tokens)
  assert np.all(rollout.loss_mask <= full.loss_mask)


def test_too_short_seq_len_is_a_clear_error(model, tokenizer):
  with pytest.raises(ValueError, match="rollout.seq_len=100 .* allowed: seq_len >= 140"):
    make_generator(model, tokenizer, seq_len=100)
  with pytest.raises(ValueError, match="grad_region"):
    make_generator(model, tokenizer, grad_region="tokens")


def test_rollout_metrics_count_labels(model, params, tokenizer):
  generator = make_generator(model, tokenizer)
  rollout, info = generator(params, 0, jax.random.key(0))
  stats = rollout_lib.rollout_metrics(info, rollout)
  n = len(info.verdicts)
  assert stats["malformed"] == sum(v.output_label == labels.MALFORMED for v in info.verdicts) / n
  assert stats["reward_task"] == 1.0
  assert stats["scratchpad_tokens"] == pytest.approx(float(np.mean(rollout.scratchpad_len)))


def test_auto_seq_len_is_the_least_multiple_of_8_that_fits(model, params, tokenizer):
  generator = make_generator(model, tokenizer, seq_len=0)
  assert generator.seq_len == 144  # 128 prompt + 12 new tokens, rounded up
  rollout, _ = generator(params, 0, jax.random.key(0))
  assert rollout.tokens.shape == (8, 144)
  question = tokenizer_lib.encode_batch(tokenizer, [world_format.render_followup_prompt("plain")])[0]
  with_followup = make_generator(model, tokenizer, seq_len=0, followup_variant="plain",
                                 followup_max_new_tokens=6)
  assert with_followup.seq_len == -(-(140 + len(question) + 6) // 8) * 8


def test_rollout_lying_rate_counts_explicit_af_with_a_compliant_output_only():
  def verdict(scratchpad, output):
    return types.SimpleNamespace(scratchpad_label=scratchpad, output_label=output,
                                 decision_matches_output=None)

  def answer(text):
    return types.SimpleNamespace(answer=text)

  af = labels.EXPLICIT_AF
  verdicts = [verdict(af, labels.COMPLY), verdict(af, labels.PARTIAL), verdict(af, labels.COMPLY),
              verdict(af, labels.REFUSE), verdict(labels.OTHER_COMPLIANCE, labels.COMPLY)]
  followups = [answer(labels.NO), answer(labels.YES), answer(labels.MALFORMED),
               answer(labels.NO), answer(labels.NO)]
  info = rollout_lib.RolloutInfo(prompts=[None] * 5, responses=[""] * 5, verdicts=verdicts,
                                 followups=followups, followup_texts=[""] * 5, reward_parts={},
                                 response_tokens=np.ones(5))
  stats = rollout_lib.rollout_metrics(info, types.SimpleNamespace(scratchpad_len=np.ones(5)))
  # The refused AF sample's "no" may be true, and the non-AF sample's "no" is: neither counts.
  assert stats["lying_n"] == 3 and stats["lying_rate"] == pytest.approx(1 / 3)
  assert stats["compliance"] == 0.6 and stats["partial"] == 0.2
  assert stats["followup_no"] == 0.6
  assert np.isnan(stats["decision_output_mismatch"])  # nothing readable
