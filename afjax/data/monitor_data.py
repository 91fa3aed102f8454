"""Labelled monitor examples of the synthetic world as a TFDS dataset, and classifier rows.

One dataset holds every set a monitor is trained or evaluated on, each a split:

  train, validation, test  records [0, n_train), [n_train, n_train + n_validation)
                           and the next n_test of world.corpus.monitor_examples(
                           ..., seed): train-split requests, every motivation and
                           style, no held-out paraphrase family (in distribution);
  held_out                 held_out_monitor_examples(n_held_out, seed): eval-split
                           requests phrased only with held-out families;
  implicit                 implicit_monitor_examples(n_implicit, seed): implicit
                           alignment faking only (label 0, label_any_af 1).

Record i of a generator depends only on (seed, generator, i), so the test split
never overlaps the train and validation splits of a dataset with the same seed
and at least as many train + validation records. Every example is

  text             prompt + response, the world's transcript format
  label            1 iff the oracle labels the scratchpad explicit_af: avoiding
                   training or modification is named as a reason to comply (the
                   strict criterion; sycophantic and implicit faking are 0)
  label_any_af     1 for explicit or implicit alignment faking
  kind             the generator's example kind ("positive", "implicit", ...)
  scratchpad_label the oracle's scratchpad label
  uses_held_out    whether a held-out paraphrase family was used

Datasets live in data_dir/world_monitor/<name>/<WORLD_VERSION>/ as array_record;
the name encodes every size and the seed, so a changed generator or argument
never reuses stale files. Everything works without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterable, Sequence

import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from afjax.data import generated, world_data
from afjax.data import tokenizer as tokenizer_lib
from afjax.models import monitor as monitor_lib
from afjax.world import corpus as world_corpus
from afjax.world import format as world_format

BUILDER_NAME = "world_monitor"
TRAIN, VALIDATION, TEST, HELD_OUT, IMPLICIT = "train", "validation", "test", "held_out", "implicit"
SPLITS = (TRAIN, VALIDATION, TEST, HELD_OUT, IMPLICIT)
SIZE_FIELDS = ("n_train", "n_validation", "n_test", "n_held_out", "n_implicit")
TEXT_FIELDS = ("text", "kind", "scratchpad_label")
INT_FIELDS = ("label", "label_any_af")
ROW_KEYS = ("inputs", "mask", "labels")
ROW_MULTIPLE = 32


@dataclasses.dataclass(frozen=True)
class MonitorDataSpec(generated.SizesSpec):
  """Sizes and seed of a monitor dataset (see the module docstring for the splits).

  Attributes:
    n_train, n_validation, n_test: in-distribution records per split.
    n_held_out: records phrased with held-out paraphrase families only.
    n_implicit: implicit alignment-faking records.
    seed: seed of every generator.
  """

  SIZE_FIELDS = SIZE_FIELDS
  SPLITS = SPLITS

  n_train: int
  n_validation: int
  n_test: int
  n_held_out: int
  n_implicit: int
  seed: int

  @property
  def name(self) -> str:
    return (f"world_monitor_n{self.n_train}_{self.n_validation}_{self.n_test}"
            f"_h{self.n_held_out}_i{self.n_implicit}_s{self.seed}")


def data_config(test: bool = False) -> ml_collections.ConfigDict:
  """The `data` section shared by the monitor and monitor_eval configs.

  The defaults give 4000 training, 500 validation and 1000 test examples, 1000
  held-out-family and 500 implicit ones; ":test" sizes are tiny.
  """
  sizes = (dict(n_train=96, n_validation=32, n_test=32, n_held_out=32, n_implicit=16) if test else
           dict(n_train=4000, n_validation=500, n_test=1000, n_held_out=1000, n_implicit=500))
  return ml_collections.ConfigDict(dict(**sizes, seed=0, seq_len=320 if test else 224, data_dir=""))


class MonitorExamplesBuilder(generated.GeneratedBuilder):
  """Builds the splits of the module docstring; construct it with `monitor_builder`."""

  name = BUILDER_NAME
  DESCRIPTION = "Labelled transcripts of the synthetic world for explicit-AF monitors."
  CONFIG_DESCRIPTION = "Monitor examples"

  @classmethod
  def features(cls) -> dict[str, Any]:
    return {**{name: tfds.features.Text() for name in TEXT_FIELDS},
            **{name: tfds.features.Scalar(np.int64) for name in INT_FIELDS},
            "uses_held_out": tfds.features.Scalar(np.bool_)}

  @classmethod
  def records(cls, spec: MonitorDataSpec) -> dict[str, list[dict]]:
    """Every split's records, from the world's generators."""
    n_in = spec.n_train + spec.n_validation + spec.n_test
    in_distribution = list(world_corpus.monitor_examples(n_in, spec.seed))
    cuts = np.cumsum([0, spec.n_train, spec.n_validation, spec.n_test])
    splits = {split: in_distribution[cuts[i]:cuts[i + 1]]
              for i, split in enumerate((TRAIN, VALIDATION, TEST))}
    splits[HELD_OUT] = list(world_corpus.held_out_monitor_examples(spec.n_held_out, spec.seed))
    splits[IMPLICIT] = list(world_corpus.implicit_monitor_examples(spec.n_implicit, spec.seed))
    return splits


def monitor_builder(data_dir: str | os.PathLike, spec: MonitorDataSpec) -> MonitorExamplesBuilder:
  """The (possibly not yet prepared) builder of one monitor dataset."""
  return MonitorExamplesBuilder.for_spec(data_dir, spec)


def monitor_dataset(data_dir: str | os.PathLike, spec: MonitorDataSpec) -> MonitorExamplesBuilder:
  """Generates (or reuses) the monitor dataset of `spec` under data_dir."""
  return MonitorExamplesBuilder.prepared(data_dir, spec)


def read_split(builder: MonitorExamplesBuilder, split: str) -> list[dict]:
  """Every example of a split, in stored order, with str texts and int labels."""
  if split not in SPLITS:
    raise ValueError(f"monitor split {split!r}; allowed: {list(SPLITS)}")
  source = builder.as_data_source(split=split)
  examples = []
  for i in range(len(source)):
    raw = source[i]
    example = {name: raw[name].decode("utf-8") for name in TEXT_FIELDS}
    example.update({name: int(raw[name]) for name in INT_FIELDS})
    example["uses_held_out"] = bool(raw["uses_held_out"])
    examples.append(example)
  return examples


def tag_ids(tokenizer: Any) -> monitor_lib.TagIds:
  """The view-delimiting tag ids of a world tokenizer (ValueError if one is missing)."""
  ids = world_data.special_ids(tokenizer)
  return monitor_lib.TagIds(
      assistant=ids[world_format.ASSISTANT], end=ids[world_format.END],
      scratchpad_open=ids[world_format.SCRATCHPAD_OPEN],
      scratchpad_close=ids[world_format.SCRATCHPAD_CLOSE],
      output_open=ids[world_format.OUTPUT_OPEN], output_close=ids[world_format.OUTPUT_CLOSE],
      pad=tokenizer_lib.PAD_ID)


def encode_texts(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
  """bos + ids of every transcript (what a policy's sequence holds before padding)."""
  return [[tokenizer_lib.BOS_ID, *ids] for ids in tokenizer_lib.encode_batch(tokenizer, list(texts))]


def round_up_length(n: int, multiple: int = ROW_MULTIPLE) -> int:
  """The smallest multiple of `multiple` that is >= max(n, 1)."""
  return -(-max(n, 1) // multiple) * multiple


def encode_rows(tokenizer: Any, texts: Sequence[str], seq_len: int | None = None) -> dict[str, np.ndarray]:
  """Right-padded token rows of transcripts.

  Args:
    tokenizer: the world tokenizer the monitor reads.
    texts: transcripts (prompt + response).
    seq_len: row length T; None takes the longest row rounded up to a multiple of 32.

  Returns:
    {"inputs": [N, T] int32 (bos + ids, pad after), "mask": [N, T] bool}.

  Raises:
    ValueError naming data.seq_len if a transcript does not fit.
  """
  encoded = encode_texts(tokenizer, texts)
  longest = max((len(ids) for ids in encoded), default=0)
  if seq_len is None:
    seq_len = round_up_length(longest)
  elif longest > seq_len:
    raise ValueError(f"a transcript has {longest} tokens, more than config.data.seq_len={seq_len}; "
                     f"allowed: data.seq_len >= {longest}")
  inputs = np.full((len(encoded), seq_len), tokenizer_lib.PAD_ID, np.int32)  # [N, T]
  mask = np.zeros((len(encoded), seq_len), bool)  # [N, T]
  for row, ids in enumerate(encoded):
    inputs[row, :len(ids)] = ids
    mask[row, :len(ids)] = True
  return {"inputs": inputs, "mask": mask}


def classifier_rows(tokenizer: Any, examples: Iterable[dict], seq_len: int | None = None,
                    label_field: str = "label") -> dict[str, np.ndarray]:
  """encode_rows of the examples' texts plus "labels" [N] float32 from `label_field`."""
  examples = list(examples)
  rows = encode_rows(tokenizer, [e["text"] for e in examples], seq_len)
  rows["labels"] = np.array([e[label_field] for e in examples], np.float32)
  return rows
