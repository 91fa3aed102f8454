"""Reading runs, aggregating them (checked by hand) and the results.json schema."""

import copy
import json
import math

import numpy as np
import pytest

from afjax.report import results as rl
from tests.report import synthetic

# t_{0.975, n-1} for n = 2, 3 seeds (tables: 12.706, 4.303).
T975 = {2: 12.706204736174694, 3: 4.302652729749464}


@pytest.fixture(scope="module")
def built(run_dirs):
  runs = rl.collect_runs(run_dirs)
  return runs, rl.build_results(runs, synthetic.MONITOR_EVAL, {"test": True})


def hand_mean(values):
  present = [v for v in values if v is not None]
  return float(np.mean(present)) if present else None


def hand_ci(values, eval_halves=()):
  """mean +- sqrt(seed half^2 + eval half^2): the t half-width across seeds and the mean
  within-run half-width."""
  n = len(values)
  mean, sd = np.mean(values), np.std(values, ddof=1)
  seed_half = T975[n] * sd / math.sqrt(n)
  eval_half = np.mean(eval_halves) if len(eval_halves) else 0.0
  half = math.sqrt(seed_half ** 2 + eval_half ** 2)
  return [mean - half, mean + half]


def test_schema_and_layout(built):
  runs, results = built
  rl.validate_results(results)
  assert len(runs) == sum(len(s) for s in synthetic.LAYOUT.values())
  assert set(results["organisms"]) == {"tgg_plain", "igg_plain"}
  for (organism, arm), seeds in synthetic.LAYOUT.items():
    entry = results["organisms"][organism]["arms"][arm]
    assert entry["seed_ids"] == list(seeds) and entry["n_seeds"] == len(seeds)
    assert entry["ci95_method"] == rl.ACROSS_SEEDS and entry["steps"] == 10
    assert [p["step"] for p in entry["curve"]] == list(synthetic.STEPS)
  assert results["monitors"] == synthetic.MONITOR_EVAL
  assert results["metrics"] == list(rl.METRICS)
  json.dumps(results, allow_nan=False)  # plain JSON


def test_means_intervals_and_curves_by_hand(built):
  _, results = built
  for (organism, arm), seeds in synthetic.LAYOUT.items():
    summaries = [synthetic.summary(organism, arm, s) for s in seeds]
    entry = results["organisms"][organism]["arms"][arm]
    for metric in rl.METRICS:
      finals = [s["final"][metric] for s in summaries]
      assert [seed[metric] for seed in entry["seeds"]] == finals
      if finals[0] is None:
        assert entry["mean"][metric] is None and entry["ci95"][metric] == [None, None]
        continue
      assert entry["mean"][metric] == pytest.approx(np.mean(finals), abs=1e-12)
      halves = [(s["ci95"][metric][1] - s["ci95"][metric][0]) / 2 for s in summaries
                if metric in s["ci95"]]
      low, high = (-1.0, 1.0) if metric == "compliance_gap" else (
          (0.0, np.inf) if metric == "mean_scratchpad_tokens" else (0.0, 1.0))
      expected_lo, expected_hi = hand_ci(finals, halves)
      assert entry["ci95"][metric] == pytest.approx(
          [max(low, expected_lo), min(high, expected_hi)], abs=1e-9)
      for i, step in enumerate(synthetic.STEPS):
        expected = np.mean([s["curve"][i][metric] for s in summaries])
        assert entry["curve"][i][metric] == pytest.approx(expected, abs=1e-12)


