"""Workdirs, their config.json and the tokenizer copy (afjax.jobs.common)."""

import json
import shutil

import ml_collections
import pytest

from afjax import config as config_lib
from afjax.jobs import common


def job_config(job, **fields):
  return ml_collections.ConfigDict(dict(job=job, **fields))


def test_prepare_workdir_writes_the_config_only_where_there_is_none(tmp_path):
  workdir = common.prepare_workdir(job_config("lm", seed=0), tmp_path / "run")
  assert json.loads((workdir / "config.json").read_text()) == {"job": "lm", "seed": 0}
  common.prepare_workdir(job_config("lm", seed=1), workdir)  # a rerun: kept until it finishes
  assert json.loads((workdir / "config.json").read_text())["seed"] == 0
  common.record_config(job_config("lm", seed=1), workdir)
  assert json.loads((workdir / "config.json").read_text())["seed"] == 1


def test_prepare_workdir_refuses_another_jobs_workdir(tmp_path):
  common.prepare_workdir(job_config("sft"), tmp_path)
  with pytest.raises(config_lib.ConfigError, match=r"holds a 'sft' run .* not a 'organism_eval'"):
    common.prepare_workdir(job_config("organism_eval"), tmp_path)
  (tmp_path / "config.json").write_text("not json")
  with pytest.raises(config_lib.ConfigError, match="is not a JSON config"):
    common.prepare_workdir(job_config("sft"), tmp_path)
  assert (tmp_path / "config.json").read_text() == "not json"


def test_check_finished_workdir_names_the_field_and_the_missing_files(tmp_path):
  (tmp_path / "export").mkdir()
  common.check_finished_workdir(str(tmp_path), "config.x", ("export",), "configs/x.py")
  with pytest.raises(config_lib.ConfigError,
                     match=r"config.x: .* \(missing \['tokenizer.json'\]\); allowed: .*configs/x.py"):
    common.check_finished_workdir(str(tmp_path), "config.x", ("export", "tokenizer.json"),
                                  "configs/x.py")


def test_copy_tokenizer_checks_the_source_before_copying(base_workdir, tmp_path):
  for name in ("good", "w1", "w2"):
    (tmp_path / name).mkdir()
  path, sha = common.copy_tokenizer(base_workdir, tmp_path / "good", "base model")
  assert sha == common.file_sha256(base_workdir / "tokenizer.json") == common.file_sha256(path)

  damaged = tmp_path / "damaged_base"
  shutil.copytree(base_workdir, damaged)
  (damaged / "tokenizer.json").write_text('{"truncated": ')
  with pytest.raises(ValueError, match=f"base model's {damaged}/tokenizer.json does not load"):
    common.copy_tokenizer(damaged, tmp_path / "w1", "base model")
  assert not (tmp_path / "w1" / "tokenizer.json").exists()

  altered = tmp_path / "altered_base"  # loads, but is not the tokenizer the export was made with
  shutil.copytree(base_workdir, altered)
  spec = json.loads((altered / "tokenizer.json").read_text())
  spec["added_tokens"] = spec["added_tokens"][:-1]
  (altered / "tokenizer.json").write_text(json.dumps(spec))
  with pytest.raises(ValueError, match="is not the tokenizer its export was made with"):
    common.copy_tokenizer(altered, tmp_path / "w2", "base model")
  assert not (tmp_path / "w2" / "tokenizer.json").exists()
