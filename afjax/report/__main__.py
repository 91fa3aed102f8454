"""Writes a report of RL runs: DIR/results.json, DIR/report.md and DIR/*.png.

    python -m afjax.report --runs RUN_DIR [RUN_DIR ...] --monitor_eval PATH --out DIR

--monitor_eval is optional (results.json then has "monitors": null). A
malformed run stops with exit status 2 and a message naming the file and key;
nothing is written then.
"""

from __future__ import annotations

import argparse
import sys

from afjax.report import pipeline


def parse_args(argv: list[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog="python -m afjax.report", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--runs", nargs="+", required=True, metavar="RUN_DIR",
                      help="RL run directories, each holding rl_summary.json and eval.jsonl")
  parser.add_argument("--monitor_eval", default=None, metavar="PATH",
                      help="monitor_eval.json of configs/monitors/eval.py (optional)")
  parser.add_argument("--out", required=True, metavar="DIR", help="the report folder")
  return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
  """Runs the CLI; returns the exit status (2 on bad input)."""
  args = parse_args(argv)
  try:
    monitor_eval = pipeline.load_monitor_eval(args.monitor_eval) if args.monitor_eval else None
    written = pipeline.generate(
        args.runs, monitor_eval, args.out,
        {"command": "afjax.report", "runs": list(args.runs), "monitor_eval": args.monitor_eval})
  except (ValueError, OSError) as err:
    print(f"afjax.report: error: {err}", file=sys.stderr)
    return 2
  print(f"wrote {written['results']}, {written['report']} and {len(written['plots'])} plots")
  return 0


if __name__ == "__main__":
  sys.exit(main())
