"""Shared test settings: tests run on the CPU with deterministic small shapes."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
