"""compare_precision: one model across weight formats ("14B int4 or 7B fp16?"): size, fit, speed and the published
quality cost of each, the other models that take the same memory, and a verdict."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent_tools import catalog, resolve
from agent_tools.estimate import EstimateResult, estimate_memory
from agent_tools.ranking import (
    DEFAULT_LADDER,
    LEVEL_PENALTY,
    Level,
    QualityEvidence,
    Task,
    format_quality,
    format_quality_of,
    formats_for,
    quality_for,
    quick_or_none,
)
from agent_tools.schemas import FormatQuality
from agent_tools.units import MAX_NAME_CHARS, MAX_PARAMS_B, fmt_bytes

# ---------------------------------------------------------------------------------------------- compare


class CompareRequest(BaseModel):
    """One model in several precisions, and what else fits in the same memory."""

    # Names are short (a 150,000-character GPU name must not reach a parser) and numbers are numbers ("8" is not 8).
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_NAME_CHARS, strict=True)

    model: Annotated[str | None, Field(description="catalog id, alias or HF repo id")] = None
    config: Annotated[dict[str, Any] | None, Field(description="a config.json object")] = None
    params_b: Annotated[
        float | None, Field(gt=0, le=MAX_PARAMS_B, description="parameter count in billions (up to 2,000)")
    ] = None
    precisions: Annotated[
        list[str] | None, Field(description="formats to compare (default: bf16 -> q2_k ladder)", max_length=30)
    ] = None
    context_length: Annotated[int, Field(gt=0, le=10_000_000, description="tokens per sequence")] = 4096
    batch_size: Annotated[int, Field(gt=0, le=100_000, description="concurrent sequences")] = 1
    gpu: Annotated[str | None, Field(description="GPU name to check fit and speed")] = None
    vram_gb: Annotated[
        float | None, Field(gt=0, le=100_000, description="GPU memory in GiB to check fit, when the GPU is not named")
    ] = None
    bandwidth_gb_s: Annotated[
        float | None, Field(gt=0, le=100_000, description="memory bandwidth (GB/s) of a GPU given by vram_gb")
    ] = None
    num_gpus: Annotated[int, Field(gt=0, le=64, description="identical GPUs")] = 1
    runtime: Annotated[
        str, Field(description="one runtime for every row so sizes compare like for like (default generic)")
    ] = "generic"
    task: Annotated[Task, Field(description="picks the benchmark for equal-memory alternatives")] = "chat"

    @model_validator(mode="after")
    def _one_source(self) -> CompareRequest:
        given = [k for k in ("model", "config", "params_b") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of model, config or params_b")
        if self.gpu is not None and self.vram_gb is not None:
            raise ValueError("give gpu (a name) or vram_gb, not both")
        return self

    @property
    def device(self) -> str | None:
        """The GPU as the verdict names it."""
        return self.gpu or (f"{self.vram_gb:g} GiB of GPU memory" if self.vram_gb else None)


class QualityImpact(BaseModel):
    level: Level
    ppl_delta: float | None = None
    evidence: str
    source: str


class PrecisionRow(BaseModel):
    precision: str
    name: str
    runtime: str
    bits_per_weight: float
    weights_bytes: int
    total_bytes: int
    fits: bool | None
    decode_tokens_per_s: float | None
    quality_impact: QualityImpact | None


class Alternative(BaseModel):
    model: str
    precision: str
    total_bytes: int
    params_total: int
    quality: QualityEvidence | None
    format_quality: str | None
    comparison: str


class CompareResult(BaseModel):
    model: str
    params_total: int
    context_length: int
    rows: list[PrecisionRow]
    equal_size_alternatives: list[Alternative]
    verdict: str
    notes: list[str]
    sources: list[str]


def compare_precision(request: CompareRequest | None = None, /, **kwargs: Any) -> CompareResult:
    """Memory, speed and published quality cost of one model across precisions, plus equal-size alternatives."""
    req = request if request is not None else CompareRequest(**kwargs)
    ladder = [resolve.precision(p).id for p in (req.precisions or DEFAULT_LADDER)]
    subject: dict[str, Any] = {"model": req.model, "config": req.config, "params_b": req.params_b}
    subject = {k: v for k, v in subject.items() if v is not None}
    common = {
        "context_length": req.context_length,
        "batch_size": req.batch_size,
        "num_gpus": req.num_gpus,
        "runtime": req.runtime,
    }
    if req.gpu:
        common["gpu"] = req.gpu
    elif req.vram_gb:
        common["vram_gb"] = req.vram_gb
        if req.bandwidth_gb_s is not None:
            common["bandwidth_gb_s"] = req.bandwidth_gb_s
    rows: list[PrecisionRow] = []
    results: dict[str, EstimateResult] = {}
    for fmt_id in dict.fromkeys(ladder):
        r = estimate_memory(**subject, **common, precision=fmt_id)
        results[fmt_id] = r
        fq = format_quality_of(fmt_id)
        rows.append(
            PrecisionRow(
                precision=fmt_id,
                name=r.precision.name,
                runtime=r.runtime,
                bits_per_weight=r.precision.bits_per_weight,
                weights_bytes=r.breakdown.weights_bytes,
                total_bytes=r.per_gpu_bytes * req.num_gpus,
                fits=r.fit.fits if r.fit else None,
                decode_tokens_per_s=r.speed.decode_tokens_per_s if r.speed else None,
                quality_impact=QualityImpact(
                    level=fq.level, ppl_delta=fq.ppl_delta, evidence=fq.evidence, source=fq.sources[0]
                )
                if fq
                else None,
            )
        )
    if req.precisions is None:
        rows.sort(key=lambda row: -row.bits_per_weight)
    first = next(iter(results.values()))
    model_id = first.model.id
    alternatives = _alternatives(req, model_id, results, common)
    verdict = _compare_verdict(rows, req)
    notes = [f.finding for f in format_quality().findings][:6]
    sources = sorted({row.quality_impact.source for row in rows if row.quality_impact})
    sources += sorted({s for f in format_quality().findings for s in f.sources})[:6]
    sources += ["note:precision-tradeoffs", "note:quantization-quality", "note:fp16-bf16-fp8"]
    return CompareResult(
        model=model_id,
        params_total=first.model.params_total,
        context_length=req.context_length,
        rows=rows,
        equal_size_alternatives=alternatives,
        verdict=verdict,
        notes=notes,
        sources=sources,
    )


def _compare_verdict(rows: list[PrecisionRow], req: CompareRequest) -> str:
    rated = [r for r in rows if r.quality_impact]
    good = [r for r in rated if r.quality_impact and r.quality_impact.level in ("lossless", "negligible", "small")]
    fitting = [r for r in good if r.fits is not False]
    if req.device and not fitting:
        fitting_any = [r for r in rows if r.fits]
        if not fitting_any:
            return f"no precision fits {req.device} at {req.context_length:,} tokens: use a smaller model or more GPUs"
        pick = fitting_any[0]
        return (
            f"only {pick.precision} and lower fit {req.device}; its quality cost is "
            f"{pick.quality_impact.level if pick.quality_impact else 'unrated'} — consider a smaller model at higher "
            "precision (see equal_size_alternatives)"
        )
    if not fitting:
        return "no rated precision in the list"
    smallest = min(fitting, key=lambda r: r.total_bytes)
    best = fitting[0]
    if req.device:
        return (
            f"{best.precision} is the highest-quality precision that fits {req.device}; {smallest.precision} is the "
            f"smallest with at most a small published quality cost ({smallest.bits_per_weight:.2f} bits/weight, "
            f"{fmt_bytes(smallest.total_bytes)})"
        )
    return (
        f"{smallest.precision} is the smallest precision with at most a small published quality cost "
        f"({smallest.bits_per_weight:.2f} bits/weight, {fmt_bytes(smallest.total_bytes)}); below ~4 bits the cost "
        "rises steeply"
    )


def _alternatives(
    req: CompareRequest, model_id: str, results: dict[str, EstimateResult], common: dict[str, Any]
) -> list[Alternative]:
    """Other (model, format) pairs in the same memory (+-10%) or less (down to half) as this model's 16-bit and
    4-bit rows, with what published scores say about which is better."""
    anchors: list[str] = [f for f in ("bf16", "q4_k_m", "awq_int4") if f in results]
    if not anchors:
        anchors = [next(iter(results))]
    out: list[Alternative] = []
    seen: set[tuple[str, str]] = set()
    own_q = quality_for(model_id, req.task, "en")
    for anchor in anchors:
        target = results[anchor].per_gpu_bytes * req.num_gpus
        own_fq = format_quality_of(anchor)
        for entry in catalog.list_models():
            if entry.legacy or entry.id == model_id:
                continue
            q = quality_for(entry.id, req.task, "en")
            if q is None:
                continue
            for fmt_id in formats_for(entry, ("bf16", "q8_0", "q4_k_m")):
                if (entry.id, fmt_id) in seen:
                    continue
                r = quick_or_none({**common, "model": entry.id, "precision": fmt_id, "gpu": None})
                # equal memory (+-10%) or up to half the memory: "is a 14B int4 better than a 7B fp16?"
                if r is None or not (0.5 * target <= r.total_bytes <= 1.10 * target):
                    continue
                seen.add((entry.id, fmt_id))
                fq = format_quality_of(fmt_id)
                out.append(
                    Alternative(
                        model=entry.id,
                        precision=fmt_id,
                        total_bytes=r.total_bytes,
                        params_total=r.params_total,
                        quality=q,
                        format_quality=fq.level if fq else None,
                        comparison=_versus(model_id, anchor, own_q, own_fq, entry.id, fmt_id, q, fq).replace(
                            "same memory", _memory_word(r.total_bytes, target), 1
                        ),
                    )
                )
    out.sort(
        key=lambda a: -((a.quality.score if a.quality else 0) - LEVEL_PENALTY.get(a.format_quality or "small", 1.5))
    )
    return out[:8]


def _memory_word(other: int, target: int) -> str:
    if other >= 0.9 * target:
        return "same memory"
    return f"{100 * (1 - other / target):.0f}% less memory"


def _versus(
    own: str,
    own_fmt: str,
    own_q: QualityEvidence | None,
    own_fq: FormatQuality | None,
    other: str,
    other_fmt: str,
    q: QualityEvidence,
    fq: FormatQuality | None,
) -> str:
    if own_q is None or own_q.benchmark != q.benchmark:
        return f"{other} at {other_fmt}: {q.benchmark} {q.score:g}; no like-for-like score for {own}"
    mine = own_q.score - LEVEL_PENALTY[own_fq.level if own_fq else "small"]
    theirs = q.score - LEVEL_PENALTY[fq.level if fq else "small"]
    winner = f"{other} at {other_fmt}" if theirs > mine else f"{own} at {own_fmt}"
    return (
        f"same memory: {own} at {own_fmt} ({q.benchmark} {own_q.score:g}, {own_fq.level if own_fq else '?'} format "
        f"cost) vs {other} at {other_fmt} ({q.benchmark} {q.score:g}, {fq.level if fq else '?'} cost) -> "
        f"{winner} is better by published evidence"
    )
