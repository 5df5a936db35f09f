"""Runtime registry: one module per runtime in this package, one data row per runtime in data/runtimes.yaml.

`behaviour(profile)` pairs a data row with the module whose `Runtime` subclass has the row's id. Modules are
discovered from this package's path, so adding a runtime is one module and one row, nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from agent_tools.runtimes.base import PerGpu, Runtime
from agent_tools.schemas import RuntimeProfile

__all__ = ["PerGpu", "Runtime", "behaviour", "behaviours"]


def _subclasses(cls: type[Runtime]) -> list[type[Runtime]]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


@cache
def behaviours() -> dict[str, type[Runtime]]:
    """Runtime id -> behaviour class, from every module of this package."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    found: dict[str, type[Runtime]] = {"generic": Runtime}
    for cls in _subclasses(Runtime):
        found[cls.id] = cls
    return found


def behaviour(profile: RuntimeProfile) -> Runtime:
    cls = behaviours().get(profile.id)
    if cls is None:
        raise LookupError(f"runtimes.yaml row {profile.id!r} has no module in agent_tools/runtimes/")
    return cls(profile)
