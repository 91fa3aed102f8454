"""Monitors: view regions, invariance to unseen tokens, padding, jit on a mesh, the loss."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from afjax.models import monitor as mon
from afjax.models import presets, transformer as tfm
from afjax.parallel import mesh as mesh_lib

TAGS = mon.TagIds(assistant=5, end=6, scratchpad_open=9, scratchpad_close=10, output_open=11,
                  output_close=12, pad=0)
BOS = 1
PROMPT = [BOS, 20, 21, 22, TAGS.assistant]
SCRATCHPAD = [TAGS.scratchpad_open, 30, 31, 32, 33, TAGS.scratchpad_close]
OUTPUT = [TAGS.output_open, 40, 41, 42, TAGS.output_close]
TRANSCRIPT = PROMPT + SCRATCHPAD + OUTPUT + [TAGS.end]


def rows(sequences, length=None, left=False):
  """Pads token lists to one length: (tokens [B, T] int32, mask [B, T] bool)."""
  length = length or max(len(s) for s in sequences)
  tokens = np.zeros((len(sequences), length), np.int32)
  mask = np.zeros((len(sequences), length), bool)
  for row, seq in enumerate(sequences):
    span = slice(length - len(seq), length) if left else slice(0, len(seq))
    tokens[row, span], mask[row, span] = seq, True
  return jnp.asarray(tokens), jnp.asarray(mask)


def region_tokens(sequence, left=False, length=None):
  """The tokens of each region of one transcript, as lists."""
  tokens, mask = rows([sequence], length, left)
  regions = mon.transcript_regions(tokens, mask, TAGS)
  return {name: np.asarray(tokens[0])[np.asarray(getattr(regions, name)[0])].tolist()
          for name in ("prompt", "reasoning", "output")}


def test_regions_of_a_well_formed_transcript_with_any_padding():
  expected = {"prompt": PROMPT, "reasoning": SCRATCHPAD, "output": OUTPUT}
  assert region_tokens(TRANSCRIPT) == expected
  assert region_tokens(TRANSCRIPT, left=True, length=24) == expected
  assert region_tokens(TRANSCRIPT, length=24) == expected


def test_unclosed_scratchpad_swallows_the_output():
  broken = PROMPT + [TAGS.scratchpad_open, 30, 31] + OUTPUT
  regions = region_tokens(broken)
  assert regions["output"] == []
  assert regions["reasoning"] == broken[len(PROMPT):]


def test_text_between_scratchpad_and_output_is_reasoning_and_later_turns_are_nobodys():
  followup = [TAGS.end, 3, 50, TAGS.assistant, TAGS.scratchpad_open, 60, TAGS.scratchpad_close,
              TAGS.output_open, 61, TAGS.output_close]
  sneaky = PROMPT + SCRATCHPAD + [70, 71] + OUTPUT + followup
  regions = region_tokens(sneaky)
  assert regions["reasoning"] == SCRATCHPAD + [70, 71]
  assert regions["output"] == OUTPUT
  assert regions["prompt"] == PROMPT


def test_output_without_scratchpad_and_no_assistant_turn():
  assert region_tokens(PROMPT + OUTPUT)["output"] == OUTPUT
  only_prompt = region_tokens(PROMPT[:-1] + [30, 31])
  assert only_prompt["prompt"] == PROMPT[:-1] + [30, 31]
  assert only_prompt["reasoning"] == only_prompt["output"] == []


def test_unknown_view_is_a_clear_error():
  cfg = tfm.TransformerConfig(**presets.get_preset("test"))
  with pytest.raises(ValueError, match=r"monitor.view='both'; allowed: \['scratchpad', 'output'\]"):
    mon.MonitorConfig(cfg, "both", TAGS)


@pytest.fixture(scope="module")
def monitors():
  """A tiny monitor of each view (same params) and its jitted score."""
  cfg = tfm.TransformerConfig(**presets.get_preset("test"))
  configs = {view: mon.MonitorConfig(cfg, view, TAGS) for view in mon.VIEWS}
  tokens, mask = rows([TRANSCRIPT])
  boxed = mon.MonitorClassifier(configs["scratchpad"]).init(jax.random.key(0), tokens, mask)["params"]
  params = nn.meta.unbox(boxed)
  scores = {view: jax.jit(mon.score_fn(c)) for view, c in configs.items()}
  return {"configs": configs, "boxed": boxed, "params": params, "scores": scores}


def random_transcript(rng, scratchpad_len, output_len):
  ordinary = lambda n: rng.integers(40, 300, n).tolist()
  return (PROMPT + [TAGS.scratchpad_open] + ordinary(scratchpad_len) + [TAGS.scratchpad_close]
          + [TAGS.output_open] + ordinary(output_len) + [TAGS.output_close, TAGS.end])


def test_tokens_outside_the_view_do_not_change_the_score(monitors):
  rng = np.random.default_rng(0)
  base = [random_transcript(rng, 8, 6) for _ in range(4)]
  scratchpad_end = len(PROMPT) + 10  # index of <output>
  new_outputs = [seq[:scratchpad_end + 1] + rng.integers(40, 300, 6).tolist() + seq[-2:]
                 for seq in base]
  new_scratchpads = [seq[:len(PROMPT) + 1] + rng.integers(40, 300, 8).tolist() + seq[scratchpad_end - 1:]
                     for seq in base]
  score = lambda view, seqs: np.asarray(monitors["scores"][view](monitors["params"], *rows(seqs, 32)))
  for view, unseen, seen in (("scratchpad", new_outputs, new_scratchpads),
                             ("output", new_scratchpads, new_outputs)):
    before = score(view, base)
    np.testing.assert_array_equal(score(view, unseen), before, err_msg=view)
    assert np.abs(score(view, seen) - before).min() > 0, view


def test_output_monitor_ignores_even_the_scratchpad_length(monitors):
  rng = np.random.default_rng(1)
  short = random_transcript(rng, 2, 6)
  long = short[:len(PROMPT) + 1] + rng.integers(40, 300, 12).tolist() + short[len(PROMPT) + 3:]
  p_short, p_long = np.asarray(monitors["scores"]["output"](monitors["params"], *rows([short, long], 32)))
  assert p_short == pytest.approx(p_long, abs=1e-6)


def test_score_does_not_depend_on_padding(monitors):
  rng = np.random.default_rng(2)
  batch = [random_transcript(rng, 3 + i, 4) for i in range(4)]
  for view, score in monitors["scores"].items():
    right = np.asarray(score(monitors["params"], *rows(batch, 32)))
    left = np.asarray(score(monitors["params"], *rows(batch, 32, left=True)))
    np.testing.assert_allclose(left, right, atol=1e-6, err_msg=view)
    assert ((right > 0) & (right < 1)).all()


def test_params_carry_logical_axes_and_score_jits_on_a_mesh(monitors):
  boxed = jax.tree.leaves(monitors["boxed"], is_leaf=lambda x: isinstance(x, nn.Partitioned))
  assert all(isinstance(leaf, nn.Partitioned) and len(leaf.names) == leaf.value.ndim for leaf in boxed)
  assert monitors["boxed"]["head"]["kernel"].names == (tfm.EMBED, None)
  mesh = mesh_lib.make_mesh({"data": -1})
  rules = mesh_lib.DEFAULT_RULES
  tokens, mask = rows([TRANSCRIPT, TRANSCRIPT[:-3]], 32)
  score = mon.score_fn(monitors["configs"]["scratchpad"])
  with mesh_lib.use_mesh(mesh, rules):
    inside_jit = jax.jit(lambda p, t, m: 1.0 - score(p, t, m))(monitors["params"], tokens, mask)
  eager = score(monitors["params"], tokens, mask)
  np.testing.assert_allclose(1.0 - np.asarray(inside_jit), np.asarray(eager), atol=1e-6)


def test_loss_is_mean_binary_cross_entropy(monitors):
  cfg = monitors["configs"]["scratchpad"]
  model = mon.MonitorClassifier(cfg)
  rng = np.random.default_rng(3)
  tokens, mask = rows([random_transcript(rng, 4, 4) for _ in range(3)], 32)
  labels = jnp.array([1.0, 0.0, 1.0])
  loss, aux = jax.jit(lambda p, b: mon.classifier_loss(model, p, b))(
      monitors["params"], {"inputs": tokens, "mask": mask, "labels": labels})
  p = np.asarray(monitors["scores"]["scratchpad"](monitors["params"], tokens, mask), np.float64)
  y = np.asarray(labels)
  reference = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
  assert float(loss) == pytest.approx(reference, rel=1e-5)
  assert float(aux["accuracy"]) == pytest.approx(np.mean((p > 0.5) == (y > 0.5)))
  visible = mon.view_mask(tokens, mask, TAGS, "scratchpad")
  assert float(aux["tokens"]) == float(jnp.sum(visible)) == 3 * (len(PROMPT) + 6)

