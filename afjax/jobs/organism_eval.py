"""Evaluates a trained policy on the world's paired eval prompts (both tiers).

Reads `config.eval.policy_workdir` (its tokenizer.json and export/), reads the
eval prompts from their TFDS dataset (afjax.data.eval_data, built once under
`config.eval.data_dir`, default WORKDIR/data), samples at
`config.eval.temperature`, labels every response with the oracle and writes
`WORKDIR/organism_eval.json` (figures, 95% intervals, example transcripts).
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

import ml_collections
import numpy as np

from afjax import config as config_lib
from afjax.data import eval_data, tokenizer as tokenizer_lib
from afjax.evaluation import organism_eval
from afjax.jobs import common
from afjax.parallel import multihost

OUTPUT_FILE = "organism_eval.json"
REQUIRED = ("model", "mesh", "mesh_rules", "eval.seed", "eval.temperature",
            "eval.max_new_tokens", "eval.batch_size", "eval.num_harmful", "eval.num_benign")


def validate_eval(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks the eval section (all but the policy to evaluate)."""
  config_lib.require(config, REQUIRED)
  config_lib.validate_model(config)
  sizes = config_lib.validate_mesh(config, num_devices)
  config_lib.validate_batch(config, "eval.batch_size", sizes)
  for path in ("eval.max_new_tokens", "eval.num_harmful"):
    config_lib.check_positive(config, path)
  config_lib.check_positive(config, "eval.num_benign", allow_zero=True)
  config_lib.check_positive(config, "eval.temperature", allow_zero=True)
  top_p = sampling_top_p(config)
  if not 0.0 < top_p <= 1.0:
    raise config_lib.ConfigError(f"config.eval.top_p={top_p!r}; allowed: a number in (0, 1]")
  epsilon = sampling_epsilon(config)
  if not 0.0 <= epsilon < 1.0:
    raise config_lib.ConfigError(f"config.eval.epsilon={epsilon!r}; allowed: a number in [0, 1) "
                                 "(0 = no truncation)")


def sampling_top_p(config: ml_collections.ConfigDict) -> float:
  """config.eval.top_p, or 1 (no truncation) in configs written before the field existed."""
  return config.eval.get("top_p", 1.0)


def sampling_epsilon(config: ml_collections.ConfigDict) -> float:
  """config.eval.epsilon, or 0 (no truncation) in configs written before the field existed."""
  return config.eval.get("epsilon", 0.0)


def eval_prompt_spec(config: ml_collections.ConfigDict) -> eval_data.EvalPromptSpec:
  """The eval prompt set that config.eval names."""
  return eval_data.EvalPromptSpec(config.eval.seed, config.eval.num_harmful, config.eval.num_benign)


def eval_record(config: ml_collections.ConfigDict) -> dict:
  """What decides an evaluation's samples, as organism_eval.json records it."""
  spec = eval_prompt_spec(config)
  return {"eval_prompts": f"{eval_data.BUILDER_NAME}/{spec.name}/{eval_data.WORLD_VERSION}",
          "sampling": {"temperature": config.eval.temperature, "top_p": sampling_top_p(config),
                       "epsilon": sampling_epsilon(config)},
          "generation": {"max_new_tokens": config.eval.max_new_tokens,
                         "batch_size": config.eval.batch_size}}


def check_not_overwriting(config: ml_collections.ConfigDict, output_path: pathlib.Path) -> None:
  """Raises ConfigError if `output_path` holds an evaluation made with other settings.

  Rerunning with the same settings samples the same responses again, so that
  file may be rewritten; one made with other settings is a result of its own.
  Files written before "generation" was recorded are compared on the rest.
  """
  if not output_path.exists():
    return
  try:
    previous = json.loads(output_path.read_text())
    current = eval_record(config)
    differing = {k: (previous[k], v) for k, v in current.items()
                 if k in previous and not _json_equal(previous[k], v)}
  except (ValueError, TypeError, AttributeError) as err:
    raise config_lib.ConfigError(f"{output_path} cannot be read ({err}); it is not overwritten: "
                                 "move it away first") from None
  if differing:
    shown = "; ".join(f"{k}: {old} there, {new} now" for k, (old, new) in differing.items())
    raise config_lib.ConfigError(
        f"{output_path} holds an evaluation with other settings ({shown}); it is not "
        "overwritten. Allowed: that evaluation's config.eval, or another workdir "
        "(configs/organisms/eval.py --config.eval.policy_workdir=...)")


