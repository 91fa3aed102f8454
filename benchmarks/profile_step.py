"""Where a hot path's time goes: its XLA kernels ranked by time, with the JAX op behind each.

    python -m benchmarks.profile_step --target=rl_update              # W's fused RL update
    python -m benchmarks.profile_step --target=rollout                # W's sampler
    python -m benchmarks.profile_step --target=lm_step --preset=tiny --batch=8 --seq_len=304

Flags after `--target` are those of the benchmark that builds the step
(`benchmarks.grpo_iteration` for rl_update and rollout, `benchmarks.lm_step`
for lm_step; `lm_step` profiles the first model of its width sweep). The step
runs `--warmup` times, then `--steps` times under `jax.profiler.trace`; the
table ranks the kernels XLA ran (one row per HLO instruction: fusions, dots,
copies, loops) by milliseconds per step, with their share of all kernel time,
their output shape and the JAX operation they came from, read from the
optimised HLO that XLA dumps beside the trace. On a multi-threaded CPU the
shares are of summed kernel time, not of wall time: kernels that run side by
side on different threads both count, while a kernel split over the thread
pool (a matmul) counts once, on the thread that launched it. The last line
says for what share of the traced span 0, 1, 2, ... worker threads were busy,
counting the pool's regions (`thread_occupancy`).

The dump needs `XLA_FLAGS` set before JAX starts its backend, so `main` runs
the measurement in a child process with `--xla_dump_to=OUT/hlo` added.
Writes OUT/trace (the perfetto trace, for ui.perfetto.dev) and OUT/hlo.
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
from typing import Any, Callable, Sequence

import jax

from benchmarks import common

NAME = "profile_step"
TARGETS = ("rl_update", "rollout", "lm_step")
ROOT = pathlib.Path(__file__).resolve().parents[1]
_DUMP_FLAG = "--xla_dump_to="
# Events of the runtime itself (the executor, Python frames, thread pools) and control-flow
# thunks (a while loop's event spans its body's kernels, which are counted themselves).
_NOT_KERNELS = ("ThunkExecutor", "$", "SlinkyThreadPool", "PjitFunction", "CommonPjRt", "while",
                "conditional", "ThreadpoolListener", "end: ", "Wait for ")
# A kernel that XLA splits over the thread pool (the matmuls) is one event, on the thread that
# launched it; the helping threads show only these markers around their share of the work.
_REGION_START, _REGION_STOP = "ThreadpoolListener::StartRegion", "ThreadpoolListener::StopRegion"
_WORKER_THREAD = "XLAEigen"  # in the names of the CPU client's intra-op pool threads
_HLO_LINE = re.compile(r"^\s*%?([\w.\-]+) = (\S+) [\w\-]+\((.*)$", re.M)
_OP_NAME = re.compile(r'op_name="([^"]+)"')


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
  parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{NAME}", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--target", choices=TARGETS, default="rl_update")
  parser.add_argument("--steps", type=int, default=5, help="profiled calls")
  parser.add_argument("--warmup", type=int, default=3, help="calls before the trace")
  parser.add_argument("--top", type=int, default=25, help="kernels listed in the table")
  parser.add_argument("--out", default="", help="trace and HLO folder (default: a temp dir)")
  args, rest = parser.parse_known_args(argv)
  if args.steps < 1:
    parser.error(f"--steps={args.steps}; allowed: >= 1")
  return args, rest


def step_function(target: str, flags: list[str]) -> Callable[[], Any]:
  """The call to profile: one RL update, one rollout or one LM train step."""
  if target == "lm_step":
    from benchmarks import lm_step
    lm_args = lm_step.parse_args(flags)
    return lm_step.make_step_runner(lm_step.model_configs(lm_args)[0], lm_args.batch,
                                    lm_args.seq_len, lm_args.seed)
  from benchmarks import grpo_iteration
  w_args = grpo_iteration.parse_args(flags)
  iteration = grpo_iteration.GRPOIteration(grpo_iteration.workload_from_args(w_args), w_args.seed)
  keys = iter(jax.random.split(jax.random.key(w_args.seed + 7), 10_000))
  if target == "rollout":
    return lambda: iteration.rollout(next(keys))
  rollout = jax.block_until_ready(iteration.rollout(next(keys)))
  return lambda: iteration.update(rollout)


def hlo_instructions(hlo_dir: pathlib.Path) -> dict[tuple[str, str], tuple[str, str]]:
  """{(module, instruction): (output shape, JAX op_name)} from XLA's optimised-HLO dumps."""
  found = {}
  for path in hlo_dir.glob("*after_optimizations.txt"):
    module = path.name.split(".")[1]  # module_0012.jit_f.cpu_after_optimizations.txt
    for match in _HLO_LINE.finditer(path.read_text()):
      op_name = _OP_NAME.search(match.group(3))
      found.setdefault((module, match.group(1)), (match.group(2), op_name.group(1) if op_name else ""))
  return found


def rank_kernels(trace_path: pathlib.Path, steps: int,
                 instructions: dict[tuple[str, str], tuple[str, str]]) -> list[dict[str, Any]]:
  """Kernel events of a perfetto trace summed per HLO instruction, slowest first.

  Returns:
    Rows {kernel, ms_per_step, share, calls_per_step, shape, op}; share is of
    the summed time of all kernels.
  """
  events = _trace_events(trace_path)
  micros, calls, module = collections.Counter(), collections.Counter(), {}
  for event in events:
    name = event.get("name", "")
    if event.get("ph") != "X" or name.startswith(_NOT_KERNELS):
      continue
    micros[name] += event.get("dur", 0.0)
    calls[name] += 1
    module.setdefault(name, event.get("args", {}).get("hlo_module", ""))
  total = sum(micros.values()) or 1.0
  rows = []
  for name, us in micros.most_common():
    shape, op = instructions.get((module[name], name), ("", ""))
    rows.append({"kernel": name, "ms_per_step": us / steps / 1e3, "share": us / total,
                 "calls_per_step": calls[name] / steps, "shape": shape, "op": op})
  return rows


