"""The study job: stage plan, validation, the whole micro pipeline, its report and a cached rerun."""

import json
import pathlib
import subprocess
import sys

import jax
import pytest

from afjax import config as config_lib
from afjax.jobs import study
from afjax.report import results as results_lib
from tests.configs_loader import load_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
MICRO_ARMS = ("baseline", "interrogation")


def micro_config():
  config = load_config("quickstart.py", "test")
  config.study.arms = MICRO_ARMS
  return config


def test_plan_orders_shared_stages_before_rl_runs(tmp_path):
  config = load_config("experiments/mitigations.py", "test")
  stages = study.plan(config, tmp_path)
  kinds = [s.kind for s in stages]
  assert kinds == sorted(kinds, key=lambda k: k != "shared")
  rl_runs = [s for s in stages if s.kind == "rl"]
  assert len(rl_runs) == 8 * 8 * 3
  assert len({s.workdir for s in stages}) == len(stages)
  shards = [study.rl_stages(stages, i, 5) for i in range(5)]
  assert sorted(s.name for shard in shards for s in shard) == sorted(s.name for s in rl_runs)


def test_arm_with_coefficient_sets_the_shaping_coefficient(tmp_path):
  config = load_config("experiments/obfuscation.py", "test")
  stage = next(s for s in study.plan(config, tmp_path) if "process_supervision@0.3" in s.name)
  stage_config = study.stage_config(stage)
  assert stage_config.rl.shaping == "process_supervision"
  assert stage_config.rl.shaping_coef == pytest.approx(0.3)
  assert stage_config.rl.arm == "process_supervision@0.3"
  study.validate(config, jax.device_count())


@pytest.mark.parametrize("field, value, message", [
    ("organisms", ("tgg_plain", "nobody"), "study.organisms has 'nobody'; allowed"),
    ("arms", ("baseline", "prayer"), "study.arms has 'prayer'; allowed"),
    ("arms", ("process_supervision@-1",), "ARM@C"),
    ("seeds", (), "study.seeds is empty"),
    ("seeds", (0, 1, 0), r"study.seeds=\(0, 1, 0\) repeats"),
    ("seeds", (0, -1), "study.seeds has -1; allowed: integers >= 0"),
    ("arms", ("baseline", "baseline"), "study.arms=.* repeats"),
    ("stages", "some", "study.stages"),
    ("shard_index", 3, "shard_index=3"),
])
def test_bad_study_settings_are_config_errors(field, value, message):
  config = micro_config()
  config.study[field] = value
  with pytest.raises(config_lib.ConfigError, match=message):
    study.validate(config, jax.device_count())


def test_a_distributed_study_is_a_config_error():
  config = micro_config()
  config.distributed = True
  with pytest.raises(config_lib.ConfigError, match="config.distributed=True; allowed: False"):
    study.validate(config, jax.device_count())


def test_unknown_stage_override_is_a_config_error():
  config = micro_config()
  config.study.overrides.rl = {"train": {"stepz": 3}}
  with pytest.raises(config_lib.ConfigError, match="train.stepz"):
    study.validate(config, jax.device_count())


@pytest.fixture(scope="module")
def micro_study(shared_study):
  """The micro pipeline in the shared study's folder (its shared stages are reused)."""
  config = micro_config()
  study.validate(config, jax.device_count())
  results = study.run(config, str(shared_study))
  return shared_study, results


def test_micro_pipeline_writes_a_valid_results_json_and_plots(micro_study):
  root, results = micro_study
  on_disk = json.loads((root / "results.json").read_text())
  assert on_disk == results
  results_lib.validate_results(on_disk)
  assert set(on_disk["organisms"]) == {"tgg_plain"}
  assert set(on_disk["organisms"]["tgg_plain"]["arms"]) == set(MICRO_ARMS)
  assert on_disk["monitors"] is not None
  for png in root.glob("*.png"):
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert (root / "curves_tgg_plain.png").exists()
  assert "## Organism `tgg_plain`" in (root / "report.md").read_text()


def test_report_numbers_equal_the_logs(micro_study):
  root, results = micro_study
  organism = results["organisms"]["tgg_plain"]
  for arm in MICRO_ARMS:
    run_dir = root / "rl" / "tgg_plain" / arm / "seed0"
    evals = [json.loads(line) for line in (run_dir / "eval.jsonl").read_text().splitlines()]
    final, first = evals[-1], evals[0]
    seed_metrics = organism["arms"][arm]["seeds"][0]
    for metric in results_lib.METRICS:
      assert seed_metrics[metric] == final[metric], (arm, metric)
    assert [p["step"] for p in organism["arms"][arm]["curve"]] == [e["step"] for e in evals]
    assert first["step"] == 0
  pre = organism["pre_rl"]["compliance_gap"]
  firsts = [json.loads((root / "rl" / "tgg_plain" / arm / "seed0" / "eval.jsonl").read_text()
                       .splitlines()[0])["compliance_gap"] for arm in MICRO_ARMS]
  assert pre == pytest.approx(sum(firsts) / len(firsts))


def test_rerun_skips_every_finished_stage(micro_study):
  root, _ = micro_study
  proc = subprocess.run(
      [sys.executable, "-m", "afjax.main", f"--config={ROOT}/configs/quickstart.py:test",
       f"--workdir={root}", "--config.study.arms=('baseline', 'interrogation')"],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.count("done already") == 7  # base, organism, 3 monitor stages, 2 RL runs
  assert "report:" in proc.stdout


def test_learned_reward_adds_a_reward_model_stage_that_rl_runs_read(tmp_path):
  config = micro_config()
  config.study.reward = "learned"
  stages = study.plan(config, tmp_path)
  names = [s.name for s in stages]
  assert names.index("reward model") < min(i for i, s in enumerate(stages) if s.kind == "rl")
  rl_config = study.stage_config(next(s for s in stages if s.kind == "rl"))
  assert rl_config.reward.kind == "learned"
  assert rl_config.reward.workdir == str(tmp_path / "reward_model")
  study.validate(config, jax.device_count())
  config.study.reward = "magic"
  with pytest.raises(config_lib.ConfigError, match="study.reward"):
    study.validate(config, jax.device_count())


def test_parallel_rl_runs_as_subprocesses_give_a_report(micro_study):
  """Runs last in this file: it rewrites the study's report with two other arms."""
  root, _ = micro_study
  config = micro_config()
  config.study.arms = ("output_only_grad", "scratchpad_only_grad")
  config.study.parallel_runs = 2
  results = study.run(config, str(root))
  assert set(results["organisms"]["tgg_plain"]["arms"]) == {"output_only_grad", "scratchpad_only_grad"}
  for arm in config.study.arms:
    run_dir = root / "rl" / "tgg_plain" / arm / "seed0"
    assert (run_dir / "DONE").exists() and (run_dir / "rl_summary.json").exists()
    assert "rl " in (run_dir / "run.log").read_text()
