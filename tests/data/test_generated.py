"""Datasets generated from a spec: spec checks, layout, metadata, reuse and stale-spec detection."""

import dataclasses

import numpy as np
import pytest
import tensorflow_datasets as tfds

from afjax.data import generated
from afjax.world import corpus as world_corpus


@dataclasses.dataclass(frozen=True)
class ToySpec(generated.SizesSpec):
  SIZE_FIELDS = ("n_a", "n_b")
  SPLITS = ("a", "b")

  n_a: int
  n_b: int
  seed: int

  @property
  def name(self) -> str:
    return f"toy_n{self.n_a}_{self.n_b}_s{self.seed}"


class ToyBuilder(generated.GeneratedBuilder):
  name = "generated_toy"
  DESCRIPTION = "Toy records."
  CONFIG_DESCRIPTION = "Toy"
  calls = 0

  @classmethod
  def features(cls):
    return {"text": tfds.features.Text(), "index": tfds.features.Scalar(np.int64)}

  @classmethod
  def records(cls, spec):
    cls.calls += 1
    return {split: [{"text": f"{split}{spec.seed}-{i}", "index": i, "unused": 0}
                    for i in range(spec.split_sizes()[split])] for split in spec.SPLITS}


def test_spec_checks_reads_config_and_sizes():
  spec = ToySpec.from_config({"n_a": 3, "n_b": 2, "seed": 0, "other": "ignored"})
  assert spec == ToySpec(3, 2, 0)
  assert spec.split_sizes() == {"a": 3, "b": 2} and spec.as_dict() == {"n_a": 3, "n_b": 2, "seed": 0}
  with pytest.raises(ValueError, match=r"data.n_b=0; allowed: an integer >= 1"):
    ToySpec(3, 0, 0)
  with pytest.raises(ValueError, match=r"data.seed=True; allowed: an integer >= 0"):
    ToySpec(3, 2, True)


def test_builds_once_then_reuses(tmp_path):
  spec = ToySpec(3, 2, 7)
  builder = ToyBuilder.prepared(tmp_path, spec)
  assert builder.data_dir == str(tmp_path / "generated_toy" / spec.name / world_corpus.WORLD_VERSION)
  assert dict(builder.info.metadata) == spec.as_dict()
  source = builder.as_data_source(split="a")
  assert [source[i]["text"].decode() for i in range(len(source))] == ["a7-0", "a7-1", "a7-2"]
  assert set(source[0]) == {"text", "index"}
  calls = ToyBuilder.calls
  again = ToyBuilder.prepared(tmp_path, spec)
  assert ToyBuilder.calls == calls and len(again.as_data_source(split="b")) == 2


def test_a_stale_dataset_is_refused(tmp_path):
  spec = ToySpec(1, 1, 0)
  ToyBuilder.prepared(tmp_path, spec)
  metadata = tmp_path / "generated_toy" / spec.name / world_corpus.WORLD_VERSION / "metadata.json"
  metadata.write_text('{"n_a": 5, "n_b": 1, "seed": 0}')
  with pytest.raises(ValueError, match=r"was built with \{'n_a': 5, 'n_b': 1, 'seed': 0\}"):
    ToyBuilder.prepared(tmp_path, spec)
