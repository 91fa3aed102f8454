"""The reward model: its view (request + output only), padding invariance, the Bradley-Terry loss."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from afjax.models import monitor as mon
from afjax.models import presets, reward as rm, transformer as tfm
from afjax.parallel import mesh as mesh_lib
from tests.models import test_monitor

TAGS = rm.RewardTagIds(
    transcript=mon.TagIds(assistant=5, end=6, scratchpad_open=9, scratchpad_close=10,
                          output_open=11, output_close=12, pad=0),
    tier_close=8)
T = TAGS.transcript
BOS, SYSTEM, USER, TIER_OPEN = 1, 3, 4, 7
PREAMBLE = [20, 21, 22]
REQUEST = [40, 41, 42]
SCRATCHPAD = [T.scratchpad_open, 30, 31, 32, T.scratchpad_close]
OUTPUT = [T.output_open, 50, 51, T.output_close]


def transcript(tier=(60,), preamble=PREAMBLE, request=REQUEST, scratchpad=SCRATCHPAD, output=OUTPUT):
  """BOS <|system|>PREAMBLE<|end|><|user|><tier>TIER</tier> REQUEST<|end|><|assistant|>S O<|end|>."""
  return ([BOS, SYSTEM, *preamble, T.end, USER, TIER_OPEN, *tier, TAGS.tier_close, *request, T.end,
           T.assistant, *scratchpad, *output, T.end])


def rows(sequences, length=40, left=False):
  """Pads token lists to one length: (tokens [B, T] int32, mask [B, T] bool)."""
  return test_monitor.rows(sequences, length, left)


def visible_tokens(sequence, left=False):
  tokens, mask = rows([sequence], left=left)
  visible, watched = rm.view_masks(tokens, mask, TAGS)
  return (np.asarray(tokens[0])[np.asarray(visible[0])].tolist(),
          np.asarray(tokens[0])[np.asarray(watched[0])].tolist())


@pytest.mark.parametrize("left", [False, True])
def test_view_is_the_request_then_the_output_block(left):
  assert visible_tokens(transcript(), left) == (REQUEST + OUTPUT, OUTPUT)
  counts = rm.output_token_counts(*rows([transcript(), transcript(output=OUTPUT[:1] + [50])]), TAGS)
  np.testing.assert_array_equal(counts, [len(OUTPUT), 2])  # no </output>: up to <|end|>


def test_view_excludes_a_followup_turn_and_trailing_text():
  followup = [USER, TIER_OPEN, 60, TAGS.tier_close, 70, T.end, T.assistant, T.output_open, 71,
              T.output_close]
  sequence = transcript(output=OUTPUT + [80, 81]) + followup
  assert visible_tokens(sequence) == (REQUEST + OUTPUT, OUTPUT)


@pytest.fixture(scope="module")
def model():
  """A tiny reward model, its params and its jitted pure reward."""
  cfg = rm.RewardModelConfig(tfm.TransformerConfig(**presets.get_preset("test")), TAGS)
  boxed = rm.RewardModel(cfg).init(jax.random.key(0), *rows([transcript()]))["params"]
  params = nn.meta.unbox(boxed)
  # A larger head so that differences in the pooled state show in the reward.
  params["head"]["kernel"] = params["head"]["kernel"] * 50.0
  return {"cfg": cfg, "boxed": boxed, "params": params, "reward": jax.jit(rm.reward_fn(cfg))}


def rewards_of(model, sequences, left=False):
  return np.asarray(model["reward"](model["params"], *rows(sequences, left=left)))


def test_tier_preamble_and_scratchpad_do_not_change_the_reward(model):
  base = rewards_of(model, [transcript()] * 4)
  unseen = [transcript(tier=(61, 62)), transcript(preamble=[23, 24, 25, 26, 27]),
            transcript(scratchpad=[T.scratchpad_open, 33, T.scratchpad_close]),
            transcript(scratchpad=[T.scratchpad_open, 90, 91, 92, 93, 94, 95, T.scratchpad_close])]
  np.testing.assert_allclose(rewards_of(model, unseen), base[0], atol=1e-6)
  seen = [transcript(request=[40, 43, 42]), transcript(output=[T.output_open, 50, 52, T.output_close]),
          transcript(request=[43]), transcript(output=[T.output_open, 50, T.output_close])]
  assert np.abs(rewards_of(model, seen) - base[0]).min() > 1e-4


def test_reward_does_not_depend_on_padding(model):
  batch = [transcript(tier=(60,) * (i + 1), output=[T.output_open, 50 + i, 51, T.output_close])
           for i in range(4)]
  right = rewards_of(model, batch)
  np.testing.assert_allclose(rewards_of(model, batch, left=True), right, atol=1e-6)
  wider = np.asarray(model["reward"](model["params"], *rows(batch, length=56)))
  np.testing.assert_allclose(wider, right, atol=1e-6)
  assert right.dtype == np.float32 and right.shape == (4,)


def test_params_carry_logical_axes_and_reward_jits_on_a_mesh(model):
  boxed = jax.tree.leaves(model["boxed"], is_leaf=lambda x: isinstance(x, nn.Partitioned))
  assert all(isinstance(leaf, nn.Partitioned) and len(leaf.names) == leaf.value.ndim for leaf in boxed)
  assert set(model["boxed"]) == {"decoder", "head"}
  reward = rm.reward_fn(model["cfg"])
  tokens, mask = rows([transcript(), transcript(output=OUTPUT[:2])] * 2)
  with mesh_lib.use_mesh(mesh_lib.make_mesh({"data": -1}), mesh_lib.DEFAULT_RULES):
    inside_jit = jax.jit(lambda p, t, m: 2.0 * reward(p, t, m))(model["params"], tokens, mask)
  np.testing.assert_allclose(np.asarray(inside_jit) / 2.0,
                             np.asarray(reward(model["params"], tokens, mask)), atol=1e-6)


def test_bradley_terry_loss_matches_numpy():
  rng = np.random.default_rng(0)
  chosen, rejected = rng.normal(size=16) * 5, rng.normal(size=16) * 5
  chosen[:2], rejected[:2] = [80.0, -80.0], [-80.0, 80.0]  # saturated margins stay finite
  margin = chosen - rejected
  expected = np.mean(np.where(margin > 0, np.log1p(np.exp(-np.abs(margin))),
                              -margin + np.log1p(np.exp(-np.abs(margin)))))
  got = rm.bradley_terry_loss(jnp.asarray(chosen, jnp.float32), jnp.asarray(rejected, jnp.float32))
  assert float(got) == pytest.approx(expected, rel=1e-5)
  assert float(rm.bradley_terry_loss(jnp.zeros(3), jnp.zeros(3))) == pytest.approx(np.log(2.0))


def test_preference_loss_scores_chosen_and_rejected_in_one_pass(model):
  chosen = [transcript(output=[T.output_open, 50 + i, T.output_close]) for i in range(4)]
  rejected = [transcript(output=[T.output_open, 60 + i, 61, T.output_close]) for i in range(4)]
  c_tokens, c_mask = rows(chosen)
  r_tokens, r_mask = rows(rejected)
  batch = {"inputs": jnp.stack([c_tokens, r_tokens], 1), "mask": jnp.stack([c_mask, r_mask], 1)}
  loss, aux = jax.jit(lambda p, b: rm.preference_loss(rm.RewardModel(model["cfg"]), p, b))(
      model["params"], batch)
  r_c, r_r = rewards_of(model, chosen), rewards_of(model, rejected)
  margin = r_c - r_r
  assert float(loss) == pytest.approx(np.mean(np.log1p(np.exp(-margin))), rel=1e-5)
  assert float(aux["accuracy"]) == pytest.approx(np.mean(margin > 0))
  assert float(aux["margin"]) == pytest.approx(np.mean(margin), rel=1e-5, abs=1e-6)
  assert float(aux["tokens"]) == 8 * len(REQUEST) + 4 * 3 + 4 * 4
