"""Optimizers from config: AdamW with linear warmup, cosine or constant decay, clipping."""

from __future__ import annotations

from typing import Any

import jax
import optax

SCHEDULES = ("cosine", "constant")


def learning_rate_schedule(cfg: Any, total_steps: int) -> optax.Schedule:
  """lr(t) = peak * t / warmup for t < warmup, then cosine decay to peak * min_lr_ratio
  at total_steps ("cosine") or peak ("constant")."""
  if cfg.schedule not in SCHEDULES:
    raise ValueError(f"config.optimizer.schedule={cfg.schedule!r}; allowed: {list(SCHEDULES)}")
  peak = cfg.learning_rate
  warmup = min(int(cfg.warmup_steps), max(total_steps - 1, 0))
  if cfg.schedule == "cosine":
    decay = optax.cosine_decay_schedule(peak, max(total_steps - warmup, 1), alpha=cfg.min_lr_ratio)
  else:
    decay = optax.constant_schedule(peak)
  if not warmup:
    return decay
  return optax.join_schedules([optax.linear_schedule(0.0, peak, warmup), decay], [warmup])


# Parameter names that weight decay applies to: the weight matrices (nn.Dense kernels, the
# embedding table). Norm scales and biases are left alone.
DECAYED_NAMES = ("kernel", "embedding")


def weight_decay_mask(params: Any) -> Any:
  """True for the leaves named in DECAYED_NAMES (by the last dict key of their path).

  By name, not by rank: the scanned layers stack every leaf with a leading
  layer axis, so a per-layer norm scale [L, D] or bias [L, F] has rank 2 too.
  """
  def decays(path, _) -> bool:
    names = [entry.key for entry in path if isinstance(entry, jax.tree_util.DictKey)]
    return bool(names) and names[-1] in DECAYED_NAMES
  return jax.tree_util.tree_map_with_path(decays, params)


def make_optimizer(cfg: Any, total_steps: int) -> optax.GradientTransformation:
  """clip_by_global_norm(grad_clip), then AdamW; weight decay on weight matrices only
  (`weight_decay_mask`). The warmup starts at lr 0 (optax counts from 0), so the first
  update only fills Adam's moments."""
  adamw = optax.adamw(
      learning_rate_schedule(cfg, total_steps), b1=cfg.b1, b2=cfg.b2, eps=cfg.eps,
      weight_decay=cfg.weight_decay, mask=weight_decay_mask)
  if cfg.grad_clip > 0:
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), adamw)
  return adamw