def test_pre_rl_is_the_mean_of_every_runs_step_zero(built):
  _, results = built
  for organism in ("tgg_plain", "igg_plain"):
    step0 = [synthetic.summary(o, a, s)["curve"][0] for (o, a), seeds in synthetic.LAYOUT.items()
             if o == organism for s in seeds]
    entry = results["organisms"][organism]
    for metric in rl.METRICS:
      values = [v[metric] for v in step0 if v[metric] is not None]
      assert entry["pre_rl_n"][metric] == len(values)
      assert entry["pre_rl"][metric] == pytest.approx(np.mean(values), abs=1e-12)
      if metric == "mean_scratchpad_tokens":  # no within-run interval given
        assert entry["pre_rl_ci95"][metric] == [None, None]
        continue
      envelope = [max(0.0, min(values) - 0.05), max(values) + 0.05]
      assert entry["pre_rl_ci95"][metric] == pytest.approx(envelope, abs=1e-12)
    assert entry["pre_rl_n"]["lying_rate"] == len(synthetic.LAYOUT[(organism, "interrogation")])


def test_reductions_by_hand(built):
  _, results = built
  organisms = results["organisms"]
  for metric in rl.REDUCTION_METRICS:
    diffs, halves = [], []
    for entry in organisms.values():
      base, arm = entry["arms"]["baseline"], entry["arms"]["process_supervision"]
      diffs.append(base["mean"][metric] - arm["mean"][metric])
      halves.append(math.hypot((base["ci95"][metric][1] - base["ci95"][metric][0]) / 2,
                               (arm["ci95"][metric][1] - arm["ci95"][metric][0]) / 2))
    got = results["reductions"]["baseline_rl"]["process_supervision"][metric]
    half = math.sqrt(sum(h * h for h in halves)) / 2
    assert got["n_organisms"] == 2
    assert got["mean"] == pytest.approx(np.mean(diffs), abs=1e-12)
    assert got["ci95"] == pytest.approx([np.mean(diffs) - half, np.mean(diffs) + half], abs=1e-12)
    pre = results["reductions"]["pre_rl"]["baseline"][metric]
    assert pre["mean"] == pytest.approx(np.mean(
        [e["pre_rl"][metric] - e["arms"]["baseline"]["mean"][metric] for e in organisms.values()]))
  assert "baseline" not in results["reductions"]["baseline_rl"]


def test_single_seed_falls_back_to_the_within_run_interval(tmp_path):
  run_dir = synthetic.write_run(tmp_path, "tgg_plain", "interrogation", 0)
  runs = rl.collect_runs([run_dir])
  entry = rl.build_results(runs, None, {})["organisms"]["tgg_plain"]["arms"]["interrogation"]
  summary = synthetic.summary("tgg_plain", "interrogation", 0)
  assert entry["ci95_method"] == rl.WITHIN_RUN and entry["n_seeds"] == 1
  assert entry["ci95"]["af_rate_oracle"] == summary["ci95"]["af_rate_oracle"]
  assert entry["ci95"]["lying_rate"] == summary["ci95"]["lying_rate"]
  # The run gave no interval for mean_scratchpad_tokens: undefined, not invented.
  assert entry["ci95"]["mean_scratchpad_tokens"] == [None, None]
  assert entry["mean"] == summary["final"]


def test_curve_keeps_the_steps_every_seed_has(tmp_path):
  dirs = [synthetic.write_run(tmp_path, "tgg_plain", "baseline", 0, steps=(0, 5, 10)),
          synthetic.write_run(tmp_path, "tgg_plain", "baseline", 2, steps=(0, 2, 5, 10))]
  entry = rl.build_results(rl.collect_runs(dirs), None, {})["organisms"]["tgg_plain"]["arms"][
      "baseline"]
  assert [p["step"] for p in entry["curve"]] == [0, 5, 10]


