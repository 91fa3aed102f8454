"""Tests of the benchmarks (they run; speed is never asserted)."""
