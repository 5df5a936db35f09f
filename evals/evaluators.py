"""Deterministic evaluators: one small pure function per expectation op and per recommendation constraint.

Every evaluator returns a Check (passed, what was checked, what was found). Nothing here calls a tool.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from evals.schema import LEVEL_ORDER, Expectation, RecommendationConstraints

_MISSING = object()


@dataclass(frozen=True)
class Check:
    passed: bool
    label: str
    detail: str = ""


class PathError(LookupError):
    """A field path that does not resolve in the result."""


# ----------------------------------------------------------------------------------------------- paths

_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


def _segments(path: str) -> list[str]:
    parts = []
    for name, bracket in _SEGMENT.findall(path):
        parts.append(name if name else f"[{bracket}]")
    if not parts:
        raise PathError(f"empty path {path!r}")
    return parts


def _step(node: Any, segment: str) -> list[Any]:
    if segment.startswith("["):
        inner = segment[1:-1]
        if not isinstance(node, list):
            raise PathError(f"{segment} needs a list, got {type(node).__name__}")
        if inner == "*":
            return list(node)
        if "=" in inner:
            key, want = inner.split("=", 1)
            hits = [item for item in node if isinstance(item, dict) and str(item.get(key)) == want]
            if not hits:
                present = [item.get(key) for item in node if isinstance(item, dict)]
                raise PathError(f"no item with {key}={want!r} (present: {present})")
            return hits[:1]
        index = int(inner)
        if not -len(node) <= index < len(node):
            raise PathError(f"index {index} out of range (list has {len(node)} items)")
        return [node[index]]
    if not isinstance(node, dict) or segment not in node:
        keys = sorted(node) if isinstance(node, dict) else type(node).__name__
        raise PathError(f"no field {segment!r} (have: {keys})")
    return [node[segment]]


def resolve_path(data: Any, path: str) -> Any:
    """The value at `path` in plain JSON-like data; a list when the path fans out with [*]."""
    nodes = [data]
    fanned = False
    for segment in _segments(path.strip()):
        fanned = fanned or segment == "[*]"
        nodes = [child for node in nodes for child in _step(node, segment)]
    return nodes if fanned else nodes[0]


def resolve_field(data: Any, expression: str) -> Any:
    """A path, or paths joined by ' - ' / ' + ' (numeric)."""
    tokens = re.split(r"\s+([+-])\s+", expression.strip())
    value = resolve_path(data, tokens[0])
    for sign, path in zip(tokens[1::2], tokens[2::2], strict=True):
        other = resolve_path(data, path)
        value = value + other if sign == "+" else value - other
    return value


# ------------------------------------------------------------------------------------------ expectation ops


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def op_eq(actual: Any, expected: Any) -> bool:
    if _number(actual) and _number(expected):
        return actual == expected
    return type(actual) is type(expected) and actual == expected


def op_approx(actual: Any, expected: float, tolerance: float) -> bool:
    if not (_number(actual) and _number(expected)):
        return False
    return abs(actual - expected) <= tolerance * abs(expected)


def op_lt(actual: Any, expected: float) -> bool:
    return _number(actual) and actual < expected


def op_le(actual: Any, expected: float) -> bool:
    return _number(actual) and actual <= expected


def op_gt(actual: Any, expected: float) -> bool:
    return _number(actual) and actual > expected


def op_ge(actual: Any, expected: float) -> bool:
    return _number(actual) and actual >= expected


def op_true(actual: Any) -> bool:
    return actual is True


def op_false(actual: Any) -> bool:
    return actual is False


def op_contains(actual: Any, expected: Any) -> bool:
    """A string holds the fragment (case-insensitive); a list holds the item, or a string item holds the fragment."""
    if isinstance(actual, str):
        return str(expected).lower() in actual.lower()
    if isinstance(actual, list):
        return any(op_eq(item, expected) or (isinstance(item, str) and op_contains(item, expected)) for item in actual)
    return False


def op_not_contains(actual: Any, expected: Any) -> bool:
    return isinstance(actual, str | list) and not op_contains(actual, expected)


def op_one_of(actual: Any, expected: Sequence[Any]) -> bool:
    return any(op_eq(actual, option) for option in expected)


def _ranked(values: Sequence[Any], order: Sequence[str] | None) -> list[Any] | None:
    if order is None:
        return list(values) if all(_number(v) for v in values) else None
    ranks = {name: i for i, name in enumerate(order)}
    if not all(v in ranks for v in values):
        return None
    return [ranks[v] for v in values]


def _pairwise(values: Sequence[Any], order: Sequence[str] | None, ok: Callable[[Any, Any], bool]) -> bool:
    ranked = _ranked(values, order)
    if ranked is None or len(ranked) < 2:
        return False
    return all(ok(a, b) for a, b in pairwise(ranked))


def op_strictly_increasing(actual: Sequence[Any], order: Sequence[str] | None = None) -> bool:
    return isinstance(actual, list) and _pairwise(actual, order, lambda a, b: a < b)


def op_strictly_decreasing(actual: Sequence[Any], order: Sequence[str] | None = None) -> bool:
    return isinstance(actual, list) and _pairwise(actual, order, lambda a, b: a > b)


def op_non_decreasing(actual: Sequence[Any], order: Sequence[str] | None = None) -> bool:
    return isinstance(actual, list) and _pairwise(actual, order, lambda a, b: a <= b)


def op_non_increasing(actual: Sequence[Any], order: Sequence[str] | None = None) -> bool:
    return isinstance(actual, list) and _pairwise(actual, order, lambda a, b: a >= b)


def apply_op(op: str, actual: Any, value: Any = None, tolerance: float | None = None, order: Any = None) -> bool:
    """Dispatch one expectation op (the names of evals.schema.Op)."""
    if op == "approx":
        assert tolerance is not None
        return op_approx(actual, value, tolerance)
    if op in ("true", "false"):
        return OPS_NO_VALUE[op](actual)
    if op in ORDER_OPS:
        return ORDER_OPS[op](actual, order)
    return OPS_WITH_VALUE[op](actual, value)


OPS_WITH_VALUE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": op_eq,
    "lt": op_lt,
    "le": op_le,
    "gt": op_gt,
    "ge": op_ge,
    "contains": op_contains,
    "not_contains": op_not_contains,
    "one_of": op_one_of,
}
OPS_NO_VALUE: dict[str, Callable[[Any], bool]] = {"true": op_true, "false": op_false}
ORDER_OPS: dict[str, Callable[[Sequence[Any], Sequence[str] | None], bool]] = {
    "strictly_increasing": op_strictly_increasing,
    "strictly_decreasing": op_strictly_decreasing,
    "non_decreasing": op_non_decreasing,
    "non_increasing": op_non_increasing,
}


def _show(value: Any) -> str:
    if _number(value) and not isinstance(value, float) and abs(value) >= 10_000:
        return f"{value:,}"
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."


def check_expectation(result: Any, expectation: Expectation) -> Check:
    """Evaluate one Expectation against a result in JSON form."""
    e = expectation
    wanted = e.op if e.value is None else f"{e.op} {_show(e.value)}"
    if e.tolerance is not None:
        wanted += f" ±{e.tolerance:.1%}"
    label = f"{e.field} {wanted}"
    try:
        actual = resolve_field(result, e.field)
    except (PathError, TypeError, ValueError) as err:
        return Check(False, label, f"path error: {err}")
    passed = apply_op(e.op, actual, e.value, e.tolerance, e.order)
    detail = f"got {_show(actual)}"
    if e.op == "approx" and _number(actual) and _number(e.value) and e.value:
        detail += f" ({(actual - e.value) / abs(e.value):+.2%})"
    return Check(passed, label, detail)


# ------------------------------------------------------------------------------------- error expectation


def check_error(error: BaseException | None, type_name: str, fragments: Iterable[str]) -> Check:
    """The tool refused with an error of this type whose message holds every fragment."""
    label = f"raises {type_name} mentioning {list(fragments)}"
    if error is None:
        return Check(False, label, "no error was raised")
    names = {cls.__name__ for cls in type(error).__mro__}
    if type_name not in names:
        return Check(False, label, f"raised {type(error).__name__}: {error}")
    message = str(error).lower()
    missing = [f for f in fragments if f.lower() not in message]
    return Check(not missing, label, f"message: {str(error)[:300]}" + (f" (missing {missing})" if missing else ""))


# ------------------------------------------------------------------------------ recommendation constraints


def _candidates(result: dict[str, Any]) -> list[dict[str, Any]]:
    return list(result.get("candidates") or [])


def check_min_candidates(result: dict[str, Any], minimum: int) -> Check:
    n = len(_candidates(result))
    return Check(n >= minimum, f"at least {minimum} candidate(s)", f"got {n}")


def check_all_fit(result: dict[str, Any], min_headroom_fraction: float) -> Check:
    """Every candidate fits and keeps this share of the usable memory per GPU free."""
    usable = (result.get("hardware") or {}).get("memory_bytes_per_gpu") or 0
    need = int(min_headroom_fraction * usable)
    bad = [
        f"{c['model']} {c['precision']} (fits={c['fits']}, headroom {c['headroom_bytes'] / 1e9:.2f} GB)"
        for c in _candidates(result)
        if not c.get("fits") or c.get("headroom_bytes", -1) < need
    ]
    label = f"every candidate fits with >= {min_headroom_fraction:.0%} headroom ({need / 1e9:.2f} GB)"
    return Check(not bad, label, "; ".join(bad) if bad else f"{len(_candidates(result))} candidates ok")


def check_top_min_params(result: dict[str, Any], min_params_b: float) -> Check:
    cands = _candidates(result)
    label = f"top pick has >= {min_params_b:g}B parameters"
    if not cands:
        return Check(False, label, "no candidates")
    top = cands[0]
    return Check(top["params_total"] >= min_params_b * 1e9, label, f"{top['model']}: {top['params_total'] / 1e9:.2f}B")


def check_max_params(result: dict[str, Any], max_params_b: float) -> Check:
    big = [
        f"{c['model']} ({c['params_total'] / 1e9:.1f}B)"
        for c in _candidates(result)
        if c["params_total"] > max_params_b * 1e9
    ]
    return Check(not big, f"no candidate above {max_params_b:g}B parameters", "; ".join(big) or "ok")


def _models(result: dict[str, Any]) -> list[str]:
    return [c["model"] for c in _candidates(result)]


def check_must_include_any(result: dict[str, Any], models: Sequence[str]) -> Check:
    got = _models(result)
    hits = [m for m in models if m in got]
    return Check(bool(hits), f"candidates include one of {list(models)}", f"candidates: {got}")


def check_must_not_include(result: dict[str, Any], models: Sequence[str]) -> Check:
    got = _models(result)
    hits = [m for m in models if m in got]
    return Check(not hits, f"candidates exclude {list(models)}", f"found {hits}" if hits else "ok")


def check_speed_floor(result: dict[str, Any], floor: float) -> Check:
    """Every candidate decodes at `floor` tokens/s or faster (a candidate without an estimate fails)."""
    slow = [
        f"{c['model']} {c['precision']} ({c.get('decode_tokens_per_s')} tok/s)"
        for c in _candidates(result)
        if c.get("decode_tokens_per_s") is None or c["decode_tokens_per_s"] < floor
    ]
    return Check(not slow, f"every candidate decodes >= {floor:g} tokens/s", "; ".join(slow) or "ok")


def check_top_min_speed(result: dict[str, Any], floor: float) -> Check:
    cands = _candidates(result)
    label = f"top pick decodes >= {floor:g} tokens/s"
    if not cands:
        return Check(False, label, "no candidates")
    speed = cands[0].get("decode_tokens_per_s")
    return Check(speed is not None and speed >= floor, label, f"{cands[0]['model']}: {speed} tok/s")


def check_top_quality(result: dict[str, Any], worst_level: str) -> Check:
    cands = _candidates(result)
    label = f"top pick's format costs at most '{worst_level}' quality"
    if not cands:
        return Check(False, label, "no candidates")
    top = cands[0]
    level = top.get("format_quality")
    ok = level in LEVEL_ORDER and LEVEL_ORDER.index(level) <= LEVEL_ORDER.index(worst_level)
    return Check(ok, label, f"{top['model']} at {top['precision']}: {level}")


def check_runtime(result: dict[str, Any], runtime: str) -> Check:
    got = (result.get("hardware") or {}).get("runtime")
    return Check(got == runtime, f"served with {runtime}", f"got {got}")


def check_rejected(result: dict[str, Any], model: str, fragments: Sequence[str]) -> Check:
    label = f"{model} rejected with reason mentioning {list(fragments)}"
    for row in result.get("rejected") or []:
        if row.get("model") == model:
            reason = str(row.get("reason", "")).lower()
            missing = [f for f in fragments if f.lower() not in reason]
            return Check(not missing, label, f"reason: {row.get('reason')}")
    return Check(False, label, f"rejected: {[r.get('model') for r in result.get('rejected') or []]}")


def check_recommendation(
    result: dict[str, Any], constraints: RecommendationConstraints, speed_floor: float | None
) -> list[Check]:
    """All constraint checks of one recommendation case."""
    c = constraints
    checks = [check_min_candidates(result, c.min_candidates)]
    if c.all_fit:
        checks.append(check_all_fit(result, c.min_headroom_fraction))
    if c.min_params_b is not None:
        checks.append(check_top_min_params(result, c.min_params_b))
    if c.max_params_b is not None:
        checks.append(check_max_params(result, c.max_params_b))
    if c.must_include_any:
        checks.append(check_must_include_any(result, c.must_include_any))
    if c.must_not_include:
        checks.append(check_must_not_include(result, c.must_not_include))
    if c.respect_speed_floor and speed_floor is not None:
        checks.append(check_speed_floor(result, speed_floor))
    if c.top_min_tokens_per_s is not None:
        checks.append(check_top_min_speed(result, c.top_min_tokens_per_s))
    if c.top_max_quality_level is not None:
        checks.append(check_top_quality(result, c.top_max_quality_level))
    if c.runtime is not None:
        checks.append(check_runtime(result, c.runtime))
    checks += [check_rejected(result, r.model, r.reason_contains) for r in c.rejected_includes]
    return checks


# ------------------------------------------------------------------------------------- comparison, concept


def check_alternative(result: dict[str, Any], model: str, precision: str | None, fragments: Sequence[str]) -> Check:
    label = f"equal-size alternative {model}" + (f" at {precision}" if precision else "")
    if fragments:
        label += f" judged {list(fragments)}"
    rows = [
        a
        for a in result.get("equal_size_alternatives") or []
        if a.get("model") == model and (precision is None or a.get("precision") == precision)
    ]
    if not rows:
        present = [f"{a.get('model')}@{a.get('precision')}" for a in result.get("equal_size_alternatives") or []]
        return Check(False, label, f"alternatives: {present}")
    text = " ".join(str(a.get("comparison", "")) for a in rows).lower()
    missing = [f for f in fragments if f.lower() not in text]
    return Check(not missing, label, rows[0].get("comparison", ""))


def check_cites(cited: Iterable[str], must_cite: Sequence[str], where: str = "answer") -> Check:
    """Every required note id is among the cited ones ('note:' prefixes and language suffixes ignored)."""
    got = [normalise_note_id(n) for n in cited]
    missing = [n for n in must_cite if n not in got]
    return Check(
        not missing, f"{where} cites {list(must_cite)}", f"cited {got}" + (f"; missing {missing}" if missing else "")
    )


def check_cites_one_of(cited: Iterable[str], options: Sequence[str], where: str = "answer") -> Check:
    """At least one of the notes that explain the concept is cited."""
    got = [normalise_note_id(n) for n in cited]
    hits = [n for n in options if n in got]
    return Check(bool(hits), f"{where} cites one of {list(options)}", f"cited {got}")


def normalise_note_id(note: str) -> str:
    """'note:kv-cache', 'kv-cache.zh.md' and 'kv-cache' all name the note kv-cache."""
    note = note.strip()
    note = note.removeprefix("note:")
    note = note.rsplit("/", 1)[-1]
    note = re.sub(r"\.md$", "", note)
    return re.sub(r"\.(en|zh)$", "", note)


def check_text_contains_any(text: str, fragments: Sequence[str]) -> Check:
    low = text.lower()
    hit = [f for f in fragments if f.lower() in low]
    return Check(bool(hit), f"answer mentions one of {list(fragments)}", f"found {hit}" if hit else text[:200])


def check_language(got: str | None, expected: str) -> Check:
    return Check(got == expected, f"answer in {expected}", f"got {got}")