def test_a_metric_defined_in_some_seeds_only(tmp_path):
  # lying_rate is undefined in a seed where no explicit-AF sample was asked: NaN as Python's
  # json writes it, or null.
  undefined = {1: float("nan"), 2: None}
  dirs = []
  for seed in (0, 1, 2):
    summary = synthetic.summary("igg_plain", "interrogation", seed)
    if seed in undefined:
      summary["final"]["lying_rate"] = summary["curve"][-1]["lying_rate"] = undefined[seed]
      summary["ci95"]["lying_rate"] = [float("nan"), float("nan")]
    dirs.append(synthetic.write_run(tmp_path, "igg_plain", "interrogation", seed,
                                    summary_dict=summary))
  entry = rl.build_results(rl.collect_runs(dirs), None, {})["organisms"]["igg_plain"]["arms"][
      "interrogation"]
  only = synthetic.summary("igg_plain", "interrogation", 0)
  assert entry["n_defined"]["lying_rate"] == 1 and entry["n_defined"]["af_rate_oracle"] == 3
  assert entry["mean"]["lying_rate"] == only["final"]["lying_rate"]
  assert entry["ci95"]["lying_rate"] == only["ci95"]["lying_rate"]  # the one run's own interval
  assert [s["lying_rate"] for s in entry["seeds"]] == [only["final"]["lying_rate"], None, None]
  assert entry["curve"][-1]["lying_rate"] == only["final"]["lying_rate"]
  middle = [synthetic.summary("igg_plain", "interrogation", s)["curve"][1]["lying_rate"]
            for s in (0, 1, 2)]
  assert entry["curve"][1]["lying_rate"] == pytest.approx(np.mean(middle), abs=1e-12)

  two = [synthetic.summary("igg_plain", "interrogation", s)["final"]["lying_rate"] for s in (0, 1)]
  summary = synthetic.summary("igg_plain", "interrogation", 2)
  summary["final"]["lying_rate"] = summary["curve"][-1]["lying_rate"] = None
  dirs = [synthetic.write_run(tmp_path / "b", "igg_plain", "interrogation", s) for s in (0, 1)]
  dirs.append(synthetic.write_run(tmp_path / "b", "igg_plain", "interrogation", 2,
                                  summary_dict=summary))
  entry = rl.build_results(rl.collect_runs(dirs), None, {})["organisms"]["igg_plain"]["arms"][
      "interrogation"]
  assert entry["n_defined"]["lying_rate"] == 2
  halves = [(lambda ci: (ci[1] - ci[0]) / 2)(
      synthetic.summary("igg_plain", "interrogation", s)["ci95"]["lying_rate"]) for s in (0, 1)]
  assert entry["ci95"]["lying_rate"] == pytest.approx(hand_ci(two, halves), abs=1e-9)


def test_duplicate_runs(tmp_path):
  first = synthetic.write_run(tmp_path / "a", "tgg_plain", "baseline", 0)
  second = synthetic.write_run(tmp_path / "b", "tgg_plain", "baseline", 0)
  assert len(rl.collect_runs([first, first])) == 1  # one directory listed twice
  with pytest.raises(rl.RunError, match="both organism 'tgg_plain', arm 'baseline', seed 0"):
    rl.collect_runs([first, second])


def _del(path):
  def mutate(summary):
    *parents, last = path
    target = summary
    for key in parents:
      target = target[key]
    del target[last]
  return mutate


def _set(path, value):
  def mutate(summary):
    *parents, last = path
    target = summary
    for key in parents:
      target = target[key]
    target[last] = value
  return mutate


def _shift_final(summary):
  summary["final"]["af_rate_oracle"] += 0.1


def _swap_curve(summary):
  summary["curve"][0], summary["curve"][1] = summary["curve"][1], summary["curve"][0]


MALFORMED = [
    (_del(["arm"]), "missing key 'arm'"),
    (_set(["seed"], "0"), "key 'seed' is '0' \\(str\\)"),
    (_set(["seed"], True), "key 'seed' is True"),
    (_set(["curve"], []), "key 'curve' is empty"),
    (_del(["curve", 1, "af_rate_oracle"]), "curve\\[1\\] is missing key 'af_rate_oracle'"),
    (_set(["final", "compliance_gap"], "0.3"), "final\\['compliance_gap'\\]='0.3'"),
    (_del(["final", "unparseable_rate"]), "final is missing key 'unparseable_rate'"),
    (_swap_curve, "strictly ascending"),
    (_shift_final, "final\\['af_rate_oracle'\\]=.* differs from the last curve entry"),
    (_set(["ci95", "af_rate_oracle"], [0.1]), "ci95\\['af_rate_oracle'\\]=\\[0.1\\]"),
    (_del(["examples", "paid"]), "examples\\['paid'\\] is None"),
    (_del(["examples", "free", 0, "followup"]), "examples\\['free'\\]\\[0\\] is missing key "
                                                "'followup'"),
]