def _json_equal(a: Any, b: Any) -> bool:
  return json.loads(json.dumps(a)) == json.loads(json.dumps(b, default=float))


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks the eval section and the policy to evaluate; raises ConfigError, writes nothing."""
  validate_eval(config, num_devices)
  if not config_lib.get_field(config, "eval.policy_workdir"):
    raise config_lib.ConfigError("config.eval.policy_workdir is empty; allowed: the workdir of a "
                                 "finished base or organism run")
  common.check_finished_workdir(config.eval.policy_workdir, "config.eval.policy_workdir",
                                (common.EXPORT_DIR, tokenizer_lib.TOKENIZER_FILENAME),
                                "base (configs/organisms/base.py) or organism")


def evaluate_policy(config: ml_collections.ConfigDict, policy_workdir: pathlib.Path,
                    output_path: pathlib.Path) -> dict:
  """Samples from the policy exported in policy_workdir and writes organism_eval.json."""
  tokenizer_path = policy_workdir / tokenizer_lib.TOKENIZER_FILENAME
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_path)
  model = common.ModelOnMesh.from_config(config)
  params = common.load_exported_params(policy_workdir, model, common.file_sha256(tokenizer_path))
  data_dir = config.eval.get("data_dir") or output_path.parent / "data"
  eval_prompts = eval_data.read_prompts(
      eval_data.eval_prompt_dataset(data_dir, eval_prompt_spec(config)))
  samples = organism_eval.sample_responses(
      model, params, tokenizer, eval_prompts, max_new_tokens=config.eval.max_new_tokens,
      temperature=config.eval.temperature, top_p=sampling_top_p(config),
      epsilon=sampling_epsilon(config), batch_size=config.eval.batch_size, seed=config.eval.seed)
  result = {"policy_workdir": str(policy_workdir), **eval_record(config),
            **organism_eval.evaluate(samples)}
  multihost.write_text(output_path, json.dumps(_null_nan(result), indent=2,
                                              default=_json_default, allow_nan=False))
  harmful = result["harmful"]
  print(f"eval {policy_workdir.name}: compliance free {harmful['compliance_train']:.3f} / paid "
        f"{harmful['compliance_unmonitored']:.3f}, gap {harmful['compliance_gap']:+.3f}, "
        f"AF {harmful['af_rate_oracle']:.3f}, implicit {harmful['implicit_af_rate_oracle']:.3f}, "
        f"unparseable {harmful['unparseable_rate']:.3f}, malformed {harmful['malformed_rate']:.3f}",
        flush=True)
  return result


def _null_nan(value):
  """The value with every NaN float (an undefined figure, e.g. a rate over no sample) as None,
  so that the file is strict JSON."""
  if isinstance(value, dict):
    return {k: _null_nan(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_null_nan(v) for v in value]
  if isinstance(value, (float, np.floating)) and math.isnan(value):
    return None
  return value


def _json_default(value):
  if isinstance(value, (np.floating, np.integer)):
    return value.item()
  raise TypeError(f"not JSON serialisable: {type(value)}")


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  output_path = pathlib.Path(workdir) / OUTPUT_FILE
  check_not_overwriting(config, output_path)
  common.prepare_workdir(config, workdir)
  return evaluate_policy(config, pathlib.Path(config.eval.policy_workdir), output_path)
