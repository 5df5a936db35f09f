"""Catalog listings as typed rows (for `vramwise models|gpus|formats`, MCP resources and the help desk)."""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel

from agent_tools import catalog, memory
from agent_tools.resolve import catalog_architecture
from agent_tools.weights import weight_breakdown


class ModelRow(BaseModel):
    id: str
    name: str
    family: str
    params_total: int
    params_active: int
    layers: int
    max_context_length: int | None
    kv_bytes_per_token_bf16: int
    weights_bf16_bytes: int
    weights_q4_k_m_bytes: int
    license: str | None
    commercial_use: bool | None
    tasks: list[str]
    legacy: bool
    aliases: list[str]


class GpuRow(BaseModel):
    id: str
    name: str
    vendor: str
    segment: str
    memory_bytes: int
    memory_gib: float
    gpu_usable_bytes: int
    bandwidth_gb_s: float
    fp16_tflops: float | None
    aliases: list[str]


class FormatRow(BaseModel):
    id: str
    name: str
    kind: str
    nominal_bits_per_weight: float
    runtimes: list[str]
    aliases: list[str]


@cache
def _model_rows() -> tuple[ModelRow, ...]:
    formats = catalog.formats_file()
    bf16 = catalog.resolve_format("bf16")
    q4 = catalog.resolve_format("q4_k_m")
    kv_bf16 = formats.kv_cache_formats["bf16"]
    rows = []
    for m in catalog.list_models():
        a = catalog_architecture(m.id)
        rows.append(
            ModelRow(
                id=m.id,
                name=m.name,
                family=m.family,
                params_total=a.params_total,
                params_active=a.params_active,
                layers=a.num_layers,
                max_context_length=a.max_position_embeddings,
                kv_bytes_per_token_bf16=memory.kv_bytes_per_token_full(a, kv_bf16),
                weights_bf16_bytes=weight_breakdown(a, bf16, formats).total_bytes,
                weights_q4_k_m_bytes=weight_breakdown(a, q4, formats).total_bytes,
                license=m.license,
                commercial_use=m.commercial_use,
                tasks=list(m.tasks),
                legacy=m.legacy,
                aliases=list(m.aliases),
            )
        )
    return tuple(rows)


def list_model_rows(family: str | None = None, include_legacy: bool = False) -> list[ModelRow]:
    rows = [r for r in _model_rows() if include_legacy or not r.legacy]
    if family:
        key = catalog.normalize(family)
        rows = [r for r in rows if catalog.normalize(r.family).startswith(key)]
        if not rows:
            families = sorted({r.family for r in _model_rows()})
            raise catalog.unknown_name("model family", family, families, f"families: {', '.join(families)}")
    return rows


def list_gpu_rows(vendor: str | None = None) -> list[GpuRow]:
    rows = [
        GpuRow(
            id=g.id,
            name=g.name,
            vendor=g.vendor,
            segment=g.segment,
            memory_bytes=g.memory_bytes,
            memory_gib=round(g.memory_bytes / 2**30, 2),
            gpu_usable_bytes=int(g.memory_bytes * (g.gpu_usable_fraction or 1.0)),
            bandwidth_gb_s=g.bandwidth_gb_s,
            fp16_tflops=g.fp16_tflops,
            aliases=list(g.aliases),
        )
        for g in catalog.list_gpus()
    ]
    if vendor:
        vendors = sorted({r.vendor for r in rows})
        match = [v for v in vendors if v.lower() == vendor.strip().lower()]
        if not match:
            raise catalog.unknown_name("vendor", vendor, vendors, f"vendors: {', '.join(vendors)}")
        rows = [r for r in rows if r.vendor == match[0]]
    return rows


def list_format_rows() -> list[FormatRow]:
    formats = catalog.formats_file()
    rows = []
    for f in formats.formats:
        if f.kind == "gguf":
            assert f.base is not None
            bpw = formats.ggml_types[f.base].bits_per_weight
        else:
            bpw = (f.bits or 16) + f.scale_bits_per_weight
        rows.append(
            FormatRow(
                id=f.id,
                name=f.name,
                kind=f.kind,
                nominal_bits_per_weight=round(bpw, 4),
                runtimes=list(f.runtimes),
                aliases=list(f.aliases),
            )
        )
    return rows
