"""Runs a study config (afjax.jobs.study) with its RL runs spread over local processes.

    python -m experiments.run_study --config=configs/experiments/mitigations.py \
        --workdir=workdirs/mitigations --shards=2
    python -m experiments.run_study --config=configs/quickstart.py \
        --workdir=workdirs/quickstart --shards=2 --set rl.train.steps=20

`--set STAGE.FIELD=VALUE` becomes --config.study.overrides.STAGE.FIELD=VALUE,
so it reaches only fields the study config already declares under
`study.overrides` (configs/quickstart.py declares rl.train.*, rl.eval.*,
monitor.train.* and monitor_eval.eval.*; the experiments' configs declare none).

Three phases, each an `afjax.main` command (the same commands spread a study
over the hosts of a TPU slice or the GPUs of a node, with WORKDIR on a shared
filesystem, one shard per host / per device via CUDA_VISIBLE_DEVICES):

  1. shared stages once:   --config.study.stages=shared
  2. RL shards in parallel: --config.study.stages=rl --config.study.num_shards=N
                            --config.study.shard_index=I   (I = 0..N-1)
  3. the report:            --config.study.stages=report

Each shard's output goes to WORKDIR/shard_I.log. Finished stages are skipped
on a rerun, so after a failure rerun the same command. `--dry_run` prints the
commands. `--set a.b=v` overrides `config.study.overrides.a.b` in every phase.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
from typing import Sequence


def phase_commands(config: str, workdir: str, shards: int, sets: Sequence[str]
                   ) -> list[list[list[str]]]:
  """The commands of each phase (phase 2 has one command per shard)."""
  base = [sys.executable, "-m", "afjax.main", f"--config={config}", f"--workdir={workdir}",
          *[f"--config.study.overrides.{item}" for item in sets]]
  return [[base + ["--config.study.stages=shared"]],
          [base + ["--config.study.stages=rl", f"--config.study.num_shards={shards}",
                   f"--config.study.shard_index={i}"] for i in range(shards)],
          [base + ["--config.study.stages=report"]]]


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True, help="a study config, e.g. configs/quickstart.py")
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--shards", type=int, default=2, help="parallel RL processes")
  parser.add_argument("--set", action="append", default=[], metavar="STAGE.FIELD=VALUE",
                      help="study override of a field the config declares under study.overrides, e.g. "
                           "rl.train.steps=20 for configs/quickstart.py")
  parser.add_argument("--dry_run", action="store_true")
  args = parser.parse_args(argv)
  if args.shards < 1:
    parser.error(f"--shards={args.shards}; allowed: >= 1")
  phases = phase_commands(args.config, args.workdir, args.shards, args.set)
  if args.dry_run:
    for phase in phases:
      for command in phase:
        print(" ".join(command))
    return 0
  pathlib.Path(args.workdir).mkdir(parents=True, exist_ok=True)
  for number, phase in enumerate(phases, 1):
    logs = [pathlib.Path(args.workdir) / f"shard_{i}.log" if len(phase) > 1 else None
            for i in range(len(phase))]
    procs = []
    for command, log in zip(phase, logs):
      out = open(log, "a") if log else None
      procs.append((subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT if out else None),
                    out, log))
    failed = []
    for proc, out, log in procs:
      code = proc.wait()
      if out:
        out.close()
      if code:
        failed.append((code, log))
    if failed:
      for code, log in failed:
        print(f"phase {number} failed (exit {code})" + (f"; see {log}" if log else ""),
              file=sys.stderr)
      return 1
    print(f"phase {number}/3 done", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
