"""Shared test settings."""

import atexit
import os
import shutil
import tempfile

# Float32 tolerances in these tests assume full-precision matmuls (GPUs
# default to TF32 otherwise).
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")

# One persistent XLA compilation cache per test session, inherited by the
# pytest-xdist workers (pytest.ini) and by the jobs that tests start as
# subprocesses: a program compiled by one test (or process) is loaded, not
# compiled again, by the next. A hit is the same executable, so results are
# unchanged; an entry read while another process writes it fails to load, and
# JAX warns and compiles it. A user's own JAX_COMPILATION_CACHE_DIR is respected.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _cache_dir = tempfile.mkdtemp(prefix="afjax-tests-xla-cache-")
  atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache_dir
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
