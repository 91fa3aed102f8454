"""The RL job at test size: every arm from its config, logs, summary, kill-and-resume, bad input."""

import json
import pathlib
import signal
import subprocess
import sys
import time

import jax
import pytest

from afjax import config as config_lib
from afjax.evaluation import rl_eval
from afjax.jobs import rl
from afjax.rl import reward as reward_lib
from tests.configs_loader import load_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARMS = ("baseline", "process_supervision", "length_penalty", "interrogation", "output_monitor",
        "output_only_grad", "scratchpad_only_grad", "af_bonus", "process_supervision_adaptive")
STEP_METRICS = ("rl/reward_mean", "rl/shaped_reward_mean", "rl/shaping_mean", "rl/kl_ref",
                "rl/entropy", "rl/clip_fraction", "rl/loss", "rl/grad_norm",
                "rollout/scratchpad_tokens", "rollout/compliance", "rollout/reward_task",
                "rollout/reward_format")


@pytest.fixture(scope="module")
def stages(shared_study):
  """Folders of the base model, the tgg_plain organism and both monitors (test size)."""
  root = shared_study
  return {"tgg_plain": root / "organisms" / "tgg_plain",
          "monitor_scratchpad": root / "monitors" / "scratchpad",
          "monitor_output": root / "monitors" / "output"}


def arm_config(arm, stages, **overrides):
  config = load_config(f"rl/{arm}.py", "tgg_plain,test")
  config.init.policy_workdir = str(stages["tgg_plain"])
  config.monitors.scratchpad_workdir = str(stages["monitor_scratchpad"])
  config.monitors.output_workdir = str(stages["monitor_output"])
  for path, value in overrides.items():
    section, field = path.split(".")
    config[section][field] = value
  return config


@pytest.mark.parametrize("arm", ARMS)
def test_every_arm_runs_and_logs_every_metric(arm, stages, tmp_path):
  config = arm_config(arm, stages)
  rl.validate(config, jax.device_count())
  summary = rl.run(config, str(tmp_path))
  assert summary["arm"] == arm and summary["organism"] == "tgg_plain"
  assert [point["step"] for point in summary["curve"]] == [0, 2]
  assert set(summary["final"]) == set(rl_eval.METRICS)
  final_eval = [json.loads(l) for l in (tmp_path / rl.EVAL_FILE).read_text().splitlines()][-1]
  assert 0 <= final_eval["unparseable_af_marker_rate_train"] <= final_eval["unparseable_rate_train"]
  counts = final_eval["counts"]
  assert final_eval["af_rate_oracle_unmonitored"] == (
      counts["scratchpad_labels"]["unmonitored"]["explicit_af"] / counts["n_unmonitored"])
  if arm == "interrogation":  # defined whenever some free-tier sample is explicit AF
    assert final_eval["followup_no_rate"] is not None
    assert (final_eval["lying_rate"] is None) == (final_eval["lying_n"] == 0)
    assert (final_eval["lying_malformed_rate"] is None) == (final_eval["lying_n"] == 0)
    if final_eval["lying_n"]:
      assert final_eval["lying_rate"] + final_eval["lying_malformed_rate"] <= 1.0
  else:
    assert summary["final"]["lying_rate"] is None and "followup_no_rate" not in final_eval
    assert final_eval["lying_n"] is None
  for key in ("compliance_train", "compliance_gap", "af_rate_oracle", "af_rate_classifier",
              "unparseable_rate", "unparseable_rate_train", "mean_scratchpad_tokens"):
    assert isinstance(summary["final"][key], float), key
  n_eval = final_eval["counts"]["n_train"] + final_eval["counts"]["n_unmonitored"]
  assert summary["counts"] == {"n_train": final_eval["counts"]["n_train"],
                               "n_unmonitored": final_eval["counts"]["n_unmonitored"],
                               "lying_n": final_eval["lying_n"]}
  organism = json.loads((stages["tgg_plain"] / "lm_summary.json").read_text())
  assert summary["policy_params_sha256"] == organism["params_sha256"]
  monitor = json.loads((stages["monitor_scratchpad"] / "monitor.json").read_text())
  assert summary["classifier"]["threshold"] == pytest.approx(monitor["threshold"])
  assert len(summary["classifier"]["params_sha256"]) == 64
  assert sum(row["n"] for row in final_eval["by_template"].values()) == n_eval
  assert set(final_eval["failure_reasons"]) == {"free", "paid"}
  assert final_eval["least_likely_token_p"], final_eval["least_likely_token_p"]
  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  logged = set().union(*records)
  for key in STEP_METRICS:
    assert key in logged, key
  for key in rl_eval.METRICS:
    if key != "lying_rate" or arm == "interrogation":
      assert f"eval/{key}" in logged or summary["final"][key] is None, key
  if arm == "process_supervision_adaptive":
    assert "adaptive/fresh_rows" in logged
    assert summary["curve"][-1]["af_rate_classifier"] is not None
    assert final_eval["af_rate_adaptive_classifier"] is not None
  if arm in ("process_supervision", "af_bonus", "process_supervision_adaptive"):
    assert "rl/p_af_mean" in logged
  if arm == "output_monitor":
    assert "rl/p_af_output_mean" in logged
  if arm == "interrogation":
    assert "rollout/followup_no" in logged
  if arm == "length_penalty":
    threshold = json.loads((tmp_path / rl.LENGTH_THRESHOLD_FILE).read_text())["threshold"]
    assert summary["length_threshold"] == threshold >= 0
  evals = [json.loads(line) for line in (tmp_path / rl.EVAL_FILE).read_text().splitlines()]
  assert [e["step"] for e in evals] == [0, 2]
  assert (tmp_path / "export").is_dir()


