"""Benchmarks of afjax's hot paths: `python -m benchmarks.NAME`; figures in BENCHMARKS.md."""
