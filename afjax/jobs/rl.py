"""RL on a model organism: GRPO-style updates with the mitigation arm fused into the step.

Each iteration k (= state.data_position):
  1. rollout k: training-tier prompts, K samples each, from the current policy
     (afjax.rl.rollout), rewards from the helpful-only reward (afjax.rl.reward);
  2. `rl.ppo_epochs` calls of the fused update (afjax.rl.step.make_rl_step):
     monitor scoring, reward shaping, advantages, loss, gradient and the optax
     update in one compiled program;
  3. every `train.eval_every` iterations (and at 0 and the end): the study's
     metrics on the held-out eval prompts of both tiers (afjax.evaluation.rl_eval)
     appended to WORKDIR/eval.jsonl.

The whole state (policy params, optimizer state, update step, RNG, iteration)
is checkpointed with orbax; the reference model is the organism's export,
reloaded on resume and checked against the checkpoint's fingerprint (its
params digest). Rerunning the same command resumes; a finished run writes
WORKDIR/export, WORKDIR/rl_summary.json and exits.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from afjax import config as config_lib
from afjax.data import tokenizer as tokenizer_lib
from afjax.evaluation import rl_eval
from afjax.jobs import common
from afjax.jobs import monitor as monitor_job
from afjax.models import monitor as monitor_lib
from afjax.parallel import mesh as mesh_lib
from afjax.parallel import multihost
from afjax.rl import adaptive as adaptive_lib
from afjax.rl import reward as reward_lib
from afjax.rl import rollout as rollout_lib
from afjax.rl import step as step_lib
from afjax.training import checkpoint as checkpoint_lib
from afjax.training import logging as log_lib
from afjax.training import loop
from afjax.training import optim
from afjax.training import state as state_lib
from afjax.world import prompts as world_prompts

SUMMARY_FILE = "rl_summary.json"
EVAL_FILE = "eval.jsonl"
LENGTH_THRESHOLD_FILE = "length_threshold.json"

REQUIRED = ("seed", "model", "mesh", "mesh_rules", "init.policy_workdir", "organism",
            "monitors.scratchpad_workdir", "monitors.output_workdir", "reward.kind",
            "rollout.batch_size", "rollout.group_size", "rollout.prompt_len",
            "rollout.max_new_tokens", "rollout.temperature", "rollout.harmful_fraction",
            "rollout.grad_region", "rollout.followup_variant", "rollout.followup_max_new_tokens",
            "rollout.seq_len", "rl.arm", "rl.advantage", "rl.shaping", "rl.shaping_coef",
            "rl.shaping_params", "rl.loss", "rl.aggregation", "rl.clip_eps_low",
            "rl.clip_eps_high", "rl.kl_coef", "rl.ppo_epochs", "rl.length_quantile",
            "train.steps", "train.log_every", "train.eval_every", "optimizer", "checkpoint",
            "eval.num_harmful", "eval.batch_size", "eval.max_new_tokens", "eval.temperature",
            "eval.seed")


def step_config(config: ml_collections.ConfigDict, length_threshold: float | None = None
                ) -> step_lib.RLStepConfig:
  """The RLStepConfig of config.rl (length_penalty gets its threshold from the organism)."""
  params = dict(config.rl.shaping_params)
  if config.rl.shaping == "length_penalty":
    params["threshold"] = float(length_threshold if length_threshold is not None else 0.0)
  return step_lib.RLStepConfig(
      advantage=config.rl.advantage, group_size=config.rollout.group_size,
      shaping=config.rl.shaping, shaping_coef=float(config.rl.shaping_coef),
      shaping_params=tuple(sorted(params.items())), loss_name=config.rl.loss,
      aggregation=config.rl.aggregation, clip_eps_low=float(config.rl.clip_eps_low),
      clip_eps_high=float(config.rl.clip_eps_high), kl_coef=float(config.rl.kl_coef),
      loss_chunk=config.rl.get("loss_chunk", 0))


def rollout_config(config: ml_collections.ConfigDict) -> rollout_lib.RolloutConfig:
  r = config.rollout
  return rollout_lib.RolloutConfig(
      num_prompts=r.batch_size // r.group_size, group_size=r.group_size, prompt_len=r.prompt_len,
      max_new_tokens=r.max_new_tokens, temperature=float(r.temperature),
      harmful_fraction=float(r.harmful_fraction), grad_region=r.grad_region,
      followup_variant=r.followup_variant or None,
      followup_max_new_tokens=r.followup_max_new_tokens, seq_len=r.seq_len, seed=config.seed)


def validate_reward(config: ml_collections.ConfigDict) -> None:
  """The reward section: a registered kind, a format penalty >= 0, a reward model for 'learned'."""
  config_lib.require(config, ("reward.kind", "reward.workdir", "reward.format_penalty",
                              "reward.length_correction"))
  config_lib.check_choice(config, "reward.kind", reward_lib.REWARDS.names())
  config_lib.check_positive(config, "reward.format_penalty", allow_zero=True)
  if config.reward.kind != "learned":
    if config.reward.length_correction:
      raise config_lib.ConfigError("config.reward.length_correction=True corrects the learned "
                                   "reward model; allowed with config.reward.kind='learned' only")
    return
  if not config.reward.workdir:
    raise config_lib.ConfigError("config.reward.kind='learned' needs config.reward.workdir; "
                                 "allowed: the workdir of a finished configs/reward/learned.py run")


def make_reward_fn(config: ml_collections.ConfigDict,
                   mesh: jax.sharding.Mesh | None = None) -> rollout_lib.RewardFn:
  """The helpful-only reward of the rollouts (afjax.rl.reward): request and output only.

  `mesh`: the policy's, over whose batch axes the rule reward splits its rows
  (the learned reward model has its own, from the same config).
  """
  loaded = None
  if config.reward.kind == "learned":
    loaded = reward_lib.load_reward_model(config.reward.workdir, config, config.init.policy_workdir)
  return reward_lib.host_reward_fn(config.reward.kind, float(config.reward.format_penalty),
                                   loaded=loaded,
                                   length_correction=bool(config.reward.length_correction),
                                   mesh=mesh)


def monitors_read(cfg: step_lib.RLStepConfig) -> set[str]:
  """The monitors a run loads: those its arm reads, plus the scratchpad classifier (for
  af_rate_classifier) when its workdir is set. Only these must be finished runs."""
  return set(cfg.monitors) | {"scratchpad"}


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks every section and that the checkpoints the arm needs exist; writes nothing."""
  cfg = validate_settings(config, num_devices)
  common.check_finished_workdir(config.init.policy_workdir, "config.init.policy_workdir",
                                (common.EXPORT_DIR, tokenizer_lib.TOKENIZER_FILENAME),
                                "configs/organisms/organism.py")
  check_organism_label(config)
  loaded = monitors_read(cfg)
  for name in ("scratchpad", "output"):
    workdir = config.monitors[f"{name}_workdir"]
    if workdir and name in loaded:
      common.check_finished_workdir(workdir, f"config.monitors.{name}_workdir",
                                    (common.EXPORT_DIR, monitor_job.SUMMARY_FILE),
                                    f"configs/monitors/{name}.py")
  if config.reward.kind == "learned":
    common.check_finished_workdir(config.reward.workdir, "config.reward.workdir",
                                  (reward_lib.EXPORT_DIR, reward_lib.SUMMARY_FILE),
                                  "configs/reward/learned.py")
    if config.reward.length_correction:
      summary_path = pathlib.Path(config.reward.workdir) / reward_lib.SUMMARY_FILE
      try:
        reward_lib.fitted_length_correction(json.loads(summary_path.read_text()), summary_path)
      except ValueError as err:
        raise config_lib.ConfigError(f"config.reward.length_correction=True, but {err}") from None
  del cfg


