"""Shared config pieces and up-front validation.

Every job's config is an `ml_collections.ConfigDict` from a `get_config()` in
`configs/`. `validate` runs before anything is written to the workdir and
raises `ConfigError` with one message naming the offending field and what is
allowed.
"""

from __future__ import annotations

from typing import Any, Iterable

import jax
import ml_collections

from afjax.models import presets
from afjax.parallel import mesh as mesh_lib


class ConfigError(ValueError):
  """A config field is missing or has a value that is not allowed."""


def model_config(preset: str, **overrides: Any) -> ml_collections.ConfigDict:
  """The `model` section: a size preset with optional field overrides."""
  return ml_collections.ConfigDict({**presets.get_preset(preset), **overrides})


def mesh_config(data: int = -1, fsdp: int = 1, tensor: int = 1) -> ml_collections.ConfigDict:
  """The `mesh` section; -1 takes the devices the other axes leave."""
  return ml_collections.ConfigDict({"data": data, "fsdp": fsdp, "tensor": tensor})


def mesh_rules_config() -> tuple:
  """The `mesh_rules` section: logical axis name -> mesh axes (MaxText style)."""
  return tuple((name, axes) for name, axes in mesh_lib.DEFAULT_RULES)


def optimizer_config(learning_rate: float = 1e-3, **overrides: Any) -> ml_collections.ConfigDict:
  """The `optimizer` section: AdamW with warmup + cosine decay and clipping."""
  values = dict(learning_rate=learning_rate, schedule="cosine", warmup_steps=20, min_lr_ratio=0.1,
                b1=0.9, b2=0.95, eps=1e-8, weight_decay=0.1, grad_clip=1.0)
  values.update(overrides)
  return ml_collections.ConfigDict(values)


def checkpoint_config(every: int = 100, keep: int = 3) -> ml_collections.ConfigDict:
  """The `checkpoint` section: save every N steps and at the end, keep the last K."""
  return ml_collections.ConfigDict({"every": every, "keep": keep})


def get_field(config: ml_collections.ConfigDict, path: str) -> Any:
  """The value at a dotted path, or ConfigError naming the missing field."""
  node: Any = config
  walked = []
  for part in path.split("."):
    walked.append(part)
    if not hasattr(node, "keys") or part not in node:
      raise ConfigError(f"config.{'.'.join(walked)} is missing (required by job "
                        f"{config.get('job', '?')!r})")
    node = node[part]
  return node


def explain_unknown_field(config: ml_collections.ConfigDict, path: str) -> str | None:
  """Why a dotted override path names no field of `config`, or None when it does.

  Args:
    config: the config the override applies to.
    path: the path after `--config.`, e.g. "train.steps".

  Returns:
    A message naming the first missing part and the fields allowed there.
  """
  node: Any = config
  walked = []
  for part in path.split("."):
    if not hasattr(node, "keys"):
      return (f"--config.{path}: config.{'.'.join(walked)} is a value, not a section; "
              f"allowed: --config.{'.'.join(walked)}=VALUE")
    if part not in node:
      where = "config" + "".join(f".{name}" for name in walked)
      return f"--config.{path}: {where} has no field {part!r}; allowed: {sorted(node.keys())}"
    walked.append(part)
    node = node[part]
  return None


def require(config: ml_collections.ConfigDict, paths: Iterable[str]) -> None:
  for path in paths:
    get_field(config, path)


def check_choice(config: ml_collections.ConfigDict, path: str, allowed: Iterable[Any]) -> None:
  allowed = list(allowed)
  value = get_field(config, path)
  if value not in allowed:
    raise ConfigError(f"config.{path}={value!r}; allowed: {allowed}")


def check_positive(config: ml_collections.ConfigDict, path: str, allow_zero: bool = False) -> None:
  value = get_field(config, path)
  ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (
      value >= 0 if allow_zero else value > 0)
  if not ok:
    raise ConfigError(f"config.{path}={value!r}; allowed: a number {'>= 0' if allow_zero else '> 0'}")


def check_interval(config: ml_collections.ConfigDict, path: str, low: float, high: float, *,
                   high_inclusive: bool = False) -> None:
  """The number at `path` must lie in [low, high) (or [low, high])."""
  value = get_field(config, path)
  ok = isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value and (
      value <= high if high_inclusive else value < high)
  if not ok:
    raise ConfigError(f"config.{path}={value!r}; allowed: a number in [{low}, {high}"
                      f"{']' if high_inclusive else ')'}")


