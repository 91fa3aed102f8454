"""PNG plots of results.json (matplotlib, Agg backend: no display needed).

  curves_<organism>.png  per organism, one panel per CURVE_METRICS entry over RL
                         steps, one line per arm (the mean over seeds)
  reductions.png         final reduction (reference - arm, positive = lower)
                         of REDUCTION_METRICS per arm averaged over organisms,
                         with 95% error bars: left against baseline RL (the
                         mitigation arms), right against pre-RL (every arm)

File names depend only on the organism names (characters outside
[A-Za-z0-9._-] become "_"); two organisms mapping to one name are an error.
"""

from __future__ import annotations

import os
import pathlib
import re

import matplotlib

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # pylint: disable=wrong-import-position

from afjax.report import results as results_lib  # pylint: disable=wrong-import-position

CURVE_METRICS = ("af_rate_oracle", "af_rate_classifier", "implicit_af_rate_oracle",
                 "compliance_gap")
REDUCTIONS_FILE = "reductions.png"
REFERENCE_TITLES = {
    "baseline_rl": "Final reduction relative to baseline RL (baseline - arm)",
    "pre_rl": "Final reduction relative to pre-RL (pre-RL - arm)",
}


def curves_file(organism: str) -> str:
  """The file name of an organism's curve plot."""
  return f"curves_{re.sub(r'[^A-Za-z0-9._-]', '_', organism)}.png"


def plot_curves(results: dict, organism: str, path: pathlib.Path) -> None:
  """AF rates and the compliance gap of one organism over RL steps, a line per arm."""
  entry = results["organisms"][organism]
  fig, axes = plt.subplots(1, len(CURVE_METRICS), figsize=(4.2 * len(CURVE_METRICS), 3.6),
                           squeeze=False)
  for ax, metric in zip(axes[0], CURVE_METRICS):
    for arm, arm_entry in sorted(entry["arms"].items()):
      steps = [p["step"] for p in arm_entry["curve"]]
      values = [float("nan") if p[metric] is None else p[metric] for p in arm_entry["curve"]]
      ax.plot(steps, values, marker="o", markersize=3, label=f"{arm} (n={arm_entry['n_seeds']})")
    if metric == "compliance_gap":
      ax.axhline(0.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_title(metric)
    ax.set_xlabel("RL step")
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=8)
  fig.suptitle(f"{organism}: mean over seeds per eval step (step 0 = before RL)")
  fig.tight_layout()
  fig.savefig(path, format="png", dpi=100)
  plt.close(fig)


def plot_reductions(results: dict, path: pathlib.Path) -> None:
  """Bar charts of results['reductions'] against baseline RL and against pre-RL."""
  fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), squeeze=False)
  metrics = results_lib.REDUCTION_METRICS
  width = 0.8 / len(metrics)
  for ax, (reference, title) in zip(axes[0], REFERENCE_TITLES.items()):
    by_arm = results["reductions"][reference]
    arms = sorted(by_arm)
    for j, metric in enumerate(metrics):
      xs, heights, errors = [], [], [[], []]
      for i, arm in enumerate(arms):
        value = by_arm[arm][metric]
        if value["mean"] is None:
          continue
        xs.append(i + (j - (len(metrics) - 1) / 2) * width)
        heights.append(value["mean"])
        lo, hi = value["ci95"]
        # An undefined interval gets no error bar (NaN), not a zero-length one.
        errors[0].append(float("nan") if lo is None else value["mean"] - lo)
        errors[1].append(float("nan") if hi is None else hi - value["mean"])
      ax.bar(xs, heights, width=width, yerr=errors, capsize=3, label=metric)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(arms)))
    ax.set_xticklabels(arms, rotation=20, ha="right")
    ax.set_title(title if arms else f"{title}: no arm to compare", fontsize=10)
    ax.set_ylabel("reduction, averaged over organisms")
    ax.grid(axis="y", alpha=0.3)
    if arms:
      ax.legend(fontsize=8)
  fig.suptitle("Final AF-rate and compliance-gap reduction per arm (95% error bars; "
               "missing bar = undefined)")
  fig.tight_layout()
  fig.savefig(path, format="png", dpi=100)
  plt.close(fig)


def write_plots(results: dict, out_dir: str | os.PathLike) -> list[pathlib.Path]:
  """Writes every plot of the module docstring into `out_dir`; returns their paths."""
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  names: dict[str, str] = {}
  for organism in sorted(results["organisms"]):
    name = curves_file(organism)
    if name in names:
      raise ValueError(f"organisms {names[name]!r} and {organism!r} both plot to {name}; "
                       "allowed: names that differ in [A-Za-z0-9._-]")
    names[name] = organism
  paths = []
  for name, organism in names.items():
    plot_curves(results, organism, out_dir / name)
    paths.append(out_dir / name)
  plot_reductions(results, out_dir / REDUCTIONS_FILE)
  paths.append(out_dir / REDUCTIONS_FILE)
  return paths
