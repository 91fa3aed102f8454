"""RL runs -> results.json: per organism and arm, seeds, means, 95% intervals and curves.

Input: run directories of the RL job, each holding `rl_summary.json`

  {"organism": str, "arm": str, "seed": int, "steps": int,
   "curve": [{"step": int, METRIC: float|null, ...}, ...],   # step 0 = before RL, ascending
   "final": {METRIC: float|null, ...},                         # == the last curve entry
   "ci95": {METRIC: [lo, hi]},                                  # within-run, may omit keys
   "counts": {"n_train", "n_unmonitored", "lying_n": int|null},  # optional: denominators
   "policy_params_sha256": str|null,                            # optional: the organism's params
   "classifier": {"params_sha256": str, "threshold": float}|null,  # optional: af_rate_classifier's
   "examples": {"free": [EXAMPLE, ...], "paid": [EXAMPLE, ...]},
   "config": {...}}

(EXAMPLE: prompt, response, scratchpad_label, output_label: str; followup: str
or null; NaN, which Python's json writes for an undefined figure, reads as
null) and `eval.jsonl`, one JSON line per eval with "step" and the METRIC
keys: the same records as "curve" (checked; when a step was logged more than
once, e.g. after a resume, its last line counts). Extra metric keys are
allowed and not reported.

Output (`build_results`), with METRICS = {METRIC: float|null for METRIC in METRICS}:

  {"organisms": {NAME: {
      "pre_rl": METRICS,          # mean over every run of the organism of its step-0 metrics
      "pre_rl_ci95": {METRIC: [lo, hi]},
      "pre_rl_n": {METRIC: int},  # runs with a non-null step-0 value
      "arms": {ARM: {
          "seeds": [METRICS, ...],   # each run's final metrics, by ascending seed
          "seed_ids": [int, ...], "run_dirs": [str, ...], "n_seeds": int, "steps": int,
          "counts": [{"n_train", "n_unmonitored", "lying_n"} | null, ...],  # per seed
          "ci95_half_width": {METRIC: float|null},  # unclipped, for derived figures
          "pre_rl_followup": {FOLLOWUP_METRIC: float|null},  # this arm's runs' step 0
          "pre_rl_followup_ci95": {FOLLOWUP_METRIC: [lo, hi]},
          "n_defined": {METRIC: int},  # seeds whose final value is not null
          "mean": METRICS,           # mean over seeds
          "ci95": {METRIC: [lo, hi]},
          "ci95_method": str,        # "across_seeds" or "within_run"
          "ci95_description": str,
          "curve": [{"step": N, METRIC: value, ...}, ...]}}}},
   "reductions": {"baseline_rl": ..., "pre_rl": ...},   # see `reductions`
   "monitors": monitor_eval.json as is, or null,
   "config": {...},
   "metrics": [METRIC, ...], "definitions": {...}}

Definitions:
  pre_rl    every run of an organism starts from the same policy (the organism),
            so step 0 evaluates one model with different sampling seeds; pre_rl
            is the mean of the non-null step-0 values over all its runs (every
            arm and seed). pre_rl_ci95 is the envelope [min lo, max hi] of those
            step-0 evals' within-run intervals: the runs evaluate one policy,
            by default on one eval sample (one eval seed), so their agreement is
            one measurement, not n independent ones (a t interval over them
            would shrink to nothing when one run differs in the last digit).
            A follow-up metric (lying_rate) depends on the question asked, so
            it is null here when the organism's runs asked different ones
            (interrogation and interrogation_warned); each arm's own step-0
            figure is its pre_rl_followup.
  mean      per arm, the mean over seeds of each run's final metrics.
  ci95      n >= 2 seeds ("across_seeds"): mean +- sqrt(h_t^2 + h_e^2), with
            h_t = t_{0.975, n-1} * sd / sqrt(n) (sd with n - 1) across seeds and
            h_e the mean half-width of the seeds' within-run intervals: the
            seeds share the eval prompts and sampling key, so the eval's own
            sampling noise is common to them, does not show in their spread
            and does not average down. n == 1: the run's own within-run
            interval of its final eval from rl_summary.json (Wilson for rates,
            Newcombe's paired score interval for the gap; "within_run"): eval
            sampling noise only, not seed-to-seed variation. Across-seed
            bounds are clipped to the metric's range ([0, 1] for rates, [-1, 1]
            for the gap, >= 0 for token counts); figures derived from them
            (reductions, the report's evasion strength) use the unclipped
            half-width, ci95_half_width. Null bounds: undefined (a null
            metric, or a within-run interval the run did not give). h_e is 0
            when no seed gave a within-run interval (mean_scratchpad_tokens:
            a plain t interval).
  counts    per seed, the final eval's denominators: samples per tier and
            lying_n (lying_rate's); null for runs written before they were
            recorded. Means over seeds weight each seed equally, whatever its n.
  curve     per eval step present in every seed's curve, the mean over seeds.
  null      a metric that does not apply (lying_rate without interrogation) or
            is undefined (lying_rate when no explicit-AF sample was asked) is
            null; a mean of nulls is null. Means, curves and intervals use the
            non-null values: a metric defined in only n_defined of an arm's
            seeds gets the across-seeds interval over those (n_defined >= 2)
            or that one run's within-run interval (n_defined == 1).
  seeds     the runs of one arm must have run the same number of steps, and one
            (organism, arm, seed) may come from one run directory only. The
            runs of one organism must share the eval settings (config.eval:
            num_harmful, max_new_tokens, temperature, seed) and,
            where recorded, the starting policy (policy_params_sha256) and the
            scratchpad classifier that measured af_rate_classifier (its
            params and threshold, `classifier`); the
            runs of one arm must share the follow-up question (config.rollout:
            followup_variant, followup_max_new_tokens). Otherwise their means
            would mix different measurements: build_results refuses.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import tempfile
from typing import Any, Iterable, Mapping, Sequence

from afjax.report import stats

SUMMARY_FILE = "rl_summary.json"
EVAL_LOG_FILE = "eval.jsonl"
RESULTS_FILE = "results.json"
METRICS = ("compliance_train", "compliance_unmonitored", "compliance_gap", "af_rate_oracle",
           "af_rate_classifier", "implicit_af_rate_oracle", "lying_rate", "unparseable_rate",
           "unparseable_rate_train", "unparseable_af_marker_rate_train", "mean_scratchpad_tokens")
# Metrics added after runs were written: a summary without one reads it as null.
LATER_METRICS = ("unparseable_af_marker_rate_train",)
# Metrics that depend on the follow-up question, whose variant differs between arms.
FOLLOWUP_METRICS = ("lying_rate",)
# The config fields that decide an eval's samples: every run of an organism must share them.
# (eval.batch_size changes which random draws are made, not what is measured: not compared, so
# that hosts whose device counts need other batch sizes can be reported together.)
EVAL_SETTING_FIELDS = ("eval.num_harmful", "eval.max_new_tokens", "eval.temperature",
                       "eval.seed")
# And those of the follow-up question: every run of an arm must share them.
FOLLOWUP_SETTING_FIELDS = ("rollout.followup_variant", "rollout.followup_max_new_tokens")
COUNT_KEYS = ("n_train", "n_unmonitored", "lying_n")
# The range of each metric, to which intervals are clipped (the gap is a difference of rates).
METRIC_RANGES = {**{m: (0.0, 1.0) for m in METRICS}, "compliance_gap": (-1.0, 1.0),
                 "mean_scratchpad_tokens": (0.0, math.inf)}
BASELINE_ARM = "baseline"
REDUCTION_METRICS = ("af_rate_oracle", "af_rate_classifier", "compliance_gap")
EXAMPLE_TIERS = ("free", "paid")
EXAMPLE_STR_KEYS = ("prompt", "response", "scratchpad_label", "output_label")
ACROSS_SEEDS = "across_seeds"
WITHIN_RUN = "within_run"
LOG_TOLERANCE = 1e-6

DEFINITIONS = {
    "pre_rl": ("mean over every run of the organism (all arms and seeds) of the non-null step-0 "
               "(before RL) metrics: one policy evaluated with different sampling seeds; "
               "lying_rate is null there when the runs asked different follow-up questions "
               "(each arm's pre_rl_followup has its own)"),
    "counts": ("per seed, the final eval's denominators (n_train, n_unmonitored, lying_n); "
               "means over seeds weight every seed equally"),
    "comparable": ("the runs of an organism share the eval settings (config.eval.num_harmful, "
                   "max_new_tokens, temperature, seed) and, where recorded, the "
                   "starting policy's params digest; the runs of an arm asking a follow-up "
                   "question share it (variant, max new tokens); other runs are refused, not "
                   "mixed. The scratchpad classifier behind af_rate_classifier is not checked"),
    "pre_rl_ci95": ("the envelope [min lo, max hi] of the step-0 evals' within-run intervals "
                    "(Wilson / paired score): one policy, by default one eval sample, so one "
                    "measurement"),
    "mean": "per arm, mean over seeds of each run's final metrics",
    ACROSS_SEEDS: ("n >= 2 seeds: mean +- sqrt(h_t^2 + h_e^2), h_t = t_{0.975, n-1} * sd / "
                   "sqrt(n) (sd with n - 1) across seeds, h_e = the mean half-width of the "
                   "seeds' within-run intervals (eval sampling noise, shared by the seeds: same "
                   "prompts and sampling key; 0 when none gave one), clipped to the metric's "
                   "range; a heuristic, conservative combination, not a textbook interval"),
    WITHIN_RUN: ("1 seed: the run's within-run 95% interval of its final eval (Wilson for rates, "
                 "Newcombe's paired score interval for the gap): eval sampling noise only, not "
                 "seed-to-seed variation"),
    "curve": "per eval step present in every seed, the mean over seeds",
    "null": ("a metric that does not apply or is undefined is null; means, curves and intervals "
             "use the non-null values (n_defined per arm); a mean of nulls is null; null bounds "
             "are undefined"),
    "reductions": ("reference minus arm (positive = the arm lowers the metric), per organism from "
                   "the means, then averaged over the organisms where both are defined; interval "
                   "half-widths (hi - lo) / 2 combined in quadrature as if independent and divided "
                   "by the number of organisms (a normal approximation)"),
}


class RunError(ValueError):
  """A run directory whose rl_summary.json or eval.jsonl breaks the contract."""


# ----------------------------------------------------------------------------- reading runs


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _nan_to_none(value: Any) -> Any:
  """NaN (an undefined figure as Python's json writes it) is null; anything else is kept."""
  return None if isinstance(value, float) and math.isnan(value) else value


def _is_int(value: Any) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _metric_value(path: pathlib.Path, where: str, record: Mapping[str, Any], metric: str):
  if metric not in record and metric in LATER_METRICS:
    return None
  if metric not in record:
    raise RunError(f"{path}: {where} is missing key {metric!r}")
  value = _nan_to_none(record[metric])
  if value is not None and not _is_number(value):
    raise RunError(f"{path}: {where}[{metric!r}]={value!r}; allowed: a finite number or null")
  return None if value is None else float(value)


def _check_summary(path: pathlib.Path, summary: Any) -> dict:
  """Validates one parsed rl_summary.json against the contract; returns it with floats."""
  if not isinstance(summary, dict):
    raise RunError(f"{path}: the top level is {type(summary).__name__}; allowed: a JSON object")
  kinds = {"organism": str, "arm": str, "seed": int, "steps": int, "curve": list, "final": dict,
           "ci95": dict, "examples": dict, "config": dict}
  for key, kind in kinds.items():
    if key not in summary:
      raise RunError(f"{path}: missing key {key!r}")
    value = summary[key]
    if not isinstance(value, kind) or isinstance(value, bool) or (kind is str and not value):
      raise RunError(f"{path}: key {key!r} is {value!r} ({type(value).__name__}); allowed: "
                     f"{'a non-empty string' if kind is str else kind.__name__}")
  if summary["steps"] < 0:
    raise RunError(f"{path}: key 'steps' is {summary['steps']}; allowed: >= 0")
  curve = []
  for i, entry in enumerate(summary["curve"]):
    where = f"curve[{i}]"
    if not isinstance(entry, dict):
      raise RunError(f"{path}: {where} is {entry!r}; allowed: an object with 'step' and the "
                     "metrics")
    if "step" not in entry:
      raise RunError(f"{path}: {where} is missing key 'step'")
    if not _is_int(entry["step"]) or entry["step"] < 0:
      raise RunError(f"{path}: {where}['step']={entry['step']!r}; allowed: an integer >= 0")
    if curve and entry["step"] <= curve[-1]["step"]:
      raise RunError(f"{path}: {where}['step']={entry['step']} follows step {curve[-1]['step']}; "
                     "allowed: strictly ascending steps")
    curve.append({"step": entry["step"],
                  **{m: _metric_value(path, where, entry, m) for m in METRICS}})
  if not curve:
    raise RunError(f"{path}: key 'curve' is empty; allowed: evals from step 0 (before RL) on")
  if curve[0]["step"] != 0:
    raise RunError(f"{path}: curve[0]['step']={curve[0]['step']}; allowed: 0 (the eval before RL)")
  final = {m: _metric_value(path, "final", summary["final"], m) for m in METRICS}
  for metric in METRICS:
    last = curve[-1][metric]
    if (final[metric] is None) != (last is None) or (
        last is not None and not math.isclose(final[metric], last, rel_tol=LOG_TOLERANCE,
                                              abs_tol=1e-12)):
      raise RunError(f"{path}: final[{metric!r}]={final[metric]!r} differs from the last curve "
                     f"entry (step {curve[-1]['step']}): {last!r}")
  ci95 = {}
  for metric, bounds in summary["ci95"].items():
    if isinstance(bounds, list):
      bounds = [_nan_to_none(b) for b in bounds]
    if (not isinstance(bounds, list) or len(bounds) != 2
        or not all(b is None or _is_number(b) for b in bounds)):
      raise RunError(f"{path}: ci95[{metric!r}]={summary['ci95'][metric]!r}; allowed: [lo, hi] of "
                     "numbers or nulls")
    if metric in METRICS:
      ci95[metric] = [None if b is None else float(b) for b in bounds]
  counts = summary.get("counts")
  if counts is not None and not (isinstance(counts, dict) and all(
      counts.get(k) is None or _is_int(counts.get(k)) for k in COUNT_KEYS)):
    raise RunError(f"{path}: key 'counts' is {counts!r}; allowed: an object of integers or "
                   f"nulls with keys {list(COUNT_KEYS)}")
  policy = summary.get("policy_params_sha256")
  if policy is not None and not isinstance(policy, str):
    raise RunError(f"{path}: key 'policy_params_sha256' is {policy!r}; allowed: a string or null")
  classifier = summary.get("classifier")
  if classifier is not None and not (
      isinstance(classifier, dict) and isinstance(classifier.get("params_sha256"), str)
      and _is_number(classifier.get("threshold"))):
    raise RunError(f"{path}: key 'classifier' is {classifier!r}; allowed: null or an object with "
                   "a string params_sha256 and a number threshold")
  for tier in EXAMPLE_TIERS:
    examples = summary["examples"].get(tier)
    if not isinstance(examples, list):
      raise RunError(f"{path}: examples[{tier!r}] is {examples!r}; allowed: a list of transcripts")
    for i, example in enumerate(examples):
      where = f"examples[{tier!r}][{i}]"
      if not isinstance(example, dict):
        raise RunError(f"{path}: {where} is {example!r}; allowed: an object")
      for key in EXAMPLE_STR_KEYS + ("followup",):
        if key not in example:
          raise RunError(f"{path}: {where} is missing key {key!r}")
        value = example[key]
        if not (isinstance(value, str) or (key == "followup" and value is None)):
          raise RunError(f"{path}: {where}[{key!r}]={value!r}; allowed: a string"
                         + (" or null" if key == "followup" else ""))
  return {**summary, "curve": curve, "final": final, "ci95": ci95,
          "counts": {k: counts.get(k) for k in COUNT_KEYS} if counts is not None else None,
          "policy_params_sha256": policy, "classifier": classifier,
          "eval_settings": _config_fields(summary["config"], EVAL_SETTING_FIELDS),
          "followup_settings": _followup_question(summary["config"])}


def _config_fields(config: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
  """{dotted field: its value in the run's config, or None where absent}."""
  out = {}
  for field in fields:
    node: Any = config
    for part in field.split("."):
      node = node.get(part) if isinstance(node, dict) else None
    out[field] = node
  return out


def _followup_question(config: Mapping[str, Any]) -> dict[str, Any] | None:
  """The follow-up question's settings, or None for a run that asks none."""
  settings = _config_fields(config, FOLLOWUP_SETTING_FIELDS)
  return settings if settings["rollout.followup_variant"] else None


def _check_comparable(organism: str, runs: Sequence[dict]) -> None:
  """RunError unless the runs of one organism measure the same thing (see DEFINITIONS)."""
  def differ(key: str, runs: Sequence[dict]) -> bool:
    return len({json.dumps(r.get(key), sort_keys=True) for r in runs}) > 1

  def shown(key: str, runs: Sequence[dict]) -> str:
    """Each distinct value once, with one run that has it and how many do."""
    groups: dict[str, list[str]] = {}
    for r in runs:
      groups.setdefault(json.dumps(r.get(key), sort_keys=True), []).append(r["run_dir"])
    return "; ".join(f"{value} in {len(dirs)} run(s), e.g. {dirs[0]}"
                     for value, dirs in groups.items())

  if differ("eval_settings", runs):
    raise RunError(f"the runs of organism {organism!r} were evaluated with different settings "
                   f"({shown('eval_settings', runs)}); allowed: one eval setting per organism "
                   "(report them apart)")
  policies = {r.get("policy_params_sha256") for r in runs} - {None}
  if len(policies) > 1:
    raise RunError(f"the runs of organism {organism!r} start from different policies "
                   f"(policy_params_sha256: {shown('policy_params_sha256', runs)}); allowed: one "
                   "organism per name (report them apart)")
  classified = [r for r in runs if r.get("classifier") is not None]
  if differ("classifier", classified):
    raise RunError(f"the runs of organism {organism!r} measured af_rate_classifier with different "
                   f"scratchpad classifiers ({shown('classifier', classified)}); allowed: one "
                   "classifier (params and threshold) per organism (report them apart)")
  for arm in sorted({r["arm"] for r in runs}):
    arm_runs = [r for r in runs if r["arm"] == arm]
    if differ("followup_settings", arm_runs):
      raise RunError(f"the runs of organism {organism!r} arm {arm!r} asked different follow-up "
                     f"questions ({shown('followup_settings', arm_runs)}); allowed: one per arm")


def _check_eval_log(run_dir: pathlib.Path, curve: Sequence[Mapping[str, Any]]) -> dict[int, dict]:
  """eval.jsonl's records by step (the last line per step); RunError unless it holds the curve's."""
  path = run_dir / EVAL_LOG_FILE
  if not path.is_file():
    raise RunError(f"{path}: missing (the RL job writes one JSON line per eval next to "
                   f"{SUMMARY_FILE})")
  logged: dict[int, dict] = {}
  for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
    if not line.strip():
      continue
    try:
      record = json.loads(line)
    except json.JSONDecodeError as err:
      raise RunError(f"{path}: line {number} is not JSON ({err})") from err
    if not isinstance(record, dict) or not _is_int(record.get("step")):
      raise RunError(f"{path}: line {number} has no integer 'step'")
    logged[record["step"]] = record
  for entry in curve:
    step = entry["step"]
    if step not in logged:
      raise RunError(f"{path}: no record for step {step}, which the curve of {SUMMARY_FILE} has")
    for metric in METRICS:
      value = _metric_value(path, f"the record of step {step}", logged[step], metric)
      expected = entry[metric]
      if (value is None) != (expected is None) or (
          value is not None and not math.isclose(value, expected, rel_tol=LOG_TOLERANCE,
                                                 abs_tol=1e-12)):
        raise RunError(f"{path}: step {step} {metric}={value!r} but the curve of {SUMMARY_FILE} "
                       f"says {expected!r}")
  return logged


def load_run(run_dir: str | os.PathLike) -> dict:
  """Reads and validates one run directory; the summary plus "run_dir" (absolute).

  Raises:
    RunError: naming the file and the missing or invalid key.
  """
  run_dir = pathlib.Path(run_dir).resolve()
  path = run_dir / SUMMARY_FILE
  if not path.is_file():
    raise RunError(f"{path}: missing; allowed in --runs: RL run directories holding {SUMMARY_FILE}")
  try:
    summary = json.loads(path.read_text(encoding="utf-8"))
  except json.JSONDecodeError as err:
    raise RunError(f"{path}: not valid JSON ({err})") from err
  run = _check_summary(path, summary)
  logged = _check_eval_log(run_dir, run["curve"])
  first = logged[run["curve"][0]["step"]].get("ci95")
  pre_ci95 = {m: list(first[m]) if isinstance(first, dict) and _is_interval(first.get(m)) else None
              for m in METRICS}
  return {**run, "pre_ci95": pre_ci95, "run_dir": str(run_dir)}


def _is_interval(value: Any) -> bool:
  return (isinstance(value, (list, tuple)) and len(value) == 2
          and all(v is None or _is_number(v) for v in value))


def _pre_rl_interval(runs: Sequence[dict], values: Sequence[float | None], metric: str
                     ) -> list[float | None]:
  """The envelope [min lo, max hi] of the defined step-0 within-run intervals (see DEFINITIONS).

  Runs of one organism evaluate the same policy at step 0, by default on the
  same sample: their values are one measurement, not n agreeing ones.
  """
  bounds = []
  for run, value in zip(runs, values):
    interval = run.get("pre_ci95", {}).get(metric)
    if value is not None and interval is not None:
      interval = [_nan_to_none(b) for b in interval]
      if None not in interval:
        bounds.append(interval)
  if not bounds:
    return [None, None]
  return [min(b[0] for b in bounds), max(b[1] for b in bounds)]


def _pre_rl(runs: Sequence[dict], metrics: Sequence[str]) -> dict:
  """pre_rl, pre_rl_ci95 and pre_rl_n of `runs` (see DEFINITIONS).

  A follow-up metric whose defining runs asked different questions is null
  there: each arm has its own (`pre_rl_followup`).
  """
  out: dict[str, dict] = {"pre_rl": {}, "pre_rl_ci95": {}, "pre_rl_n": {}}
  for m in metrics:
    values = [r["curve"][0][m] for r in runs]
    questions = {json.dumps(r.get("followup_settings"), sort_keys=True)
                 for r, v in zip(runs, values) if v is not None}
    if m in FOLLOWUP_METRICS and len(questions) > 1:
      values = [None] * len(runs)
    out["pre_rl"][m] = stats.mean_or_none(values)
    out["pre_rl_ci95"][m] = _pre_rl_interval(runs, values, m)
    out["pre_rl_n"][m] = sum(v is not None for v in values)
  return out


def collect_runs(run_dirs: Iterable[str | os.PathLike]) -> list[dict]:
  """Loads every run directory (see `load_run`); sorted by (organism, arm, seed).

  A directory listed twice is read once. Two directories with the same
  organism, arm and seed are an error.

  Raises:
    RunError: a malformed run (naming the file and key), no runs, or a duplicate.
  """
  runs: dict[tuple[str, str, int], dict] = {}
  seen_dirs: set[str] = set()
  for run_dir in run_dirs:
    if str(pathlib.Path(run_dir).resolve()) in seen_dirs:
      continue
    run = load_run(run_dir)
    seen_dirs.add(run["run_dir"])
    key = (run["organism"], run["arm"], run["seed"])
    if key in runs:
      raise RunError(f"{runs[key]['run_dir']} and {run['run_dir']} are both organism {key[0]!r}, "
                     f"arm {key[1]!r}, seed {key[2]}; allowed: one run per (organism, arm, seed)")
    runs[key] = run
  if not runs:
    raise RunError("no run directories given")
  return [runs[key] for key in sorted(runs)]


# ----------------------------------------------------------------------------- aggregation


def _arm_interval(runs: Sequence[dict], metric: str) -> list[float | None]:
  """Across the seeds defining `metric` (see DEFINITIONS), or the one defining run's own interval.

  Across seeds the bounds are clipped to the metric's range; `_arm_half_width` keeps the
  unclipped half-width for figures derived from the interval.
  """
  defined = [r for r in runs if r["final"][metric] is not None]
  if len(defined) >= 2:
    mean = math.fsum(r["final"][metric] for r in defined) / len(defined)
    half = _across_seeds_half_width(defined, metric)
    low, high = METRIC_RANGES.get(metric, (-math.inf, math.inf))
    return [max(low, mean - half), min(high, mean + half)]
  if len(defined) == 1:
    return list(defined[0]["ci95"].get(metric, [None, None]))
  return [None, None]


def _across_seeds_half_width(defined: Sequence[dict], metric: str) -> float:
  """sqrt(h_t^2 + h_e^2) over the runs defining `metric` (at least 2; see DEFINITIONS)."""
  values = [r["final"][metric] for r in defined]
  lo, hi = stats.t_interval(values)
  eval_halves = [half_width(r["ci95"].get(metric)) for r in defined]
  eval_halves = [h for h in eval_halves if h is not None]
  eval_half = math.fsum(eval_halves) / len(eval_halves) if eval_halves else 0.0
  return math.hypot((hi - lo) / 2.0, eval_half)


def _arm_half_width(runs: Sequence[dict], metric: str) -> float | None:
  """The half-width of `_arm_interval` before clipping (None when undefined)."""
  defined = [r for r in runs if r["final"][metric] is not None]
  if len(defined) >= 2:
    return _across_seeds_half_width(defined, metric)
  return half_width(_arm_interval(runs, metric))


def _aggregate_arm(runs: Sequence[dict]) -> dict:
  organism, arm = runs[0]["organism"], runs[0]["arm"]
  steps = sorted({r["steps"] for r in runs})
  if len(steps) > 1:
    raise RunError(f"the runs of organism {organism!r} arm {arm!r} ran different numbers of steps "
                   f"({ {r['run_dir']: r['steps'] for r in runs} }); allowed: one value")
  n = len(runs)
  if n >= 2:
    method = ACROSS_SEEDS
    description = (f"across {n} seeds: mean +- sqrt(h_t^2 + h_e^2), h_t = t_(0.975, {n - 1}) * "
                   f"sd / sqrt({n}) with t_(0.975, {n - 1}) = {stats.t_quantile(n - 1):.3f}, "
                   "h_e = the seeds' mean within-run half-width; a metric defined in fewer "
                   "seeds (n_defined) uses its n_defined, and the within-run interval when "
                   "n_defined = 1")
  else:
    method = WITHIN_RUN
    description = ("1 seed: the run's within-run interval of its final eval (eval sampling noise "
                   "only, not seed-to-seed variation)")
  common_steps = set.intersection(*({e["step"] for e in r["curve"]} for r in runs))
  curve = []
  for step in sorted(common_steps):
    entries = [next(e for e in r["curve"] if e["step"] == step) for r in runs]
    curve.append({"step": step,
                  **{m: stats.mean_or_none([e[m] for e in entries]) for m in METRICS}})
  followup = _pre_rl(runs, FOLLOWUP_METRICS)
  return {
      "seeds": [dict(r["final"]) for r in runs],
      "counts": [r.get("counts") for r in runs],
      "pre_rl_followup": followup["pre_rl"],
      "pre_rl_followup_ci95": followup["pre_rl_ci95"],
      "seed_ids": [r["seed"] for r in runs],
      "run_dirs": [r["run_dir"] for r in runs],
      "n_seeds": n,
      "steps": steps[0],
      "n_defined": {m: sum(r["final"][m] is not None for r in runs) for m in METRICS},
      "mean": {m: stats.mean_or_none([r["final"][m] for r in runs]) for m in METRICS},
      "ci95": {m: _arm_interval(runs, m) for m in METRICS},
      "ci95_half_width": {m: _arm_half_width(runs, m) for m in METRICS},
      "ci95_method": method,
      "ci95_description": description,
      "curve": curve,
  }


def half_width(bounds: Sequence[float | None] | None) -> float | None:
  """(hi - lo) / 2 of an interval; None when it or a bound is undefined."""
  if bounds is None or bounds[0] is None or bounds[1] is None:
    return None
  return (bounds[1] - bounds[0]) / 2.0


def arm_half_width(arm_entry: Mapping[str, Any], metric: str) -> float | None:
  """An arm's interval half-width for derived figures: unclipped (ci95_half_width), or from its
  ci95 in results written before that key existed."""
  halves = arm_entry.get("ci95_half_width")
  return halves.get(metric) if halves is not None else half_width(arm_entry["ci95"][metric])


def _average_reduction(pairs: Sequence[tuple[float | None, float | None, float | None,
                                             float | None]]) -> dict:
  """Mean over organisms of reference - arm, with quadrature half-widths (see DEFINITIONS).

  Args:
    pairs: per organism (reference, its half-width, arm value, its half-width).
  """
  diffs, halves = [], []
  for ref, a, value, b in pairs:
    if ref is None or value is None:
      continue
    diffs.append(ref - value)
    halves.append(None if a is None or b is None else math.hypot(a, b))
  if not diffs:
    return {"mean": None, "ci95": [None, None], "n_organisms": 0}
  mean = math.fsum(diffs) / len(diffs)
  if any(h is None for h in halves):
    return {"mean": mean, "ci95": [None, None], "n_organisms": len(diffs)}
  half = math.sqrt(math.fsum(h * h for h in halves)) / len(diffs)
  return {"mean": mean, "ci95": [mean - half, mean + half], "n_organisms": len(diffs)}


def reductions(organisms: Mapping[str, dict]) -> dict:
  """Final reductions per arm, averaged over organisms.

  Returns:
    {"baseline_rl": {ARM: {METRIC: R}} for every arm but baseline, against the
     baseline arm of the same organism; "pre_rl": {ARM: {METRIC: R}} for every
     arm, against the organism's pre_rl}, METRIC in REDUCTION_METRICS and
    R = {"mean": float|null, "ci95": [lo, hi], "n_organisms": int}: the mean of
    reference - arm (positive = lower after the arm) over the organisms where
    both are defined.
  """
  arms = sorted({arm for entry in organisms.values() for arm in entry["arms"]})
  out: dict[str, dict] = {"baseline_rl": {}, "pre_rl": {}}
  for arm in arms:
    holders = [e for e in organisms.values() if arm in e["arms"]]
    out["pre_rl"][arm] = {
        m: _average_reduction([(e["pre_rl"][m], half_width(e["pre_rl_ci95"][m]),
                                e["arms"][arm]["mean"][m], arm_half_width(e["arms"][arm], m))
                               for e in holders])
        for m in REDUCTION_METRICS}
    if arm == BASELINE_ARM:
      continue
    with_baseline = [e for e in holders if BASELINE_ARM in e["arms"]]
    out["baseline_rl"][arm] = {
        m: _average_reduction([(e["arms"][BASELINE_ARM]["mean"][m],
                                arm_half_width(e["arms"][BASELINE_ARM], m),
                                e["arms"][arm]["mean"][m], arm_half_width(e["arms"][arm], m))
                               for e in with_baseline])
        for m in REDUCTION_METRICS}
  return out


def build_results(runs: Sequence[dict], monitor_eval: dict | None, config: dict) -> dict:
  """The results of validated runs (from `collect_runs`); see the module docstring.

  Args:
    runs: loaded runs, any order.
    monitor_eval: the parsed monitor_eval.json, embedded as is, or None.
    config: what produced the report (embedded as is).

  Returns:
    The results dict, already checked by `validate_results`.
  """
  if not runs:
    raise RunError("no runs to report")
  by_organism: dict[str, dict[str, list[dict]]] = {}
  for run in sorted(runs, key=lambda r: (r["organism"], r["arm"], r["seed"])):
    by_organism.setdefault(run["organism"], {}).setdefault(run["arm"], []).append(run)
  organisms = {}
  for name, arms in by_organism.items():
    all_runs = [r for arm_runs in arms.values() for r in arm_runs]
    _check_comparable(name, all_runs)
    organisms[name] = {
        **_pre_rl(all_runs, METRICS),
        "arms": {arm: _aggregate_arm(arm_runs) for arm, arm_runs in arms.items()},
    }
  results = {
      "organisms": organisms,
      "reductions": reductions(organisms),
      "monitors": monitor_eval,
      "config": config,
      "metrics": list(METRICS),
      "definitions": dict(DEFINITIONS),
  }
  validate_results(results)
  return results


# ----------------------------------------------------------------------------- schema


class SchemaError(ValueError):
  """A results dict that does not follow the results.json schema."""


def _require(condition: bool, message: str) -> None:
  if not condition:
    raise SchemaError(message)


def _check_metrics(where: str, metrics: Any) -> None:
  _require(isinstance(metrics, dict), f"{where} is {type(metrics).__name__}; allowed: an object")
  for metric in METRICS:
    _require(metric in metrics, f"{where} is missing metric {metric!r}")
    value = metrics[metric]
    _require(value is None or _is_number(value),
             f"{where}[{metric!r}]={value!r}; allowed: a finite number or null")


def _check_intervals(where: str, intervals: Any) -> None:
  _require(isinstance(intervals, dict),
           f"{where} is {type(intervals).__name__}; allowed: an object")
  for metric in METRICS:
    _require(metric in intervals, f"{where} is missing metric {metric!r}")
    bounds = intervals[metric]
    _require(isinstance(bounds, list) and len(bounds) == 2
             and all(b is None or _is_number(b) for b in bounds),
             f"{where}[{metric!r}]={bounds!r}; allowed: [lo, hi] of numbers or nulls")


def validate_results(results: Any) -> None:
  """Checks `results` against the schema of the module docstring.

  Raises:
    SchemaError: naming the path of the first missing or ill-typed field.
  """
  _require(isinstance(results, dict), "results is not an object")
  for key in ("organisms", "monitors", "config", "reductions", "metrics", "definitions"):
    _require(key in results, f"results is missing key {key!r}")
  _require(results["monitors"] is None or isinstance(results["monitors"], dict),
           f"results['monitors'] is {type(results['monitors']).__name__}; allowed: an object "
           "or null")
  _require(isinstance(results["config"], dict), "results['config'] is not an object")
  _require(results["metrics"] == list(METRICS), f"results['metrics'] is {results['metrics']!r}; "
           f"allowed: {list(METRICS)}")
  organisms = results["organisms"]
  _require(isinstance(organisms, dict) and organisms,
           "results['organisms'] is not a non-empty object")
  for name, entry in organisms.items():
    where = f"organisms[{name!r}]"
    _require(isinstance(entry, dict), f"{where} is not an object")
    for key in ("pre_rl", "pre_rl_ci95", "pre_rl_n", "arms"):
      _require(key in entry, f"{where} is missing key {key!r}")
    _check_metrics(f"{where}['pre_rl']", entry["pre_rl"])
    _check_intervals(f"{where}['pre_rl_ci95']", entry["pre_rl_ci95"])
    _require(isinstance(entry["arms"], dict) and entry["arms"],
             f"{where}['arms'] is not a non-empty object")
    for arm, arm_entry in entry["arms"].items():
      at = f"{where}['arms'][{arm!r}]"
      _require(isinstance(arm_entry, dict), f"{at} is not an object")
      for key in ("seeds", "seed_ids", "run_dirs", "n_seeds", "steps", "n_defined", "mean",
                  "ci95", "ci95_method", "ci95_description", "curve"):
        _require(key in arm_entry, f"{at} is missing key {key!r}")
      seeds = arm_entry["seeds"]
      _require(isinstance(seeds, list) and seeds, f"{at}['seeds'] is not a non-empty list")
      _require(arm_entry["n_seeds"] == len(seeds) == len(arm_entry["seed_ids"])
               == len(arm_entry["run_dirs"]),
               f"{at}: n_seeds, seeds, seed_ids and run_dirs disagree in length")
      for i, metrics in enumerate(seeds):
        _check_metrics(f"{at}['seeds'][{i}]", metrics)
      _check_metrics(f"{at}['mean']", arm_entry["mean"])
      _check_intervals(f"{at}['ci95']", arm_entry["ci95"])
      # Keys added later (absent from older results.json files).
      if "ci95_half_width" in arm_entry:
        _check_metrics(f"{at}['ci95_half_width']", arm_entry["ci95_half_width"])
      if "counts" in arm_entry:
        _require(isinstance(arm_entry["counts"], list) and len(arm_entry["counts"]) == len(seeds)
                 and all(c is None or isinstance(c, dict) for c in arm_entry["counts"]),
                 f"{at}['counts'] is not a list of objects or nulls, one per seed")
      if "pre_rl_followup" in arm_entry:
        for metric in FOLLOWUP_METRICS:
          value = arm_entry["pre_rl_followup"].get(metric)
          _require(value is None or _is_number(value),
                   f"{at}['pre_rl_followup'][{metric!r}]={value!r}; allowed: a number or null")
      _require(arm_entry["ci95_method"] in (ACROSS_SEEDS, WITHIN_RUN),
               f"{at}['ci95_method']={arm_entry['ci95_method']!r}; allowed: "
               f"{ACROSS_SEEDS!r}, {WITHIN_RUN!r}")
      _require(isinstance(arm_entry["curve"], list) and arm_entry["curve"],
               f"{at}['curve'] is not a non-empty list")
      for i, point in enumerate(arm_entry["curve"]):
        _require(isinstance(point, dict) and _is_int(point.get("step")),
                 f"{at}['curve'][{i}] has no integer 'step'")
        _check_metrics(f"{at}['curve'][{i}]", point)
  for reference in ("baseline_rl", "pre_rl"):
    _require(isinstance(results["reductions"].get(reference), dict),
             f"results['reductions'] is missing {reference!r}")
    for arm, by_metric in results["reductions"][reference].items():
      for metric in REDUCTION_METRICS:
        value = by_metric.get(metric) if isinstance(by_metric, dict) else None
        _require(isinstance(value, dict) and {"mean", "ci95", "n_organisms"} <= set(value),
                 f"results['reductions'][{reference!r}][{arm!r}] is missing {metric!r}")


# ----------------------------------------------------------------------------- writing


def write_atomic(path: pathlib.Path, data: bytes) -> None:
  """Writes `data` to `path` through a temporary file in the same folder and a rename."""
  path.parent.mkdir(parents=True, exist_ok=True)
  handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
  try:
    with os.fdopen(handle, "wb") as out:
      out.write(data)
    os.replace(temporary, path)
  except BaseException:
    pathlib.Path(temporary).unlink(missing_ok=True)
    raise


def write_results(results: dict, out_dir: str | os.PathLike) -> pathlib.Path:
  """Validates `results` and writes them to out_dir/results.json (atomically)."""
  validate_results(results)
  path = pathlib.Path(out_dir) / RESULTS_FILE
  write_atomic(path, (json.dumps(results, indent=2, allow_nan=False) + "\n").encode("utf-8"))
  return path


def load_results(path: str | os.PathLike) -> dict:
  """Reads and validates a results.json."""
  path = pathlib.Path(path)
  try:
    results = json.loads(path.read_text(encoding="utf-8"))
  except (OSError, json.JSONDecodeError) as err:
    raise SchemaError(f"{path}: cannot be read as JSON ({err})") from err
  try:
    validate_results(results)
  except SchemaError as err:
    raise SchemaError(f"{path}: {err}") from err
  return results