def check_organism_label(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError if config.organism is not the organism the policy workdir holds.

  The policy's config.json names it (`organism.name` of an organism run, `organism` of an
  RL run whose export is the policy); a policy without one is not checked.
  """
  path = pathlib.Path(config.init.policy_workdir) / common.CONFIG_FILE
  try:
    organism = json.loads(path.read_text()).get("organism")
  except (OSError, ValueError, AttributeError):
    return
  name = organism.get("name") if isinstance(organism, dict) else organism
  if isinstance(name, str) and name != config.organism:
    raise config_lib.ConfigError(
        f"config.organism={config.organism!r}, but config.init.policy_workdir holds {name!r} "
        f"({path}); allowed: {name!r} (configs/rl/ARM.py:{name})")


def validate_settings(config: ml_collections.ConfigDict, num_devices: int) -> step_lib.RLStepConfig:
  """Every check that needs no input folder (a study validates its RL runs before they exist)."""
  config_lib.require(config, REQUIRED)
  config_lib.validate_model(config)
  sizes = config_lib.validate_mesh(config, num_devices)
  config_lib.validate_batch(config, "rollout.batch_size", sizes)
  config_lib.validate_batch(config, "eval.batch_size", sizes)
  config_lib.validate_optimizer(config)
  config_lib.validate_checkpoint(config)
  config_lib.check_positive(config, "rollout.seq_len", allow_zero=True)
  for path in ("rollout.group_size", "rollout.prompt_len", "rollout.max_new_tokens",
               "rollout.followup_max_new_tokens", "rl.ppo_epochs",
               "train.steps", "train.log_every", "eval.num_harmful", "eval.max_new_tokens"):
    config_lib.check_positive(config, path)
  config_lib.check_positive(config, "train.eval_every", allow_zero=True)
  if config.rollout.batch_size % config.rollout.group_size:
    raise config_lib.ConfigError(
        f"config.rollout.group_size={config.rollout.group_size} does not divide "
        f"config.rollout.batch_size={config.rollout.batch_size}; allowed: a divisor of the batch "
        f"size (batch = prompts x group size)")
  if float(config.rollout.temperature) != 1.0:
    # The sampler stores log pi (untempered) as old_logp and the learner's gradient is
    # E[A grad log pi]: samples from softmax(z / T) would make both off-policy.
    raise config_lib.ConfigError(
        f"config.rollout.temperature={config.rollout.temperature}; allowed: 1.0 (the PPO ratio "
        f"and the policy gradient assume the rollouts are sampled from the policy itself)")
  config_lib.check_choice(config, "rollout.grad_region", rollout_lib.GRAD_REGIONS)
  config_lib.check_choice(config, "rollout.followup_variant", ("", None, "plain", "warned"))
  if not 0.0 < config.rl.length_quantile < 1.0:
    raise config_lib.ConfigError(f"config.rl.length_quantile={config.rl.length_quantile}; "
                                 "allowed: a number in (0, 1)")
  if config.rl.shaping == "interrogation" and not config.rollout.followup_variant:
    raise config_lib.ConfigError("config.rl.shaping='interrogation' needs "
                                 "config.rollout.followup_variant; allowed: 'plain', 'warned'")
  try:
    cfg = step_config(config, 0.0)
    rollout_config(config)
  except ValueError as err:
    raise config_lib.ConfigError(f"config.rl: {err}") from None
  if not config.init.policy_workdir:
    raise config_lib.ConfigError("config.init.policy_workdir is empty; allowed: the workdir of a "
                                 "finished configs/organisms/organism.py run")
  for name in cfg.monitors:
    if not config.monitors[f"{name}_workdir"]:
      raise config_lib.ConfigError(
          f"config.rl.shaping={config.rl.shaping!r} needs the {name} monitor but "
          f"config.monitors.{name}_workdir is empty; allowed: the workdir of a finished "
          f"configs/monitors/{name}.py run")
  validate_reward(config)
  validate_adaptive(config, cfg, sizes)
  return cfg


def validate_adaptive(config: ml_collections.ConfigDict, cfg: step_lib.RLStepConfig,
                      mesh_sizes: dict[str, int]) -> None:
  """config.adaptive: its settings, and that the arm reads the scratchpad classifier."""
  config_lib.require(config, ("adaptive.enabled",))
  if not config.adaptive.enabled:
    return
  config_lib.require(config, tuple(f"adaptive.{f}" for f in (
      "every", "steps", "batch_size", "learning_rate", "replay_fraction", "labeller")))
  config_lib.check_choice(config, "adaptive.labeller", adaptive_lib.LABELLERS)
  if "scratchpad" not in cfg.monitors:
    raise config_lib.ConfigError(
        f"config.adaptive.enabled=True retrains the scratchpad classifier, which "
        f"config.rl.shaping={config.rl.shaping!r} does not read; allowed: a shaping in "
        f"{sorted(k for k, v in step_lib.SHAPING_MONITORS.items() if 'scratchpad' in v)}")
  config_lib.check_positive(config, "adaptive.learning_rate")
  try:
    adaptive_lib.AdaptiveConfig(
        every=config.adaptive.every, steps=config.adaptive.steps,
        batch_size=config.adaptive.batch_size, learning_rate=config.adaptive.learning_rate,
        replay_fraction=config.adaptive.replay_fraction, labeller=config.adaptive.labeller)
  except ValueError as err:
    raise config_lib.ConfigError(f"config.{err}") from None
  config_lib.validate_batch(config, "adaptive.batch_size", mesh_sizes)


def _read_evals(path: pathlib.Path) -> list[dict]:
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class RLRun:
  """Everything one RL run holds: policy, reference, monitors, reward, rollouts, step, eval."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: pathlib.Path):
    self.config, self.workdir = config, workdir
    policy_dir = pathlib.Path(config.init.policy_workdir)
    common.prepare_workdir(config, workdir)
    tokenizer_path, self.tokenizer_sha = common.copy_tokenizer(policy_dir, workdir, "policy")
    self.tokenizer = tokenizer_lib.load_tokenizer(tokenizer_path)
    self.model = common.ModelOnMesh.from_config(config)
    self.ref_params = common.load_exported_params(policy_dir, self.model, self.tokenizer_sha)
    self.policy_sha256 = state_lib.params_digest(self.ref_params)  # the organism's, as RL starts
    mesh_lib.assert_large_params_sharded(self.ref_params, self.model.mesh)
    self.monitors = self._load_monitors()
    self.reward_fn = make_reward_fn(config, self.model.mesh)
    self.rollout_cfg = rollout_config(config)
    self.generator = rollout_lib.RolloutGenerator(self.model, self.tokenizer, self.rollout_cfg,
                                                  self.reward_fn)
    self.tx = optim.make_optimizer(config.optimizer, config.train.steps * config.rl.ppo_epochs)
    self.eval_settings = rl_eval.EvalSettings(
        num_harmful=config.eval.num_harmful, batch_size=config.eval.batch_size,
        max_new_tokens=config.eval.max_new_tokens, temperature=float(config.eval.temperature),
        seed=config.eval.seed, followup_variant=config.rollout.followup_variant or None,
        followup_max_new_tokens=config.rollout.followup_max_new_tokens)
    self.eval_prompts = world_prompts.eval_prompt_set(config.eval.seed, config.eval.num_harmful, 0)

  def _load_monitors(self) -> dict[str, monitor_job.LoadedMonitor]:
    """The monitors of `monitors_read` whose workdirs are set.

    Raises:
      ValueError: a monitor was trained with another tokenizer than the policy's.
    """
    needed = monitors_read(step_config(self.config, 0.0))
    loaded = {}
    for name in ("scratchpad", "output"):
      workdir = self.config.monitors[f"{name}_workdir"]
      if not workdir or name not in needed:
        continue
      monitor_tokenizer = pathlib.Path(workdir) / tokenizer_lib.TOKENIZER_FILENAME
      if common.file_sha256(monitor_tokenizer) != self.tokenizer_sha:
        raise ValueError(f"the {name} monitor in {workdir} was trained with another tokenizer than "
                         f"the policy in {self.config.init.policy_workdir}; allowed: monitors "
                         "fine-tuned from the policy's base model")
      loaded[name] = monitor_job.load_monitor(workdir, self.config, name)
    return loaded

  def classifier_identity(self) -> dict | None:
    """{"params_sha256", "threshold"} of the fixed scratchpad classifier that measures
    af_rate_classifier, or None when the run loads none."""
    classifier = self.monitors.get("scratchpad")
    if classifier is None:
      return None
    return {"params_sha256": state_lib.params_digest(classifier.params),
            "threshold": float(classifier.threshold)}

  def fingerprint(self, length_threshold: float | None) -> dict:
    return {"job": "rl", "model": dict(self.config.model), "tokenizer_sha256": self.tokenizer_sha,
            "reference_sha256": self.policy_sha256,
            # loss_chunk only blocks the computation: resuming with another one is the same run.
            "rl": {k: v for k, v in self.config.rl.to_dict().items() if k != "loss_chunk"},
            "rollout": self.config.rollout.to_dict(),
            "adaptive": self.config.adaptive.to_dict(),
            "reward": self.config.reward.to_dict(), "seed": self.config.seed,
            "length_threshold": length_threshold, "eval": self.config.eval.to_dict(),
            "monitors": self.config.monitors.to_dict(), **common.schedule_fingerprint(self.config)}

  def initial_state(self) -> state_lib.TrainState:
    """A step-0 state whose params are a copy of the reference (donation must not free the ref)."""
    params = jax.tree.map(jnp.copy, self.ref_params)
    return state_lib.create_train_state(params, self.tx, self.config.seed, self.model.mesh)

  def length_threshold(self, state: state_lib.TrainState) -> float | None:
    """length_penalty: the q-quantile of scratchpad lengths of rollout 0 of the organism (cached)."""
    if self.config.rl.shaping != "length_penalty":
      return None
    path = self.workdir / LENGTH_THRESHOLD_FILE
    if multihost.primary_flag(path.exists()):  # sampling below is collective: one decision
      return float(json.loads(path.read_text())["threshold"])
    if int(state.data_position) != 0:
      raise FileNotFoundError(f"{path} is missing but the run is past iteration 0")
    rollout, _ = self.generator(state.params, 0, self.rollout_key(0))
    threshold = float(np.quantile(rollout.scratchpad_len, self.config.rl.length_quantile))
    multihost.write_text(path, json.dumps({
        "threshold": threshold, "quantile": self.config.rl.length_quantile,
        "source": "scratchpad tokens of rollout 0 (the organism)"}))
    return threshold

  def rollout_key(self, iteration: int) -> jax.Array:
    return jax.random.fold_in(jax.random.key(self.config.seed), iteration)

  def make_adaptive(self) -> adaptive_lib.AdaptiveMonitor | None:
    """The adaptive scratchpad classifier of config.adaptive (None when disabled)."""
    a = self.config.adaptive
    if not a.enabled:
      return None
    cfg = adaptive_lib.AdaptiveConfig(every=a.every, steps=a.steps, batch_size=a.batch_size,
                                      learning_rate=a.learning_rate,
                                      replay_fraction=a.replay_fraction, labeller=a.labeller)
    loaded = self.monitors["scratchpad"]
    replay = (adaptive_lib.replay_rows(loaded, self.tokenizer, cfg.labeller) if cfg.replay_fraction > 0
              else None)
    return adaptive_lib.AdaptiveMonitor(loaded, cfg, cfg.every * self.rollout_cfg.batch_size,
                                        self.generator.seq_len, replay, self.config.seed)

  def monitor_params(self, adaptive: adaptive_lib.AdaptiveMonitor | None) -> dict | None:
    """Params of the monitors the update reads (the adaptive classifier replaces the fixed one)."""
    params = {name: m.params for name, m in self.monitors.items()}
    if adaptive is not None:
      params["scratchpad"] = adaptive.params
    return params or None

  def evaluate(self, params: Any, adaptive: adaptive_lib.AdaptiveMonitor | None = None) -> dict:
    """rl_eval's metrics; af_rate_classifier always from the fixed classifier (comparable across
    arms), and af_rate_adaptive_classifier from the adaptive one when there is one."""
    extra = None
    if adaptive is not None:
      extra = {"af_rate_adaptive_classifier":
               dataclasses.replace(self.monitors["scratchpad"], params=adaptive.params)}
    return rl_eval.evaluate_policy(self.model, params, self.tokenizer, self.eval_prompts,
                                   self.eval_settings, self.monitors.get("scratchpad"), extra)


