"""Speed of the jitted, donated LM train step (AdamW) across model widths.

    python -m benchmarks.lm_step
    python -m benchmarks.lm_step --d_model=256 --num_layers=4 --batch=32 --seq_len=128

For each width D in `--d_model` the decoder has L = `--num_layers` layers,
E = 32, H = K = D / 32 heads, SwiGLU width F = 32 * ceil(8 D / 3 / 32) (the
"tiny" and "small" presets' ratio) and V = `--vocab`; `--preset` replaces the
width sweep with one preset. The step is `afjax.training.supervised`'s
(value_and_grad of the next-token loss, AdamW from `optimizer_config()`,
state donated) on random tokens, B = `--batch` sequences of T = `--seq_len`.

Figures (median over `--repeats` steps, compile excluded):
  tokens/s         = B * T / t_step
  fraction of peak = B * T * 3 * fwd((T + 1) / 2) / t_step / peak
with fwd(c) = 2 * N_mm + 4 * L * H * E * c (see `benchmarks.common`) and the
matmul peak (dtype of the model, n = `--peak_n`) measured in the same run
(the larger of the peaks before and after the timings, `common.bracket_peak`).
The 3 x forward count is the model's FLOPs: a preset with `remat` (the Llama
ones) runs each block's forward again in the backward pass, about 4 x forward
in all, so its fraction of peak is model FLOP utilisation, below what the
hardware did.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable, Sequence

import numpy as np

from afjax import config as config_lib
from afjax.models import presets, transformer as tfm
from afjax.parallel import mesh as mesh_lib
from afjax.training import optim, state as state_lib, supervised
from benchmarks import common

NAME = "lm_step"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{NAME}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--d_model", default="128,256,512", help="comma-separated widths")
  parser.add_argument("--num_layers", type=int, default=4)
  parser.add_argument("--vocab", type=int, default=1024)
  parser.add_argument("--preset", default="",
                      help=f"a model preset {sorted(presets.PRESETS)} instead of the width sweep")
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--seq_len", type=int, default=128)
  parser.add_argument("--dtype", default="float32", help="model compute dtype (and peak dtype)")
  parser.add_argument("--scan_unroll", default="",
                      help="comma-separated model.scan_unroll values to compare (default: the "
                           "model's own), each timed after the other")
  parser.add_argument("--loss_chunk", type=int, default=0,
                      help="positions per block of the loss's output projection (0: all at once; "
                           "tfm.logits_per_position)")
  parser.add_argument("--repeats", type=int, default=5, help="timed steps per model")
  parser.add_argument("--peak_n", type=int, default=2048, help="matmul size of the peak")
  parser.add_argument("--seed", type=int, default=0)
  return parser.parse_args(argv)


def model_configs(args: argparse.Namespace) -> list[tfm.TransformerConfig]:
  if args.preset:
    fields = presets.get_preset(args.preset)
    fields["max_seq_len"] = max(fields["max_seq_len"], args.seq_len)
    configs = [tfm.TransformerConfig(**{**fields, "dtype": args.dtype})]
  else:
    configs = [common.width_config(int(d), args.vocab, args.num_layers, args.seq_len, args.dtype)
               for d in args.d_model.split(",")]
  if not args.scan_unroll:
    return configs
  unrolls = [int(u) for u in args.scan_unroll.split(",")]
  return [dataclasses.replace(cfg, scan_unroll=u) for cfg in configs for u in unrolls]


def random_batch(rng: np.random.Generator, vocab: int, batch: int,
                 seq_len: int) -> dict[str, np.ndarray]:
  """inputs/targets [B, T] int32 (targets = inputs shifted by one), loss_mask [B, T] ones."""
  tokens = rng.integers(0, vocab, size=(batch, seq_len + 1), dtype=np.int32)  # [B, T + 1]
  return {"inputs": tokens[:, :-1], "targets": tokens[:, 1:],
          "loss_mask": np.ones((batch, seq_len), np.float32)}


def make_step_runner(cfg: tfm.TransformerConfig, batch: int, seq_len: int,
                     seed: int = 0, loss_chunk: int = 0) -> Callable[[], tuple[Any, Any]]:
  """A function running one donated AdamW train step for `cfg` on a fixed random batch."""
  mesh = mesh_lib.make_mesh({"data": -1})
  rules = mesh_lib.DEFAULT_RULES
  model = tfm.Transformer(cfg)
  params = common.random_params(cfg, seed, mesh, rules)
  tx = optim.make_optimizer(config_lib.optimizer_config(), total_steps=1000)
  state = state_lib.create_train_state(params, tx, seed, mesh)
  step = supervised.make_train_step(lambda p, b: supervised.lm_loss(model, p, b, loss_chunk), tx,
                                    state_lib.state_shardings(state, tx, mesh), mesh, rules)
  host_batch = random_batch(np.random.default_rng(seed), cfg.vocab_size, batch, seq_len)
  placed = supervised.place_batch(host_batch, mesh)
  carry = [state]

  def run_step():
    carry[0], metrics = step(carry[0], placed)  # the old state is donated
    return carry[0], metrics

  return run_step


def time_train_step(cfg: tfm.TransformerConfig,
                    args: argparse.Namespace) -> tuple[float, list[float]]:
  """(compile_s, step seconds) of the donated AdamW train step for `cfg`."""
  run_step = make_step_runner(cfg, args.batch, args.seq_len, args.seed, args.loss_chunk)
  return common.time_fn(run_step, repeats=args.repeats)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Times the train step of every model; prints a table and one BENCH_JSON line."""
  args = parse_args(argv)
  configs = model_configs(args)
  dtype = configs[0].compute_dtype
  peak_before = common.measure_matmul_peak(args.peak_n, dtype)
  timings = [time_train_step(cfg, args) for cfg in configs]
  peak, spread = common.bracket_peak(peak_before, common.measure_matmul_peak(args.peak_n, dtype))
  tokens = args.batch * args.seq_len
  rows = []
  for cfg, (compile_s, times) in zip(configs, timings):
    step_s = common.median(times)
    flops = tokens * common.train_flops_per_token(cfg, args.seq_len)
    rows.append({"d_model": cfg.d_model, "layers": cfg.num_layers, "scan_unroll": cfg.scan_unroll,
                 "params_m": cfg.num_params() / 1e6,
                 "step_ms": step_s * 1e3, "tokens_per_s": tokens / step_s,
                 "gflop_per_step": flops / 1e9, "fraction_of_peak": flops / step_s / peak,
                 "compile_s": compile_s})
  common.print_table(rows)
  print(f"matmul peak {peak / 1e9:.1f} GFLOP/s ({configs[0].dtype}, n={args.peak_n}); "
        f"batch {args.batch} x {args.seq_len} tokens")
  return common.emit_json(NAME, {
      "config": {"preset": args.preset or None, "num_layers": args.num_layers, "vocab": args.vocab,
                 "batch": args.batch, "seq_len": args.seq_len, "dtype": args.dtype,
                 "repeats": args.repeats, "loss_chunk": args.loss_chunk},
      "matmul_peak_flop_per_s": peak,
      "matmul_peak_spread": spread,
      "results": rows,
  })


if __name__ == "__main__":
  main()
