"""Tests for the TFDS text-corpus builder (array_record, no TensorFlow)."""

import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap

import pytest

from afjax.data import builders
from afjax.data import corpus

NUM_DOCUMENTS = 40
VALIDATION_FRACTION = 0.25
SEED = 7


def _documents():
  return corpus.generate_lm_corpus(NUM_DOCUMENTS, seed=SEED)


def _fail_if_called():
  raise AssertionError("documents_fn must not be called when reusing a dataset")


def _build(data_dir, documents_fn=_documents, version="1.0.0", name="tiny"):
  return builders.build_text_dataset(
    data_dir,
    name=name,
    documents_fn=documents_fn,
    version=version,
    validation_fraction=VALIDATION_FRACTION,
    seed=SEED,
  )


def _file_mtimes(directory):
  return {
    entry.name: entry.stat().st_mtime_ns for entry in os.scandir(directory)
  }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="module")
def builder(data_dir):
  return _build(data_dir)


def test_writes_array_record_files_under_name_and_version(builder, data_dir):
  expected_dir = os.path.join(data_dir, "text_corpus", "tiny", "1.0.0")
  assert os.fspath(builder.data_dir) == expected_dir
  files = os.listdir(expected_dir)
  for split in builders.SPLITS:
    assert any(f.startswith(f"text_corpus-{split}.array_record") for f in files)


def test_reads_back_the_split_documents_in_order(builder):
  train, validation = builders.split_documents(
    _documents(), VALIDATION_FRACTION, SEED
  )
  assert builders.read_documents(builder, "train") == train
  assert builders.read_documents(builder, "validation") == validation
  assert len(validation) == round(VALIDATION_FRACTION * NUM_DOCUMENTS)
  assert sorted(train + validation) == sorted(_documents())


def test_text_source_gives_random_access_bytes(builder):
  source = builders.text_source(builder, "validation")
  assert len(source) == round(VALIDATION_FRACTION * NUM_DOCUMENTS)
  assert isinstance(source[0]["text"], bytes)


def test_rebuild_reuses_files_without_calling_documents_fn(builder, data_dir):
  before = _file_mtimes(builder.data_dir)
  rebuilt = _build(data_dir, documents_fn=_fail_if_called)
  assert os.fspath(rebuilt.data_dir) == os.fspath(builder.data_dir)
  assert _file_mtimes(rebuilt.data_dir) == before
  assert builders.read_documents(rebuilt, "train") == builders.read_documents(
    builder, "train"
  )


def test_new_version_builds_a_new_directory(builder, data_dir):
  changed = ["a changed generator output"] * 8
  rebuilt = _build(data_dir, documents_fn=lambda: changed, version="1.1.0")
  assert os.fspath(rebuilt.data_dir) != os.fspath(builder.data_dir)
  assert os.fspath(rebuilt.data_dir).endswith(os.path.join("tiny", "1.1.0"))
  assert set(builders.read_documents(rebuilt, "train")) == {changed[0]}
  assert os.path.isdir(builder.data_dir)


def test_reuse_with_other_split_parameters_raises(builder, data_dir):
  with pytest.raises(ValueError, match="validation_fraction"):
    builders.build_text_dataset(
      data_dir, "tiny", _fail_if_called, "1.0.0", validation_fraction=0.5, seed=SEED
    )


def test_empty_split_raises(tmp_path):
  with pytest.raises(ValueError, match="'validation' would be empty"):
    _build(tmp_path, documents_fn=lambda: ["one", "two"])


def test_non_string_documents_raise(tmp_path):
  with pytest.raises(ValueError, match="documents_fn must return strings"):
    _build(tmp_path, documents_fn=lambda: ["ok", b"bytes", "ok", "ok", "ok"])


@pytest.mark.parametrize(
  "overrides, field",
  [
    (dict(name="bad/name"), "name"),
    (dict(name=""), "name"),
    (dict(version="1.0"), "version"),
    (dict(validation_fraction=0.0), "validation_fraction"),
    (dict(validation_fraction=1.0), "validation_fraction"),
    (dict(seed=-1), "seed"),
  ],
)
def test_bad_arguments_raise_value_error_naming_the_field(tmp_path, overrides, field):
  arguments = dict(
    data_dir=tmp_path, name="ok", documents_fn=_documents, version="1.0.0",
    validation_fraction=0.1, seed=0,
  )
  arguments.update(overrides)
  with pytest.raises(ValueError, match=field):
    builders.build_text_dataset(**arguments)


def test_a_damaged_dataset_file_is_named_with_the_fix(tmp_path):
  damaged = _build(tmp_path)
  train_file = next(pathlib.Path(damaged.data_dir).glob("text_corpus-train.array_record*"))
  train_file.write_bytes(train_file.read_bytes()[:100] + b"\0" * 64)
  with pytest.raises(RuntimeError, match=r"the dataset at .*tiny/1.0.0 cannot be read .*delete "
                                         r"that directory and rerun"):
    builders.read_documents(damaged, "train")


def test_bad_split_name_raises(builder):
  with pytest.raises(ValueError, match="split must be one of"):
    builders.read_documents(builder, "test")


def test_lm_corpus_dataset_is_keyed_by_corpus_version(tmp_path):
  lm_builder = builders.build_lm_corpus_dataset(tmp_path, num_documents=20, seed=1)
  assert os.fspath(lm_builder.data_dir).endswith(
    os.path.join("lm_corpus_n20_s1", corpus.CORPUS_VERSION)
  )
  train = builders.read_documents(lm_builder, "train")
  validation = builders.read_documents(lm_builder, "validation")
  assert sorted(train + validation) == sorted(corpus.generate_lm_corpus(20, seed=1))


def test_building_and_reading_never_imports_tensorflow(tmp_path):
  script = textwrap.dedent(
    f"""
        import sys
        from afjax.data import builders, corpus, loaders, tokenizer
        builder = builders.build_lm_corpus_dataset({os.fspath(tmp_path)!r}, 30, seed=0)
        source = builders.text_source(builder, "train")
        tok = tokenizer.train_tokenizer(builders.read_documents(builder, "train"), 300)
        batches = loaders.LMBatches.from_source(source, tok, 16, 2, seed=0)
        batches.get_batch(5)
        leaked = sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")
        assert not leaked, leaked
        """
  )
  repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  result = subprocess.run(
    [sys.executable, "-c", script], cwd=repo_root, capture_output=True, text=True
  )
  assert result.returncode == 0, result.stderr[-2000:]
  assert "tensorflow" not in sys.modules


def test_building_leaves_nothing_in_the_system_temp_dir(tmp_path, monkeypatch):
  system_tmp = tmp_path / "system_tmp"
  system_tmp.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
  _build(tmp_path / "data", name="no_leak")
  assert os.listdir(system_tmp) == []
