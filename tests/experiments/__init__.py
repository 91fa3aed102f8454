"""Tests of the experiment launchers."""