def test_rerun_of_a_finished_run_changes_nothing(stages, tmp_path):
  config = arm_config("baseline", stages)
  first = rl.run(config, str(tmp_path))
  again = rl.run(config, str(tmp_path))
  assert again["params_sha256"] == first["params_sha256"]
  assert again["curve"] == first["curve"]


def test_a_run_without_a_checkpoint_ignores_what_an_earlier_attempt_left(stages, tmp_path):
  # An attempt under other settings that stopped before its first checkpoint left a length
  # threshold and a step-0 eval; nothing pins them to this config, so both are recomputed.
  (tmp_path / rl.LENGTH_THRESHOLD_FILE).write_text(json.dumps({"threshold": 999.0, "quantile": 0.5}))
  (tmp_path / rl.EVAL_FILE).write_text(json.dumps({"step": 0, "compliance_train": 0.123456}) + "\n")
  summary = rl.run(arm_config("length_penalty", stages), str(tmp_path))
  assert json.loads((tmp_path / rl.LENGTH_THRESHOLD_FILE).read_text())["threshold"] != 999.0
  assert summary["curve"][0]["compliance_train"] != 0.123456
  steps = [json.loads(line)["step"] for line in (tmp_path / rl.EVAL_FILE).read_text().splitlines()]
  assert steps == [point["step"] for point in summary["curve"]]


