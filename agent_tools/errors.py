"""Domain errors: each names the bad value, what is accepted, and the closest matches."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any


class VramwiseError(ValueError):
    """A bad input the caller can correct. `value`, `accepted` and `suggestions` are also attributes."""

    def __init__(
        self,
        message: str,
        *,
        value: Any = None,
        accepted: Sequence[str] | None = None,
        suggestions: Sequence[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.value = value
        self.accepted = list(accepted or [])
        self.suggestions = list(suggestions or [])


class UnknownNameError(VramwiseError):
    """An unknown model, GPU, precision or runtime name."""


class ConfigError(VramwiseError):
    """A config.json that lacks or mangles a field the calculator needs."""


_CUTOFF = 0.5  # difflib similarity a suggestion needs


@lru_cache(maxsize=32)
def _keyed(
    key: Callable[[str], str], candidates: tuple[str, ...], aliases: tuple[tuple[str, str], ...]
) -> dict[str, str]:
    """key(name) -> the candidate it suggests. Cached: a catalog's ~900 names are keyed once per process, not on
    every unknown name (keying them was most of the cost of a refusal)."""
    keyed: dict[str, str] = {}
    for c in candidates:
        keyed.setdefault(key(c), c)
    for alias, target in aliases:
        keyed.setdefault(key(alias), target)
    return keyed


def _length_ratio(a: int, b: int) -> float:
    # difflib's real_quick_ratio, the bound on any similarity of strings this long (same arithmetic, same floats)
    return 2.0 * min(a, b) / (a + b) if a + b else 1.0


def closest(
    query: str,
    candidates: Iterable[str],
    n: int = 3,
    key: Callable[[str], str] = str.lower,
    aliases: Mapping[str, str] | None = None,
) -> list[str]:
    """Up to n candidates closest to query, comparing key(query) with key(candidate) and with alias keys."""
    keyed = _keyed(key, tuple(candidates), tuple((aliases or {}).items()))
    wanted = key(query)
    # Names whose length alone rules them out are the ones difflib would drop at its first test: left out before
    # it runs (a 200-character name is then compared with nothing, not with ~900 names one at a time).
    fits = {size: _length_ratio(size, len(wanted)) >= _CUTOFF for size in {len(k) for k in keyed}}
    pool = [k for k in keyed if fits[len(k)]]
    hits = difflib.get_close_matches(wanted, pool, n=3 * n, cutoff=_CUTOFF)
    # a name typed short of every variant ("RTX 4000" for the 4000 Ada and 4000 SFF Ada) suggests those variants
    # first, shortest first; difflib alone ranks them below unrelated names of a similar length
    extended = sorted((k for k in keyed if len(wanted) >= 3 and k.startswith(wanted) and k != wanted), key=len)
    return list(dict.fromkeys(keyed[h] for h in [*extended, *hits]))[:n]


def unknown_name(
    kind: str,
    value: str,
    candidates: Iterable[str],
    list_hint: str,
    key: Callable[[str], str] = str.lower,
    aliases: Mapping[str, str] | None = None,
) -> UnknownNameError:
    """Build the standard 'unknown X' error with did-you-mean suggestions."""
    pool = list(candidates)
    suggestions = closest(value, pool, key=key, aliases=aliases)
    message = f"unknown {kind} {value!r}"
    if suggestions:
        message += f"; did you mean {', '.join(repr(s) for s in suggestions)}?"
    message += f" ({list_hint})"
    return UnknownNameError(message, value=value, accepted=pool, suggestions=suggestions)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}...{text[-12:]} ({len(text)} chars)"


def describe_validation_error(error: Any, label: Callable[[str], str] = str) -> str:
    """One line for a pydantic ValidationError, naming each bad field in the caller's own terms.

    `label` turns a field name into what the user typed: `vram_gb` over MCP, `--vram-gb` on the command line.
    """
    parts = []
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"]]
        where = label(loc[0]) + "".join(f"[{p}]" for p in loc[1:]) if loc else ""
        message = item["msg"].removeprefix("Value error, ")
        given = "" if item["type"] in ("missing", "value_error") else f" (got {_short(item.get('input'))})"
        parts.append(f"{where}: {message}{given}" if where else message)
    return "; ".join(parts)
