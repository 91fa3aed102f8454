"""Launchers for many runs of `afjax.main` (python -m experiments.NAME)."""
