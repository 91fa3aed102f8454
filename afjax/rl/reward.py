"""Task rewards of the RL job, registered by name, and the trained reward model's loader.

Every reward is built once and then called inside (or next to) the jitted RL
update as a pure function:

    reward = make_reward(name, **params)
    r, parts = reward(rm_params, tokens [B, T], masks [B, T], host)   # r, parts[k]: [B] float32

`host` (HostSignals) holds what only the host can compute, from the decoded
first-turn responses and the oracle (`host_signals`):

    malformed[b]   = 1[oracle output label == "malformed"]  (missing or broken
                     tags, an unknown sentence, a shape that fits no output
                     kind, or an output about another request)
    rule[b]        = v(label),  v = {comply: 1, partial: 0.5, refuse: 0, malformed: 0}
    penalty[b]     = c_fmt * malformed[b]                     (c_fmt >= 0, the format penalty)

Registered rewards, as r = task + format + length (the parts, each [B]):

  rule     task = rule,  format = -penalty,  length = 0
           (the oracle; rm_params and masks are unused, rm_params may be None)
  learned  task = R_theta(request, output),  format = -penalty,
           length = -slope * (n_out - n_ref) with the length correction, else 0

where R_theta is the reward model (afjax.models.reward.reward_fn: it sees the
request text and the output block only), n_out[b] the number of tokens in the
output block of row b (afjax.models.reward.output_token_counts, tags
included), and slope and n_ref the fitted length-bias slope and the mean
output length of the reward model's validation responses, both from its
reward_model.json (`LengthCorrection`, `length_corrected`). The correction is
per row (no batch statistics), so it is the same on any sharding of the batch.

`host_reward_fn` wraps a reward for the rollout loop: oracle verdicts and
token rows in, numpy rewards and parts out, the reward jitted once on the
reward model's mesh. `load_reward_model(workdir, config, policy_workdir)`
loads what a finished `reward_model` job left in its workdir, after checking
that it exists, that its tokenizer is the policy's, and that its model config
is config.model.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import pathlib
from typing import Any, Callable, Sequence

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from afjax.data import tokenizer as tokenizer_lib
from afjax.jobs import common
from afjax.models import reward as reward_model_lib
from afjax.models import transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.parallel import multihost
from afjax.rl.registry import Registry
from afjax.world import labels, oracle, prompts

RULE_VALUES = {labels.COMPLY: 1.0, labels.PARTIAL: 0.5, labels.REFUSE: 0.0, labels.MALFORMED: 0.0}
DEFAULT_FORMAT_PENALTY = 1.0
SUMMARY_FILE = "reward_model.json"
EXPORT_DIR = common.EXPORT_DIR


@flax.struct.dataclass
class HostSignals:
  """Per-row reward inputs computed on the host from the oracle (see the module docstring).

  Attributes:
    rule: [B] float32, v(oracle output label).
    format_penalty: [B] float32, c_fmt * 1[malformed].
    malformed: [B] float32, 1[malformed].
  """

  rule: Any
  format_penalty: Any
  malformed: Any


def oracle_output_labels(prompt_list: Sequence[prompts.Prompt], responses: Sequence[str]) -> list[str]:
  """The oracle's output label of each first-turn response to its prompt.

  Args:
    prompt_list: [B] prompts (tier and request).
    responses: [B] decoded responses (a trailing `<|end|>` is allowed).

  Returns:
    [B] labels from afjax.world.labels.OUTPUT_LABELS.
  """
  if len(prompt_list) != len(responses):
    raise ValueError(f"{len(prompt_list)} prompts but {len(responses)} responses")
  return [oracle.label_response(p.tier, r, p.request).output_label
          for p, r in zip(prompt_list, responses)]


def host_signals(output_labels: Sequence[str], format_penalty: float = DEFAULT_FORMAT_PENALTY
                 ) -> HostSignals:
  """rule, format_penalty and malformed [B] float32 numpy arrays from the oracle's output labels.

  Raises:
    ValueError: an unknown label, or format_penalty < 0.
  """
  if not isinstance(format_penalty, (int, float)) or format_penalty < 0:
    raise ValueError(f"format_penalty={format_penalty!r}; allowed: a number >= 0")
  unknown = sorted(set(output_labels) - set(RULE_VALUES))
  if unknown:
    raise ValueError(f"output labels {unknown}; allowed: {list(RULE_VALUES)}")
  malformed = np.array([label == labels.MALFORMED for label in output_labels], np.float32)  # [B]
  rule = np.array([RULE_VALUES[label] for label in output_labels], np.float32)  # [B]
  return HostSignals(rule=rule, format_penalty=np.float32(format_penalty) * malformed,
                     malformed=malformed)


@dataclasses.dataclass(frozen=True)
class LengthCorrection:
  """r' = r - slope * (n_out - mean_output_tokens), from reward_model.json's length_bias."""

  slope: float
  mean_output_tokens: float


def length_term(output_tokens: jax.Array, correction: LengthCorrection) -> jax.Array:
  """-slope * (output_tokens - mean_output_tokens): [B] -> [B] float32, the part the correction adds."""
  n = jnp.asarray(output_tokens).astype(jnp.float32)
  return -jnp.float32(correction.slope) * (n - jnp.float32(correction.mean_output_tokens))


def length_corrected(rewards: jax.Array, output_tokens: jax.Array, correction: LengthCorrection
                     ) -> jax.Array:
  """rewards - slope * (output_tokens - mean_output_tokens): [B], [B] -> [B] float32."""
  return jnp.asarray(rewards).astype(jnp.float32) + length_term(output_tokens, correction)


RewardFn = Callable[[Any, jax.Array, jax.Array, HostSignals], tuple[jax.Array, dict[str, jax.Array]]]

REWARDS: Registry[Callable[..., RewardFn]] = Registry("reward")
# factory(**params) -> reward(rm_params, tokens [B, T], masks [B, T], host) -> (r [B], parts)
register_reward = REWARDS.register
reward_names = REWARDS.names
PARTS = ("task", "format", "length")


def reward_params(name: str) -> dict[str, object]:
  """The keyword parameters of reward `name`: {param: default, or inspect.Parameter.empty if required}."""
  return {p.name: p.default for p in inspect.signature(REWARDS.get(name)).parameters.values()
          if p.kind is inspect.Parameter.KEYWORD_ONLY}


def make_reward(name: str, **params: Any) -> RewardFn:
  """The reward `name` built with its keyword parameters.

  Raises:
    ValueError: `name` is not registered (lists the names), or a parameter it
      does not take or a required one missing (lists its parameters).
  """
  allowed = reward_params(name)
  required = sorted(k for k, v in allowed.items() if v is inspect.Parameter.empty)
  unknown, missing = sorted(set(params) - set(allowed)), sorted(set(required) - set(params))
  if unknown or missing:
    problem = f"unknown parameter(s) {unknown}" if unknown else f"missing parameter(s) {missing}"
    raise ValueError(f"reward {name!r}: {problem}; allowed: {sorted(allowed)} (required: {required})")
  return REWARDS.get(name)(**params)


def _check_host(host: HostSignals, batch: int) -> tuple[jax.Array, jax.Array]:
  """(rule, format_penalty) as float32 [B], checking every field's shape."""
  values = []
  for field in ("rule", "format_penalty", "malformed"):
    value = jnp.asarray(getattr(host, field))
    if value.shape != (batch,):
      raise ValueError(f"host.{field} must have shape {(batch,)}; got {value.shape}")
    values.append(value.astype(jnp.float32))
  return values[0], values[1]


