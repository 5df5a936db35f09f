"""recommend_model: "which model fits my GPU?" Every catalog model x format is sized by estimate_memory's engine,
ranked by published benchmark scores minus the published quality cost of the format, with reasons and sources."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent_tools import catalog, resolve
from agent_tools.estimate import QuickEstimate
from agent_tools.ranking import (
    EDGE_MAX_PARAMS,
    LEVEL_PENALTY,
    RANKING_RULE,
    RUNTIME_FORMATS,
    QualityEvidence,
    Task,
    estimate_or_none,
    format_quality_of,
    formats_for,
    license_ok,
    max_context,
    quality_for,
    quick_or_none,
    tables,
)
from agent_tools.units import MAX_NAME_CHARS, fmt_bytes

# ------------------------------------------------------------------------------------------- recommend


class RecommendRequest(BaseModel):
    """The hardware and the job. Give `gpu` (name) or `vram_gb`, or neither with `system_ram_gb` for CPU-only."""

    # Names are short (a 150,000-character GPU name must not reach a parser) and numbers are numbers ("8" is not 8).
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_NAME_CHARS, strict=True)

    gpu: Annotated[str | None, Field(description="GPU name or alias, e.g. 'RTX 4090', 'M3 Max 64GB', 'A100'")] = None
    vram_gb: Annotated[float | None, Field(gt=0, le=100_000, description="GPU memory in GiB (unknown GPUs)")] = None
    bandwidth_gb_s: Annotated[
        float | None, Field(gt=0, le=100_000, description="memory bandwidth (GB/s) of a GPU given by vram_gb")
    ] = None
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
    defaults = tables()["default_runtime"]
    if req.runtime:
        return resolve.runtime(req.runtime).id
    if gpu is not None and gpu.segment == "datacenter" and req.concurrent_users > 1:
        return str(defaults["several_users_datacenter"])
    return str(defaults["single_user"])


def recommend_model(request: RecommendRequest | None = None, /, **kwargs: Any) -> RecommendResult:
    """Rank catalog models (x formats) that fit the hardware at the asked context and concurrency."""
    req = request if request is not None else RecommendRequest(**kwargs)
    gpu = resolve.gpu_entry(req.gpu) if req.gpu else None
    cpu_only = gpu is None and req.vram_gb is None
    runtime = str(tables()["default_runtime"]["cpu_only"]) if cpu_only else _default_runtime(req, gpu)
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
        if req.bandwidth_gb_s is not None:
            base["bandwidth_gb_s"] = req.bandwidth_gb_s
    else:
        assert req.system_ram_gb is not None
        # CPU-only: the model lives in system RAM; the OS and apps keep the larger of a fixed reserve and a share.
        reserve_gib, reserve_share = tables()["cpu_os_reserve_gib"], tables()["cpu_os_reserve_fraction"]
        usable_gib = max(1.0, min(req.system_ram_gb - reserve_gib, req.system_ram_gb * (1 - reserve_share)))
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
        if entry.legacy or not license_ok(entry, req.license):
            continue
        quality = quality_for(entry.id, req.task, req.language)
        if quality is None:
            continue
        max_ctx = max_context(entry)
        if max_ctx and req.context_length > max_ctx:
            too_short.append(entry.id)
            continue
        smallest: tuple[str, QuickEstimate] | None = None
        for fmt_id in formats_for(entry, formats):
            result = quick_or_none({**base, "model": entry.id, "precision": fmt_id})
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
        full = estimate_or_none({**base, "model": c.model, "precision": c.precision})
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
    fq_sources = {s for c in picks if (fq := format_quality_of(c.precision)) is not None for s in fq.sources}
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
    return resolve.cpu_memory(None).bandwidth_gb_s


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
        fallbacks = tables()["kv_fallbacks"]
        for kv in fallbacks.get(base["runtime"], fallbacks["default"]):
            fields = {**base, "model": best.model, "precision": best.precision, "kv_cache_precision": kv}
            trial = estimate_or_none(fields)
            if trial and trial.fit and trial.fit.fits:
                out.append(
                    f"{best.model} fits at {best.precision} if the KV cache is stored as {kv} "
                    f"({fmt_bytes(trial.fit.required_bytes)} of {fmt_bytes(trial.fit.usable_bytes)})"
                )
                break
        else:
            short = estimate_or_none({**base, "model": best.model, "precision": best.precision, "context_length": 4096})
            if short and short.fit and short.fit.fits:
                out.append(f"{best.model} at {best.precision} fits at 4,096 tokens but not at {req.context_length:,}")
    if picks and req.context_length >= 32768:
        top = picks[0]
        out.append(
            f"at {req.context_length:,} tokens the KV cache is a large share of memory; an fp8/q8_0 KV cache halves it "
            f"(max context for {top.model} at {top.precision}: {top.max_context_length:,} tokens)"
        )
    serving = str(tables()["serving_runtime"])
    if req.concurrent_users > 1 and base["runtime"] != serving:
        name = resolve.runtime(serving).profile.name.split(" (")[0]
        out.append(
            f"for several concurrent users, {name}'s paged KV cache serves them from one pool (runtime='{serving}')"
        )
    return out
