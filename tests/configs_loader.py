"""Loads config files from configs/ in tests (they are not part of the package)."""

import importlib.util
import pathlib

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"


def load_config(relative_path: str, arg: str | None = None):
  spec = importlib.util.spec_from_file_location("config_under_test", CONFIGS / relative_path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg) if arg is not None else module.get_config()


def load_lm_config():
  return load_config("lm.py", "test")
