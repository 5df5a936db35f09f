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


@cache
def behaviours() -> dict[str, type[Runtime]]:
    """Runtime id -> behaviour class, from the `Runtime` subclasses defined in each module of this package."""
    found: dict[str, type[Runtime]] = {"generic": Runtime}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Runtime) and value.__module__ == module.__name__:
                found[value.id] = value
    return found


def behaviour(profile: RuntimeProfile) -> Runtime:
    cls = behaviours().get(profile.id)
    if cls is None:
        raise LookupError(f"runtimes.yaml row {profile.id!r} has no module in agent_tools/runtimes/")
    return cls(profile)
