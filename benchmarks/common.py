"""Shared pieces of the benchmarks: timing, the matmul peak, FLOP counts, output.

Every benchmark times jitted functions with `time_fn` (results blocked on, the
first call reported separately as compile time), compares its figures with
the peak of a plain jitted matmul measured in the same process
(`measure_matmul_peak`), prints a human table (`print_table`) and one
machine-readable line `BENCH_JSON {...}` (`emit_json`) that carries the
machine it ran on.

FLOP conventions (one multiply-add = 2 FLOPs; elementwise work, norms,
softmax, RoPE and the embedding gather are not counted). For a decoder with
L layers, width D, H query heads, K key/value heads, head width E, SwiGLU
width F and vocabulary V:

  N_mm   = L * (D * E * (2H + 2K) + 3 * D * F) + D * V     matmul parameters
  fwd(c) = 2 * N_mm + 4 * L * H * E * c                   FLOPs for one token
                                                            attending to c keys

The attention term is q.k (2 * H * E * c) plus probs.v (2 * H * E * c) in
each layer. A causal sequence of T tokens has sum_{t=1..T} t = T (T + 1) / 2
query-key pairs, i.e. a mean context of (T + 1) / 2. A train step costs
3 x forward (the backward pass is twice the forward). These are the *useful*
FLOPs: the implementation also multiplies masked keys (the whole cache in
decoding), which makes it slower than the floor, never the floor lower.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from afjax.models import transformer as tfm
from afjax.training import state as state_lib

JSON_PREFIX = "BENCH_JSON"
HEAD_DIM = 32  # head width of `width_config`'s decoders


# ---------------------------------------------------------------------------
# Timing.


def block(tree: Any) -> Any:
  """Waits until every array in `tree` is computed; returns `tree`."""
  return jax.block_until_ready(tree)


def time_fn(fn: Callable[..., Any], *args: Any, warmup: int = 1, repeats: int = 5,
            setup: Callable[[], tuple] | None = None) -> tuple[float, list[float]]:
  """Times `fn(*args)`, blocking on its results.

  The first call is timed on its own (for a jitted function: tracing,
  compilation and one run); `warmup - 1` further untimed calls follow, then
  `repeats` timed ones.

  Args:
    fn: the function to time.
    *args: its arguments (ignored when `setup` is given).
    warmup: calls before the timed ones, the first (compile) call included; >= 1.
    repeats: timed calls.
    setup: optional `() -> args` run untimed before every call, e.g. to make
      fresh copies of inputs that `fn` donates.

  Returns:
    (compile_s, [seconds of each timed call]).
  """
  if warmup < 1 or repeats < 1:
    raise ValueError(f"warmup={warmup} and repeats={repeats}; allowed: >= 1")

  def call() -> float:
    call_args = block(setup()) if setup is not None else args
    start = time.perf_counter()
    block(fn(*call_args))
    return time.perf_counter() - start

  compile_s = call()
  for _ in range(warmup - 1):
    call()
  return compile_s, [call() for _ in range(repeats)]


def median(values: Sequence[float]) -> float:
  return float(statistics.median(values))


def random_params(cfg: tfm.TransformerConfig, seed: int, mesh: jax.sharding.Mesh,
                  rules) -> Any:
  """Randomly initialised decoder parameters, placed on `mesh` by their logical axes."""
  model = tfm.Transformer(cfg)
  dummy = jnp.zeros((1, 8), jnp.int32)  # [B, T]: parameter shapes do not depend on it
  return state_lib.init_params(lambda key: model.init(key, dummy, dummy, dummy == 0)["params"],
                               jax.random.key(seed), mesh, rules)


# ---------------------------------------------------------------------------
# The matmul peak.


def matmul_flops(n: int) -> int:
  """FLOPs of an n x n by n x n matmul: 2 n^3."""
  return 2 * n ** 3


def time_matmul(m: int, k: int, n: int, dtype: Any = jnp.float32, repeats: int = 5) -> float:
  """Median seconds of a jitted [m, k] @ [k, n] matmul of random operands.

  Args:
    dtype: operand dtype (a jnp dtype or its name); the product has it too.
    repeats: timed runs (after one compile run and one warm-up run).
  """
  dtype = jnp.dtype(dtype)
  ka, kb = jax.random.split(jax.random.key(0))
  a = jax.random.normal(ka, (m, k), jnp.float32).astype(dtype)  # [m, k]
  b = jax.random.normal(kb, (k, n), jnp.float32).astype(dtype)  # [k, n]
  _, times = time_fn(jax.jit(jnp.matmul), a, b, warmup=2, repeats=repeats)
  return median(times)


def measure_matmul_peak(n: int = 2048, dtype: Any = jnp.float32, repeats: int = 5) -> float:
  """FLOP/s of a jitted [n, n] @ [n, n] matmul: 2 n^3 / median seconds (`time_matmul`)."""
  return matmul_flops(n) / time_matmul(n, n, n, dtype, repeats)


def bracket_peak(before: float, after: float, tolerance: float = 0.2) -> tuple[float, float]:
  """Combines peaks measured before and after a workload: (max, relative spread).

  The max is the floor's best estimate of the uncontended machine. A spread
  (max - min) / max above `tolerance` means the load on the machine changed
  during the run (other processes): a warning is printed, and the ratios to
  the floor of that run are unreliable.
  """
  peak = max(before, after)
  spread = (peak - min(before, after)) / peak
  if spread > tolerance:
    print(f"WARNING: the matmul peak moved by {spread:.0%} during the run ({before / 1e9:.1f} -> "
          f"{after / 1e9:.1f} GFLOP/s): other processes compete for the CPU; rerun when idle.",
          file=sys.stderr, flush=True)
  return peak, spread


# ---------------------------------------------------------------------------
# Memory bandwidth.


def measure_read_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
  """Bytes/s that a jitted column sum of a float32 [n, 1024] array reads.

  The array (`megabytes` MiB, larger than the CPU's caches by default) is
  read once per call and only a [1024] row is written: the rate at which
  XLA-compiled code streams an operand from memory, the bound of a step
  that reads more bytes than it has FLOPs to hide them behind.
  """
  rows = megabytes * 2 ** 20 // (4 * 1024)
  if rows < 1:
    raise ValueError(f"megabytes={megabytes}; allowed: >= 1")
  x = jnp.ones((rows, 1024), jnp.float32)  # [n, 1024]
  _, times = time_fn(jax.jit(lambda a: jnp.sum(a, axis=0)), x, warmup=2, repeats=repeats)
  return rows * 1024 * 4 / median(times)


def decode_step_bytes(cfg: tfm.TransformerConfig, batch: int, cache_slots: int) -> int:
  """Bytes one decode step must read: every matmul weight once, the whole KV cache once.

  bytes = N_mm * w + 2 * L * B * K * S * E * c, with w the parameters' and c
  the compute dtype's itemsize and S the cache slots the step attends over
  (the sampler's decode step reads all of them, filled or not). Activations
  ([B, D]-sized) and the embedding gather (B rows) are left out.
  """
  cache = 2 * cfg.num_layers * batch * cfg.num_kv_heads * cache_slots * cfg.head_dim
  return (matmul_params(cfg) * jnp.dtype(cfg.param_dtype).itemsize
          + cache * jnp.dtype(cfg.compute_dtype).itemsize)


# ---------------------------------------------------------------------------
# FLOP counts of the decoder (see the module docstring).


def projection_shapes(cfg: tfm.TransformerConfig) -> list[tuple[str, int, int, int]]:
  """(name, input width, output width, times per token) of every projection matmul.

  The q/k/v/o projections and the SwiGLU gate/up/down of every layer, then the
  output projection (the embedding matrix itself when tied).
  """
  q, kv = cfg.num_heads * cfg.head_dim, cfg.num_kv_heads * cfg.head_dim
  d, f, layers = cfg.d_model, cfg.mlp_hidden, cfg.num_layers
  return [("q", d, q, layers), ("k", d, kv, layers), ("v", d, kv, layers), ("o", q, d, layers),
          ("gate", d, f, layers), ("up", d, f, layers), ("down", f, d, layers),
          ("lm_head", d, cfg.vocab_size, 1)]


def matmul_params(cfg: tfm.TransformerConfig) -> int:
  """Parameters that take part in a matmul for every token.

  N_mm = L * (D * E * (2H + 2K) + 3 * D * F) + D * V, the sum over
  `projection_shapes`. Norm scales, biases and the embedding gather are excluded.
  """
  return sum(d_in * d_out * count for _, d_in, d_out, count in projection_shapes(cfg))


def width_config(d_model: int, vocab: int = 512, num_layers: int = 4, max_seq_len: int = 128,
                 dtype: str = "float32") -> tfm.TransformerConfig:
  """The benchmarks' decoder of width D: E = 32, H = K = D / 32, F = 32 ceil(8 D / 3 / 32).

  The ratio of the "tiny" and "small" presets; workload W at D = 256.
  """
  if d_model % HEAD_DIM:
    raise ValueError(f"--d_model={d_model}; allowed: multiples of {HEAD_DIM}")
  heads = d_model // HEAD_DIM
  return tfm.TransformerConfig(
      vocab_size=vocab, d_model=d_model, num_layers=num_layers, num_heads=heads,
      num_kv_heads=heads, head_dim=HEAD_DIM, mlp_hidden=HEAD_DIM * math.ceil(8 * d_model / 3 / HEAD_DIM),
      max_seq_len=max_seq_len, dtype=dtype)


def forward_flops_per_token(cfg: tfm.TransformerConfig, context_len: float) -> float:
  """Forward FLOPs of one token attending to `context_len` keys.

  fwd(c) = 2 * N_mm + 4 * L * H * E * c  (N_mm from `matmul_params`).
  """
  return 2 * matmul_params(cfg) + 4 * cfg.num_layers * cfg.num_heads * cfg.head_dim * context_len


def causal_forward_flops(cfg: tfm.TransformerConfig, batch: int, length: int,
                         start: int = 0, last_logits_only: bool = False) -> float:
  """Forward FLOPs of `batch` sequences of `length` new tokens after `start` cached ones.

  Token t (0-based) attends to start + t + 1 keys, so the total is
  B * sum_{t<T} fwd(start + t + 1) = B * T * fwd(start + (T + 1) / 2).
  Prefill of a P-token prompt: start=0, length=P, last_logits_only=True (the
  sampler projects only the last position to the vocabulary: B (P - 1) 2 D V
  less). N decode steps after it: start=P, length=N.
  """
  flops = batch * length * forward_flops_per_token(cfg, start + (length + 1) / 2)
  if last_logits_only:
    flops -= batch * (length - 1) * 2 * cfg.d_model * cfg.vocab_size
  return flops


def train_flops_per_token(cfg: tfm.TransformerConfig, seq_len: int) -> float:
  """Train-step FLOPs per token of causal length-`seq_len` sequences: 3 * fwd((T + 1) / 2)."""
  return 3 * forward_flops_per_token(cfg, (seq_len + 1) / 2)


# ---------------------------------------------------------------------------
# Output.


def cpu_model() -> str:
  """The CPU's model name (from /proc/cpuinfo on Linux), else the architecture."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
  """Where and when the figures were taken."""
  device = jax.devices()[0]
  return {
      "platform": device.platform,
      "device_kind": device.device_kind,
      "device_count": jax.device_count(),
      "cpu": cpu_model(),
      "cpu_count": os.cpu_count(),
      "jax": jax.__version__,
      "python": platform.python_version(),
      # Other processes compete for the CPU cores when this is high.
      "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
  }


def emit_json(name: str, values: dict[str, Any]) -> dict[str, Any]:
  """Prints `BENCH_JSON {"benchmark": name, ..., "machine": {...}}` on one line.

  Returns:
    The printed record.
  """
  record = {"benchmark": name, **values, "machine": machine_info()}
  print(f"{JSON_PREFIX} {json.dumps(record, sort_keys=False)}", flush=True)
  return record


def parse_json_lines(text: str) -> list[dict[str, Any]]:
  """The records of every `BENCH_JSON` line in `text`."""
  prefix = JSON_PREFIX + " "
  return [json.loads(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix)]


def _format(value: Any) -> str:
  if isinstance(value, float):
    if value == 0 or 1e-3 <= abs(value) < 1e6:
      return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return f"{value:.3e}"
  return str(value)


def print_table(rows: Sequence[dict[str, Any]], file=None) -> None:
  """Prints dicts as an aligned text table, one column per key (first-seen order)."""
  if not rows:
    return
  columns = list(dict.fromkeys(key for row in rows for key in row))
  cells = [[_format(row.get(column, "")) for column in columns] for row in rows]
  widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
  out = file or sys.stdout
  print("  ".join(c.rjust(w) for c, w in zip(columns, widths)), file=out)
  print("  ".join("-" * w for w in widths), file=out)
  for line in cells:
    print("  ".join(c.rjust(w) for c, w in zip(line, widths)), file=out)
  out.flush()
