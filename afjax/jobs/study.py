"""A study: base model -> organisms -> monitors -> RL arms x seeds -> report, as cached stages.

Every stage is one run of another job (lm, sft, monitor, monitor_eval,
reward_model, rl) in its own folder under WORKDIR, built from that job's config
file plus the study's overrides:

  WORKDIR/base                      configs/organisms/base.py
  WORKDIR/organisms/NAME            configs/organisms/organism.py:NAME
  WORKDIR/monitors/scratchpad|output|eval
  WORKDIR/reward_model              configs/reward/learned.py (study.reward='learned' only)
  WORKDIR/rl/NAME/ARM/seedS         configs/rl/ARM.py:NAME
  WORKDIR/results.json, report.md, *.png

A stage that finished writes WORKDIR/.../DONE (with its wall time) and is
skipped when the study is rerun; an interrupted stage resumes from its own
checkpoints. DONE records the stage's config file and overrides, not the
code or the defaults they resolve to: after a change of either (e.g. the
organisms' grammar penalties of 2026-12-03), start a new WORKDIR, or the
old stages are reused. Shared stages (base, organisms, monitors, the reward model) are
computed once and reused by every RL run.

Spreading a study over processes or hosts (`study.stages`):
  shared   base, organisms, monitors (and the reward model when study.reward='learned');
  rl       the RL runs with index % study.num_shards == study.shard_index
           (needs the shared stages finished, e.g. on a shared filesystem);
  report   results.json / report.md / plots from the RL runs, all of which must
           have finished (a missing or failed run is an error, never dropped);
  all      everything in order (the default).

With `study.parallel_runs = P > 1` the RL runs (of this shard) go as P
concurrent `python -m afjax.main` processes, each logging to its run.log.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import pathlib
import time
from typing import Any

import jax
import ml_collections

from afjax import config as config_lib
from afjax import jobs as jobs_lib
from afjax import launch
from afjax.jobs import common

CONFIGS_ROOT = pathlib.Path(__file__).resolve().parents[2] / "configs"
DONE = launch.DONE_NAME
STAGE_SETS = ("all", "shared", "rl", "report")


@dataclasses.dataclass(frozen=True)
class Stage:
  """One job run of the study: its config file (with ':arg'), overrides and folder."""

  name: str
  config: str
  overrides: tuple[tuple[str, Any], ...]
  workdir: pathlib.Path
  kind: str  # "shared" or "rl"

  def done_path(self) -> pathlib.Path:
    return self.workdir / DONE


def load_config_file(spec: str) -> ml_collections.ConfigDict:
  """configs/PATH.py[:ARG] (relative to the repo's configs/ folder, or a path) -> its get_config."""
  path, _, arg = spec.partition(":")
  file = pathlib.Path(path)
  if not file.is_absolute() and not file.exists():
    file = CONFIGS_ROOT / path
  if not file.exists():
    raise config_lib.ConfigError(f"study stage config {spec!r}: {file} does not exist")
  module_spec = importlib.util.spec_from_file_location(f"afjax_stage_{file.stem}", file)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def apply_overrides(config: ml_collections.ConfigDict, overrides, where: str) -> None:
  """Sets dotted fields ('a.b' -> value); ConfigError naming `where` for a field that does not exist."""
  for path, value in overrides:
    node = config
    parts = path.split(".")
    for part in parts[:-1]:
      if part not in node:
        raise config_lib.ConfigError(f"{where}: override {path!r} names no field of the stage config")
      node = node[part]
    if parts[-1] not in node:
      raise config_lib.ConfigError(f"{where}: override {path!r} names no field of the stage config")
    node[parts[-1]] = tuple(value) if isinstance(value, list) else value


def _items(section: ml_collections.ConfigDict | dict | None, prefix: str = ""
           ) -> tuple[tuple[str, Any], ...]:
  """Nested overrides ({"train": {"steps": 20}}) as sorted (dotted path, value) pairs."""
  if not section:
    return ()
  pairs = []
  for key, value in dict(section).items():
    if isinstance(value, (dict, ml_collections.ConfigDict)):
      pairs.extend(_items(value, f"{prefix}{key}."))
    else:
      pairs.append((f"{prefix}{key}", value))
  return tuple(sorted(pairs))


def plan(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> list[Stage]:
  """Every stage of the study in dependency order."""
  s = config.study
  test = ",test" if s.test else ""
  test_only = ":test" if s.test else ""
  base = workdir / "base"
  stages = [Stage("base", f"organisms/base.py{test_only}", _items(s.overrides.base), base, "shared")]
  for name in s.organisms:
    stages.append(Stage(f"organism {name}", f"organisms/organism.py:{name}{test}",
                        (("init.base_workdir", str(base)), *_items(s.overrides.organism)),
                        workdir / "organisms" / name, "shared"))
  monitors = {view: workdir / "monitors" / view for view in ("scratchpad", "output")}
  for view, folder in monitors.items():
    stages.append(Stage(f"monitor {view}", f"monitors/{view}.py{test_only}",
                        (("init.base_workdir", str(base)), *_items(s.overrides.monitor)),
                        folder, "shared"))
  reward = ()
  if s.reward == "learned":
    stages.append(Stage("reward model", f"reward/learned.py{test_only}",
                        (("init.base_workdir", str(base)), *_items(s.overrides.reward_model)),
                        workdir / "reward_model", "shared"))
    reward = (("reward.kind", "learned"), ("reward.workdir", str(workdir / "reward_model")))
  stages.append(Stage("monitor eval", f"monitors/eval.py{test_only}", (
      ("monitors.scratchpad_workdir", str(monitors["scratchpad"])),
      ("monitors.output_workdir", str(monitors["output"])),
      ("monitors.organism_workdirs", tuple(str(workdir / "organisms" / n) for n in s.organisms)),
      *_items(s.overrides.monitor_eval)), workdir / "monitors" / "eval", "shared"))
  for name in s.organisms:
    for arm in s.arms:
      base_arm, coef = parse_arm(arm)
      arm_overrides = (("rl.arm", arm), ("rl.shaping_coef", coef)) if coef is not None else ()
      for seed in s.seeds:
        stages.append(Stage(
            f"rl {name}/{arm}/seed{seed}", f"rl/{base_arm}.py:{name}{test}",
            (("init.policy_workdir", str(workdir / "organisms" / name)),
             ("monitors.scratchpad_workdir", str(monitors["scratchpad"])),
             ("monitors.output_workdir", str(monitors["output"])), ("seed", int(seed)),
             *reward, *arm_overrides, *_items(s.overrides.rl)),
            workdir / "rl" / name / arm / f"seed{seed}", "rl"))
  return stages


def parse_arm(arm: str) -> tuple[str, float | None]:
  """'ARM' -> (ARM, None); 'ARM@C' -> (ARM, C): the arm's config with shaping coefficient C."""
  name, sep, coef = arm.partition("@")
  if not sep:
    return name, None
  try:
    value = float(coef)
  except ValueError:
    value = -1.0
  if value < 0:
    raise config_lib.ConfigError(f"config.study.arms has {arm!r}; allowed: 'ARM' or 'ARM@C' with "
                                 "C a number >= 0 (the shaping coefficient)")
  return name, value


def stage_config(stage: Stage) -> ml_collections.ConfigDict:
  config = load_config_file(stage.config)
  apply_overrides(config, stage.overrides, f"study stage {stage.name!r}")
  return config


def rl_stages(stages: list[Stage], shard_index: int, num_shards: int) -> list[Stage]:
  runs = [stage for stage in stages if stage.kind == "rl"]
  return [stage for i, stage in enumerate(runs) if i % num_shards == shard_index]


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks the study section and every stage's config that can be checked before it runs."""
  config_lib.require(config, ("study.organisms", "study.arms", "study.seeds", "study.test",
                              "study.reward",
                              "study.stages", "study.shard_index", "study.num_shards",
                              "study.parallel_runs", "study.overrides"))
  config_lib.check_positive(config, "study.parallel_runs")
  if config.get("distributed", False):
    raise config_lib.ConfigError(
        "config.distributed=True; allowed: False for a study, which runs on one host and spreads "
        "its runs over hosts with study.num_shards / study.shard_index (docs/scaling.md, "
        "\"Studies\"); its stages run multi-process as separate afjax.main commands")
  config_lib.check_choice(config, "study.stages", STAGE_SETS)
  config_lib.check_choice(config, "study.reward", ("rule", "learned"))
  for field in ("organisms", "arms", "seeds"):
    if not config.study[field]:
      raise config_lib.ConfigError(f"config.study.{field} is empty; allowed: a non-empty tuple")
  for field in ("organisms", "arms", "seeds"):
    if len(set(config.study[field])) != len(config.study[field]):
      raise config_lib.ConfigError(f"config.study.{field}={tuple(config.study[field])!r} repeats "
                                   "a value; allowed: distinct values")
  for seed in config.study.seeds:
    if not config_lib.is_seed(seed):
      raise config_lib.ConfigError(f"config.study.seeds has {seed!r}; allowed: integers >= 0")
  from afjax.world import organisms
  for name in config.study.organisms:
    if name not in organisms.ORGANISMS:
      raise config_lib.ConfigError(f"config.study.organisms has {name!r}; allowed: "
                                   f"{sorted(organisms.ORGANISMS)}")
  for arm in (parse_arm(a)[0] for a in config.study.arms):
    if arm not in config_lib.RL_ARMS or not (CONFIGS_ROOT / "rl" / f"{arm}.py").exists():
      allowed = sorted(p.stem for p in (CONFIGS_ROOT / "rl").glob("*.py"))
      raise config_lib.ConfigError(f"config.study.arms has {arm!r}; allowed: {allowed}")
  if not 0 <= config.study.shard_index < config.study.num_shards:
    raise config_lib.ConfigError(
        f"config.study.shard_index={config.study.shard_index}; allowed: 0 <= shard_index < "
        f"num_shards={config.study.num_shards}")
  for stage in plan(config, pathlib.Path("/nonexistent-study-root")):
    stage_conf = stage_config(stage)  # unknown override fields fail here
    job = jobs_lib.get_job(stage_conf.job)
    # The stages' input folders do not exist yet: check everything but those.
    getattr(job, "validate_settings", job.validate)(stage_conf, num_devices)


def run_stage(stage: Stage, index: int, total: int) -> float:
  """Runs one stage unless it is DONE; returns its wall time in seconds."""
  if launch.is_done(stage_run(stage)):
    seconds = json.loads(stage.done_path().read_text()).get("seconds", 0.0)
    print(f"[{index}/{total}] {stage.name}: done already ({seconds:.0f} s), skipped", flush=True)
    return 0.0
  config = stage_config(stage)
  job = jobs_lib.get_job(config.job)
  job.validate(config, jax.device_count())
  print(f"[{index}/{total}] {stage.name} -> {stage.workdir}", flush=True)
  start = time.perf_counter()
  job.run(config, str(stage.workdir))
  common.record_config(config, stage.workdir)  # as afjax.main does after a run
  seconds = time.perf_counter() - start
  launch.mark_done(stage_run(stage), seconds)  # the same marker as a parallel run's
  print(f"[{index}/{total}] {stage.name}: finished in {seconds:.0f} s", flush=True)
  return seconds


def stage_run(stage: Stage) -> launch.Run:
  """The stage as a `python -m afjax.main ...` run of its own (afjax.launch)."""
  path, sep, arg = stage.config.partition(":")
  config_file = pathlib.Path(path) if pathlib.Path(path).exists() else CONFIGS_ROOT / path
  return launch.Run(stage.name, f"{config_file}{sep}{arg}", str(stage.workdir),
                    dict(stage.overrides))


def run_stages_in_parallel(stages: list[Stage], processes: int, first_index: int,
                           total: int) -> None:
  """Runs stages as up to `processes` concurrent `afjax.main` subprocesses; logs to WORKDIR/run.log.

  Raises:
    RuntimeError: naming every stage that failed and its log (the others still finish).
  """
  count = [first_index - 1]

  def report(result: launch.RunResult) -> None:
    count[0] += 1
    name = result.run.name
    if result.status == launch.SKIPPED:
      print(f"[{count[0]}/{total}] {name}: done already, skipped", flush=True)
    elif result.status == launch.OK:
      print(f"[{count[0]}/{total}] {name}: finished in {result.seconds:.0f} s", flush=True)
    else:
      print(f"[{count[0]}/{total}] {name}: FAILED, see {result.log_path}", flush=True)

  print(f"{len(stages)} RL runs, {processes} at a time, each logging to its run.log", flush=True)
  results = launch.run_all([stage_run(s) for s in stages], processes, on_finish=report)
  failed = [f"{r.run.name} (exit {r.returncode}, log {r.log_path})"
            for r in results if r.status == launch.FAILED]
  if failed:
    raise RuntimeError(f"{len(failed)} RL run(s) failed: {'; '.join(failed)}")


def write_report(config: ml_collections.ConfigDict, workdir: pathlib.Path,
                 stages: list[Stage]) -> dict:
  """results.json, report.md and the plots (afjax.report) from every RL run of the study."""
  from afjax.report import pipeline
  missing = [s.name for s in stages if s.kind == "rl" and not s.done_path().exists()]
  if missing:
    raise FileNotFoundError(f"the report needs every RL run of the study; unfinished: {missing}")
  monitor_eval_path = workdir / "monitors" / "eval" / "monitor_eval.json"
  monitor_eval = (pipeline.load_monitor_eval(monitor_eval_path) if monitor_eval_path.exists()
                  else None)
  written = pipeline.generate([s.workdir for s in stages if s.kind == "rl"], monitor_eval,
                              workdir, json.loads(config.to_json_best_effort()))
  print(f"report: {written['report']}", flush=True)
  return json.loads(pathlib.Path(written["results"]).read_text())


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  workdir_path = common.prepare_workdir(config, workdir)
  stages = plan(config, workdir_path)
  which = config.study.stages
  chosen = [s for s in stages if s.kind == "shared"] if which in ("all", "shared") else []
  if which in ("all", "rl"):
    chosen += rl_stages(stages, config.study.shard_index, config.study.num_shards)
  for stage in chosen:  # before any compute: DONE from other settings is an error
    launch.is_done(stage_run(stage))
  start = time.perf_counter()
  shared = [s for s in chosen if s.kind == "shared"]
  for index, stage in enumerate(shared, 1):
    run_stage(stage, index, len(chosen))
  runs = [s for s in chosen if s.kind == "rl"]
  if config.study.parallel_runs > 1:
    run_stages_in_parallel(runs, config.study.parallel_runs, len(shared) + 1, len(chosen))
  else:
    for index, stage in enumerate(runs, len(shared) + 1):
      run_stage(stage, index, len(chosen))
  results = write_report(config, workdir_path, stages) if which in ("all", "report") else {}
  print(f"study ({which}) finished in {time.perf_counter() - start:.0f} s", flush=True)
  return results
