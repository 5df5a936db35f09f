"""Advice tools: recommend_model ("which model fits my GPU?") and compare_precision ("14B int4 or 7B fp16?").

Both are deterministic: every candidate is sized by estimate_memory's engine, ranked by published benchmark
scores minus the published quality cost of its format, and every pick carries its reason and sources.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent_tools import catalog
from agent_tools.errors import VramwiseError
from agent_tools.estimate import EstimateRequest, EstimateResult, QuickEstimate, estimate_memory, quick_estimate
from agent_tools.schemas import FormatQuality, FormatQualityFile
from agent_tools.units import fmt_bytes

Task = Literal["chat", "code", "reasoning", "rag", "long_context", "multilingual", "edge"]
Level = Literal["lossless", "negligible", "small", "noticeable", "severe"]

# Published benchmarks that rank models for each task, in order of preference (quality.yaml header explains them).
TASK_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "chat": ("MMLU", "MMLU-Pro"),
    "rag": ("MMLU", "MMLU-Pro"),
    "long_context": ("MMLU", "MMLU-Pro"),
    "multilingual": ("MMLU", "MMLU-Pro", "CMMLU", "C-Eval"),
    "code": ("HumanEval", "HumanEval+", "MBPP", "LiveCodeBench", "MMLU"),
    "reasoning": ("GSM8K", "MATH", "MMLU"),
    "edge": ("MMLU", "MMLU-Pro"),
}
ZH_BENCHMARKS = ("CMMLU", "C-Eval")

# Benchmark points taken off a model's score for its weight format, by published quality level. The levels come
# from agent_tools/data/format_quality.yaml (perplexity deltas per llama.cpp type, k-bit scaling results).
LEVEL_PENALTY: dict[str, float] = {"lossless": 0.0, "negligible": 0.5, "small": 1.5, "noticeable": 4.0, "severe": 10.0}

RUNTIME_FORMATS: dict[str, tuple[str, ...]] = {
    "llama.cpp": ("bf16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k"),
    "vllm": ("bf16", "fp8", "gptq_int8", "awq_int4"),
    "transformers": ("bf16", "bnb_int8", "bnb_nf4"),
    "generic": ("bf16", "fp8", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m"),
}
DEFAULT_LADDER = ("bf16", "fp8", "int8", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "awq_int4", "q3_k_m", "q2_k")
EDGE_MAX_PARAMS = 4.5e9
INTERACTIVE_FLOOR_TPS = 5.0  # below this, partial CPU offload is too slow to suggest for interactive use

RANKING_RULE = (
    "rank = published benchmark score for the task (per model, from quality.yaml) minus a format penalty by "
    "published quality level (lossless 0, negligible 0.5, small 1.5, noticeable 4, severe 10 points; "
    "format_quality.yaml); only (model, format) pairs that fit with >= 5% headroom at the asked context and "
    "concurrency, and meet the speed floor; one row per model (its best-ranked format); formats with a severe "
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


def _quality(model_id: str, task: str, language: str) -> QualityEvidence | None:
    entry = catalog.quality_index().get(model_id)
    if entry is None:
        return None
    prefs = (ZH_BENCHMARKS + TASK_BENCHMARKS[task]) if language == "zh" else TASK_BENCHMARKS[task]
    for bench in prefs:
        for s in entry.scores:
            if s.benchmark.lower() == bench.lower():
                return QualityEvidence(benchmark=s.benchmark, score=s.score, setting=s.setting, source=s.source)
    return None


# ------------------------------------------------------------------------------------------- recommend


class RecommendRequest(BaseModel):
    """The hardware and the job. Give `gpu` (name) or `vram_gb`, or neither with `system_ram_gb` for CPU-only."""

    model_config = ConfigDict(extra="forbid")

    gpu: Annotated[str | None, Field(description="GPU name or alias, e.g. 'RTX 4090', 'M3 Max 64GB', 'A100'")] = None
    vram_gb: Annotated[float | None, Field(gt=0, le=100_000, description="GPU memory in GiB (unknown GPUs)")] = None
    num_gpus: Annotated[int, Field(gt=0, le=64, description="identical GPUs of that kind")] = 1
    system_ram_gb: Annotated[
        float | None, Field(gt=0, le=100_000, description="system RAM in GiB for CPU-only or partial offload")
    ] = None
    task: Annotated[Task, Field(description="what the model is for; picks the benchmark that ranks models")] = "chat"
    context_length: Annotated[int, Field(gt=0, le=10_000_000, description="tokens per conversation")] = 8192
    concurrent_users: Annotated[
        int, Field(gt=0, le=10_000, description="conversations served at once (each holds a KV cache)")
    ] = 1
    min_tokens_per_s: Annotated[float | None, Field(gt=0, le=100_000, description="decode speed floor")] = None
    runtime: Annotated[str | None, Field(description="llama.cpp | vllm | transformers (default: by hardware)")] = None
    language: Annotated[
        Literal["en", "zh"], Field(description="zh ranks by Chinese benchmarks (C-Eval/CMMLU) where published")
    ] = "en"
    top_k: Annotated[int, Field(gt=0, le=50, description="how many candidates to return")] = 5
    license: Annotated[
        Literal["any", "open_weights", "commercial"], Field(description="commercial: only licenses allowing it")
    ] = "any"

    @model_validator(mode="after")
    def _hardware(self) -> RecommendRequest:
        if self.gpu is not None and not self.gpu.strip():
            raise ValueError("gpu must be a GPU name such as 'RTX 4090' (got an empty string); or give vram_gb")
        if self.runtime is not None and not self.runtime.strip():
            raise ValueError("runtime must be llama.cpp, vllm, transformers or generic (got an empty string)")
        if self.gpu is None and self.vram_gb is None and self.system_ram_gb is None:
            raise ValueError("give the hardware: gpu (name), vram_gb, or system_ram_gb for CPU-only")
        return self


class Hardware(BaseModel):
    name: str
    num_gpus: int
    memory_bytes_per_gpu: int = Field(description="usable by the runtime, per GPU (or RAM for CPU-only)")
    total_memory_bytes: int
    bandwidth_gb_s: float | None
    runtime: str
    cpu_only: bool


class Candidate(BaseModel):
    rank: int
    model: str
    name: str
    precision: str
    params_total: int
    params_active: int
    total_bytes: int
    fits: bool
    headroom_bytes: int
    max_context_length: int
    decode_tokens_per_s: float | None
    offload: str | None = Field(default=None, description="partial CPU offload, when used")
    quality: QualityEvidence | None
    format_quality: str
    rank_score: float
    reason: str


class Rejected(BaseModel):
    model: str
    precision: str
    needs_bytes: int
    available_bytes: int
    reason: str


class RecommendResult(BaseModel):
    hardware: Hardware
    task: str
    context_length: int
    concurrent_users: int
    candidates: list[Candidate]
    rejected: list[Rejected]
    advice: list[str]
    ranking_rule: str
    sources: list[str]


def _default_runtime(req: RecommendRequest, gpu: Any) -> str:
    if req.runtime:
        return catalog.resolve_runtime(req.runtime).id
    if gpu is not None and gpu.segment == "datacenter" and req.concurrent_users > 1:
        return "vllm"
    return "llama.cpp"


# Checkpoints shipped already quantized keep their native format; re-quantizing them is not what people run.
NATIVE_FORMATS = {"mxfp4": ("mxfp4",)}


def _formats_for(entry: Any, formats: tuple[str, ...]) -> tuple[str, ...]:
    quant = (entry.config.get("quantization_config") or {}).get("quant_method")
    return NATIVE_FORMATS.get(str(quant), formats)


def _max_context(entry: Any) -> int | None:
    from agent_tools.resolve import catalog_architecture

    return catalog_architecture(entry.id).max_position_embeddings


def _license_ok(entry: Any, rule: str) -> bool:
    if rule == "commercial":
        return entry.commercial_use is True
    return True


def _estimate(fields: dict[str, Any]) -> EstimateResult | None:
    try:
        return estimate_memory(EstimateRequest(**fields))
    except VramwiseError:
        return None


def _quick(fields: dict[str, Any]) -> QuickEstimate | None:
    try:
        return quick_estimate(EstimateRequest(**fields))
    except VramwiseError:
        return None


def recommend_model(request: RecommendRequest | None = None, /, **kwargs: Any) -> RecommendResult:
    """Rank catalog models (x formats) that fit the hardware at the asked context and concurrency."""
    req = request if request is not None else RecommendRequest(**kwargs)
    gpu = catalog.resolve_gpu(req.gpu) if req.gpu else None
    cpu_only = gpu is None and req.vram_gb is None
    runtime = "llama.cpp" if cpu_only else _default_runtime(req, gpu)
    base: dict[str, Any] = {
        "context_length": req.context_length,
        "batch_size": req.concurrent_users,
        "runtime": runtime,
        "num_gpus": req.num_gpus,
    }
    if gpu is not None:
        base["gpu"] = gpu.name
    elif req.vram_gb is not None:
        base["vram_gb"] = req.vram_gb
    else:
        assert req.system_ram_gb is not None
        # CPU-only: llama.cpp in system RAM; leave 2 GiB (or 25%) to the OS.
        usable_gib = max(1.0, min(req.system_ram_gb - 2, req.system_ram_gb * 0.75))
        base.update(vram_gb=usable_gib, bandwidth_gb_s=catalog_cpu_bandwidth())
    formats = RUNTIME_FORMATS[runtime]
    if gpu is not None and not gpu.fp8:
        formats = tuple(f for f in formats if f != "fp8")

    rows: list[tuple[float, float, Candidate]] = []
    rejected: list[tuple[float, Rejected]] = []
    best_by_model: dict[str, tuple[float, Candidate]] = {}
    too_short: list[str] = []
    capacity = None
    for entry in catalog.list_models():
        if entry.legacy or not _license_ok(entry, req.license):
            continue
        quality = _quality(entry.id, req.task, req.language)
        if quality is None:
            continue
        max_ctx = _max_context(entry)
        if max_ctx and req.context_length > max_ctx:
            too_short.append(entry.id)
            continue
        smallest: tuple[str, QuickEstimate] | None = None
        for fmt_id in _formats_for(entry, formats):
            result = _quick({**base, "model": entry.id, "precision": fmt_id})
            if result is None or result.capacity_bytes is None:
                continue
            capacity = result.capacity_bytes
            if req.task == "edge" and result.params_total > EDGE_MAX_PARAMS:
                break
            if smallest is None or result.per_gpu_bytes < smallest[1].per_gpu_bytes:
                smallest = (fmt_id, result)
            margin = max(256 * 2**20, int(0.05 * result.capacity_bytes))
            if not result.fits or result.headroom_bytes < margin:
                continue
            speed = result.decode_tokens_per_s
            if req.min_tokens_per_s and (speed is None or speed < req.min_tokens_per_s):
                continue
            fq = format_quality_of(fmt_id)
            level = fq.level if fq else "small"
            score = quality.score - LEVEL_PENALTY[level]
            prev = best_by_model.get(entry.id)
            if prev is None or (score, speed or 0) > (prev[0], prev[1].decode_tokens_per_s or 0):
                best_by_model[entry.id] = (
                    score,
                    Candidate(
                        rank=0,
                        model=entry.id,
                        name=entry.name,
                        precision=fmt_id,
                        params_total=result.params_total,
                        params_active=result.params_active,
                        total_bytes=result.per_gpu_bytes * req.num_gpus,
                        fits=True,
                        headroom_bytes=result.headroom_bytes,
                        max_context_length=0,
                        decode_tokens_per_s=speed,
                        quality=quality,
                        format_quality=level,
                        rank_score=round(score, 2),
                        reason="",
                    ),
                )
        if entry.id not in best_by_model and smallest is not None:
            fmt_id, small = smallest
            rejected.append(
                (
                    quality.score,
                    Rejected(
                        model=entry.id,
                        precision=fmt_id,
                        needs_bytes=small.per_gpu_bytes,
                        available_bytes=small.capacity_bytes or 0,
                        reason=_rejection_reason(fmt_id, small, req),
                    ),
                )
            )
    for score, cand in best_by_model.values():
        rows.append((score, cand.decode_tokens_per_s or 0.0, cand))
    # A format with a severe published quality cost only ranks after every candidate without one.
    rows.sort(key=lambda r: (r[2].format_quality == "severe", -r[0], -r[1], r[2].model))
    picks = [c for _, _, c in rows[: req.top_k]]
    for i, c in enumerate(picks, 1):
        c.rank = i
        full = _estimate({**base, "model": c.model, "precision": c.precision})
        if full is not None and full.fit is not None:
            c.max_context_length = full.fit.max_context_length
        c.reason = _reason(c, req)
    top_score = rows[0][0] if rows else -1.0
    notable = [r for q, r in sorted(rejected, key=lambda x: -x[0]) if q > top_score][:5]
    mem = capacity if capacity is not None else 0
    hardware = Hardware(
        name=gpu.name
        if gpu
        else (f"{req.vram_gb:g} GiB GPU" if req.vram_gb else f"CPU, {req.system_ram_gb:g} GiB RAM"),
        num_gpus=req.num_gpus,
        memory_bytes_per_gpu=mem,
        total_memory_bytes=mem * req.num_gpus,
        bandwidth_gb_s=gpu.bandwidth_gb_s if gpu else (catalog_cpu_bandwidth() if cpu_only else None),
        runtime=runtime,
        cpu_only=cpu_only,
    )
    advice = _advice(req, picks, notable, base)
    if too_short:
        advice.append(
            f"left out because their context window is shorter than {req.context_length:,} tokens: "
            + ", ".join(too_short[:6])
            + (" ..." if len(too_short) > 6 else "")
        )
    sources = sorted({c.quality.source for c in picks if c.quality})
    fq_sources = {
        s for c in picks for s in (format_quality_of(c.precision).sources if format_quality_of(c.precision) else [])
    }
    return RecommendResult(
        hardware=hardware,
        task=req.task,
        context_length=req.context_length,
        concurrent_users=req.concurrent_users,
        candidates=picks,
        rejected=notable,
        advice=advice,
        ranking_rule=RANKING_RULE,
        sources=sources + sorted(fq_sources) + ["note:choosing-by-memory-tier", "note:precision-tradeoffs"],
    )


def _hardware_name(gpu: Any, req: RecommendRequest) -> str:
    if gpu is not None:
        return gpu.name
    if req.vram_gb is not None:
        return f"{req.vram_gb:g} GiB GPU"
    return f"CPU, {req.system_ram_gb:g} GiB RAM"


def catalog_cpu_bandwidth() -> float:
    from agent_tools.speed import cpu_ram_bandwidth

    return cpu_ram_bandwidth() / 1e9


def _rejection_reason(fmt_id: str, r: QuickEstimate, req: RecommendRequest) -> str:
    per = " per GPU" if req.num_gpus > 1 else ""
    need, have = r.per_gpu_bytes / 1e9, (r.capacity_bytes or 0) / 1e9
    where = f"at {fmt_id} with {req.context_length:,} tokens x {req.concurrent_users}"
    if r.fits:
        return f"needs {need:.1f} GB{per} {where}: fits your {have:.1f} GB{per} but leaves under 5% headroom"
    return f"needs {need:.1f} GB{per} even {where}, you have {have:.1f} GB{per}"


def _reason(c: Candidate, req: RecommendRequest) -> str:
    q = c.quality
    assert q is not None
    parts = [
        f"{q.benchmark} {q.score:g} ({q.setting or 'published'})",
        f"{c.precision} costs {c.format_quality} quality",
        f"{c.total_bytes / 1e9:.1f} GB with {c.headroom_bytes / 1e9:.1f} GB headroom at {req.context_length:,} tokens",
    ]
    if c.decode_tokens_per_s:
        parts.append(f"~{c.decode_tokens_per_s:.0f} tokens/s")
    if c.params_active != c.params_total:
        parts.append(f"MoE: {c.params_active / 1e9:.1f}B active of {c.params_total / 1e9:.1f}B")
    return "; ".join(parts)


def _advice(req: RecommendRequest, picks: list[Candidate], notable: list[Rejected], base: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if not picks:
        out.append(
            "nothing in the catalog fits with 5% headroom at this context and concurrency: lower context_length, "
            "add GPUs, or allow CPU offload (system_ram_gb with llama.cpp)"
        )
    if notable:
        best = notable[0]
        for kv in ("q8_0", "q4_0") if base["runtime"] == "llama.cpp" else ("fp8",):
            trial = _estimate({**base, "model": best.model, "precision": best.precision, "kv_cache_precision": kv})
            if trial and trial.fit and trial.fit.fits:
                out.append(
                    f"{best.model} fits at {best.precision} if the KV cache is stored as {kv} "
                    f"({fmt_bytes(trial.fit.required_bytes)} of {fmt_bytes(trial.fit.usable_bytes)})"
                )
                break
        else:
            short = _estimate({**base, "model": best.model, "precision": best.precision, "context_length": 4096})
            if short and short.fit and short.fit.fits:
                out.append(f"{best.model} at {best.precision} fits at 4,096 tokens but not at {req.context_length:,}")
    if picks and req.context_length >= 32768:
        top = picks[0]
        out.append(
            f"at {req.context_length:,} tokens the KV cache is a large share of memory; an fp8/q8_0 KV cache halves it "
            f"(max context for {top.model} at {top.precision}: {top.max_context_length:,} tokens)"
        )
    if req.concurrent_users > 1 and base["runtime"] != "vllm":
        out.append("for several concurrent users, vLLM's paged KV cache serves them from one pool (runtime='vllm')")
    return out


# ---------------------------------------------------------------------------------------------- compare


class CompareRequest(BaseModel):
    """One model in several precisions, and what else fits in the same memory."""

    model_config = ConfigDict(extra="forbid")

    model: Annotated[str | None, Field(description="catalog id, alias or HF repo id")] = None
    config: Annotated[dict[str, Any] | None, Field(description="a config.json object")] = None
    params_b: Annotated[float | None, Field(gt=0, le=100_000, description="parameter count in billions")] = None
    precisions: Annotated[
        list[str] | None, Field(description="formats to compare (default: bf16 -> q2_k ladder)", max_length=30)
    ] = None
    context_length: Annotated[int, Field(gt=0, le=10_000_000, description="tokens per sequence")] = 4096
    batch_size: Annotated[int, Field(gt=0, le=100_000, description="concurrent sequences")] = 1
    gpu: Annotated[str | None, Field(description="GPU name to check fit and speed")] = None
    vram_gb: Annotated[
        float | None, Field(gt=0, le=100_000, description="GPU memory in GiB to check fit, when the GPU is not named")
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
    ladder = [catalog.resolve_format(p).id for p in (req.precisions or DEFAULT_LADDER)]
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
    anchors = [f for f in ("bf16", "q4_k_m", "awq_int4") if f in results]
    if not anchors:
        anchors = [next(iter(results))]
    out: list[Alternative] = []
    seen: set[tuple[str, str]] = set()
    own_q = _quality(model_id, req.task, "en")
    for anchor in anchors:
        target = results[anchor].per_gpu_bytes * req.num_gpus
        own_fq = format_quality_of(anchor)
        for entry in catalog.list_models():
            if entry.legacy or entry.id == model_id:
                continue
            q = _quality(entry.id, req.task, "en")
            if q is None:
                continue
            for fmt_id in _formats_for(entry, ("bf16", "q8_0", "q4_k_m")):
                if (entry.id, fmt_id) in seen:
                    continue
                r = _quick({**common, "model": entry.id, "precision": fmt_id, "gpu": None})
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


__all__ = [
    "CompareRequest",
    "CompareResult",
    "RecommendRequest",
    "RecommendResult",
    "compare_precision",
    "recommend_model",
]
