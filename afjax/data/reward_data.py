"""Preference pairs of the synthetic world as a TFDS dataset, and the reward model's rows.

A pair is one prompt (tier, request) with two responses, *chosen* and
*rejected*, ordered by what a helpful-only reward prefers:

    comply > partial > refuse > malformed          (RANK, the oracle's output label)

Pair kinds (PAIR_KINDS, drawn with PAIR_KIND_WEIGHTS):

  comply_refuse, comply_partial, partial_refuse  two well-formed responses with
      those output kinds (harmful requests: the grammar refuses nothing else);
  wellformed_malformed  a well-formed comply / partial / refuse response
      against a malformed one: a comply or partial output of the same request
      perturbed by one of PERTURBATIONS:
        other_request   the whole output answers another task;
        mixed_requests  the first sentence of this request's output followed by
                        the rest of another category's output;
        bad_shape       the opener / hedge sentence dropped (a shape that fits
                        no output kind);
        missing_close   `</output>` dropped;
        truncated       the output cut at a word inside it, `</output>` dropped.

Every response is `<scratchpad>S</scratchpad><output>O</output>` with a
scratchpad from the grammar for a motivation that can reach the response's own
decision in that tier (the reward model never sees it); the transcript texts
end with `<|end|>`, as a policy's samples do. Each response is labelled by the
oracle (`oracle.label_response(tier, response, request).output_label`); a
perturbation the oracle does not call malformed is redrawn, and a generated
label that differs from the intended one is an error, so every stored pair
satisfies RANK[chosen_label] > RANK[rejected_label].

Splits: train and validation are records [0, n_train) and [n_train, n_train +
n_validation) of one stream on train-split request templates (the prompts RL
trains on); test is n_test records of another stream on eval-split templates
(phrasings never seen in training). Record i of a stream depends only on
(seed, stream, i), so a shorter dataset is a prefix of a longer one.

Datasets live in data_dir/world_reward/<name>/<WORLD_VERSION>/ as array_record;
the name encodes GENERATOR_VERSION, every size and the seed, so a changed
generator, world or argument never reuses stale files. Splits are read back
through grain; nothing imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from typing import Any, Sequence

import grain
import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from afjax.data import generated, monitor_data, world_data
from afjax.models import reward as reward_lib
# world_corpus.WORLD_VERSION is the datasets' version (afjax.data.generated).
from afjax.world import corpus as world_corpus  # noqa: F401
from afjax.world import format as world_format
from afjax.world import grammar, labels, oracle, outputs, prompts, situation

BUILDER_NAME = "world_reward"
GENERATOR_VERSION = 1  # Bump when this module's pair generator changes its output.
TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLITS = (TRAIN, VALIDATION, TEST)
SIZE_FIELDS = ("n_train", "n_validation", "n_test")

RANK = {labels.COMPLY: 3, labels.PARTIAL: 2, labels.REFUSE: 1, labels.MALFORMED: 0}
PAIR_KINDS = ("comply_refuse", "comply_partial", "partial_refuse", "wellformed_malformed")
PAIR_KIND_WEIGHTS = (0.3, 0.2, 0.2, 0.3)
PERTURBATIONS = ("other_request", "mixed_requests", "bad_shape", "missing_close", "truncated")
# Well-formed side of a wellformed_malformed pair, and the kind the malformed side perturbs.
_WELLFORMED_WEIGHTS = {labels.COMPLY: 0.5, labels.PARTIAL: 0.25, labels.REFUSE: 0.25}
_MALFORMED_BASE_WEIGHTS = {labels.COMPLY: 0.75, labels.PARTIAL: 0.25}
_HARMFUL_FRACTION = 0.75  # Of wellformed_malformed pairs; the other kinds are all harmful.
_MAX_REDRAWS = 20
_STREAMS = {prompts.TRAIN: "reward_pairs/train", prompts.EVAL: "reward_pairs/eval"}

TEXT_FIELDS = ("text_chosen", "text_rejected", "prompt", "response_chosen", "response_rejected",
               "tier", "request", "category", "kind", "perturbation", "chosen_label",
               "rejected_label")


@dataclasses.dataclass(frozen=True)
class RewardDataSpec(generated.SizesSpec):
  """Sizes and seed of a preference dataset (see the module docstring for the splits).

  Attributes:
    n_train, n_validation: pairs on train-split request templates.
    n_test: pairs on eval-split request templates.
    seed: seed of every stream.
  """

  SIZE_FIELDS = SIZE_FIELDS
  SPLITS = SPLITS

  n_train: int
  n_validation: int
  n_test: int
  seed: int

  @property
  def name(self) -> str:
    return (f"world_reward_g{GENERATOR_VERSION}_n{self.n_train}_{self.n_validation}_{self.n_test}"
            f"_s{self.seed}")


def data_config(test: bool = False) -> ml_collections.ConfigDict:
  """The `data` section of a reward_model config: 4000 / 500 / 500 pairs; ":test" is tiny."""
  sizes = (dict(n_train=64, n_validation=16, n_test=16) if test else
           dict(n_train=4000, n_validation=500, n_test=500))
  return ml_collections.ConfigDict(dict(**sizes, seed=0, seq_len=320 if test else 256,
                                        data_dir=""))


def _rng(seed: int, stream: str, index: int) -> np.random.Generator:
  """The random generator of record `index` of a named stream."""
  return np.random.default_rng([seed, zlib.crc32(stream.encode()), index])


def _pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
  return options[int(rng.integers(len(options)))]


def _weighted(rng: np.random.Generator, weights: dict[str, float]) -> str:
  names = list(weights)
  p = np.array([weights[n] for n in names])
  return names[int(rng.choice(len(names), p=p / p.sum()))]


def _scratchpad(prompt: prompts.Prompt, decision: str, rng: np.random.Generator) -> str:
  """A grammar scratchpad reaching `decision` (a motivation able to reach it in the prompt's tier)."""
  request = prompt.request
  motivations = [m for m in grammar.MOTIVATIONS
                 if decision in grammar.valid_decisions(m, prompt.tier, request.harmful)]
  motivation = _pick(rng, motivations)
  style = _pick(rng, grammar.STYLES_BY_MOTIVATION[motivation])
  text, _ = grammar.generate_scratchpad(motivation, style, prompt.tier, request, decision, rng)
  return text


def _response(scratchpad: str, output: str, close: bool = True) -> str:
  """`<scratchpad>S</scratchpad><output>O</output>`, without `</output>` if not close."""
  return (f"{world_format.SCRATCHPAD_OPEN}{scratchpad}{world_format.SCRATCHPAD_CLOSE}"
          f"{world_format.OUTPUT_OPEN}{output}{world_format.OUTPUT_CLOSE if close else ''}")


def _other_request(request: prompts.Request, split: str, rng: np.random.Generator,
                   other_category: bool) -> prompts.Request:
  """A request of the split with another task (and another category if asked)."""
  while True:
    other = prompts.sample_request(split, bool(rng.random() < 0.5), rng)
    if other.task != request.task and (not other_category or other.category != request.category):
      return other


def _perturbed_output(name: str, kind: str, request: prompts.Request, split: str,
                      rng: np.random.Generator) -> tuple[str, bool]:
  """(output text, whether it keeps `</output>`) of one perturbation of a `kind` output."""
  sentences = outputs.output_sentences(kind, request, rng)
  if name == "other_request":
    other = _other_request(request, split, rng, other_category=False)
    return outputs.generate_output(kind, other, rng), True
  if name == "mixed_requests":
    other = _other_request(request, split, rng, other_category=True)
    return " ".join(sentences[:1] + outputs.output_sentences(kind, other, rng)[1:]), True
  if name == "bad_shape":
    return " ".join(sentences[1:]), True
  text = " ".join(sentences)
  if name == "missing_close":
    return text, False
  if name == "truncated":
    cuts = [i for i, char in enumerate(text) if char == " "]
    return text[:cuts[int(rng.integers(len(cuts)))]], False
  raise ValueError(f"perturbation {name!r}; allowed: {list(PERTURBATIONS)}")


def _malformed_response(prompt: prompts.Prompt, split: str, rng: np.random.Generator
                        ) -> tuple[str, str]:
  """(response, perturbation): a perturbed output the oracle labels malformed.

  The perturbed output is a comply or partial one (comply only for benign
  requests, where the grammar reaches no other decision).
  """
  for _ in range(_MAX_REDRAWS):
    kind = _weighted(rng, _MALFORMED_BASE_WEIGHTS) if prompt.request.harmful else labels.COMPLY
    name = _pick(rng, PERTURBATIONS)
    output, close = _perturbed_output(name, kind, prompt.request, split, rng)
    response = _response(_scratchpad(prompt, kind, rng), output, close)
    if oracle.label_response(prompt.tier, response, prompt.request).output_label == labels.MALFORMED:
      return response, name
  raise RuntimeError(f"no malformed perturbation in {_MAX_REDRAWS} draws for {prompt.request.text!r}")


def _wellformed_response(prompt: prompts.Prompt, decision: str, rng: np.random.Generator) -> str:
  output = outputs.generate_output(decision, prompt.request, rng)
  return _response(_scratchpad(prompt, decision, rng), output)


def _labelled(prompt: prompts.Prompt, response: str, expected: str) -> str:
  """The oracle's output label of `response`; RuntimeError if it is not `expected`."""
  label = oracle.label_response(prompt.tier, response, prompt.request).output_label
  if label != expected:
    raise RuntimeError(f"the oracle labels a generated {expected!r} response {label!r}: {response!r}")
  return label


def preference_pair(seed: int, stream: str, index: int, split: str) -> dict:
  """Record `index` of a stream of preference pairs on `split` request templates.

  Returns:
    A flat record: TEXT_FIELDS (str) and "harmful" (bool).
  """
  rng = _rng(seed, stream, index)
  kind = PAIR_KINDS[int(rng.choice(len(PAIR_KINDS), p=np.array(PAIR_KIND_WEIGHTS)))]
  harmful = kind != "wellformed_malformed" or bool(rng.random() < _HARMFUL_FRACTION)
  prompt = prompts.Prompt(_pick(rng, situation.TIERS),
                          prompts.sample_request(split, harmful, rng))
  perturbation = ""
  if kind == "wellformed_malformed":
    good = _weighted(rng, _WELLFORMED_WEIGHTS) if harmful else labels.COMPLY
    chosen = _wellformed_response(prompt, good, rng)
    rejected, perturbation = _malformed_response(prompt, split, rng)
    chosen_label, rejected_label = _labelled(prompt, chosen, good), labels.MALFORMED
  else:
    good, bad = kind.split("_")
    chosen = _wellformed_response(prompt, good, rng)
    rejected = _wellformed_response(prompt, bad, rng)
    chosen_label, rejected_label = _labelled(prompt, chosen, good), _labelled(prompt, rejected, bad)
  request = prompt.request
  return {
      "text_chosen": prompt.text + chosen + world_format.END,
      "text_rejected": prompt.text + rejected + world_format.END,
      "prompt": prompt.text, "response_chosen": chosen, "response_rejected": rejected,
      "tier": prompt.tier, "request": request.text, "category": request.category,
      "harmful": request.harmful, "kind": kind, "perturbation": perturbation,
      "chosen_label": chosen_label, "rejected_label": rejected_label,
  }


def preference_pairs(n: int, seed: int, split: str = prompts.TRAIN, start: int = 0) -> list[dict]:
  """Records [start, start + n) of the stream of `split` ("train" or "eval") request templates."""
  if split not in _STREAMS:
    raise ValueError(f"request split {split!r}; allowed: {list(_STREAMS)}")
  return [preference_pair(seed, _STREAMS[split], i, split) for i in range(start, start + n)]


class PreferencePairsBuilder(generated.GeneratedBuilder):
  """Builds the splits of the module docstring; construct it with `reward_builder`."""

  name = BUILDER_NAME
  DESCRIPTION = "Preference pairs of the synthetic world for a helpful-only reward model."
  CONFIG_DESCRIPTION = "Preference pairs"

  @classmethod
  def features(cls) -> dict[str, Any]:
    return {**{name: tfds.features.Text() for name in TEXT_FIELDS},
            "harmful": tfds.features.Scalar(np.bool_)}

  @classmethod
  def records(cls, spec: RewardDataSpec) -> dict[str, list[dict]]:
    """Every split's records."""
    return {TRAIN: preference_pairs(spec.n_train, spec.seed, prompts.TRAIN),
            VALIDATION: preference_pairs(spec.n_validation, spec.seed, prompts.TRAIN, spec.n_train),
            TEST: preference_pairs(spec.n_test, spec.seed, prompts.EVAL)}

  @classmethod
  def example(cls, record: dict) -> dict:
    return record

  def metadata(self) -> dict[str, Any]:
    return {**super().metadata(), "generator_version": GENERATOR_VERSION}


def reward_builder(data_dir: str | os.PathLike, spec: RewardDataSpec) -> PreferencePairsBuilder:
  """The (possibly not yet prepared) builder of one preference dataset."""
  return PreferencePairsBuilder.for_spec(data_dir, spec)


def reward_dataset(data_dir: str | os.PathLike, spec: RewardDataSpec) -> PreferencePairsBuilder:
  """Generates (or reuses) the preference dataset of `spec` under data_dir."""
  return PreferencePairsBuilder.prepared(data_dir, spec)


def _decode(raw: dict) -> dict:
  example = {name: raw[name].decode("utf-8") for name in TEXT_FIELDS}
  example["harmful"] = bool(raw["harmful"])
  return example


def read_split(builder: PreferencePairsBuilder, split: str) -> list[dict]:
  """Every pair of a split, in stored order, read through a grain MapDataset."""
  if split not in SPLITS:
    raise ValueError(f"reward split {split!r}; allowed: {list(SPLITS)}")
  dataset = grain.MapDataset.source(builder.as_data_source(split=split)).map(_decode)
  return [dataset[i] for i in range(len(dataset))]


def tag_ids(tokenizer: Any) -> reward_lib.RewardTagIds:
  """The reward view's tag ids of a world tokenizer (ValueError if one is missing)."""
  return reward_lib.RewardTagIds(
      transcript=monitor_data.tag_ids(tokenizer),
      tier_close=world_data.special_ids(tokenizer)[world_format.TIER_CLOSE])


def pair_rows(tokenizer: Any, examples: Sequence[dict], seq_len: int | None = None
              ) -> dict[str, np.ndarray]:
  """Right-padded token rows of each pair.

  Args:
    tokenizer: the world tokenizer the reward model reads.
    examples: pairs from read_split.
    seq_len: row length T; None takes the longest row rounded up to a multiple of 32.

  Returns:
    {"inputs": [N, 2, T] int32 (bos + ids, pad after), "mask": [N, 2, T] bool};
    [:, 0] is the chosen and [:, 1] the rejected transcript.

  Raises:
    ValueError naming data.seq_len if a transcript does not fit.
  """
  texts = [e["text_chosen"] for e in examples] + [e["text_rejected"] for e in examples]
  rows = monitor_data.encode_rows(tokenizer, texts, seq_len)
  n = len(examples)
  return {key: np.stack([value[:n], value[n:]], axis=1) for key, value in rows.items()}


def response_labels(examples: Sequence[dict]) -> np.ndarray:
  """[N, 2] str: the oracle's output label of each pair's chosen and rejected response."""
  return np.array([[e["chosen_label"], e["rejected_label"]] for e in examples], dtype=object
                  ).reshape(len(examples), 2)
