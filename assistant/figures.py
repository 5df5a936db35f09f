"""Traceable figures: every number the assistant prints is rendered here from one field of one tool result.

A `Ledger` runs the typed tools, keeps their results, and hands out text only through `quote()`, which records
a `Figure` (tool call, field path, value, renderer). Anyone can re-run the call and check the figure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agent_tools.errors import VramwiseError
from agent_tools.units import fmt_bytes

_GPU_VENDOR_PREFIXES = ("NVIDIA GeForce ", "NVIDIA ", "AMD Radeon ", "AMD ", "Intel ")


def short_gpu_name(name: str) -> str:
    """'NVIDIA GeForce RTX 3090' -> 'RTX 3090'; names without a vendor prefix are kept."""
    for prefix in _GPU_VENDOR_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


_CITATION_MARKS = re.compile(r"\s{0,4}\[\d+(?:[,\-–]\s{0,4}\d+)*\]")
_MARKUP = re.compile(r"\*\*|__|`")


def clean_passage(text: str) -> str:
    """Passage text without bracketed reference marks ('[10]'), bold/code markup, table rows, and with
    whitespace collapsed: the text an excerpt is cut from."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("|")]
    flat = " ".join(ln.strip().removeprefix("- ").strip() for ln in lines if ln.strip())
    flat = _MARKUP.sub("", _CITATION_MARKS.sub("", flat))
    return re.sub(r"\s+", " ", flat).strip()


# How a value becomes text. Tests re-render each figure with the same function and compare.
RENDERERS: dict[str, Callable[[Any], str]] = {
    "bytes": fmt_bytes,  # '16.06 GB (14.96 GiB)': both units, never one mislabelled
    "bytes_abs": lambda v: fmt_bytes(abs(v)),
    "count": lambda v: f"{v:,}",
    "decimal": lambda v: f"{v:g}",
    "bits": lambda v: f"{v:.2f}",
    "params": lambda v: f"{v / 1e9:.1f}B",
    "text": str,
    "gpu": lambda v: short_gpu_name(str(v)),
    "excerpt": str,  # a verbatim piece of clean_passage(field); checked as a substring, not for equality
}


def render(value: Any, fmt: str) -> str:
    try:
        renderer = RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown figure format {fmt!r}; accepted: {', '.join(RENDERERS)}") from None
    return renderer(value)


class ToolCall(BaseModel):
    tool: str = Field(description="estimate_memory | recommend_model | compare_precision | search_knowledge")
    args: dict[str, Any] = Field(description="the keyword arguments passed, enough to re-run the call")
    ok: bool
    error: str | None = None
    result: dict[str, Any] | None = Field(
        default=None, description="the tool's result as JSON (what the help desk draws its bars and tables from)"
    )


class Figure(BaseModel):
    """One figure in the answer text and where it came from."""

    text: str = Field(description="exactly as it appears in the answer text")
    value: Any = Field(description="the tool result field's value (for excerpts: the excerpt)")
    tool: str
    call: int = Field(description="index into Answer.tool_calls")
    field: str = Field(description="path in the result, e.g. 'fit.headroom_bytes', 'rows[0].total_bytes'")
    format: str = Field(description="renderer: " + ", ".join(RENDERERS))


def error_message(error: Exception) -> str:
    """One line naming the bad value: pydantic's 'field: message (got value)' or the domain error's text."""
    if isinstance(error, ValidationError):
        parts = []
        for err in error.errors():
            loc = ".".join(str(x) for x in err["loc"])
            got = f" (got {err['input']!r})" if loc and not isinstance(err.get("input"), dict) else ""
            parts.append(f"{loc}: {err['msg']}{got}" if loc else err["msg"])
        return "; ".join(parts)
    return str(error).splitlines()[0] if str(error) else type(error).__name__


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def lookup(data: Any, path: str) -> Any:
    """data['a']['b'][0]['c'] for 'a.b[0].c'."""
    for name, index in _PATH_PART.findall(path):
        data = data[int(index)] if index else data[name]
    return data


class Ledger:
    """Runs tool calls and quotes their fields; the only way offline answers get a number."""

    def __init__(self) -> None:
        self.calls: list[ToolCall] = []
        self.results: list[dict[str, Any]] = []
        self.figures: list[Figure] = []

    def call(
        self,
        tool: str,
        fn: Callable[..., BaseModel],
        args: dict[str, Any],
        errors: tuple[type[Exception], ...] = (VramwiseError, ValidationError),
    ) -> int | None:
        """Run fn(**args); the index of the call when it succeeded, None when it raised one of `errors`
        (the message is kept as the result's only field, `error`, so it can be quoted)."""
        try:
            result = fn(**args)
        except errors as e:
            message = error_message(e)
            self.calls.append(ToolCall(tool=tool, args=args, ok=False, error=message))
            self.results.append({"error": message})
            return None
        dumped = result.model_dump(mode="json")
        self.calls.append(ToolCall(tool=tool, args=args, ok=True, result=dumped))
        self.results.append(dumped)
        return len(self.calls) - 1

    def get(self, call: int, field: str) -> Any:
        return lookup(self.results[call], field)

    def quote(self, call: int, field: str, fmt: str = "bytes") -> str:
        value = self.get(call, field)
        text = render(value, fmt)
        self.figures.append(
            Figure(text=text, value=value, tool=self.calls[call].tool, call=call, field=field, format=fmt)
        )
        return text

    def excerpt(self, call: int, field: str, excerpt: str) -> str:
        """Quote a verbatim piece of a text field (a knowledge passage)."""
        if excerpt not in clean_passage(str(self.get(call, field))):
            raise ValueError(f"excerpt is not part of {field}")
        self.figures.append(
            Figure(text=excerpt, value=excerpt, tool=self.calls[call].tool, call=call, field=field, format="excerpt")
        )
        return excerpt
