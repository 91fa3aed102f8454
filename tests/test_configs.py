"""Every config under configs/ loads and validates; the large presets have real sizes and shard."""

import jax
import jax.numpy as jnp
import ml_collections
import pytest

from afjax import config as config_lib
from afjax import jobs
from afjax.jobs import rl
from afjax.models import transformer as tfm
from tests.configs_loader import load_config


@pytest.mark.parametrize("path, devices", [("lm.py", 1), ("models/llama3_1b.py", 8),
                                           ("models/llama3_1b.py", 64), ("models/llama3_8b.py", 64)])
def test_config_validates(path, devices):
  config = load_config(path)
  jobs.get_job(config.job).validate(config, devices)


@pytest.mark.parametrize("path, billions", [("models/llama3_1b.py", 1.24), ("models/llama3_8b.py", 8.03)])
def test_large_model_shapes_abstractly(path, billions):
  """Abstract init (no memory): parameter count and logical axes on every leaf."""
  cfg = tfm.TransformerConfig.from_dict(load_config(path).model)
  model = tfm.Transformer(cfg)
  x = jnp.zeros((1, 8), jnp.int32)
  boxed = jax.eval_shape(lambda k: model.init(k, x, x, x == 0), jax.random.key(0))["params"]
  leaves = jax.tree.leaves(boxed, is_leaf=lambda l: hasattr(l, "names"))
  assert all(len(l.names) == len(l.value.shape) for l in leaves)
  assert sum(l.value.size for l in leaves) / 1e9 == pytest.approx(billions, rel=0.01)


@pytest.mark.parametrize("arm", sorted(config_lib.RL_ARMS))
def test_every_rl_arm_has_its_config_file(arm):
  config = load_config(f"rl/{arm}.py", "tgg_plain,test")
  assert config.rl.arm == arm
  rl.validate_settings(config, 1)


def test_shaping_parameters_are_config_fields_with_the_arms_defaults():
  from afjax.rl import shaping
  config = load_config("rl/process_supervision.py", "tgg_plain,test")
  assert dict(config.rl.shaping_params) == {"eps": shaping.LOG_BARRIER_EPS}
  config.rl.shaping_params.eps = 1e-4  # as --config.rl.shaping_params.eps=1e-4 sets it
  assert rl.step_config(config).shaping_params == (("eps", 1e-4),)
  length = load_config("rl/length_penalty.py", "tgg_plain,test")
  assert dict(length.rl.shaping_params) == {}  # its threshold comes from the organism
  assert rl.step_config(length, 37.0).shaping_params == (("threshold", 37.0),)


def test_explain_unknown_field_names_the_missing_part_and_the_allowed_fields():
  config = ml_collections.ConfigDict(dict(train=dict(steps=3, batch_size=8), seed=0))
  assert config_lib.explain_unknown_field(config, "train.steps") is None
  assert config_lib.explain_unknown_field(config, "seed") is None
  assert config_lib.explain_unknown_field(config, "train.step") == (
      "--config.train.step: config.train has no field 'step'; allowed: ['batch_size', 'steps']")
  assert config_lib.explain_unknown_field(config, "tran.steps") == (
      "--config.tran.steps: config has no field 'tran'; allowed: ['seed', 'train']")
  assert config_lib.explain_unknown_field(config, "seed.x") == (
      "--config.seed.x: config.seed is a value, not a section; allowed: --config.seed=VALUE")