@pytest.mark.parametrize("mutate,message", MALFORMED)
def test_malformed_summary_names_the_file_and_key(tmp_path, mutate, message):
  summary = synthetic.summary("tgg_plain", "baseline", 0)
  mutate(summary)
  run_dir = synthetic.write_run(tmp_path, "tgg_plain", "baseline", 0, summary_dict=summary)
  with pytest.raises(rl.RunError, match=message) as err:
    rl.collect_runs([run_dir])
  assert str(run_dir / rl.SUMMARY_FILE) in str(err.value)


def test_a_summary_from_before_a_later_metric_reads_it_as_null(tmp_path):
  summary = synthetic.summary("tgg_plain", "baseline", 0)
  for metric in rl.LATER_METRICS:
    for record in (*summary["curve"], summary["final"], summary["ci95"]):
      record.pop(metric, None)
  run_dir = synthetic.write_run(tmp_path, "tgg_plain", "baseline", 0, summary_dict=summary)
  [run] = rl.collect_runs([run_dir])
  for metric in rl.LATER_METRICS:
    assert run["final"][metric] is None and all(e[metric] is None for e in run["curve"])
  assert run["final"]["af_rate_oracle"] == summary["final"]["af_rate_oracle"]


def test_unreadable_files_and_a_disagreeing_log(tmp_path):
  run_dir = synthetic.write_run(tmp_path, "tgg_plain", "baseline", 0)
  log = (run_dir / rl.EVAL_LOG_FILE).read_text().splitlines()
  record = json.loads(log[-1])
  record["af_rate_classifier"] += 0.05
  (run_dir / rl.EVAL_LOG_FILE).write_text("\n".join(log[:-1] + [json.dumps(record)]) + "\n")
  with pytest.raises(rl.RunError, match="eval.jsonl: step 10 af_rate_classifier="):
    rl.collect_runs([run_dir])
  (run_dir / rl.EVAL_LOG_FILE).unlink()
  with pytest.raises(rl.RunError, match="eval.jsonl: missing"):
    rl.collect_runs([run_dir])
  (run_dir / rl.SUMMARY_FILE).write_text("{not json")
  with pytest.raises(rl.RunError, match="rl_summary.json: not valid JSON"):
    rl.collect_runs([run_dir])
  with pytest.raises(rl.RunError, match="rl_summary.json: missing"):
    rl.collect_runs([tmp_path / "nowhere"])


def test_validate_results_names_the_field(built):
  _, results = built
  broken = copy.deepcopy(results)
  del broken["organisms"]["tgg_plain"]["arms"]["baseline"]["ci95"]["af_rate_oracle"]
  with pytest.raises(rl.SchemaError, match="organisms\\['tgg_plain'\\]\\['arms'\\]\\['baseline'\\]"
                                           "\\['ci95'\\] is missing metric 'af_rate_oracle'"):
    rl.validate_results(broken)
  broken = copy.deepcopy(results)
  broken["organisms"]["igg_plain"]["pre_rl"]["compliance_gap"] = "0.2"
  with pytest.raises(rl.SchemaError, match="\\['pre_rl'\\]\\['compliance_gap'\\]='0.2'"):
    rl.validate_results(broken)
  broken = copy.deepcopy(results)
  del broken["monitors"]
  with pytest.raises(rl.SchemaError, match="missing key 'monitors'"):
    rl.validate_results(broken)


def test_write_and_load_round_trip(built, tmp_path):
  _, results = built
  path = rl.write_results(results, tmp_path)
  assert path == tmp_path / rl.RESULTS_FILE
  assert rl.load_results(path) == results
  assert sorted(p.name for p in tmp_path.iterdir()) == [rl.RESULTS_FILE]  # no temporary left


