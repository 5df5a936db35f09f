"""The pieces of an estimate's result that the arithmetic fills in (breakdown, runtime detail, fit, speed).

Kept apart from estimate.py so the runtime modules and fit/speed can build them without importing the tool.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Breakdown(BaseModel):
    weights_bytes: int = 0
    kv_cache_bytes: int = 0
    activations_bytes: int = 0
    overhead_bytes: int = 0
    gradients_bytes: int = 0
    optimizer_bytes: int = 0
    adapter_bytes: int = 0


class Fit(BaseModel):
    gpu: str
    num_gpus: int
    memory_bytes: int = Field(description="per GPU, as the driver reports it (or the marketed size)")
    usable_bytes: int = Field(description="per GPU, what this runtime can use")
    required_bytes: int = Field(description="per GPU")
    fits: bool
    level: Literal["fits", "tight", "does_not_fit"] = Field(
        description="fits with at least margin_bytes to spare, tight (fits with less), or does not fit"
    )
    margin_bytes: int = Field(description="per GPU: headroom under this is 'tight' (the runtime's own safety margin)")
    headroom_bytes: int = Field(description="usable - required, per GPU (negative: short by that much)")
    max_context_length: int = Field(description="largest context that fits at this batch size (0: none)")
    max_batch_size: int = Field(description="largest batch that fits at this context (0: none)")
    verdict: str


class Speed(BaseModel):
    decode_tokens_per_s: float = Field(description="per sequence, at this context and batch")
    aggregate_decode_tokens_per_s: float = Field(description="all sequences of the batch together")
    prefill_tokens_per_s: float
    bound: str = Field(description="what limits decode: memory bandwidth or compute")
    bytes_read_per_token: int
    efficiency: float
    source: str
    decode_tokens_per_s_low: float | None = Field(
        default=None, description="low end of the range: 10th percentile of measured/predicted on held-out rows"
    )
    decode_tokens_per_s_high: float | None = Field(default=None, description="high end of the range (90th percentile)")
    fixed_time_share: float | None = Field(
        default=None, description="share of the step spent in fixed per-token and per-layer costs, not bytes"
    )
    memory_class: str | None = Field(default=None, description="hbm | gddr | unified: picks the efficiency")
    split: str | None = Field(default=None, description="none | layers (pipeline) | tensor (tensor parallel)")
    serving_tokens_per_s: float | None = Field(
        default=None,
        description="serving runtimes: decode tokens/s of all sequences together with the KV pool full "
        "(runtime_detail.max_concurrency sequences of this context)",
    )


class RuntimeDetail(BaseModel):
    runtime: str
    gpu_memory_utilization: float | None = None
    preallocated_bytes: int | None = Field(default=None, description="vLLM: what it reserves at start-up")
    kv_pool_bytes: int | None = None
    kv_pool_tokens: int | None = None
    max_concurrency: float | None = Field(default=None, description="vLLM: sequences of this context the pool holds")
    model_buffer_bytes: int | None = None
    compute_buffer_bytes: int | None = None
    cpu_ram_bytes: int | None = Field(default=None, description="llama.cpp: weights kept in system RAM")
    gpu_layers: int | None = None
    gpu_layers_that_fit: int | None = None
    launch_flags: str | None = Field(default=None, description="runtime flags matching this estimate")


class ModelInfo(BaseModel):
    id: str
    name: str
    requested: str | None = Field(default=None, description="the model name as the request gave it")
    resolved_from: str | None = Field(
        default=None,
        description="set when what was sized is not literally what was named: the catalog stand-in, the Hub repo "
        "(and revision), or the local file it was read from",
    )
    params_total: int
    params_active: int
    params_published: int | None = None
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    max_context_length: int | None
    attention: str = Field(description="e.g. 'GQA 32q/8kv', 'MLA', '5 sliding : 1 full'")
    is_moe: bool
    source: str | None = None


class PrecisionInfo(BaseModel):
    id: str
    name: str
    bits_per_weight: float = Field(description="whole-model bits per weight, scales and kept tensors included")
    kv_cache: str