def is_int_at_least(value: Any, low: int) -> bool:
  """Whether `value` is a Python integer >= low (a bool is not one)."""
  return isinstance(value, int) and not isinstance(value, bool) and value >= low


def is_seed(value: Any) -> bool:
  """Whether `value` can seed NumPy's and JAX's generators: an integer >= 0 (not a bool)."""
  return is_int_at_least(value, 0)


def validate_seeds(config: ml_collections.ConfigDict, prefix: str = "") -> None:
  """Every field named `seed`, at any depth, must be an int >= 0 (NumPy's generators refuse
  negative seeds, mid-job)."""
  for key in config.keys():
    value, path = config[key], f"{prefix}{key}"
    if isinstance(value, ml_collections.ConfigDict):
      validate_seeds(value, f"{path}.")
    elif key == "seed" and not is_seed(value):
      raise ConfigError(f"config.{path}={value!r}; allowed: an integer >= 0")


def validate_model(config: ml_collections.ConfigDict) -> None:
  from afjax.models.transformer import TransformerConfig
  try:
    TransformerConfig.from_dict(get_field(config, "model"))
  except (TypeError, ValueError) as err:
    raise ConfigError(f"config.model: {err}") from None


def validate_mesh(config: ml_collections.ConfigDict, num_devices: int) -> dict[str, int]:
  """Checks config.mesh and config.mesh_rules against the device count."""
  try:
    sizes = mesh_lib.resolve_mesh_shape(dict(get_field(config, "mesh")), num_devices)
    mesh_lib.rules_from_config(get_field(config, "mesh_rules"))
  except ValueError as err:
    raise ConfigError(str(err)) from None
  processes = jax.process_count()
  if (sizes["data"] * sizes["fsdp"]) % processes:
    # Each process feeds its own rows of a training batch (training.loop.host_local).
    raise ConfigError(f"config.mesh: the batch axes data x fsdp = {sizes['data']} x "
                      f"{sizes['fsdp']} do not split over the {processes} processes; allowed: "
                      f"data x fsdp a multiple of {processes}")
  return sizes


def validate_batch(config: ml_collections.ConfigDict, path: str, mesh_sizes: dict[str, int]) -> None:
  """The batch at `path` must split evenly over the data and fsdp axes."""
  check_positive(config, path)
  batch = get_field(config, path)
  ways = mesh_sizes["data"] * mesh_sizes["fsdp"]
  if batch % ways:
    raise ConfigError(f"config.{path}={batch} is not divisible by the batch axes data x fsdp = "
                      f"{mesh_sizes['data']} x {mesh_sizes['fsdp']} = {ways}; allowed: multiples of {ways}")


def validate_optimizer(config: ml_collections.ConfigDict) -> None:
  from afjax.training.optim import SCHEDULES
  require(config, [f"optimizer.{f}" for f in ("learning_rate", "schedule", "warmup_steps",
                                               "min_lr_ratio", "b1", "b2", "eps",
                                               "weight_decay", "grad_clip")])
  check_choice(config, "optimizer.schedule", SCHEDULES)
  check_positive(config, "optimizer.learning_rate")
  check_positive(config, "optimizer.warmup_steps", allow_zero=True)
  check_positive(config, "optimizer.grad_clip", allow_zero=True)
  check_positive(config, "optimizer.eps")
  check_positive(config, "optimizer.weight_decay", allow_zero=True)
  check_interval(config, "optimizer.b1", 0.0, 1.0)
  check_interval(config, "optimizer.b2", 0.0, 1.0)
  check_interval(config, "optimizer.min_lr_ratio", 0.0, 1.0, high_inclusive=True)


def validate_checkpoint(config: ml_collections.ConfigDict) -> None:
  check_positive(config, "checkpoint.every")
  check_positive(config, "checkpoint.keep")


def organism_eval_config(policy_workdir: str = "", **overrides: Any) -> ml_collections.ConfigDict:
  """The `eval` section: sampling on the paired eval prompts of both tiers.

  `top_p` < 1 samples from the nucleus (the smallest set of tokens holding that
  much probability) and `epsilon` > 0 drops tokens below that probability
  (epsilon sampling): diagnostics of how much the softmax tail costs. The
  figures in the configs' docstrings are at top_p = 1, epsilon = 0: the
  model's own distribution, which RL samples from.
  """
  values = dict(policy_workdir=policy_workdir, seed=0, temperature=1.0, top_p=1.0, epsilon=0.0,
                max_new_tokens=160, batch_size=128, num_harmful=256, num_benign=64)
  values.update(overrides)
  return ml_collections.ConfigDict(values)


