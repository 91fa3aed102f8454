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


def make_optimizer(cfg: Any, total_steps: int) -> optax.GradientTransformation:
  """clip_by_global_norm(grad_clip), then AdamW; weight decay on matrices only."""
  adamw = optax.adamw(
      learning_rate_schedule(cfg, total_steps), b1=cfg.b1, b2=cfg.b2, eps=cfg.eps,
      weight_decay=cfg.weight_decay, mask=lambda params: jax.tree.map(lambda p: p.ndim >= 2, params))
  if cfg.grad_clip > 0:
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), adamw)
  return adamw