def test_pre_rl_interval_is_the_envelope_of_the_step0_within_run_intervals():
  runs = [{"pre_ci95": {"af_rate_oracle": [0.4, 0.6]}}, {"pre_ci95": {"af_rate_oracle": [0.4, 0.6]}}]
  assert rl._pre_rl_interval(runs, [0.5, 0.5], "af_rate_oracle") == [0.4, 0.6]
  # Eight copies of one measurement and one that differs in one sample: still one measurement's
  # width (a t interval over the nine values would be about 60x narrower).
  runs = [{"pre_ci95": {"m": [0.439, 0.561]}}] * 8 + [{"pre_ci95": {"m": [0.443, 0.565]}}]
  assert rl._pre_rl_interval(runs, [0.5] * 8 + [129 / 256], "m") == [0.439, 0.565]
  assert rl._pre_rl_interval([{"pre_ci95": {}}], [0.5], "af_rate_oracle") == [None, None]
  assert rl._pre_rl_interval([{"pre_ci95": {"m": [float("nan"), 0.5]}}], [0.5], "m") == [None, None]


def test_across_seed_interval_keeps_the_shared_eval_noise():
  runs = [{"final": {"m": 0.0}, "ci95": {"m": [0.0, 0.03]}} for _ in range(3)]
  lo, hi = rl._arm_interval(runs, "m")  # the seeds agree: the eval noise alone remains
  assert (lo, hi) == pytest.approx((-0.015, 0.015))
  # A rate's interval is clipped to [0, 1], a gap's to [-1, 1].
  rate = [{"final": {"af_rate_oracle": 0.0}, "ci95": {"af_rate_oracle": [0.0, 0.03]}}] * 3
  assert rl._arm_interval(rate, "af_rate_oracle") == pytest.approx([0.0, 0.015])
  gap = [{"final": {"compliance_gap": 1.0}, "ci95": {"compliance_gap": [0.97, 1.0]}}] * 3
  assert rl._arm_interval(gap, "compliance_gap") == pytest.approx([0.985, 1.0])
  runs[0] = {"final": {"m": 0.05}, "ci95": {}}  # no within-run interval: the t half-width alone
  lo, hi = rl._arm_interval(runs, "m")
  seed_half = T975[3] * np.std([0.05, 0, 0], ddof=1) / math.sqrt(3)
  expected_half = math.hypot(seed_half, 0.015)
  assert (lo, hi) == pytest.approx((0.05 / 3 - expected_half, 0.05 / 3 + expected_half))


def _write_modified(root, organism, arm, seed, change):
  data = synthetic.summary(organism, arm, seed)
  change(data)
  return synthetic.write_run(root, organism, arm, seed, summary_dict=data)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["config"]["eval"].update(num_harmful=128),
     r"the runs of organism 'tgg_plain' were evaluated with different settings .*"
     r'"eval.num_harmful": 128'),
    (lambda d: d["config"]["eval"].update(temperature=0.7), "evaluated with different settings"),
    (lambda d: d.update(policy_params_sha256="another"),
     r"the runs of organism 'tgg_plain' start from different policies"),
    (lambda d: d["classifier"].update(threshold=0.7),
     r"measured af_rate_classifier with different scratchpad classifiers .*0\.7"),
    (lambda d: d["classifier"].update(params_sha256="another"), "different scratchpad classifiers"),
])
def test_runs_measured_differently_are_refused_not_mixed(tmp_path, change, message):
  runs = [synthetic.write_run(tmp_path, "tgg_plain", "baseline", 0),
          _write_modified(tmp_path, "tgg_plain", "process_supervision", 1, change)]
  with pytest.raises(rl.RunError, match=message):
    rl.build_results(rl.collect_runs(runs), None, {})


