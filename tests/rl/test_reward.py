"""RL rewards: rule values from the oracle, the format penalty, the learned reward, length correction."""

import flax.linen as nn
import jax
import numpy as np
import pytest

from afjax.data import reward_data as rd
from afjax.models import presets, reward as rm, transformer as tfm
from afjax.rl import reward as rl_reward
from afjax.world import labels, prompts
from tests.models.test_reward import TAGS, T, rows, transcript

LABELS = [labels.COMPLY, labels.PARTIAL, labels.REFUSE, labels.MALFORMED]


def test_rule_reward_values_and_parts():
  host = rl_reward.host_signals(LABELS, format_penalty=0.5)
  np.testing.assert_array_equal(host.malformed, [0, 0, 0, 1])
  reward = rl_reward.make_reward("rule")
  tokens, masks = rows([transcript()] * 4)
  r, parts = jax.jit(reward)(None, tokens, masks, host)
  np.testing.assert_allclose(r, [1.0, 0.5, 0.0, -0.5])
  np.testing.assert_allclose(parts["task"], [1.0, 0.5, 0.0, 0.0])
  np.testing.assert_allclose(parts["format"], [0.0, 0.0, 0.0, -0.5])
  np.testing.assert_allclose(sum(parts[k] for k in rl_reward.PARTS), r)
  no_penalty = rl_reward.host_signals(LABELS, format_penalty=0.0)
  np.testing.assert_allclose(reward(None, tokens, masks, no_penalty)[0], [1.0, 0.5, 0.0, 0.0])


def test_host_rule_reward_labels_world_responses_with_the_oracle():
  pairs = rd.preference_pairs(12, seed=0)
  prompt_list = [prompts.parse_prompt(p["prompt"]) for p in pairs] * 2
  responses = [p["response_chosen"] for p in pairs] + [p["response_rejected"] for p in pairs]
  expected_labels = [p["chosen_label"] for p in pairs] + [p["rejected_label"] for p in pairs]
  assert rl_reward.oracle_output_labels(prompt_list, responses) == expected_labels
  fn = rl_reward.host_reward_fn("rule", format_penalty=1.0)
  tokens = np.zeros((24, 8), np.int32)
  r, parts = fn(prompt_list, responses, None, tokens, tokens > 0)
  expected = [rl_reward.RULE_VALUES[label] - (label == labels.MALFORMED) for label in expected_labels]
  np.testing.assert_allclose(r, expected)
  assert set(parts) == set(rl_reward.PARTS) and r.dtype == np.float32
  # Every pair's chosen response earns more than its rejected one.
  assert (r[:12] > r[12:]).all()


def test_bad_host_inputs_and_names_are_clear_errors():
  with pytest.raises(ValueError, match=r"output labels \['gibberish'\]; allowed"):
    rl_reward.host_signals(["gibberish"])
  with pytest.raises(ValueError, match="format_penalty=-1.0; allowed: a number >= 0"):
    rl_reward.host_signals(LABELS, -1.0)
  with pytest.raises(ValueError, match=r"reward 'oracle' is not registered; allowed: \['learned', 'rule'\]"):
    rl_reward.make_reward("oracle")
  with pytest.raises(ValueError, match=r"reward 'learned': missing parameter\(s\) \['model'\]"):
    rl_reward.make_reward("learned")
  with pytest.raises(ValueError, match=r"reward 'rule': unknown parameter\(s\) \['slope'\]"):
    rl_reward.make_reward("rule", slope=1.0)
  with pytest.raises(ValueError, match="reward 'learned' needs a reward model"):
    rl_reward.host_reward_fn("learned")
  host = rl_reward.host_signals(LABELS[:3])
  with pytest.raises(ValueError, match=r"host.rule must have shape \(4,\); got \(3,\)"):
    rl_reward.make_reward("rule")(None, *rows([transcript()] * 4), host)


def test_length_correction_matches_numpy():
  rng = np.random.default_rng(0)
  r, n = rng.normal(size=8).astype(np.float32), rng.integers(3, 40, 8)
  correction = rl_reward.LengthCorrection(slope=0.037, mean_output_tokens=17.5)
  expected = r - 0.037 * (n - 17.5)
  np.testing.assert_allclose(rl_reward.length_corrected(r, n, correction), expected, rtol=1e-6)
  np.testing.assert_allclose(rl_reward.length_term(n, correction), expected - r, rtol=1e-5, atol=1e-6)


def test_learned_reward_is_the_model_minus_the_penalty_plus_the_length_term():
  cfg = rm.RewardModelConfig(tfm.TransformerConfig(**presets.get_preset("test")), TAGS)
  params = nn.meta.unbox(rm.RewardModel(cfg).init(jax.random.key(1), *rows([transcript()]))["params"])
  outputs = [[T.output_open, *range(50, 50 + k), T.output_close] for k in (1, 2, 4, 6)]
  tokens, masks = rows([transcript(output=o) for o in outputs])
  host = rl_reward.host_signals(LABELS, format_penalty=2.0)
  scores = np.asarray(rm.reward_fn(cfg)(params, tokens, masks))
  n_out = np.array([len(o) for o in outputs])
  plain = rl_reward.make_reward("learned", model=cfg)
  corrected = rl_reward.make_reward(
      "learned", model=cfg, length_correction=rl_reward.LengthCorrection(0.25, 5.0))
  r_plain, parts = jax.jit(plain)(params, tokens, masks, host)
  np.testing.assert_allclose(r_plain, scores - [0, 0, 0, 2.0], atol=1e-5)
  np.testing.assert_allclose(parts["task"], scores, atol=1e-6)
  np.testing.assert_array_equal(parts["length"], 0.0)
  r_corrected, parts = jax.jit(corrected)(params, tokens, masks, host)
  np.testing.assert_allclose(r_corrected, scores - [0, 0, 0, 2.0] - 0.25 * (n_out - 5.0), atol=1e-5)
  np.testing.assert_allclose(sum(parts[k] for k in rl_reward.PARTS), r_corrected, atol=1e-5)
