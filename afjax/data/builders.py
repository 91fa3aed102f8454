"""TFDS builder that stores text documents as array_record train/validation splits.

The documents come from a caller-supplied zero-argument function, so the same
builder serves the synthetic language-model corpus now and the alignment-faking
world's corpus later. Datasets are stored at

    data_dir/text_corpus/<name>/<version>/

where `version` is the version of the generator that produced the documents
(e.g. `afjax.data.corpus.CORPUS_VERSION`). A changed generator with a bumped
version therefore lands in a new directory instead of reusing stale files, and
building again with the same name and version reuses the existing files without
calling the generator.

Everything here works without TensorFlow: TFDS writes and reads array_record
files, and `as_data_source` returns random-access sources for `grain`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from afjax.data import corpus
from afjax.parallel import multihost

DocumentsFn = Callable[[], Iterable[str]]

BUILDER_NAME = "text_corpus"
TRAIN_SPLIT = "train"
VALIDATION_SPLIT = "validation"
SPLITS = (TRAIN_SPLIT, VALIDATION_SPLIT)
TEXT_FEATURE = "text"

_DATASET_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")
# Split parameters recorded in metadata.json to detect a stale reuse.
_METADATA_VALIDATION_FRACTION = "validation_fraction"
_METADATA_SPLIT_SEED = "split_seed"


class LocalDatasetInfo(tfds.core.DatasetInfo):
  """DatasetInfo of a dataset that only ever exists locally.

  TFDS asks the public GCS bucket for precomputed metadata whenever a builder's
  directory is not prepared yet; with GCS access disabled that lookup returns
  nothing but leaves an empty `tmp*tfds` directory in the system temp dir,
  one per builder constructed. The datasets here are generated, never hosted.
  """

  def initialize_from_bucket(self) -> None:
    """Nothing to fetch: the dataset is generated on this machine."""


@dataclasses.dataclass(eq=False)
class TextCorpusConfig(tfds.core.BuilderConfig):
  """Config of one `TextCorpusBuilder` dataset.

  Attributes:
    documents_fn: Zero-argument function returning the documents; called once
      when the dataset is generated, never when it is reused.
    validation_fraction: Fraction of documents (rounded to the nearest count)
      that go to the validation split, in (0, 1).
    split_seed: Seed of the random assignment of documents to splits.
  """

  documents_fn: DocumentsFn | None = None
  validation_fraction: float = 0.1
  split_seed: int = 0


def split_documents(
  documents: Sequence[str], validation_fraction: float, seed: int
) -> tuple[list[str], list[str]]:
  """Randomly assigns documents to a train and a validation split.

  `round(validation_fraction * len(documents))` documents, chosen by a
  permutation from `numpy.random.default_rng(seed)`, form the validation
  split; the rest form the train split. Both keep the documents' input order.

  Args:
    documents: All documents.
    validation_fraction: Fraction of documents for validation, in (0, 1).
    seed: Non-negative seed of the assignment.

  Returns:
    (train documents, validation documents).

  Raises:
    ValueError: If `validation_fraction` is outside (0, 1) or a split would be
      empty.
  """
  _check_validation_fraction(validation_fraction)
  num_documents = len(documents)
  num_validation = int(round(validation_fraction * num_documents))
  num_train = num_documents - num_validation
  for split, size in ((TRAIN_SPLIT, num_train), (VALIDATION_SPLIT, num_validation)):
    if size == 0:
      raise ValueError(
        f"Split {split!r} would be empty: {num_documents} documents with "
        f"validation_fraction={validation_fraction}. Provide more "
        "documents or change validation_fraction."
      )
  permutation = np.random.default_rng(seed).permutation(num_documents)
  is_validation = np.zeros(num_documents, dtype=bool)
  is_validation[permutation[:num_validation]] = True
  train = [doc for doc, val in zip(documents, is_validation) if not val]
  validation = [doc for doc, val in zip(documents, is_validation) if val]
  return train, validation


class TextCorpusBuilder(tfds.core.GeneratorBasedBuilder):
  """Builds `{"text": Text}` train/validation splits from a documents function.

  Always construct it with a `TextCorpusConfig`; `build_text_dataset` does so.
  Examples keep the order of the documents (shuffling is left to the loader).
  """

  name = BUILDER_NAME

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    """Returns the path of this module.

    TFDS's default derives it through `importlib_resources`, which TFDS
    needs but does not declare on Python >= 3.9 (tensorflow/datasets#11212),
    so any builder defined inside a package fails there without it.
    """
    return epath.Path(__file__)

  def _info(self) -> tfds.core.DatasetInfo:
    """Declares the single text feature and the split parameters."""
    return LocalDatasetInfo(
      builder=self,
      description="Text documents for language modelling.",
      features=tfds.features.FeaturesDict(
        {TEXT_FEATURE: tfds.features.Text()}
      ),
      disable_shuffling=True,
      metadata=tfds.core.MetadataDict(
        {
          _METADATA_VALIDATION_FRACTION: self.builder_config.validation_fraction,
          _METADATA_SPLIT_SEED: self.builder_config.split_seed,
        }
      ),
    )

  def _split_generators(self, dl_manager):
    """Calls the documents function once and splits its output."""
    del dl_manager  # Nothing is downloaded.
    config = self.builder_config
    documents = _materialize_documents(config.documents_fn)
    train, validation = split_documents(
      documents, config.validation_fraction, config.split_seed
    )
    return {
      TRAIN_SPLIT: self._generate_examples(train),
      VALIDATION_SPLIT: self._generate_examples(validation),
    }

  def _generate_examples(self, documents: Sequence[str]):
    """Yields (index, {"text": document}) in document order."""
    for index, document in enumerate(documents):
      yield index, {TEXT_FEATURE: document}


def _materialize_documents(documents_fn: DocumentsFn | None) -> list[str]:
  """Calls `documents_fn` and checks that it returned a list of strings."""
  if documents_fn is None or not callable(documents_fn):
    raise ValueError(
      f"documents_fn must be a zero-argument callable, got {documents_fn!r}."
    )
  documents = list(documents_fn())
  for index, document in enumerate(documents):
    if not isinstance(document, str):
      raise ValueError(
        f"documents_fn must return strings, but document {index} is a "
        f"{type(document).__name__}."
      )
  return documents


def _check_validation_fraction(validation_fraction: float) -> None:
  """Raises ValueError unless 0 < validation_fraction < 1."""
  if not isinstance(validation_fraction, (int, float)) or not (
    0.0 < validation_fraction < 1.0
  ):
    raise ValueError(
      "validation_fraction must be a number strictly between 0 and 1, "
      f"got {validation_fraction!r}."
    )


def _check_build_arguments(name: str, version: str, seed: int) -> None:
  """Raises ValueError naming the first malformed dataset argument."""
  if not isinstance(name, str) or not _DATASET_NAME_PATTERN.match(name):
    raise ValueError(
      "name must be a non-empty string of letters, digits, '_', '.' or "
      f"'-' (not starting with '.' or '-'), got {name!r}."
    )
  if not isinstance(version, str) or not _VERSION_PATTERN.match(version):
    raise ValueError(
      f"version must be a 'MAJOR.MINOR.PATCH' string such as '1.0.0', "
      f"got {version!r}."
    )
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
    raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")


def _check_split_parameters_match(
  builder: TextCorpusBuilder, validation_fraction: float, seed: int
) -> None:
  """Raises ValueError if an existing dataset was split differently."""
  stored = builder.info.metadata
  requested = {
    _METADATA_VALIDATION_FRACTION: validation_fraction,
    _METADATA_SPLIT_SEED: seed,
  }
  stored_subset = {key: stored.get(key) for key in requested}
  if stored_subset != requested:
    raise ValueError(
      f"The dataset at {os.fspath(builder.data_dir)!r} was built with "
      f"{stored_subset}, but {requested} was requested. Use a new name or "
      "version for different split parameters."
    )


def text_corpus_builder(
  data_dir: str | os.PathLike[str],
  name: str,
  documents_fn: DocumentsFn | None,
  version: str,
  validation_fraction: float = 0.1,
  seed: int = 0,
) -> TextCorpusBuilder:
  """Returns the (possibly not yet prepared) builder for one text dataset.

  Args:
    data_dir: Root directory of TFDS datasets.
    name: Dataset (config) name, e.g. "lm_corpus_n2000_s0".
    documents_fn: Zero-argument function returning the documents. Only
      needed if the dataset still has to be generated.
    version: "MAJOR.MINOR.PATCH" version of the documents' generator.
    validation_fraction: Fraction of documents for validation, in (0, 1).
    seed: Non-negative seed of the train/validation assignment.

  Raises:
    ValueError: If an argument is malformed.
  """
  _check_build_arguments(name, version, seed)
  _check_validation_fraction(validation_fraction)
  config = TextCorpusConfig(
    name=name,
    version=version,
    description=f"Text corpus {name!r} from generator version {version}.",
    documents_fn=documents_fn,
    validation_fraction=float(validation_fraction),
    split_seed=int(seed),
  )
  return TextCorpusBuilder(
    data_dir=os.fspath(data_dir), config=config, file_format="array_record"
  )


def build_text_dataset(
  data_dir: str | os.PathLike[str],
  name: str,
  documents_fn: DocumentsFn,
  version: str,
  validation_fraction: float = 0.1,
  seed: int = 0,
) -> TextCorpusBuilder:
  """Generates (or reuses) a text dataset with train and validation splits.

  The files go to `data_dir/text_corpus/<name>/<version>/` as array_record.
  If that directory already holds a prepared dataset, it is reused and
  `documents_fn` is not called, so bump `version` whenever the generator's
  output changes.

  Args:
    data_dir: Root directory of TFDS datasets.
    name: Dataset (config) name; letters, digits, '_', '.', '-'.
    documents_fn: Zero-argument function returning the documents (strings).
    version: "MAJOR.MINOR.PATCH" version of the documents' generator.
    validation_fraction: Fraction of documents for validation, in (0, 1).
    seed: Non-negative seed of the train/validation assignment.

  Returns:
    The prepared builder; read it with `text_source` or `read_documents`.

  Raises:
    ValueError: If an argument is malformed, `documents_fn` returns
      non-strings, a split would be empty, or an existing dataset with this
      name and version was split with other parameters.
  """
  def prepare():
    builder = text_corpus_builder(
      data_dir, name, documents_fn, version, validation_fraction, seed
    )
    builder.download_and_prepare(
      download_dir=os.path.join(os.fspath(data_dir), "downloads")
    )
    return builder

  builder = multihost.primary_first(prepare, f"dataset {name}")  # one writer of shared files
  _check_split_parameters_match(builder, float(validation_fraction), int(seed))
  return builder


def lm_corpus_dataset_name(num_documents: int, seed: int) -> str:
  """Returns the dataset name of the synthetic LM corpus with these arguments."""
  return f"lm_corpus_n{num_documents}_s{seed}"


def build_lm_corpus_dataset(
  data_dir: str | os.PathLike[str],
  num_documents: int,
  seed: int = 0,
  validation_fraction: float = 0.1,
) -> TextCorpusBuilder:
  """Builds (or reuses) the synthetic LM corpus of `afjax.data.corpus`.

  The name encodes `num_documents` and `seed`, and the version is
  `corpus.CORPUS_VERSION`, so every distinct corpus has its own directory.
  The same `seed` drives the generator and the train/validation split.
  """
  documents_fn = functools.partial(
    corpus.generate_lm_corpus, num_documents=num_documents, seed=seed
  )
  return build_text_dataset(
    data_dir,
    name=lm_corpus_dataset_name(num_documents, seed),
    documents_fn=documents_fn,
    version=corpus.CORPUS_VERSION,
    validation_fraction=validation_fraction,
    seed=seed,
  )


def _check_split_name(split: str) -> None:
  """Raises ValueError unless `split` is one of `SPLITS`."""
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")


def text_source(builder: TextCorpusBuilder, split: str) -> Sequence[dict]:
  """Returns a random-access source of `{"text": bytes}` examples of a split.

  The source (a TFDS `ArrayRecordDataSource`) supports `len` and `[i]`, and
  can be fed to `grain.MapDataset.source` or `loaders.tokenize_and_pack`.
  """
  _check_split_name(split)
  try:
    return builder.as_data_source(split=split)
  except RuntimeError as err:
    raise _unreadable(builder, err) from err


def read_documents(builder: TextCorpusBuilder, split: str) -> list[str]:
  """Returns every document of `split`, in stored order, as `str`."""
  source = text_source(builder, split)
  try:
    return [source[i][TEXT_FEATURE].decode("utf-8") for i in range(len(source))]
  except RuntimeError as err:
    raise _unreadable(builder, err) from err


def _unreadable(builder: TextCorpusBuilder, err: Exception) -> RuntimeError:
  """The error for a prepared dataset whose files cannot be read (damaged or missing)."""
  return RuntimeError(f"the dataset at {builder.data_path} cannot be read ({_first_line(err)}); "
                      "delete that directory and rerun to have it built again")


def _first_line(err: Exception) -> str:
  return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
