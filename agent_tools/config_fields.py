"""Reading numbers from a config.json: every field a physical range, every number a number, every refusal one line
naming the field and what is accepted."""

from __future__ import annotations

import math
from typing import Any

from agent_tools.errors import ConfigError

# Physical ranges a config field may take. The largest published LLMs sit far inside them (DeepSeek-V3: 61 layers,
# hidden 7168, 256 experts; Llama 4: 202,048 vocab, 10M context), and they bound the work of one request: every
# per-layer loop below runs at most MAX_LAYERS times.
MAX_LAYERS = 1024
MAX_HIDDEN = 1 << 17
MAX_HEADS = 4096
MAX_HEAD_DIM = 4096
MAX_INTERMEDIATE = 1 << 20
MAX_VOCAB = 1 << 22
MAX_CONTEXT = 1 << 24
MAX_EXPERTS = 4096
MAX_RANK = 1 << 16
MAX_STATE = 1 << 12
MAX_CONV = 64
MAX_SHARED_EXPERTS = 64


def first(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in cfg and cfg[key] is not None:
            return cfg[key]
    return default


def as_int(value: Any, key: str, lo: int, hi: int) -> int:
    """A config number as an int in [lo, hi]; ConfigError names the field, the value and the accepted range.

    Numbers must be JSON numbers: strings ("8"), booleans, NaN, infinities (1e999 parses to inf) and fractions are
    refused. An integral float (4096.0) is accepted as the integer it spells.
    """
    accepted = f"an integer from {lo:,} to {hi:,}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"config.json field '{key}' must be {accepted} (got {show(value)})",
            value=show(value),
            accepted=[accepted],
        )
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ConfigError(
                f"config.json field '{key}' must be {accepted} (got {value!r})", value=repr(value), accepted=[accepted]
            )
        value = int(value)
    if not lo <= value <= hi:
        raise ConfigError(
            f"config.json field '{key}' must be {accepted} (got {value:,})", value=value, accepted=[accepted]
        )
    return value


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def require(cfg: dict[str, Any], name: str, *keys: str, hi: int, lo: int = 1) -> int:
    for key in keys:
        if cfg.get(key) is not None:
            return as_int(cfg[key], key, lo, hi)
    raise ConfigError(
        f"config.json is missing '{keys[0]}' ({name}); accepted keys: {', '.join(keys)}",
        value=keys[0],
        accepted=list(keys),
    )


def optional(cfg: dict[str, Any], *keys: str, hi: int, lo: int = 0, default: int | None = None) -> int | None:
    """An optional integer field (first key present wins), range-checked like a required one."""
    for key in keys:
        if cfg.get(key) is not None:
            return as_int(cfg[key], key, lo, hi)
    return default


def count(cfg: dict[str, Any], *keys: str, default: int = 0, hi: int = MAX_INTERMEDIATE) -> int:
    """An optional non-negative integer field (first key present wins)."""
    value = optional(cfg, *keys, hi=hi, lo=0, default=default)
    return 0 if value is None else value