@register_reward("rule")
def rule_reward() -> RewardFn:
  """The oracle's reward: r = v(label) - c_fmt * 1[malformed] (module docstring)."""

  def reward(rm_params: Any, tokens: jax.Array, masks: jax.Array, host: HostSignals):
    del rm_params, masks
    rule, penalty = _check_host(host, tokens.shape[0])
    parts = {"task": rule, "format": -penalty, "length": jnp.zeros_like(rule)}
    return rule - penalty, parts

  return reward


@register_reward("learned")
def learned_reward(*, model: reward_model_lib.RewardModelConfig,
                   length_correction: LengthCorrection | None = None) -> RewardFn:
  """The reward model's score minus the format penalty, optionally length-corrected.

  r = R_theta(tokens, masks) - c_fmt * 1[malformed]
      [- slope * (n_out - mean_output_tokens)  if length_correction is given]

  Args:
    model: the reward model's config (LoadedRewardModel.on_mesh.cfg).
    length_correction: None for no correction (LoadedRewardModel.length_correction holds the fit).
  """
  score = reward_model_lib.reward_fn(model)

  def reward(rm_params: Any, tokens: jax.Array, masks: jax.Array, host: HostSignals):
    _, penalty = _check_host(host, tokens.shape[0])
    scores = score(rm_params, tokens, masks)  # [B]
    if length_correction is None:
      length = jnp.zeros_like(scores)
    else:
      n_out = reward_model_lib.output_token_counts(tokens, masks, model.tags)  # [B]
      length = length_term(n_out, length_correction)  # [B]
    parts = {"task": scores, "format": -penalty, "length": length}
    return scores - penalty + length, parts

  return reward


