"""What the advice tools rank by: published benchmark scores per task, the quality cost of each weight format, and
the tables (format ladders per runtime, penalties, defaults) in data/advice.yaml."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel

from agent_tools import catalog, resolve
from agent_tools.errors import VramwiseError
from agent_tools.estimate import EstimateRequest, EstimateResult, QuickEstimate, estimate_memory, quick_estimate
from agent_tools.schemas import FormatQuality, FormatQualityFile

Task = Literal["chat", "code", "reasoning", "rag", "long_context", "multilingual", "edge"]
Level = Literal["lossless", "negligible", "small", "noticeable", "severe"]


@cache
def tables() -> dict[str, Any]:
    """data/advice.yaml: benchmarks per task, penalties, format ladders, defaults (each with its source)."""
    return dict(catalog._load("advice.yaml"))


_T = tables()
TASK_BENCHMARKS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _T["task_benchmarks"].items()}
ZH_BENCHMARKS: tuple[str, ...] = tuple(_T["chinese_benchmarks"])
LEVEL_PENALTY: dict[str, float] = {k: float(v) for k, v in _T["level_penalty"].items()}
RUNTIME_FORMATS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _T["runtime_formats"].items()}
DEFAULT_LADDER: tuple[str, ...] = tuple(_T["default_ladder"])
NATIVE_FORMATS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _T["native_formats"].items()}
EDGE_MAX_PARAMS = float(_T["edge_max_params"])
INTERACTIVE_FLOOR_TPS = float(_T["interactive_floor_tokens_per_s"])

RANKING_RULE = (
    "rank = published benchmark score for the task (per model, from quality.yaml) minus a format penalty by "
    "published quality level ("
    + ", ".join(f"{level} {points:g}" for level, points in LEVEL_PENALTY.items())
    + " points; format_quality.yaml); only (model, format) pairs that fit with >= 5% headroom at the asked context "
    "and concurrency, and meet the speed floor; one row per model (its best-ranked format); formats with a severe "
    "quality cost rank after all others; ties -> faster decode"
)


# ------------------------------------------------------------------------------------------------ data


@cache
def format_quality() -> FormatQualityFile:
    return FormatQualityFile(**catalog._load("format_quality.yaml"))


def format_quality_of(format_id: str) -> FormatQuality | None:
    for row in format_quality().formats:
        if row.format == format_id:
            return row
    return None


class QualityEvidence(BaseModel):
    benchmark: str
    score: float
    setting: str | None = None
    source: str


def quality_for(model_id: str, task: str, language: str) -> QualityEvidence | None:
    entry = catalog.quality_index().get(model_id)
    if entry is None:
        return None
    prefs = (ZH_BENCHMARKS + TASK_BENCHMARKS[task]) if language == "zh" else TASK_BENCHMARKS[task]
    for bench in prefs:
        for s in entry.scores:
            if s.benchmark.lower() == bench.lower():
                return QualityEvidence(benchmark=s.benchmark, score=s.score, setting=s.setting, source=s.source)
    return None


def formats_for(entry: Any, formats: tuple[str, ...]) -> tuple[str, ...]:
    """A checkpoint shipped quantized (e.g. MXFP4) keeps its native format; others are tried in `formats`."""
    quant = (entry.config.get("quantization_config") or {}).get("quant_method")
    return NATIVE_FORMATS.get(str(quant), formats)


def max_context(entry: Any) -> int | None:
    return resolve.catalog_architecture(entry.id).max_position_embeddings


def license_ok(entry: Any, rule: str) -> bool:
    if rule == "commercial":
        return entry.commercial_use is True
    return True


def estimate_or_none(fields: dict[str, Any]) -> EstimateResult | None:
    try:
        return estimate_memory(EstimateRequest(**fields))
    except VramwiseError:
        return None


def quick_or_none(fields: dict[str, Any]) -> QuickEstimate | None:
    try:
        return quick_estimate(EstimateRequest(**fields))
    except VramwiseError:
        return None
