"""Schemas of the catalog data files (agent_tools/data/*.yaml): what a row may hold, validated on load."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Source = str  # a URL or a paper reference


def _nonempty_sources(value: list[str]) -> list[str]:
    if not value or not all(s.strip() for s in value):
        raise ValueError("every row needs at least one non-empty source (URL or paper)")
    return value


class PublishedParams(_Row):
    """A parameter count as its publisher states it (model card, paper, safetensors index)."""

    total: int = Field(gt=0, description="total parameters, exact where published")
    active: int | None = Field(default=None, gt=0, description="parameters used per token (MoE)")
    source: Source


class ModelEntry(_Row):
    """One open LLM: its config.json architecture fields, names people use for it, and where they came from."""

    id: str = Field(description="Hugging Face repo id, e.g. Qwen/Qwen2.5-7B-Instruct")
    name: str = Field(description="display name, e.g. 'Qwen2.5 7B Instruct'")
    family: str = Field(description="family id, e.g. 'qwen2.5'")
    aliases: list[str] = Field(default_factory=list)
    released: str | None = Field(default=None, description="YYYY-MM")
    license: str | None = None
    commercial_use: bool | None = None
    legacy: bool = Field(default=False, description="kept for reference measurements; never recommended")
    tasks: list[str] = Field(default_factory=list, description="what the model is good at (chat, code, ...)")
    config: dict[str, Any] = Field(description="config.json fields that define the architecture")
    params_published: PublishedParams | None = None
    sources: list[Source]
    notes: str | None = None

    _check_sources = field_validator("sources")(_nonempty_sources)


class GpuEntry(_Row):
    """One accelerator. Memory is in exact bytes: as the driver reports it where known, else the marketed size."""

    id: str
    name: str
    vendor: Literal["NVIDIA", "AMD", "Apple", "Intel"]
    segment: Literal["consumer", "laptop", "workstation", "datacenter", "apple", "edge", "apu"]
    form_factor: str | None = Field(default=None, description="e.g. PCIe, SXM5, OAM, module, board of 4 GPUs")
    memory_bytes: int = Field(gt=0)
    memory_basis: Literal["driver_reported", "marketed_binary", "marketed_decimal", "unified_ram"]
    memory_marketed_gb: float = Field(gt=0, description="what the box says (usually GiB printed as GB)")
    gpu_usable_fraction: float | None = Field(
        default=None, gt=0, le=1, description="unified memory: share of RAM the GPU may use (Metal working set)"
    )
    bandwidth_gb_s: float = Field(gt=0, description="peak memory bandwidth, decimal GB/s")
    fp16_tflops: float | None = Field(default=None, gt=0, description="dense FP16/BF16 tensor TFLOPS, FP32 accum")
    fp16_tflops_basis: Literal["published", "derived", "shader_fp16", "shader_fp32"] | None = Field(
        default=None, description="where fp16_tflops comes from (see the conventions at the top of gpus.yaml)"
    )
    fp8: bool = False
    bf16: bool = True
    aliases: list[str] = Field(default_factory=list)
    sources: list[Source]
    notes: str | None = None

    _check_sources = field_validator("sources")(_nonempty_sources)


class CpuMemoryEntry(_Row):
    """System RAM a CPU reads weights from in CPU-only inference: theoretical peak bandwidth of its channels."""

    id: str
    name: str
    memory_type: str = Field(description="e.g. DDR5-5600, LPDDR5X-8533")
    channels: int = Field(gt=0, description="as marketed: 64-bit DDR channels; LPDDR: 64-bit equivalent, at least 1")
    bus_width_bits: int = Field(gt=0, description="total data bus width")
    transfer_rate_mt_s: int = Field(gt=0, description="mega-transfers per second per pin")
    bandwidth_gb_s: float = Field(gt=0, description="theoretical peak = bus_width_bits / 8 x MT/s / 1000, decimal GB/s")
    typical_capacity_gb: list[int] = Field(default_factory=list, description="common installed sizes, GiB")
    aliases: list[str] = Field(default_factory=list)
    sources: list[Source]
    notes: str | None = None

    _check_sources = field_validator("sources")(_nonempty_sources)


class BenchmarkScore(_Row):
    benchmark: str = Field(description="e.g. MMLU, MMLU-Pro, HumanEval, GSM8K, MATH, C-Eval, CMMLU")
    score: float = Field(ge=0, le=100)
    setting: str | None = Field(default=None, description="shots / variant as published, e.g. '5-shot'")
    source: Source


class QualityEntry(_Row):
    """Published benchmark scores of one catalog model."""

    model: str = Field(description="catalog model id")
    scores: list[BenchmarkScore]


class GgmlType(_Row):
    block_elements: int = Field(gt=0)
    block_bytes: int = Field(gt=0)

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.block_bytes / self.block_elements


class RecipeRule(_Row):
    """llama.cpp per-tensor override: tensors of `tensor` class(es) in the selected layers get `type`."""

    tensor: str | list[str]
    type: str
    layers: str = "all"
    when: Literal["n_expert_eq_8", "n_gqa_ge_4", "dense_80_layers", "tied"] | None = None

    @property
    def tensors(self) -> tuple[str, ...]:
        return (self.tensor,) if isinstance(self.tensor, str) else tuple(self.tensor)


class FormatEntry(_Row):
    """A weight format and how a whole model is stored in it."""

    id: str
    name: str
    kind: Literal["float", "gguf", "linear"]
    bits: float | None = None
    scale_bits_per_weight: float = 0.0
    scale_bits_per_row: float = 0.0
    keep_bits: int = 16
    experts_only: bool = False
    base: str | None = None
    rules: list[RecipeRule] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list)
    runtimes: list[str]
    sources: list[str]

    _check_sources = field_validator("sources")(_nonempty_sources)


class KvFormatEntry(_Row):
    block_elements: int = Field(gt=0)
    block_bytes: int = Field(gt=0)
    aliases: list[str] = Field(default_factory=list)
    source: str


class FormatsFile(_Row):
    sources: dict[str, str]
    ggml_types: dict[str, GgmlType]
    ggml_fallback: dict[str, str]
    formats: list[FormatEntry]
    kv_cache_formats: dict[str, KvFormatEntry]


class FormatQuality(_Row):
    """The published quality cost of storing weights in one format."""

    format: str
    level: Literal["lossless", "negligible", "small", "noticeable", "severe"]
    ppl_delta: float | None = None
    ppl_reference: str | None = None
    kld: float | None = None
    evidence: str
    sources: list[Source]

    _check_sources = field_validator("sources")(_nonempty_sources)


class Finding(_Row):
    id: str
    finding: str
    sources: list[Source]

    _check_sources = field_validator("sources")(_nonempty_sources)


class FormatQualityFile(_Row):
    formats: list[FormatQuality]
    kv_cache: list[FormatQuality] = Field(default_factory=list, description="KV-cache precisions, same levels")
    findings: list[Finding]


class RuntimeProfile(_Row):
    """One runtime's memory and speed constants (data/runtimes.yaml); its behaviour is agent_tools/runtimes/<id>."""

    id: str
    name: str
    aliases: list[str] = Field(default_factory=list, description="what people type: ollama, hf, sglang, ...")
    context_bytes: int = Field(ge=0, description="CUDA/Metal context and library workspaces outside the allocator")
    fit_margin_bytes: int = Field(ge=0, description="memory the runtime leaves free when it decides what fits")
    decode_efficiency: float = Field(gt=0, le=1)
    prefill_efficiency: float = Field(gt=0, le=1)
    format_decode_efficiency: dict[str, float] = Field(
        default_factory=dict, description="decode efficiency of specific weight formats (their kernels)"
    )
    moe_expert_overhead_us: float = Field(
        default=0.0, ge=0, description="per expert per MoE layer per decode step (runtimes that loop over experts)"
    )
    multi_gpu_layer_sync_us: float = Field(
        default=0.0, ge=0, description="per layer per decode step when layers are split across GPUs"
    )
    kv_traffic_factor: float = Field(
        default=1.0, ge=1, description="KV bytes moved per decode step / KV bytes (3 when the cache is re-concatenated)"
    )
    decode_attention_ns_per_layer_token: float = Field(
        default=0.0, ge=0, description="attention kernel time per layer per cached token beyond the bytes it reads"
    )
    attention_cost_only_without_flash: bool = Field(
        default=False, description="the attention term was measured without flash attention and applies only then"
    )
    decode_layer_overhead_us: float = Field(
        default=0.0, ge=0, description="fixed time per layer per decode step (kernel launches, Python dispatch)"
    )
    gpu_memory_utilization: float | None = None
    max_num_batched_tokens: int | None = None
    cuda_graph_bytes: int = 0
    n_ubatch: int | None = None
    flash_attention: bool = True
    allocator_reserve_fraction: float = Field(
        default=0.0, ge=0, lt=1, description="share of memory lost to allocator fragmentation when judging fit"
    )
    sources: dict[str, str]