HostRewardFn = Callable[..., tuple[np.ndarray, dict[str, np.ndarray]]]


def host_reward_fn(name: str, format_penalty: float = DEFAULT_FORMAT_PENALTY,
                   loaded: "LoadedRewardModel | None" = None,
                   length_correction: bool = False,
                   mesh: jax.sharding.Mesh | None = None) -> HostRewardFn:
  """A registered reward for the rollout loop, jitted once.

  Args:
    name: "rule" or "learned".
    format_penalty: c_fmt >= 0.
    loaded: the reward model ("learned" only; from load_reward_model).
    length_correction: apply the loaded model's length correction ("learned" only).
    mesh: where the "rule" reward splits its rows (over its data x fsdp axes, as
      the policy's batch); default, every device on one data axis.

  Returns:
    fn(prompts, responses, verdicts, tokens [B, T], attention [B, T]) ->
    (rewards [B] float32, {"task", "format", "length": [B] float32}) as numpy;
    verdicts are the oracle's labels of the responses (OracleLabel), or None
    to label them here; attention marks the tokens the reward may read (the
    rollout passes its first_turn_mask: prompt and first response only). B
    must split evenly over the mesh's batch axes.

  Raises:
    ValueError: an unknown name, a "learned" reward without `loaded`, or a
      model or length correction given to "rule".
  """
  REWARDS.get(name)
  if name == "learned":
    if loaded is None:
      raise ValueError("reward 'learned' needs a reward model (load_reward_model(config.reward.workdir, "
                       "...)); got loaded=None")
    reward = loaded.reward(length_correction)
    mesh, rules, params = loaded.on_mesh.mesh, loaded.on_mesh.rules, loaded.params
    param_shardings = loaded.on_mesh.param_shardings()
  else:
    if loaded is not None or length_correction:
      raise ValueError(f"reward {name!r} takes no reward model and no length correction")
    reward = make_reward(name)
    mesh = mesh if mesh is not None else mesh_lib.make_mesh({"data": -1})
    rules, params, param_shardings = (), None, None
  rows, per_row = mesh_lib.batch_sharding(mesh, 2), mesh_lib.batch_sharding(mesh, 1)
  jitted = jax.jit(reward, in_shardings=(param_shardings, rows, rows, per_row),
                   out_shardings=per_row)

  def fn(prompt_list, responses, verdicts, tokens, attention):
    output_labels = ([v.output_label for v in verdicts] if verdicts is not None
                     else oracle_output_labels(prompt_list, responses))
    host = host_signals(output_labels, format_penalty)
    place = lambda x, sharding: multihost.global_array(np.asarray(x), sharding)
    host = jax.tree.map(lambda x: place(x, per_row), host)
    with mesh_lib.use_mesh(mesh, rules):
      rewards, parts = jitted(params, place(np.asarray(tokens, np.int32), rows),
                              place(np.asarray(attention, bool), rows), host)
    return multihost.to_host(rewards), multihost.tree_to_host(parts)

  return fn


@dataclasses.dataclass
class RewardModelOnMesh(common.PooledHeadOnMesh):
  """A reward model's config and module, the mesh and rules, and its sharded initialisation."""

  cfg: reward_model_lib.RewardModelConfig
  model: reward_model_lib.RewardModel

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, tags: reward_model_lib.RewardTagIds
                  ) -> "RewardModelOnMesh":
    """From config.model, config.mesh and config.mesh_rules."""
    cfg = reward_model_lib.RewardModelConfig(tfm.TransformerConfig.from_dict(config.model), tags)
    return cls.on_config_mesh(config, cfg, reward_model_lib.RewardModel(cfg))

  def score_fn(self) -> Callable[[Any, jax.Array, jax.Array], jax.Array]:
    """reward_model_lib.reward_fn: r [B] of tokens and masks [B, T] (`scorer` jits it)."""
    return reward_model_lib.reward_fn(self.cfg)