def validate_trainer(config: ml_collections.ConfigDict, num_devices: int) -> dict[str, int]:
  """Checks the sections every training job shares: model, mesh, batch, optimizer, checkpoint.

  Returns:
    The resolved mesh axis sizes.
  """
  validate_model(config)
  sizes = validate_mesh(config, num_devices)
  validate_batch(config, "train.batch_size", sizes)
  validate_optimizer(config)
  validate_checkpoint(config)
  for path in ("train.steps", "train.log_every"):
    check_positive(config, path)
  check_positive(config, "train.eval_every", allow_zero=True)
  return sizes


def monitor_training_config(view: str, test: bool) -> ml_collections.ConfigDict:
  """A `monitor` job: the world's base model with a pooled head, reading one view.

  Args:
    view: "scratchpad" (prompt + scratchpad) or "output" (prompt + output).
    test: a seconds-long smoke-test size.
  """
  from afjax.data import monitor_data  # here: it imports tensorflow_datasets, slow to load
  config = ml_collections.ConfigDict()
  config.job = "monitor"
  config.seed = 0
  config.distributed = False
  config.monitor = ml_collections.ConfigDict(dict(view=view))
  config.init = ml_collections.ConfigDict(dict(base_workdir="workdirs/base"))
  config.model = model_config("test" if test else "tiny", vocab_size=512 if test else 2048,
                              max_seq_len=512)
  config.mesh = mesh_config(data=-1)
  config.mesh_rules = mesh_rules_config()
  config.data = monitor_data.data_config(test)
  config.train = ml_collections.ConfigDict(dict(
      steps=4 if test else 150, batch_size=8 if test else 32, log_every=2 if test else 10,
      eval_every=0 if test else 50))
  config.optimizer = optimizer_config(learning_rate=1e-3, warmup_steps=1 if test else 10)
  config.checkpoint = checkpoint_config(every=50, keep=2)
  return config


def lm_at_scale_config(preset: str, batch_size: int, learning_rate: float) -> ml_collections.ConfigDict:
  """An `lm` job at an open-weight model's shape: FSDP over all devices, 2048-token rows.

  Trains on the built-in corpus: a scale and throughput check, and the shape that
  imported checkpoints load into.
  """
  config = ml_collections.ConfigDict()
  config.job = "lm"
  config.seed = 0
  config.distributed = False
  config.model = model_config(preset, max_seq_len=2048)
  config.mesh = mesh_config(data=1, fsdp=-1, tensor=1)
  config.mesh_rules = mesh_rules_config()
  config.data = ml_collections.ConfigDict(dict(
      corpus="builtin", num_documents=200_000, seed=0, seq_len=2048, validation_fraction=0.01,
      data_dir=""))
  config.train = ml_collections.ConfigDict(dict(
      steps=2000, batch_size=batch_size, log_every=10, eval_every=500, eval_batches=8,
      loss_chunk=256))  # the logits of 256 positions at a time (tfm.logits_per_position)
  config.optimizer = optimizer_config(learning_rate=learning_rate, warmup_steps=200)
  config.checkpoint = checkpoint_config(every=500, keep=2)
  return config


# Mitigation arm -> (shaping, coefficient, rollout overrides); see configs/rl/.
RL_ARMS: dict[str, tuple[str, float, dict[str, Any]]] = {
    "baseline": ("baseline", 0.0, {}),
    "process_supervision": ("process_supervision", 1.0, {}),
    "process_supervision_linear": ("process_supervision_linear", 1.0, {}),
    "length_penalty": ("length_penalty", 0.02, {}),
    "interrogation": ("interrogation", 1.0, {"followup_variant": "plain"}),
    "interrogation_warned": ("interrogation", 1.0, {"followup_variant": "warned"}),
    "output_monitor": ("output_monitor", 1.0, {}),
    "output_only_grad": ("baseline", 0.0, {"grad_region": "output"}),
    "scratchpad_only_grad": ("baseline", 0.0, {"grad_region": "scratchpad"}),
    "af_bonus": ("af_bonus", 1.0, {}),
    "process_supervision_adaptive": ("process_supervision", 1.0, {}),
}