def json_safe(value: Any) -> Any:
  """NaN / +-Inf (no JSON spelling) -> None, recursively."""
  if isinstance(value, float) and not np.isfinite(value):
    return None
  if isinstance(value, dict):
    return {k: json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [json_safe(v) for v in value]
  return value


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs (or resumes) the RL run; returns the summary written to rl_summary.json."""
  workdir_path = pathlib.Path(workdir)
  rl_run = RLRun(config, workdir_path)
  checkpointer = checkpoint_lib.Checkpointer(workdir_path / "ckpt", config.checkpoint.every,
                                             config.checkpoint.keep)
  state = rl_run.initial_state()
  shardings = state_lib.state_shardings(state, rl_run.tx, rl_run.model.mesh)
  threshold_path = workdir_path / LENGTH_THRESHOLD_FILE
  fresh = checkpointer.latest_step() is None
  if fresh and multihost.is_primary():
    # No checkpoint pins the config: what an earlier attempt left (the length threshold, the
    # step-0 eval) may come from other settings, so the run starts over without them.
    threshold_path.unlink(missing_ok=True)
  multihost.barrier("stale length threshold removed")
  if not fresh and config.rl.shaping == "length_penalty" and not threshold_path.exists():
    raise FileNotFoundError(f"{threshold_path} is missing: the checkpoint cannot be resumed")
  threshold = rl_run.length_threshold(state)
  fingerprint = rl_run.fingerprint(threshold)
  adaptive = rl_run.make_adaptive()
  state = loop.resume_or_init(checkpointer, state, shardings, fingerprint, extra=adaptive)
  start = int(state.data_position)
  if multihost.is_primary():
    for name in (EVAL_FILE, "metrics.jsonl"):  # records after the checkpoint are redone
      log_lib.truncate_jsonl(workdir_path / name, -1 if fresh else start)
  multihost.barrier("logs truncated")

  cfg = step_config(config, threshold)
  scorers = {name: monitor_lib.score_fn(m.monitor.cfg) for name, m in rl_run.monitors.items()}
  ref_params = rl_run.ref_params if cfg.use_kl else None
  rl_step = step_lib.make_rl_step(rl_run.model.model, scorers, rl_run.tx, cfg, shardings,
                                  rl_run.model.mesh, rl_run.model.rules)
  total, eval_every = config.train.steps, config.train.eval_every
  evals = _read_evals(workdir_path / EVAL_FILE)
  multihost.barrier("eval log read")  # before the primary appends to it

  eval_path = workdir_path / EVAL_FILE
  with log_lib.MetricLogger(workdir_path) as logger:
    def record_eval(iteration: int, params: Any) -> None:
      result = json_safe(rl_run.evaluate(params, adaptive))
      record = {"step": iteration, **result}
      if multihost.is_primary():
        with open(eval_path, "a") as eval_file:
          eval_file.write(json.dumps(record) + "\n")
      evals.append(record)
      logger.log(iteration, {k: v for k, v in result.items()
                             if isinstance(v, (int, float)) and v is not None}, prefix="eval")
      print(f"eval @{iteration}: " + ", ".join(
          f"{k} {result[k]:.3f}" for k in rl_eval.METRICS if result[k] is not None), flush=True)

    if start == 0 and not any(e["step"] == 0 for e in evals):
      record_eval(0, state.params)
    bar = log_lib.progress(total, initial=start, desc=f"rl {config.rl.arm}")
    for iteration in range(start, total):
      tick = time.perf_counter()
      rollout, info = rl_run.generator(state.params, iteration, rl_run.rollout_key(iteration))
      placed = rollout_lib.place_rollout(rollout, rl_run.model.mesh)
      rollout_s = time.perf_counter() - tick
      monitor_params = rl_run.monitor_params(adaptive)
      for _ in range(config.rl.ppo_epochs):
        state, metrics = rl_step(state, placed, ref_params, monitor_params)
      state = state.replace(data_position=state.data_position + 1)
      metrics = jax.device_get(metrics)
      done = iteration + 1
      log_lib.check_finite(done, {"loss": metrics["loss"], "grad_norm": metrics["grad_norm"]})
      logged = {**{f"rl/{k}": v for k, v in metrics.items()}}
      if adaptive is not None:
        adaptive.add(rollout.tokens, rollout.first_turn_mask,
                     [v.scratchpad_label for v in info.verdicts])
        if done % adaptive.cfg.every == 0:
          logged.update({f"adaptive/{k}": v for k, v in adaptive.refresh(done).items()})
      bar.update(1)
      if done % config.train.log_every == 0 or done == total:
        stats = rollout_lib.rollout_metrics(info, rollout)
        logged.update({f"rollout/{k}": v for k, v in stats.items()})
        logged.update({"time/rollout_s": rollout_s, "time/iteration_s": time.perf_counter() - tick})
        bar.set_postfix(reward=f"{float(metrics['reward_mean']):.2f}",
                        comply=f"{stats['compliance']:.2f}")
      if len(logged) > len(metrics):
        logger.log(done, logged, prefix="")
      if (eval_every and done % eval_every == 0) or done == total:
        record_eval(done, state.params)
      if checkpointer.should_save(done) or done == total:
        items = state.as_dict() | (adaptive.items() if adaptive is not None else {})
        checkpointer.save(done, items, fingerprint=fingerprint, force=True)
    bar.close()
  checkpointer.wait()
  checkpointer.close()
  common.export_params(workdir_path, int(state.data_position), state.params,
                       common.export_fingerprint(rl_run.model.cfg, rl_run.tokenizer_sha))
  return write_summary(config, workdir_path, evals, state, threshold, rl_run.policy_sha256,
                       rl_run.classifier_identity())


def write_summary(config: ml_collections.ConfigDict, workdir: pathlib.Path, evals: list[dict],
                  state: state_lib.TrainState, threshold: float | None,
                  policy_sha256: str | None = None, classifier: dict | None = None) -> dict:
  """rl_summary.json: the eval curve, the final metrics with their intervals and denominators
  (`counts`), examples, the starting policy's digest, the classifier behind
  af_rate_classifier (`RLRun.classifier_identity`), config."""
  evals = sorted({e["step"]: e for e in evals}.values(), key=lambda e: e["step"])
  curve = [{"step": e["step"], **{k: e.get(k) for k in rl_eval.METRICS}} for e in evals]
  final = evals[-1]
  summary = {
      "organism": config.organism, "arm": config.rl.arm, "seed": config.seed,
      "steps": config.train.steps, "curve": curve,
      "final": {k: final.get(k) for k in rl_eval.METRICS},
      "counts": {k: final.get("counts", {}).get(k, final.get(k)) for k in rl_eval.COUNTS},
      "ci95": final.get("ci95", {}), "examples": final.get("examples", {}),
      "length_threshold": threshold, "params_sha256": state_lib.params_digest(state.params),
      "policy_params_sha256": policy_sha256,
      "classifier": classifier,
      "config": json.loads(config.to_json_best_effort()),
  }
  multihost.write_text(workdir / SUMMARY_FILE, json.dumps(summary, indent=2))
  print(f"rl {config.rl.arm} done: " + ", ".join(
      f"{k} {v:.3f}" for k, v in summary["final"].items() if v is not None), flush=True)
  return summary
