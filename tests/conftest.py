"""Shared test settings."""

import os

# Float32 tolerances in these tests assume full-precision matmuls (GPUs
# default to TF32 otherwise).
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")
