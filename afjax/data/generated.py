"""TFDS datasets of records generated in Python from a spec of split sizes and a seed.

The monitor examples (afjax.data.monitor_data) and the preference pairs
(afjax.data.reward_data) are built this way. A spec is a frozen dataclass
deriving from `SizesSpec`: its `name` names the dataset and encodes every
field, and `GeneratedBuilder.records(spec)` generates every split's records.
A dataset lives in

    data_dir/<builder name>/<spec.name>/<WORLD_VERSION>/

as array_record, with the spec's fields in its metadata, so a changed
generator or argument never reuses stale files and a stale reuse is caught.
Everything works without TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Sequence

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from afjax.data import builders
from afjax.parallel import multihost
from afjax.world import corpus as world_corpus


class SizesSpec:
  """Checks, config reading and dict form of a frozen dataclass of split sizes and a seed.

  A subclass is a frozen dataclass whose fields are its SIZE_FIELDS (each an
  integer >= 1) and `seed` (an integer >= 0); SPLITS names the split of each
  size, in the same order.
  """

  SIZE_FIELDS: tuple[str, ...] = ()
  SPLITS: tuple[str, ...] = ()

  def __post_init__(self):
    for name in self.SIZE_FIELDS + ("seed",):
      value = getattr(self, name)
      if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (
          0 if name == "seed" else 1):
        raise ValueError(f"data.{name}={value!r}; allowed: an integer "
                         f"{'>= 0' if name == 'seed' else '>= 1'}")

  @classmethod
  def from_config(cls, data: Any):
    """The spec of a config's `data` section (fields SIZE_FIELDS and seed)."""
    return cls(**{name: data[name] for name in cls.SIZE_FIELDS + ("seed",)})

  def split_sizes(self) -> dict[str, int]:
    return {split: getattr(self, name) for split, name in zip(self.SPLITS, self.SIZE_FIELDS)}

  def as_dict(self) -> dict[str, int]:
    return dataclasses.asdict(self)


@dataclasses.dataclass(eq=False)
class SpecConfig(tfds.core.BuilderConfig):
  """Builder config carrying the dataset's spec."""

  spec: Any = None


class GeneratedBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Builds a dataset's splits from its spec; construct it with `for_spec` or `prepared`.

  A subclass sets `name` (the builder's directory), DESCRIPTION (of the
  stored features) and CONFIG_DESCRIPTION (a config is described as
  "<CONFIG_DESCRIPTION> <spec.name>."), and defines `features` and `records`.
  It may override `example` (what is stored of a record; by default the
  fields of `features`) and `metadata` (by default the spec's fields).
  """

  DESCRIPTION = ""
  CONFIG_DESCRIPTION = ""

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    """The subclass's module path (TFDS's default needs importlib_resources; see builders.py)."""
    return epath.Path(sys.modules[cls.__module__].__file__)

  @classmethod
  def features(cls) -> dict[str, Any]:
    """The stored features: {field: tfds feature}."""
    raise NotImplementedError

  @classmethod
  def records(cls, spec: Any) -> dict[str, Sequence[dict]]:
    """Every split's records, in stored order."""
    raise NotImplementedError

  @classmethod
  def example(cls, record: dict) -> dict:
    """The stored fields of one record."""
    return {name: record[name] for name in cls.features()}

  def metadata(self) -> dict[str, Any]:
    return self.builder_config.spec.as_dict()

  def _info(self) -> tfds.core.DatasetInfo:
    return builders.LocalDatasetInfo(
        builder=self,
        description=self.DESCRIPTION,
        features=tfds.features.FeaturesDict(self.features()),
        disable_shuffling=True,
        metadata=tfds.core.MetadataDict(self.metadata()),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing is downloaded.
    return {split: self._generate_examples(records)
            for split, records in self.records(self.builder_config.spec).items()}

  def _generate_examples(self, records: Sequence[dict]):
    for index, record in enumerate(records):
      yield index, self.example(record)

  @classmethod
  def for_spec(cls, data_dir: str | os.PathLike, spec: SizesSpec) -> "GeneratedBuilder":
    """The (possibly not yet prepared) builder of the dataset of `spec`."""
    config = SpecConfig(name=spec.name, version=world_corpus.WORLD_VERSION,
                        description=f"{cls.CONFIG_DESCRIPTION} {spec.name}.", spec=spec)
    return cls(data_dir=os.fspath(data_dir), config=config, file_format="array_record")

  @classmethod
  def prepared(cls, data_dir: str | os.PathLike, spec: SizesSpec) -> "GeneratedBuilder":
    """Generates (or reuses) the dataset of `spec` under data_dir.

    Raises:
      ValueError if a dataset stored there was built with other spec fields.
    """
    def prepare():
      builder = cls.for_spec(data_dir, spec)
      builder.download_and_prepare(download_dir=os.path.join(os.fspath(data_dir), "downloads"))
      return builder

    builder = multihost.primary_first(prepare, f"dataset {spec.name}")  # one writer of shared files
    stored = {key: builder.info.metadata.get(key) for key in spec.as_dict()}
    if stored != spec.as_dict():
      raise ValueError(f"the dataset at {os.fspath(builder.data_dir)!r} was built with {stored}, "
                       f"not {spec.as_dict()}; delete it")
    return builder