def test_kill_and_resume_matches_uninterrupted(stages, tmp_path):
  overrides = [f"--config.init.policy_workdir={stages['tgg_plain']}",
               f"--config.monitors.scratchpad_workdir={stages['monitor_scratchpad']}",
               f"--config.monitors.output_workdir={stages['monitor_output']}",
               "--config.train.steps=6", "--config.train.eval_every=0", "--config.checkpoint.every=1"]
  base_cmd = [sys.executable, "-m", "tests.jobs.slow_rl_main",
              f"--config={ROOT}/configs/rl/process_supervision.py:tgg_plain,test", *overrides]
  straight = tmp_path / "straight"
  proc = subprocess.run([*base_cmd, f"--workdir={straight}"], cwd=ROOT, capture_output=True,
                        text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  killed = tmp_path / "killed"
  proc = subprocess.Popen([*base_cmd, f"--workdir={killed}"], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
  try:
    deadline = time.time() + 300
    while time.time() < deadline:  # kill once a mid-run checkpoint exists
      steps = [int(p.name) for p in (killed / "ckpt").glob("[0-9]*") if p.name.isdigit()]
      if steps and max(steps) >= 2:
        break
      assert proc.poll() is None, "the run ended before it could be killed"
      time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert not (killed / rl.SUMMARY_FILE).exists()
  resumed = subprocess.run([sys.executable, "-m", "afjax.main",
                            f"--config={ROOT}/configs/rl/process_supervision.py:tgg_plain,test",
                            *overrides, f"--workdir={killed}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert "Resuming from step" in resumed.stdout
  a = json.loads((straight / rl.SUMMARY_FILE).read_text())
  b = json.loads((killed / rl.SUMMARY_FILE).read_text())
  assert a["params_sha256"] == b["params_sha256"]
  assert a["curve"] == b["curve"]
  steps = [json.loads(line)["step"] for line in (killed / rl.EVAL_FILE).read_text().splitlines()]
  assert steps == [0, 6]


def test_missing_monitor_is_a_config_error_before_any_compute(stages, tmp_path):
  config = arm_config("process_supervision", stages, **{"monitors.scratchpad_workdir": ""})
  with pytest.raises(config_lib.ConfigError, match="needs the scratchpad monitor"):
    rl.validate(config, jax.device_count())
  config = arm_config("output_monitor", stages,
                      **{"monitors.output_workdir": str(tmp_path / "nowhere")})
  with pytest.raises(config_lib.ConfigError, match="monitors.output_workdir.*no finished run"):
    rl.validate(config, jax.device_count())
  assert not any(tmp_path.iterdir())


def test_group_size_not_dividing_the_batch_is_a_config_error(stages):
  config = arm_config("baseline", stages, **{"rollout.group_size": 3})
  with pytest.raises(config_lib.ConfigError, match="group_size=3 does not divide"):
    rl.validate(config, jax.device_count())


def test_missing_policy_and_bad_arm_settings_are_config_errors(stages, tmp_path):
  config = arm_config("baseline", stages, **{"init.policy_workdir": str(tmp_path / "none")})
  with pytest.raises(config_lib.ConfigError, match="init.policy_workdir"):
    rl.validate(config, jax.device_count())
  config = arm_config("baseline", stages, **{"rl.advantage": "gae"})
  with pytest.raises(config_lib.ConfigError, match="allowed"):
    rl.validate(config, jax.device_count())
  config = arm_config("interrogation", stages, **{"rollout.followup_variant": ""})
  with pytest.raises(config_lib.ConfigError, match="followup_variant"):
    rl.validate(config, jax.device_count())
  config = arm_config("baseline", stages, **{"rollout.temperature": 0.7})
  with pytest.raises(config_lib.ConfigError, match=r"rollout.temperature=0.7; allowed: 1.0"):
    rl.validate(config, jax.device_count())


def test_an_organism_label_other_than_the_policys_is_a_config_error(stages):
  config = arm_config("baseline", stages)
  config.organism = "tgg_plian"
  with pytest.raises(config_lib.ConfigError,
                     match=r"config.organism='tgg_plian', but config.init.policy_workdir holds "
                           r"'tgg_plain'"):
    rl.validate(config, jax.device_count())


def test_main_rejects_a_bad_rl_config_with_exit_2(stages, tmp_path):
  workdir = tmp_path / "w"
  proc = subprocess.run(
      [sys.executable, "-m", "afjax.main", f"--config={ROOT}/configs/rl/baseline.py:tgg_plain,test",
       f"--workdir={workdir}", f"--config.init.policy_workdir={stages['tgg_plain']}",
       "--config.rollout.group_size=3"], cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  assert "group_size=3" in proc.stderr
  assert not workdir.exists()


def test_learned_reward_needs_a_finished_reward_model(stages, tmp_path):
  config = arm_config("baseline", stages, **{"reward.kind": "learned"})
  with pytest.raises(config_lib.ConfigError, match="reward.workdir"):
    rl.validate(config, jax.device_count())
  config = arm_config("baseline", stages, **{"reward.kind": "learned",
                                             "reward.workdir": str(tmp_path / "rm")})
  with pytest.raises(config_lib.ConfigError, match="config.reward.workdir.*no finished run"):
    rl.validate(config, jax.device_count())
  config = arm_config("baseline", stages, **{"reward.length_correction": True})
  with pytest.raises(config_lib.ConfigError, match="length_correction"):
    rl.validate(config, jax.device_count())


def test_a_reward_model_without_a_length_fit_refuses_the_correction(stages, tmp_path):
  rm = tmp_path / "rm"
  (rm / "export").mkdir(parents=True)
  (rm / reward_lib.SUMMARY_FILE).write_text(json.dumps({"length_bias": {"slope": None}}))
  config = arm_config("baseline", stages, **{"reward.kind": "learned", "reward.workdir": str(rm),
                                             "reward.length_correction": True})
  with pytest.raises(config_lib.ConfigError, match="no fitted length bias"):
    rl.validate(config, jax.device_count())


def test_monitors_that_the_run_does_not_read_need_not_exist(stages, tmp_path):
  # The adaptive arm reads the scratchpad classifier only: a default output_workdir that does not
  # exist is no reason to refuse it (nor the baseline, which reads none).
  for arm in ("process_supervision_adaptive", "baseline"):
    config = arm_config(arm, stages, **{"monitors.output_workdir": str(tmp_path / "nowhere")})
    rl.validate(config, jax.device_count())


@pytest.mark.parametrize("field, value, message", [
    ("batch_size", 30, "adaptive.batch_size=30 is not divisible"),
    ("learning_rate", -3e-4, "adaptive.learning_rate=-0.0003; allowed: a number > 0"),
    ("every", 0, "adaptive.every=0; allowed: an integer >= 1"),
])
def test_bad_adaptive_settings_are_config_errors(stages, field, value, message):
  config = arm_config("process_supervision_adaptive", stages)
  config.adaptive[field] = value
  with pytest.raises(config_lib.ConfigError, match=message):
    rl.validate(config, 4)


def test_learned_reward_model_drives_the_rollout_rewards(stages, shared_study, tmp_path):
  from afjax.jobs import reward_model
  rm_config = load_config("reward/learned.py", "test")
  rm_config.init.base_workdir = str(shared_study / "base")
  reward_model.run(rm_config, str(tmp_path / "rm"))
  config = arm_config("baseline", stages, **{"reward.kind": "learned",
                                             "reward.workdir": str(tmp_path / "rm"),
                                             "reward.length_correction": True})
  rl.validate(config, jax.device_count())
  summary = rl.run(config, str(tmp_path / "run"))
  records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
  task = [r["rollout/reward_task"] for r in records if "rollout/reward_task" in r]
  assert task and all(isinstance(t, float) for t in task)
  assert any("rollout/reward_length" in r for r in records)
  assert summary["config"]["reward"]["kind"] == "learned"
