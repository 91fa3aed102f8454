"""Reports of RL runs: results.json, report.md and PNG plots.

    python -m afjax.report --runs RUN_DIR [RUN_DIR ...] --monitor_eval PATH --out DIR
    python -m afjax.report.merge --results A/results.json B/results.json --out DIR

* :mod:`~afjax.report.results`: reads and validates the runs' rl_summary.json
  and eval.jsonl, aggregates them (pre-RL, per-arm means over seeds, 95%
  intervals, curves, reductions) and checks the results.json schema;
* :mod:`~afjax.report.plots`: the PNG plots;
* :mod:`~afjax.report.markdown`: report.md with a reading computed from the figures;
* :mod:`~afjax.report.pipeline`: all three into one folder, all or nothing;
* :mod:`~afjax.report.merge`: one report from several results.json files (e.g.
  written on different hosts) by re-reading the runs they list.
"""
