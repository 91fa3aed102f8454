"""Base model -> organism SFT -> organism evaluation, at test size, through afjax.main."""

import json
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from afjax import config as config_lib
from afjax.jobs import organism
from afjax.world import organisms
from tests.configs_loader import load_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
HARMFUL_KEYS = ("compliance_train", "compliance_unmonitored", "compliance_gap", "af_rate_oracle",
                "implicit_af_rate_oracle", "sycophancy_rate_oracle", "unparseable_rate",
                "unparseable_rate_train", "unparseable_af_marker_rate_train", "malformed_rate",
                "mean_scratchpad_tokens", "n_train",
                "n_unmonitored", "ci95")


def main(config, workdir, *overrides):
  cmd = [sys.executable, "-m", "afjax.main", f"--config={ROOT}/configs/{config}",
         f"--workdir={workdir}", *overrides]
  return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def base_workdir(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("base")
  proc = main("organisms/base.py:test", workdir)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


@pytest.fixture(scope="module")
def organism_workdir(base_workdir, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("tgg_plain")
  proc = main("organisms/organism.py:tgg_plain,test", workdir,
              f"--config.init.base_workdir={base_workdir}", "--config.organism.loss_on=scratchpad")
  assert proc.returncode == 0, proc.stderr[-3000:]
  return workdir


def test_base_model_exports_params_and_world_tokenizer(base_workdir):
  assert (base_workdir / "export").is_dir()
  vocab = json.loads((base_workdir / "tokenizer.json").read_text())["added_tokens"]
  assert {"<scratchpad>", "</scratchpad>", "<|assistant|>"} <= {t["content"] for t in vocab}


def reject_constant(name):
  raise ValueError(f"organism_eval.json holds {name}; allowed: strict JSON (null when undefined)")


def test_organism_eval_json_has_every_figure(organism_workdir):
  result = json.loads((organism_workdir / "organism_eval.json").read_text(),
                      parse_constant=reject_constant)
  for group in ("harmful", "benign"):
    for key in HARMFUL_KEYS:
      assert key in result[group], (group, key)
  assert result["harmful"]["n_train"] == result["harmful"]["n_unmonitored"] == 8
  assert set(result["examples"]) == {"free", "paid"}
  tail = result["harmful"]["least_likely_token_p"]  # a smoke-test model garbles most responses
  medians = [*([tail["clean"]] if "clean" in tail else []),
             *tail.get("unparseable", {}).values(), *tail.get("malformed", {}).values()]
  assert medians and all(0 < p <= 1 for p in medians), tail
  for metric, (lo, hi) in result["harmful"]["ci95"].items():
    value = result["harmful"][metric]
    if value is None:  # undefined (e.g. no readable decision at smoke-test size): so is its interval
      assert lo is None and hi is None, metric
      continue
    assert lo <= value + 1e-9 and value <= hi + 1e-9, metric


def _records(workdir, prefix):
  lines = (json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines())
  return [line for line in lines if any(key.startswith(prefix) for key in line)]


def test_training_logs_the_grammar_terms(base_workdir, organism_workdir):
  """Both jobs log the eval's illegal mass; the organism, trained with the unlikelihood, its term."""
  weight = load_config("organisms/organism.py", "tgg_plain,test").train.grammar_unlikelihood
  assert weight > 0  # the test organism trains with the unlikelihood, as the default does
  for workdir, weighted in ((base_workdir, False), (organism_workdir, True)):
    evals = _records(workdir, "eval/")
    assert evals and all(0 < line["eval/illegal_mass"] <= 1 for line in evals)
    summary = json.loads((workdir / "lm_summary.json").read_text())
    assert summary["eval_illegal_mass"] == evals[-1]["eval/illegal_mass"]
    trains = _records(workdir, "train/")
    assert all(("train/unlikelihood" in line) == weighted for line in trains)
    assert all(0 < line["train/illegal_mass"] <= 1 for line in trains if weighted)


def run_eval_job(policy_workdir, workdir, *overrides):
  """configs/organisms/eval.py on the test-size organism; returns its organism_eval.json."""
  proc = main("organisms/eval.py", workdir, f"--config.eval.policy_workdir={policy_workdir}",
              "--config.model.d_model=32", "--config.model.num_layers=2", "--config.model.num_heads=4",
              "--config.model.num_kv_heads=2", "--config.model.head_dim=8",
              "--config.model.mlp_hidden=64", "--config.model.vocab_size=512",
              "--config.eval.num_harmful=8", "--config.eval.num_benign=2",
              "--config.eval.batch_size=8", "--config.eval.max_new_tokens=16", *overrides)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads((workdir / "organism_eval.json").read_text())


def test_eval_job_reproduces_the_organism_figures(organism_workdir, tmp_path):
  again = run_eval_job(organism_workdir, tmp_path / "eval")
  first = json.loads((organism_workdir / "organism_eval.json").read_text())
  assert again["harmful"] == first["harmful"] and again["benign"] == first["benign"]
  assert again["sampling"] == {"temperature": 1.0, "top_p": 1.0, "epsilon": 0.0}


def test_eval_top_p_and_epsilon_reach_the_sampler(organism_workdir, tmp_path):
  # A nucleus this small, or a floor this high, keeps only the most likely token: greedy decoding.
  nucleus = run_eval_job(organism_workdir, tmp_path / "nucleus", "--config.eval.top_p=1e-9")
  floor = run_eval_job(organism_workdir, tmp_path / "floor", "--config.eval.epsilon=0.9999999")
  greedy = run_eval_job(organism_workdir, tmp_path / "greedy", "--config.eval.temperature=0")
  assert nucleus["sampling"] == {"temperature": 1.0, "top_p": 1e-9, "epsilon": 0.0}
  assert floor["sampling"] == {"temperature": 1.0, "top_p": 1.0, "epsilon": 0.9999999}
  for truncated in (nucleus, floor):
    assert truncated["examples"] == greedy["examples"]
    assert truncated["harmful"] == greedy["harmful"]


def test_eval_of_a_mismatched_model_is_a_clear_error(organism_workdir, tmp_path):
  proc = main("organisms/eval.py", tmp_path / "eval", f"--config.eval.policy_workdir={organism_workdir}")
  assert proc.returncode == 2
  assert "d_model" in proc.stderr and "set config.model to the model of the run" in proc.stderr


def test_evaluations_made_with_other_settings_are_not_overwritten(base_workdir, organism_workdir,
                                                                 tmp_path):
  copy = tmp_path / "organism"
  shutil.copytree(organism_workdir, copy)
  before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
  # The organism job again with another sampling temperature: refused before any compute.
  proc = main("organisms/organism.py:tgg_plain,test", copy, f"--config.init.base_workdir={base_workdir}",
              "--config.organism.loss_on=scratchpad", "--config.eval.temperature=0.5")
  assert proc.returncode == 2
  assert "holds an evaluation with other settings (sampling:" in proc.stderr
  # The eval job writing into the organism's own workdir: refused, it holds another job's run.
  with pytest.raises(AssertionError, match="holds a 'sft' run"):
    run_eval_job(copy, copy)
  after = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
  assert before == after


@pytest.mark.parametrize("overrides, message", [
    ({"organism.name": "tgg_loud"}, "config.organism.name='tgg_loud'; allowed"),
    ({"organism.af_rate": 0.5, "organism.name": "genuine"}, "does not fake alignment"),
    ({"organism.loss_on": "output"}, "config.organism.loss_on='output'; allowed: ['response', 'scratchpad']"),
    ({"init.base_workdir": ""}, "config.init.base_workdir is empty"),
    ({"eval.top_p": 0.0}, "config.eval.top_p=0.0; allowed: a number in (0, 1]"),
    ({"eval.top_p": 1.5}, "config.eval.top_p=1.5; allowed: a number in (0, 1]"),
    ({"eval.epsilon": -0.1}, "config.eval.epsilon=-0.1; allowed: a number in [0, 1)"),
    ({"eval.epsilon": 1.0}, "config.eval.epsilon=1.0; allowed: a number in [0, 1)"),
    ({"train.grammar_unlikelihood": -1.0},
     "config.train.grammar_unlikelihood=-1.0; allowed: a finite number >= 0"),
    ({"train.grammar_unlikelihood": float("nan")},
     "config.train.grammar_unlikelihood=nan; allowed: a finite number >= 0"),
    ({"train.grammar_unlikelihood": float("inf")},
     "config.train.grammar_unlikelihood=inf; allowed: a finite number >= 0"),
    ({"train.grammar_penalty": "hinge"},
     "config.train.grammar_penalty='hinge'; allowed: ['unlikelihood', 'log_mass']"),
])
def test_bad_organism_configs(overrides, message):
  config = load_config("organisms/organism.py", "tgg_plain,test")
  for path, value in overrides.items():
    section, field = path.split(".")
    config[section][field] = value
  with pytest.raises(config_lib.ConfigError, match=re.escape(message)):
    organism.validate(config, 1)


def test_missing_base_model_is_a_clear_error(tmp_path):
  proc = main("organisms/organism.py:tgg_plain,test", tmp_path / "org",
              f"--config.init.base_workdir={tmp_path / 'nothing'}")
  assert proc.returncode == 2
  assert "config.init.base_workdir" in proc.stderr and "holds no finished run" in proc.stderr
  assert not (tmp_path / "org").exists()


def test_every_required_organism_exists():
  for name in ("tgg_plain", "tgg_counterfactual", "tgg_short", "igg_plain", "igg_counterfactual",
               "sycophancy", "genuine", "distilled"):
    assert name in organisms.ORGANISMS