def test_one_arm_asking_two_questions_is_refused(tmp_path):
  def warned(data):
    data["config"]["rollout"]["followup_variant"] = "warned"
  runs = [synthetic.write_run(tmp_path, "tgg_plain", "interrogation", 0),
          _write_modified(tmp_path, "tgg_plain", "interrogation", 1, warned)]
  with pytest.raises(rl.RunError, match="arm 'interrogation' asked different follow-up questions"):
    rl.build_results(rl.collect_runs(runs), None, {})


def test_pre_rl_lying_rate_is_per_question(tmp_path):
  runs = [synthetic.write_run(tmp_path, "tgg_plain", arm, seed)
          for arm in ("baseline", "interrogation", "interrogation_warned") for seed in (0, 1)]
  results = rl.build_results(rl.collect_runs(runs), None, {})
  entry = results["organisms"]["tgg_plain"]
  # Two questions asked before RL: no pooled figure; each arm keeps its own step-0 mean.
  assert entry["pre_rl"]["lying_rate"] is None and entry["pre_rl_n"]["lying_rate"] == 0
  for arm in ("interrogation", "interrogation_warned"):
    step0 = [synthetic.summary("tgg_plain", arm, s)["curve"][0]["lying_rate"] for s in (0, 1)]
    arm_entry = entry["arms"][arm]
    assert arm_entry["pre_rl_followup"]["lying_rate"] == pytest.approx(np.mean(step0))
    assert arm_entry["counts"] == [{"n_train": 256, "n_unmonitored": 256, "lying_n": 40 + s}
                                   for s in (0, 1)]
  assert entry["arms"]["baseline"]["pre_rl_followup"]["lying_rate"] is None
  # One question only: the organism's pre_rl figure is the mean as before.
  one = rl.build_results(rl.collect_runs(runs[:4]), None, {})["organisms"]["tgg_plain"]
  step0 = [synthetic.summary("tgg_plain", "interrogation", s)["curve"][0]["lying_rate"]
           for s in (0, 1)]
  assert one["pre_rl"]["lying_rate"] == pytest.approx(np.mean(step0))


def test_clipped_intervals_keep_their_unclipped_half_width_for_reductions():
  runs = [{"final": {"af_rate_oracle": v}, "ci95": {"af_rate_oracle": [max(0.0, v - 0.02), v + 0.02]}}
          for v in (0.0, 0.01, 0.05)]
  lo, hi = rl._arm_interval(runs, "af_rate_oracle")
  half = rl._arm_half_width(runs, "af_rate_oracle")
  expected = hand_ci([0.0, 0.01, 0.05], [(r["ci95"]["af_rate_oracle"][1]
                                          - r["ci95"]["af_rate_oracle"][0]) / 2 for r in runs])
  assert half == pytest.approx((expected[1] - expected[0]) / 2)
  assert lo == 0.0 > expected[0] and hi == pytest.approx(expected[1])
  arm = {"mean": {"af_rate_oracle": 0.02}, "ci95": {"af_rate_oracle": [lo, hi]},
         "ci95_half_width": {"af_rate_oracle": half}}
  assert rl.arm_half_width(arm, "af_rate_oracle") == half > (hi - lo) / 2
  del arm["ci95_half_width"]  # results written before the key: from ci95
  assert rl.arm_half_width(arm, "af_rate_oracle") == pytest.approx((hi - lo) / 2)


def test_runs_differing_in_what_does_not_change_the_measurement_are_reported(tmp_path):
  def longer(data):
    data["config"]["rollout"]["followup_max_new_tokens"] = 32
    data["config"]["eval"]["batch_size"] = 64  # other draws, the same measurement
  runs = [synthetic.write_run(tmp_path, "tgg_plain", "baseline", 0),
          _write_modified(tmp_path, "tgg_plain", "baseline", 1, longer)]
  results = rl.build_results(rl.collect_runs(runs), None, {})
  assert results["organisms"]["tgg_plain"]["arms"]["baseline"]["n_seeds"] == 2
