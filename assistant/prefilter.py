"""Regex passes that are skipped when they cannot match (issue 13: the parser reads a 2,000-character question
with some fifty patterns).

Every match of a pattern contains one of a few literal strings, read off the pattern itself ('users', 'people',
... for "N users"); a text that holds none of them is not scanned. A substring test over 2,000 characters costs
about a microsecond, a regex pass 30-300 µs (sre tries the pattern at every position). Nothing is written twice:
the strings come from the pattern's own syntax tree, so editing a pattern updates its filter, and a pattern whose
strings cannot be read (or a Python whose `re` internals differ) is simply always scanned.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

try:  # CPython's own regex parser (re._parser since 3.11): private, so any surprise means "no filter"
    _sre_parse: Any = importlib.import_module("re._parser")
    _sre: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover
    _sre_parse = _sre = None

_MAX_CHARSET = 8  # a character class of more literals than this filters nothing
_MAX_EXACT = 64  # at most this many spellings are spelled out for one piece ('tokens?|tok' -> 3)


def required_literals(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Strings of which every match of `pattern` (lookarounds included) contains at least one; None when no such
    set can be read off the pattern."""
    if _sre_parse is None or pattern.flags & re.IGNORECASE:
        return None
    try:
        found = _needs(_sre_parse.parse(pattern.pattern, pattern.flags).data)
    except Exception:  # pragma: no cover - an unknown node shape in another Python: no filter, never a wrong one
        return None
    if not found:
        return None
    # a string that contains another of the set is dropped: the shorter one is found wherever the longer is
    return tuple(sorted(w for w in found if not any(o != w and o in w for o in found)))


def _weight(word: str) -> int:
    # letters, digits and spaces make up most of a question; other characters (CJK, '/') are rarer, so worth more
    return sum(1 if c.isascii() and (c.isalnum() or c == " ") else 2 for c in word)


def _tightest(options: list[frozenset[str]]) -> frozenset[str] | None:
    """The option least likely to be in a text by chance: its rarest-looking string, then the fewest strings."""
    return max(options, key=lambda s: (min(map(_weight, s)), -len(s)), default=None)


def _needs(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    """For a sequence of nodes: the tightest of the sets its parts require (a match of the sequence holds a match of
    each part, and the text holds what its lookarounds assert). Neighbouring parts with a few exact spellings are
    joined first ('(?:tokens?|tok)/s' -> 'token/s', 'tokens/s', 'tok/s')."""
    options: list[frozenset[str]] = []
    run: set[str] = {""}
    for op, av in items:
        exact = _exact(op, av)
        if exact is not None and len(run) * len(exact) <= _MAX_EXACT:
            run = {a + b for a in run for b in exact}
            continue
        if "" not in run:
            options.append(frozenset(run))
        run = set(exact) if exact is not None else {""}
        if exact is None and (need := _node_needs(op, av)):
            options.append(need)
    if "" not in run:
        options.append(frozenset(run))
    return _tightest(options)


def _exact(op: Any, av: Any) -> set[str] | None:
    """Every string this node can match, when they are few (a literal, a small class, an alternation of those)."""
    if op is _sre.LITERAL:
        return {chr(av)}
    if op is _sre.IN and len(av) <= _MAX_CHARSET and all(o is _sre.LITERAL for o, _ in av):
        return {chr(c) for _, c in av}
    if op is _sre.SUBPATTERN and not av[1] & re.IGNORECASE:
        return _exact_sequence(av[3].data)
    if op is _sre.BRANCH:
        union: set[str] = set()
        for branch in av[1]:
            spelled = _exact_sequence(branch.data)
            if spelled is None:
                return None
            union |= spelled
            if len(union) > _MAX_EXACT:
                return None
        return union
    if op is _sre.MAX_REPEAT or op is _sre.MIN_REPEAT or op is _sre.POSSESSIVE_REPEAT:
        low, high, sub = av
        spelled = _exact_sequence(sub.data)
        if spelled is None or high != 1:
            return None
        return spelled | ({""} if low == 0 else set())  # 's?' -> '' or 's'
    return None


def _exact_sequence(items: list[tuple[Any, Any]]) -> set[str] | None:
    out = {""}
    for op, av in items:
        spelled = _exact(op, av)
        if spelled is None or len(out) * len(spelled) > _MAX_EXACT:
            return None
        out = {a + b for a in out for b in spelled}
    return out


def _node_needs(op: Any, av: Any) -> frozenset[str] | None:
    if op is _sre.SUBPATTERN:
        _, add_flags, _, sub = av
        return None if add_flags & re.IGNORECASE else _needs(sub.data)
    if op is _sre.BRANCH:
        union: set[str] = set()
        for branch in av[1]:
            need = _needs(branch.data)
            if not need:
                return None  # a branch that needs nothing: the alternation needs nothing
            union |= need
        return frozenset(union)
    if op is _sre.MAX_REPEAT or op is _sre.MIN_REPEAT or op is _sre.POSSESSIVE_REPEAT:
        low, _, sub = av
        return _needs(sub.data) if low >= 1 else None
    if op is _sre.ASSERT:  # a positive lookahead or lookbehind: what it asserts is in the text
        return _needs(av[1].data)
    if op is _sre.ATOMIC_GROUP:
        return _needs(av.data)
    return None  # a class, a negative lookaround, an anchor: requires no particular string


class Prefiltered:
    """A compiled pattern whose passes over a whole text first test for its required strings. A window (pos or
    endpos given) goes straight to the pattern: its lookbehinds may read text outside the window."""

    __slots__ = ("_needs", "_read", "pattern")

    def __init__(self, pattern: str | re.Pattern[str]) -> None:
        self.pattern: re.Pattern[str] = re.compile(pattern)
        self._needs: tuple[str, ...] | None = None
        self._read = False  # the strings are read on first use, not at import (start-up time)

    @property
    def needs(self) -> tuple[str, ...] | None:
        if not self._read:
            self._needs, self._read = required_literals(self.pattern), True
        return self._needs

    def may_match(self, text: str) -> bool:
        needs = self.needs
        return needs is None or any(word in text for word in needs)

    def _skip(self, text: str, pos: int, endpos: int) -> bool:
        return pos == 0 and endpos >= len(text) and not self.may_match(text)

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return None if self._skip(text, pos, endpos) else self.pattern.search(text, pos, endpos)

    def match(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return None if self._skip(text, pos, endpos) else self.pattern.match(text, pos, endpos)

    def fullmatch(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return None if self._skip(text, pos, endpos) else self.pattern.fullmatch(text, pos, endpos)

    def finditer(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> Iterator[re.Match[str]]:
        return iter(()) if self._skip(text, pos, endpos) else self.pattern.finditer(text, pos, endpos)

    def sub(self, repl: str | Callable[[re.Match[str]], str], text: str, count: int = 0) -> str:
        return self.pattern.sub(repl, text, count) if self.may_match(text) else text

    def __repr__(self) -> str:
        return f"Prefiltered({self.pattern.pattern!r}, needs={self.needs!r})"
