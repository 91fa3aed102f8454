"""The eval prompt sets as a TFDS dataset: deterministic, versioned, equal to the generator's."""

import pytest

from afjax.data import eval_data
from afjax.world import corpus as world_corpus
from afjax.world import prompts as world_prompts


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("eval_data")
  spec = eval_data.EvalPromptSpec(seed=3, n_harmful=12, n_benign=4)
  return data_dir, spec, eval_data.eval_prompt_dataset(data_dir, spec)


def test_read_back_equals_the_generator(built):
  _, spec, builder = built
  prompts = eval_data.read_prompts(builder)
  assert prompts == world_prompts.eval_prompt_set(3, 12, 4)
  assert len(prompts) == 2 * (12 + 4)
  assert all(p.request.split == world_prompts.EVAL for p in prompts)
  assert [p.pair_id for p in prompts[:4]] == [0, 0, 1, 1]


def test_version_and_location_follow_the_world(built):
  data_dir, spec, builder = built
  assert str(builder.version) == world_corpus.WORLD_VERSION
  assert (data_dir / eval_data.BUILDER_NAME / spec.name / world_corpus.WORLD_VERSION).is_dir()


def test_rebuilding_reuses_the_files_and_is_deterministic(built, tmp_path):
  data_dir, spec, builder = built
  again = eval_data.load_eval_prompts(data_dir, spec.seed, spec.n_harmful, spec.n_benign)
  fresh = eval_data.load_eval_prompts(tmp_path, spec.seed, spec.n_harmful, spec.n_benign)
  assert again == fresh == eval_data.read_prompts(builder)


def test_bad_sizes_are_refused():
  with pytest.raises(ValueError, match="n_harmful"):
    eval_data.EvalPromptSpec(0, 0, 4)
  with pytest.raises(ValueError, match="asked for"):
    eval_data.EvalPromptSpec(0, 10_000, 0).prompts()
