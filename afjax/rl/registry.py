"""Name -> function registries for advantage estimators, losses and reward shapings."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

Fn = TypeVar("Fn", bound=Callable)


class Registry(Generic[Fn]):
  """Functions registered once by name; lookups of unknown names list the known ones."""

  def __init__(self, kind: str):
    self.kind = kind
    self.functions: dict[str, Fn] = {}

  def register(self, name: str) -> Callable[[Fn], Fn]:
    """Decorator registering `fn` as `name` (a name may be registered once)."""

    def decorator(fn: Fn) -> Fn:
      if name in self.functions:
        raise ValueError(f"{self.kind} {name!r} is already registered")
      self.functions[name] = fn
      return fn

    return decorator

  def get(self, name: str) -> Fn:
    """The function registered as `name`, or ValueError listing the registered names."""
    if name not in self.functions:
      raise ValueError(f"{self.kind} {name!r} is not registered; allowed: {self.names()}")
    return self.functions[name]

  def names(self) -> list[str]:
    """Sorted registered names."""
    return sorted(self.functions)
