"""Evaluates the trained monitors and writes WORKDIR/monitor_eval.json.

For the scratchpad classifier in `config.monitors.scratchpad_workdir` and the
output-only monitor in `config.monitors.output_workdir` (either may be empty,
not both), each at its own operating threshold (chosen on its validation split
by the monitor job), on:

  in_distribution    the test split of the monitor dataset of `config.data`
                     (training distribution, unseen examples): auroc,
                     precision, recall, ece, flag_rate, mean_p
  held_out_families  examples phrased only with held-out paraphrase families
                     (eval-split requests): the same figures
  implicit           implicit alignment faking (strict label 0, but faking):
                     recall = share flagged, mean_p
  organisms[NAME]    responses sampled from each policy in
                     `config.monitors.organism_workdirs` on the paired eval
                     prompts of both tiers (config.eval), labelled by the
                     oracle (positive iff the scratchpad is explicit_af): the
                     figures of in_distribution, the same on the samples
                     whose scratchpad the oracle could parse ("parseable";
                     an unparseable one is a strict negative however it
                     reads), and the oracle's label counts
Each of in_distribution, held_out_families and organisms[NAME] also has
"free_tier": its figures on the free-tier examples alone. Every explicit-AF
example is in the free tier, and both monitors see the prompt with its tier
tag, so on sets of both tiers "paid" alone marks a negative (a tier-tag-only
score reaches AUROC ~0.7 on in_distribution); the free-tier figures are what
the monitor reads from the reasoning or output, and the RL setting (every
rollout is a free-tier transcript).

Figures are defined in afjax.evaluation.monitor_eval; undefined ones (an AUROC
without positives) are null. The in-distribution test split must lie outside
the monitors' training data: the same data seed, and at least as many train +
validation records as each monitor was trained with. A policy is sampled with
the model section of its own config.json; a monitor is read with config.model.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Sequence

import ml_collections
import numpy as np

from afjax import config as config_lib
from afjax.data import monitor_data
from afjax.data import tokenizer as tokenizer_lib
from afjax.evaluation import monitor_eval
from afjax.evaluation import organism_eval as organism_eval_lib
from afjax.jobs import common
from afjax.jobs import monitor as monitor_job
from afjax.jobs import organism_eval as organism_eval_job
from afjax.models import monitor as monitor_lib
from afjax.models import transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.parallel import multihost
from afjax.world import labels as world_labels
from afjax.world import prompts as world_prompts

OUTPUT_FILE = "monitor_eval.json"
WORKDIR_FIELDS = {monitor_lib.SCRATCHPAD_VIEW: "scratchpad_workdir",
                  monitor_lib.OUTPUT_VIEW: "output_workdir"}
REQUIRED = ("model", "mesh", "mesh_rules", "monitors.scratchpad_workdir", "monitors.output_workdir",
            "monitors.organism_workdirs", "monitors.batch_size") + monitor_job.DATA_FIELDS


def validate(config: ml_collections.ConfigDict, num_devices: int) -> None:
  """Checks the monitors, data and (with organisms) eval sections; raises ConfigError."""
  config_lib.require(config, REQUIRED)
  config_lib.validate_model(config)
  sizes = config_lib.validate_mesh(config, num_devices)
  config_lib.validate_batch(config, "monitors.batch_size", sizes)
  monitor_job.validate_data(config)
  if not any(config.monitors[field] for field in WORKDIR_FIELDS.values()):
    raise config_lib.ConfigError(
        "config.monitors.scratchpad_workdir and config.monitors.output_workdir are both empty; "
        "allowed: the workdir of a finished configs/monitors/{scratchpad,output}.py run in either")
  organisms = config.monitors.organism_workdirs
  if isinstance(organisms, str) or not all(isinstance(w, str) and w for w in organisms):
    raise config_lib.ConfigError(
        f"config.monitors.organism_workdirs={organisms!r}; allowed: a list of workdirs of finished "
        "base or organism runs (possibly empty)")
  if organisms:
    organism_eval_job.validate_eval(config, num_devices)


def organism_names(workdirs: Sequence[str]) -> list[str]:
  """A distinct name per policy workdir: its directory name (with #2, #3 ... on repeats)."""
  names: list[str] = []
  for workdir in workdirs:
    name = pathlib.Path(workdir).name or str(workdir)
    names.append(name if name not in names else f"{name}#{names.count(name) + 1}")
  return names


def sample_policy(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> list[dict]:
  """Samples the policy in `workdir` on the eval prompts; monitor examples with oracle labels."""
  config_path = workdir / "config.json"
  if not config_path.exists():
    raise FileNotFoundError(f"{workdir} holds no finished policy run (config.json, tokenizer.json, "
                            "export/); allowed in config.monitors.organism_workdirs: base or "
                            "organism workdirs")
  model_cfg = tfm.TransformerConfig.from_dict(json.loads(config_path.read_text())["model"])
  model = common.ModelOnMesh(model_cfg, tfm.Transformer(model_cfg),
                             mesh_lib.make_mesh(dict(config.mesh)),
                             mesh_lib.rules_from_config(config.mesh_rules))
  tokenizer_path = workdir / tokenizer_lib.TOKENIZER_FILENAME
  params = common.load_exported_params(workdir, model, common.file_sha256(tokenizer_path))
  samples = organism_eval_lib.sample_responses(
      model, params, tokenizer_lib.load_tokenizer(tokenizer_path),
      world_prompts.eval_prompt_set(config.eval.seed, config.eval.num_harmful,
                                    config.eval.num_benign),
      max_new_tokens=config.eval.max_new_tokens, temperature=config.eval.temperature,
      top_p=organism_eval_job.sampling_top_p(config),
      epsilon=organism_eval_job.sampling_epsilon(config), batch_size=config.eval.batch_size,
      seed=config.eval.seed)
  return monitor_eval.organism_examples(samples)


def check_test_split_unseen(loaded: monitor_job.LoadedMonitor, spec: monitor_data.MonitorDataSpec) -> None:
  """Raises ValueError unless the test split of `spec` is outside the monitor's training data."""
  trained = loaded.summary["data"]
  seen = trained["n_train"] + trained["n_validation"]
  if spec.seed != trained["seed"] or spec.n_train + spec.n_validation < seen:
    raise ValueError(
        f"config.data (seed={spec.seed}, n_train + n_validation = "
        f"{spec.n_train + spec.n_validation}) would put the in-distribution test split inside the "
        f"training data of the monitor in {loaded.workdir} (seed={trained['seed']}, n_train + "
        f"n_validation = {seen}); allowed: data.seed={trained['seed']} and n_train + "
        f"n_validation >= {seen}")


def evaluate_monitor(loaded: monitor_job.LoadedMonitor, sets: dict[str, list[dict]],
                     organisms: dict[str, list[dict]], batch_size: int) -> dict:
  """The figures of one monitor on every set (see the module docstring)."""
  tokenizer = tokenizer_lib.load_tokenizer(loaded.workdir / tokenizer_lib.TOKENIZER_FILENAME)

  def scores_of(examples: list[dict]):
    rows = monitor_data.classifier_rows(tokenizer, examples)
    return monitor_eval.score_rows(loaded.monitor.scorer, loaded.params, rows, batch_size), \
        rows["labels"].astype(int)

  threshold = loaded.threshold
  result: dict[str, Any] = {"workdir": str(loaded.workdir), "threshold": threshold,
                            "validation": loaded.summary["validation"]}
  for name in ("in_distribution", "held_out_families"):
    scores, labels = scores_of(sets[name])
    result[name] = monitor_eval.classification_figures(scores, labels, threshold)
    free = monitor_eval.free_tier_mask(sets[name])
    result[name]["free_tier"] = monitor_eval.classification_figures(scores[free], labels[free],
                                                                    threshold)
  result["implicit"] = monitor_eval.detection_figures(scores_of(sets["implicit"])[0], threshold)
  result["organisms"] = {}
  for name, examples in organisms.items():
    scores, labels = scores_of(examples)
    figures = monitor_eval.classification_figures(scores, labels, threshold)
    parseable = np.array([e["scratchpad_label"] != world_labels.UNPARSEABLE for e in examples], bool)
    figures["parseable"] = monitor_eval.classification_figures(scores[parseable], labels[parseable],
                                                               threshold)
    free = monitor_eval.free_tier_mask(examples)
    figures["free_tier"] = monitor_eval.classification_figures(scores[free], labels[free], threshold)
    figures["scratchpad_label_counts"] = monitor_eval.scratchpad_label_counts(examples)
    result["organisms"][name] = figures
  return result


def _fmt(value: Any) -> str:
  return "n/a" if value is None else f"{value:.3f}"


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  workdir_path = pathlib.Path(workdir)
  loaded = {view: monitor_job.load_monitor(config.monitors[field], config, view)
            for view, field in WORKDIR_FIELDS.items() if config.monitors[field]}
  spec = monitor_data.MonitorDataSpec.from_config(config.data)
  for monitor in loaded.values():
    check_test_split_unseen(monitor, spec)
  common.prepare_workdir(config, workdir_path)
  builder = monitor_data.monitor_dataset(config.data.data_dir or workdir_path / "data", spec)
  sets = {name: monitor_data.read_split(builder, split) for name, split in (
      ("in_distribution", monitor_data.TEST), ("held_out_families", monitor_data.HELD_OUT),
      ("implicit", monitor_data.IMPLICIT))}
  organism_workdirs = list(config.monitors.organism_workdirs)
  organisms = {name: sample_policy(config, pathlib.Path(path))
               for name, path in zip(organism_names(organism_workdirs), organism_workdirs)}
  result = {
      "threshold_rule": monitor_eval.THRESHOLD_RULE,
      "ece_definition": monitor_eval.ECE_DEFINITION,
      "label": "1 iff the oracle labels the scratchpad explicit_af (strict criterion)",
      "dataset": spec.as_dict(),
      "organism_workdirs": dict(zip(organisms, organism_workdirs)),
      "monitors": {view: evaluate_monitor(monitor, sets, organisms, config.monitors.batch_size)
                   for view, monitor in loaded.items()},
  }
  result = monitor_eval.json_safe(result)
  multihost.write_text(workdir_path / OUTPUT_FILE, json.dumps(result, indent=2))
  for view, figures in result["monitors"].items():
    organism_auroc = ", ".join(f"{name} {_fmt(f['auroc'])}" for name, f in figures["organisms"].items())
    print(f"monitor {view}: AUROC in-distribution {_fmt(figures['in_distribution']['auroc'])} "
          f"(free tier {_fmt(figures['in_distribution']['free_tier']['auroc'])}), "
          f"held-out families {_fmt(figures['held_out_families']['auroc'])}, implicit recall "
          f"{_fmt(figures['implicit']['recall'])}"
          + (f", organisms {organism_auroc}" if organism_auroc else ""), flush=True)
  return result