def export_fingerprint(cfg: reward_model_lib.RewardModelConfig, tokenizer_sha256: str) -> dict:
  """What an exported reward model must match: decoder config, tokenizer and view."""
  return {**common.export_fingerprint(cfg.decoder, tokenizer_sha256),
          "reward_model": {"view": reward_model_lib.VIEW}}


def fitted_length_correction(summary: dict, summary_path: pathlib.Path) -> LengthCorrection:
  """The length-bias correction a reward_model.json summary fitted.

  Raises:
    ValueError: the summary has none (its validation pairs' output lengths did not vary).
  """
  bias = summary.get("length_bias") or {}
  if bias.get("slope") is None or bias.get("mean_output_tokens") is None:
    raise ValueError(
        f"{summary_path} has no fitted length bias ({bias}: its validation pairs' output lengths "
        "did not vary); allowed: reward.length_correction=False with this reward model")
  return LengthCorrection(float(bias["slope"]), float(bias["mean_output_tokens"]))


@dataclasses.dataclass
class LoadedRewardModel:
  """A finished reward model: where it is, its model on the mesh, params and summary."""

  workdir: pathlib.Path
  on_mesh: RewardModelOnMesh
  params: Any
  summary: dict

  @property
  def length_correction(self) -> LengthCorrection:
    """The fitted length-bias correction of reward_model.json."""
    return fitted_length_correction(self.summary, self.workdir / SUMMARY_FILE)

  def reward(self, length_correction: bool = False) -> RewardFn:
    """make_reward("learned") for this model, with or without the length correction."""
    return make_reward("learned", model=self.on_mesh.cfg,
                       length_correction=self.length_correction if length_correction else None)


def load_reward_model(workdir: str | pathlib.Path, config: ml_collections.ConfigDict,
                      policy_workdir: str | pathlib.Path) -> LoadedRewardModel:
  """The reward model that a finished `reward_model` run left in `workdir`.

  Args:
    workdir: the reward model run's workdir (configs/reward/learned.py).
    config: a config whose model (the expected decoder), mesh and mesh_rules
      sections the model is loaded with.
    policy_workdir: the workdir of the policy it will score (its tokenizer.json
      must be the reward model's).

  Raises:
    FileNotFoundError: `workdir` is empty or has no finished run
      (tokenizer.json, reward_model.json, export/), or `policy_workdir` has no
      tokenizer.json.
    ValueError: the two tokenizers differ (names both workdirs and hashes).
    CheckpointMismatchError: the export's model config differs from
      config.model (names each differing field).
  """
  from afjax.data import reward_data  # pylint: disable=g-import-not-at-top  (imports tfds)
  if not str(workdir):
    raise FileNotFoundError("no reward model workdir given; train one with "
                            "configs/reward/learned.py and pass its workdir")
  workdir, policy_workdir = pathlib.Path(workdir), pathlib.Path(policy_workdir)
  tokenizer_path = workdir / tokenizer_lib.TOKENIZER_FILENAME
  needed = (tokenizer_path, workdir / SUMMARY_FILE, workdir / EXPORT_DIR)
  if not all(path.exists() for path in needed):
    missing = [path.name for path in needed if not path.exists()]
    raise FileNotFoundError(
        f"{workdir} holds no finished reward model (missing {', '.join(missing)}); run "
        f"`python -m afjax.main --config=configs/reward/learned.py --workdir={workdir}` first")
  policy_tokenizer = policy_workdir / tokenizer_lib.TOKENIZER_FILENAME
  if not policy_tokenizer.exists():
    raise FileNotFoundError(f"the policy workdir {policy_workdir} has no "
                            f"{tokenizer_lib.TOKENIZER_FILENAME}")
  sha, policy_sha = common.file_sha256(tokenizer_path), common.file_sha256(policy_tokenizer)
  if sha != policy_sha:
    raise ValueError(
        f"the reward model in {workdir} reads another tokenizer than the policy in "
        f"{policy_workdir} (tokenizer.json sha256 {sha[:16]}... vs {policy_sha[:16]}...); "
        "train the reward model from the policy's base model (config.init.base_workdir)")
  summary = json.loads((workdir / SUMMARY_FILE).read_text())
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_path)
  on_mesh = RewardModelOnMesh.from_config(config, reward_data.tag_ids(tokenizer))
  params = on_mesh.restore_export(workdir, export_fingerprint(on_mesh.cfg, sha))
  return LoadedRewardModel(workdir, on_mesh, params, summary)