def rl_config(arm: str, arg: str | None) -> ml_collections.ConfigDict:
  """An `rl` job: one mitigation arm on one organism (configs/rl/ARM.py:ORGANISM[,test]).

  Args:
    arm: a key of RL_ARMS.
    arg: "ORGANISM" or "ORGANISM,test" (default organism tgg_plain); "test" is
      a seconds-long smoke-test size on the 'test' model preset.
  """
  if arm not in RL_ARMS:
    raise ValueError(f"RL arm {arm!r}; allowed: {sorted(RL_ARMS)}")
  organism, _, variant = (arg or "tgg_plain").partition(",")
  if variant not in ("", "test"):
    raise ValueError(f"configs/rl/{arm}.py:{arg}; allowed: ':ORGANISM' or ':ORGANISM,test'")
  test = variant == "test"
  shaping, coef, rollout_overrides = RL_ARMS[arm]
  config = ml_collections.ConfigDict()
  config.job = "rl"
  config.seed = 0
  config.distributed = False
  config.organism = organism
  config.init = ml_collections.ConfigDict(dict(policy_workdir=f"workdirs/{organism}"))
  config.monitors = ml_collections.ConfigDict(dict(
      scratchpad_workdir="workdirs/monitor_scratchpad", output_workdir="workdirs/monitor_output"))
  config.reward = ml_collections.ConfigDict(dict(
      kind="rule", workdir="", format_penalty=1.0, length_correction=False))
  config.model = model_config("test" if test else "tiny", vocab_size=512 if test else 2048,
                              max_seq_len=512)
  config.mesh = mesh_config(data=-1)
  config.mesh_rules = mesh_rules_config()
  rollout = dict(batch_size=8 if test else 64, group_size=4 if test else 8,
                 prompt_len=128 if test else 80,
                 max_new_tokens=16 if test else 128, temperature=1.0, harmful_fraction=1.0,
                 grad_region="response", followup_variant="", followup_max_new_tokens=8 if test else 64,
                 seq_len=0)
  rollout.update(rollout_overrides)
  config.rollout = ml_collections.ConfigDict(rollout)
  from afjax.rl import shaping as shaping_lib  # here: it imports jax
  # The arm's keyword parameters with their defaults, so that flags and study overrides can set
  # them (--config.rl.shaping_params.eps=...); length_penalty's threshold comes from the organism.
  params = {k: v for k, v in shaping_lib.shaping_params(shaping).items() if k != "threshold"}
  config.rl = ml_collections.ConfigDict(dict(
      arm=arm, advantage="grpo", shaping=shaping, shaping_coef=coef, shaping_params=params,
      loss="ppo_clip", aggregation="token_mean", clip_eps_low=0.2, clip_eps_high=0.2,
      kl_coef=0.0, ppo_epochs=1, length_quantile=0.5, loss_chunk=0))
  config.adaptive = ml_collections.ConfigDict(dict(
      enabled=arm == "process_supervision_adaptive", every=1 if test else 5,
      steps=2 if test else 10, batch_size=8 if test else 32, learning_rate=3e-4,
      replay_fraction=0.5, labeller="oracle_explicit"))
  config.train = ml_collections.ConfigDict(dict(
      steps=2 if test else 60, log_every=1 if test else 2, eval_every=0 if test else 20))
  config.optimizer = optimizer_config(learning_rate=3e-4, warmup_steps=0, schedule="constant",
                                      weight_decay=0.0)
  config.checkpoint = checkpoint_config(every=1 if test else 10, keep=2)
  config.eval = ml_collections.ConfigDict(dict(
      num_harmful=8 if test else 256, batch_size=8 if test else 128,
      max_new_tokens=16 if test else 160, temperature=1.0, seed=0))
  return config


def study_config(organisms: tuple[str, ...], arms: tuple[str, ...], seeds: tuple[int, ...],
                 test: bool = False) -> ml_collections.ConfigDict:
  """A `study` job (afjax.jobs.study): shared stages, RL arms x seeds, the report.

  `study.overrides.<stage>` holds nested overrides of that stage's config file
  (stages: base, organism, monitor, monitor_eval, reward_model, rl), e.g.
  `--config.study.overrides.rl.train.steps=20` once the field is declared.
  `study.reward` is "rule" (the oracle's helpful-only reward) or "learned" (a
  reward model trained as a shared stage, configs/reward/learned.py).
  """
  config = ml_collections.ConfigDict()
  config.job = "study"
  config.distributed = False
  config.study = ml_collections.ConfigDict(dict(
      organisms=tuple(organisms), arms=tuple(arms), seeds=tuple(seeds), test=test,
      reward="rule", stages="all", shard_index=0, num_shards=1, parallel_runs=1))
  config.study.overrides = ml_collections.ConfigDict(
      {stage: {} for stage in ("base", "organism", "monitor", "monitor_eval", "reward_model",
                               "rl")})
  return config
