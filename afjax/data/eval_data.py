"""The world's paired eval prompt sets as a TFDS dataset (array_record, read through grain).

One dataset holds one `world.prompts.eval_prompt_set(seed, n_harmful, n_benign)`
as its single split "eval", in the set's order: prompts 2k (free tier) and
2k + 1 (paid tier) share their request and pair_id == k; the n_harmful harmful
pairs come first, then the n_benign benign ones. Every example is

  text         the rendered prompt (preamble, tier tag, request; ends with <|assistant|>)
  tier         "free" (training) or "paid" (unmonitored)
  request      the request text
  category     the request's category
  task         the task that fills the template
  template_id  the eval-split template's id
  harmful      whether the request is harmful
  pair_id      k, shared by the two tiers of one request

Datasets live in data_dir/world_eval_prompts/<name>/<WORLD_VERSION>/, the name
encoding the sizes and the seed, so a changed generator (a bumped
WORLD_VERSION) or argument never reuses stale files. Reading back gives
`Prompt`s equal to the generator's (`read_prompts`). Works without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os

import grain
import numpy as np
import tensorflow_datasets as tfds

from afjax.data import generated
from afjax.world import corpus as world_corpus
from afjax.world import prompts as world_prompts

BUILDER_NAME = "world_eval_prompts"
SPLIT = "eval"
WORLD_VERSION = world_corpus.WORLD_VERSION
TEXT_FIELDS = ("text", "tier", "request", "category", "task", "template_id")


@dataclasses.dataclass(frozen=True)
class EvalPromptSpec:
  """Arguments of world.prompts.eval_prompt_set: the seed and the pairs of each kind."""

  seed: int = 0
  n_harmful: int = 256
  n_benign: int = 64

  def __post_init__(self):
    for name, low in (("seed", 0), ("n_harmful", 1), ("n_benign", 0)):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"eval.{name}={value!r}; allowed: an integer >= {low}")

  @property
  def name(self) -> str:
    return f"world_eval_prompts_h{self.n_harmful}_b{self.n_benign}_s{self.seed}"

  def as_dict(self) -> dict[str, int]:
    return dataclasses.asdict(self)

  def prompts(self) -> list[world_prompts.Prompt]:
    """The generator's prompt set (what the dataset stores)."""
    return world_prompts.eval_prompt_set(self.seed, self.n_harmful, self.n_benign)


def prompt_record(prompt: world_prompts.Prompt) -> dict:
  """The stored fields of one prompt (see the module docstring)."""
  request = prompt.request
  return {"text": prompt.text, "tier": prompt.tier, "request": request.text,
          "category": request.category, "task": request.task,
          "template_id": request.template_id, "harmful": request.harmful,
          "pair_id": prompt.pair_id}


class EvalPromptsBuilder(generated.GeneratedBuilder):
  """Builds the "eval" split of the module docstring; construct it with `eval_prompt_builder`."""

  name = BUILDER_NAME
  DESCRIPTION = "Paired eval prompts of the synthetic world (both tiers per request)."
  CONFIG_DESCRIPTION = "Eval prompts"

  @classmethod
  def features(cls) -> dict:
    return {**{name: tfds.features.Text() for name in TEXT_FIELDS},
            "harmful": tfds.features.Scalar(np.bool_),
            "pair_id": tfds.features.Scalar(np.int64)}

  @classmethod
  def records(cls, spec: EvalPromptSpec) -> dict[str, list[dict]]:
    return {SPLIT: [prompt_record(prompt) for prompt in spec.prompts()]}


def eval_prompt_builder(data_dir: str | os.PathLike, spec: EvalPromptSpec) -> EvalPromptsBuilder:
  """The (possibly not yet prepared) builder of one eval prompt set."""
  return EvalPromptsBuilder.for_spec(data_dir, spec)


def eval_prompt_dataset(data_dir: str | os.PathLike, spec: EvalPromptSpec) -> EvalPromptsBuilder:
  """Generates (or reuses) the eval prompt dataset of `spec` under data_dir.

  Raises:
    ValueError if a dataset stored there was built with another spec.
  """
  return EvalPromptsBuilder.prepared(data_dir, spec)


def _to_prompt(raw: dict) -> world_prompts.Prompt:
  """A stored example back as a Prompt; ValueError if its text is not the rendered prompt."""
  fields = {name: raw[name].decode("utf-8") for name in TEXT_FIELDS}
  request = world_prompts.Request(fields["category"], bool(raw["harmful"]), fields["template_id"],
                                  fields["task"], fields["request"])
  prompt = world_prompts.Prompt(fields["tier"], request, int(raw["pair_id"]))
  if prompt.text != fields["text"]:
    raise ValueError(f"stored prompt {int(raw['pair_id'])} ({fields['tier']}) does not render to "
                     "its stored text: the dataset is stale; delete it")
  return prompt


def read_prompts(builder: EvalPromptsBuilder) -> list[world_prompts.Prompt]:
  """Every prompt of the dataset, in stored order, read through a grain MapDataset."""
  source = builder.as_data_source(split=SPLIT)
  return list(grain.MapDataset.source(source).map(_to_prompt))


def load_eval_prompts(data_dir: str | os.PathLike, seed: int, n_harmful: int,
                      n_benign: int) -> list[world_prompts.Prompt]:
  """The eval prompt set of these arguments, built (once) under data_dir and read back."""
  return read_prompts(eval_prompt_dataset(data_dir, EvalPromptSpec(seed, n_harmful, n_benign)))