def _trace_events(trace_path: pathlib.Path) -> list[dict[str, Any]]:
  with gzip.open(trace_path) as f:
    trace = json.load(f)
  return trace["traceEvents"] if isinstance(trace, dict) else trace


def thread_occupancy(trace_path: pathlib.Path) -> list[float]:
  """Share of the traced span during which k worker threads were busy, for each k.

  Worker threads are the CPU client's intra-op pool (thread names with
  "XLAEigen"; every thread with events if none is named so). One is busy
  inside a kernel event or inside a thread-pool region (its share of a kernel
  launched by another thread). The span runs from the first busy moment to the
  last, so it holds the profiled calls and the host's gaps between them.

  Returns:
    The shares for k = 0, 1, ..., the number of worker threads (they sum to 1).
  """
  events = _trace_events(trace_path)
  workers = {e.get("tid") for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"
             and _WORKER_THREAD in e.get("args", {}).get("name", "")}
  intervals: dict[Any, list[tuple[float, float]]] = collections.defaultdict(list)
  region_start: dict[Any, float] = {}
  for event in sorted(events, key=lambda e: e.get("ts", 0.0)):
    name, thread, start = event.get("name", ""), event.get("tid"), event.get("ts", 0.0)
    if event.get("ph") != "X" or (workers and thread not in workers):
      continue
    if name == _REGION_START:
      region_start[thread] = start
    elif name == _REGION_STOP and thread in region_start:
      intervals[thread].append((region_start.pop(thread), start + event.get("dur", 0.0)))
    elif not name.startswith(_NOT_KERNELS):
      intervals[thread].append((start, start + event.get("dur", 0.0)))
  edges = sorted((t, delta) for spans in intervals.values() for span in _merge(spans)
                 for t, delta in ((span[0], 1), (span[1], -1)))
  shares = collections.Counter()
  busy = 0
  for (t, delta), (t_next, _) in zip(edges, edges[1:]):
    busy += delta
    shares[busy] += t_next - t
  total = sum(shares.values())
  if not total:  # nothing ran: no thread was ever busy
    return [1.0] + [0.0] * (len(workers) or len(intervals))
  return [shares[k] / total for k in range((len(workers) or len(intervals)) + 1)]


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
  """The union of [start, end] spans as disjoint spans, in order."""
  merged: list[tuple[float, float]] = []
  for start, end in sorted(spans):
    if merged and start <= merged[-1][1]:
      merged[-1] = (merged[-1][0], max(merged[-1][1], end))
    else:
      merged.append((start, end))
  return merged


def profile(args: argparse.Namespace, flags: list[str], out: pathlib.Path) -> dict[str, Any]:
  """Runs and traces the step in this process; prints the table and the BENCH_JSON line."""
  run = step_function(args.target, flags)
  for _ in range(args.warmup):
    jax.block_until_ready(run())
  trace_dir = out / "trace"
  with jax.profiler.trace(str(trace_dir), create_perfetto_trace=True):
    for _ in range(args.steps):
      jax.block_until_ready(run())
  trace_path = sorted(trace_dir.glob("**/*perfetto_trace.json.gz"))[-1]
  rows = rank_kernels(trace_path, args.steps, hlo_instructions(out / "hlo"))
  shown = [{**row, "op": row["op"][-70:]} for row in rows[:args.top]]
  common.print_table(shown)
  occupancy = thread_occupancy(trace_path)
  print(f"{args.target}: {sum(r['ms_per_step'] for r in rows):.1f} ms of kernel time a step "
        f"over {len(rows)} kernels; trace {trace_path}")
  print("worker threads busy, share of the traced span: "
        + ", ".join(f"{k}: {share:.2f}" for k, share in reversed(list(enumerate(occupancy)))))
  return common.emit_json(NAME, {"config": {"target": args.target, "steps": args.steps,
                                            "flags": flags},
                                 "thread_occupancy": occupancy,
                                 "kernel_ms_per_step": sum(r["ms_per_step"] for r in rows),
                                 "kernels": rows[:args.top], "trace": str(trace_path)})


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
  """Profiles the target (in a child process with the HLO dump enabled, unless already on)."""
  args, flags = parse_args(argv)
  out = pathlib.Path(args.out or tempfile.mkdtemp(prefix="afjax_profile_")).resolve()
  xla_flags = os.environ.get("XLA_FLAGS", "")
  if _DUMP_FLAG in xla_flags:
    return profile(args, flags, out)
  argv = list(sys.argv[1:] if argv is None else argv)
  env = dict(os.environ, XLA_FLAGS=f"{xla_flags} {_DUMP_FLAG}{out / 'hlo'} --xla_dump_hlo_as_text")
  proc = subprocess.run([sys.executable, "-m", f"benchmarks.{NAME}", *argv, f"--out={out}"],
                        env=env, cwd=ROOT, capture_output=True, text=True)
  sys.stdout.write(proc.stdout)
  if proc.returncode:
    raise RuntimeError(f"the profiled child process failed:\n{proc.stderr[-3000:]}")
  return common.parse_json_lines(proc.stdout)[-1]


if __name__ == "__main__":
  main()
