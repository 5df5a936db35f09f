"""estimate_memory: the typed tool every adapter (CLI, MCP, LangChain) calls.

Orchestration only: resolve names (resolve.py) -> plan (plan.py) -> arithmetic (sizing.py, the runtime's module)
-> fit (fit.py) and speed (speed.py) -> the result with its assumptions and sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent_tools import explain, fit, sizing, speed
from agent_tools.explain import NOTE_FOR
from agent_tools.gguf_file import GgufInfo
from agent_tools.older_stacks import OlderStackFlags
from agent_tools.plan import Plan, make_plan
from agent_tools.resolve import catalog_architecture
from agent_tools.results import Breakdown, Fit, ModelInfo, PrecisionInfo, RuntimeDetail, Speed
from agent_tools.training import MasterWeights, TrainingStack
from agent_tools.units import GB, MAX_NAME_CHARS, MAX_PARAMS_B, GiB, fmt_bytes

__all__ = [
    "NOTE_FOR",
    "Breakdown",
    "EstimateRequest",
    "EstimateResult",
    "Fit",
    "ModelInfo",
    "PrecisionInfo",
    "QuickEstimate",
    "RuntimeDetail",
    "Speed",
    "catalog_architecture",
    "estimate_memory",
    "quick_estimate",
]

Mode = Literal["inference", "full_finetune", "lora", "qlora"]
Optimizer = Literal["adamw", "adamw_8bit", "sgd"]
LoraTarget = Literal["q", "k", "v", "o", "gate", "up", "down"]
LORA_TARGETS: tuple[LoraTarget, ...] = ("q", "k", "v", "o", "gate", "up", "down")
MAX_CONTEXT = 10_000_000
MAX_BATCH = 100_000


class EstimateRequest(OlderStackFlags):
    """What to size. Give exactly one of `model`, `config` or `params_b`."""

    # Names are short (a 150,000-character GPU name must not reach a parser) and numbers are numbers ("8" is not 8).
    model_config = ConfigDict(extra="forbid", str_max_length=MAX_NAME_CHARS, strict=True)

    model: Annotated[
        str | None,
        Field(description="catalog id, alias or HF repo id, e.g. 'Qwen/Qwen2.5-14B-Instruct', 'llama3 8b'"),
    ] = None
    config: Annotated[dict[str, Any] | None, Field(description="a Hugging Face config.json object")] = None
    params_b: Annotated[
        float | None,
        Field(gt=0, le=MAX_PARAMS_B, description="parameter count in billions, up to 2,000 (no config at hand)"),
    ] = None
    precision: Annotated[str, Field(description="weight format: bf16, fp16, fp8, int8, q4_k_m, awq_int4, ...")] = "bf16"
    kv_cache_precision: Annotated[
        str | None, Field(description="KV-cache format: fp16, bf16, fp8, q8_0, q4_0 (default: fp16/bf16)")
    ] = None
    context_length: Annotated[int, Field(gt=0, le=MAX_CONTEXT, description="tokens per sequence")] = 4096
    prompt_length: Annotated[
        int | None,
        Field(gt=0, le=MAX_CONTEXT, description="tokens prefilled at once (default: the whole context)"),
    ] = None
    batch_size: Annotated[int, Field(gt=0, le=MAX_BATCH, description="concurrent sequences")] = 1
    mode: Annotated[
        Mode, Field(description="inference, or training: full_finetune (AdamW by default), lora, qlora (4-bit base)")
    ] = "inference"
    runtime: Annotated[
        str | None,
        Field(
            description="generic | transformers | vllm | llama.cpp (aliases: ollama, sglang, hf, ...). Not given: "
            "generic on one GPU, vLLM's limits for inference on several GPUs; the result says which was assumed"
        ),
    ] = None
    gpu: Annotated[str | None, Field(description="GPU name or alias, e.g. 'RTX 4090', 'A100 80GB', 'M3 Max 64GB'")] = (
        None
    )
    num_gpus: Annotated[
        int,
        Field(gt=0, le=1024, description="identical GPUs: tensor parallel (vllm/generic), layer split (others)"),
    ] = 1
    vram_gb: Annotated[
        float | None, Field(gt=0, le=100_000, description="GPU memory in GiB when the GPU is not in the catalog")
    ] = None
    bandwidth_gb_s: Annotated[
        float | None,
        Field(gt=0, le=100_000, description="memory bandwidth (GB/s) of a device given by vram_gb, e.g. CPU RAM"),
    ] = None
    # training
    optimizer: Annotated[
        Optimizer,
        Field(description="training: adamw (two fp32 moments, 8 B/param), adamw_8bit (bitsandbytes, 2), sgd (4)"),
    ] = "adamw"
    master_weights: Annotated[
        MasterWeights,
        Field(
            description="full fine-tuning precision: optimizer (bf16 weights and gradients, fp32 master copy in the "
            "optimizer: 16 B/param, DeepSpeed/Megatron), fp32_params (fp32 weights under bf16 autocast, torch AMP: "
            "16 B/param plus bf16 weight copies during the forward pass), none (pure bf16: 8 B/param)"
        ),
    ] = "optimizer"
    stack: Annotated[
        TrainingStack,
        Field(
            description="training software: hf (transformers >= 4.46 + PEFT: fp32 loss over bf16 logits for every "
            "position, 12 B per token x vocabulary entry), hf_legacy (2024 transformers), unsloth (fused "
            "cross-entropy, no logits stored; checkpoints offloaded to CPU RAM)"
        ),
    ] = "hf"
    checkpoint_offload: Annotated[
        bool | None,
        Field(
            description="training: keep checkpointed layer inputs in CPU RAM (Unsloth's "
            "use_gradient_checkpointing='unsloth'); default: on with stack=unsloth"
        ),
    ] = None
    gradient_accumulation_steps: Annotated[
        int, Field(ge=1, le=4096, description="training: micro-batches per step; >1 keeps gradients alive")
    ] = 1
    lora_rank: Annotated[int, Field(gt=0, le=4096, description="LoRA/QLoRA adapter rank r")] = 16
    lora_targets: list[LoraTarget] = Field(
        default_factory=lambda: list(LORA_TARGETS),
        description="projections that get LoRA adapters (default: all linear layers)",
    )
    gradient_checkpointing: Annotated[
        bool, Field(description="training: keep only each layer's input and recompute the rest")
    ] = True
    train_embeddings: Annotated[
        bool, Field(description="LoRA/QLoRA: also train the embedding and output layers (PEFT modules_to_save)")
    ] = False
    zero_stage: Annotated[
        int, Field(ge=0, le=3, description="DeepSpeed ZeRO stage across num_gpus: 1 optimizer, 2 +grads, 3 +weights")
    ] = 0
    # runtime knobs
    cpu_memory: Annotated[
        str | None,
        Field(
            description="system RAM for offloaded layers or a CPU-only run (no gpu): e.g. 'DDR5-6000 dual channel', "
            "'DDR4-3200', 'Raspberry Pi 5', 'EPYC Genoa'; with vram_gb as the RAM the model may use. Default DDR5-5600"
        ),
    ] = None
    reserve_gb: Annotated[
        float | None,
        Field(ge=0, le=1024, description="GiB per GPU kept free for a desktop, display or other programs (default 0)"),
    ] = None
    gpu_memory_utilization: Annotated[
        float | None, Field(gt=0, le=1, description="vLLM: share of GPU memory it pre-allocates (default 0.9)")
    ] = None
    gpu_layers: Annotated[int | None, Field(ge=0, description="llama.cpp layers on the GPU (partial offload)")] = None
    split_mode: Annotated[
        Literal["layer", "row"] | None,
        Field(description="llama.cpp over num_gpus: layer (default, whole layers per GPU) or row (row bands of every "
              "matrix; KV cache and compute buffer on the main GPU)"),
    ] = None  # fmt: skip
    flash_attention: Annotated[
        bool | None, Field(description="override the runtime's flash-attention default (llama.cpp -fa)")
    ] = None
    gguf: Annotated[GgufInfo | None, Field(description="a parsed local GGUF header (CLI: pass a .gguf path)")] = None

    @field_validator("precision", "runtime", "model", "gpu", "kv_cache_precision")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty (give a name, or leave the field out)")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> EstimateRequest:
        given = [k for k in ("model", "config", "params_b", "gguf") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of model (name or HF id), config (config.json object) or params_b"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class EstimateResult(BaseModel):
    model: ModelInfo
    precision: PrecisionInfo
    mode: Mode
    runtime: str
    runtime_assumed: bool = Field(default=False, description="true when the request named no runtime")
    context_length: int
    batch_size: int
    breakdown: Breakdown
    total_bytes: int = Field(description="all GPUs together")
    total_gb: float = Field(description="total_bytes / 10^9")
    total_gib: float = Field(description="total_bytes / 2^30")
    per_gpu_bytes: int
    kv_cache_bytes_per_token: int
    runtime_detail: RuntimeDetail
    fit: Fit | None = None
    speed: Speed | None = None
    warnings: list[str] = Field(default_factory=list)
    assumptions: list[str]
    sources: list[str]

    def summary(self) -> str:
        return f"{self.model.name} {self.precision.id}: {fmt_bytes(self.total_bytes)}"


# ------------------------------------------------------------------------------------------- orchestration


@dataclass(frozen=True)
class QuickEstimate:
    """The few numbers a ranking needs, without fit searches or prose (for recommend/compare loops)."""

    params_total: int
    params_active: int
    total_bytes: int
    per_gpu_bytes: int
    capacity_bytes: int | None
    decode_tokens_per_s: float | None

    @property
    def fits(self) -> bool:
        return self.capacity_bytes is not None and self.per_gpu_bytes <= self.capacity_bytes

    @property
    def headroom_bytes(self) -> int:
        return (self.capacity_bytes or 0) - self.per_gpu_bytes


def quick_estimate(request: EstimateRequest | None = None, /, **kwargs: Any) -> QuickEstimate:
    req = request if request is not None else EstimateRequest(**kwargs)
    plan = make_plan(req, [], [])
    breakdown, _detail, per_gpu, _ = sizing.components(plan, req.context_length, req.batch_size)
    total = sum(breakdown.model_dump().values())
    kv_seq = sizing.kv_bytes_per_sequence(plan, req.context_length)
    sp = speed.decode_speed(plan, req.context_length, req.batch_size, kv_seq) if req.mode == "inference" else None
    arch = plan.subject.arch
    decode = sp.decode_tokens_per_s if sp else None
    return QuickEstimate(arch.params_total, arch.params_active, total, per_gpu, fit.capacity(plan), decode)


def estimate_memory(request: EstimateRequest | None = None, /, **kwargs: Any) -> EstimateResult:
    """Size a model: weights + KV cache + activations + runtime overhead (+ training states), fit and speed.

    Call as estimate_memory(EstimateRequest(...)) or estimate_memory(model=..., precision=..., ...).
    Raises VramwiseError (a ValueError) for bad input, naming the value and what is accepted.
    """
    req = request if request is not None else EstimateRequest(**kwargs)
    assumptions: list[str] = []
    warnings: list[str] = []
    plan = make_plan(req, assumptions, warnings)
    subject, arch, runtime = plan.subject, plan.subject.arch, plan.runtime
    context, batch = req.context_length, req.batch_size
    breakdown, detail, per_gpu, kv_per_token = sizing.components(plan, context, batch)
    total = runtime.reported_total(sum(breakdown.model_dump().values()), detail)
    if subject.max_context and context > subject.max_context:
        warnings.append(
            f"context_length {context} exceeds {subject.name}'s maximum of {subject.max_context} tokens "
            "(max_position_embeddings); quality degrades or the runtime refuses without rope scaling"
        )
    result_fit = _fit(plan, per_gpu, detail, assumptions, warnings)
    kv_seq = sizing.kv_bytes_per_sequence(plan, context)
    fits = result_fit.fits if result_fit is not None else None
    result_speed = (
        speed.as_run(plan, context, batch, kv_seq, fits, detail, warnings) if req.mode == "inference" else None
    )
    detail.launch_flags = runtime.launch_flags(plan, detail)
    assumptions += explain.assumptions(plan)
    return EstimateResult(
        model=explain.model_info(plan),
        precision=PrecisionInfo(
            id=plan.fmt.id if not subject.file_format else subject.file_format.lower(),
            name=plan.fmt.name if not subject.file_format else f"GGUF file ({subject.file_format})",
            bits_per_weight=round(plan.weights.bits_per_weight(arch.params_total), 4),
            kv_cache=plan.kv_name,
        ),
        mode=req.mode,
        runtime=runtime.id,
        runtime_assumed=plan.runtime_assumed,
        context_length=context,
        batch_size=batch,
        breakdown=breakdown,
        total_bytes=total,
        total_gb=round(total / GB, 3),
        total_gib=round(total / GiB, 3),
        per_gpu_bytes=per_gpu,
        kv_cache_bytes_per_token=kv_per_token,
        runtime_detail=detail,
        fit=result_fit,
        speed=result_speed,
        warnings=warnings,
        assumptions=assumptions,
        sources=explain.sources(plan),
    )


def _fit(plan: Plan, per_gpu: int, detail: RuntimeDetail, assumptions: list[str], warnings: list[str]) -> Fit | None:
    req, device, subject = plan.req, plan.device, plan.subject
    usable = fit.capacity(plan)
    if usable is None or device is None or plan.gpu_memory is None:
        return None
    headroom = usable - per_gpu
    margin = plan.runtime.fit_margin(plan)
    # without a known maximum (params_b only), search up to 1M tokens
    upper = max(req.context_length, subject.max_context or 1_048_576)
    max_ctx = fit.max_context(plan, req.batch_size, upper)
    max_batch = fit.max_batch(plan, req.context_length)
    if plan.runtime.offloads_layers and headroom < 0 and req.mode == "inference":
        detail.gpu_layers_that_fit = fit.gpu_layers_that_fit(plan, req.context_length, req.batch_size, usable)
    fits = headroom >= 0
    entry = device.entry
    result = Fit(
        gpu=device.name,
        num_gpus=req.num_gpus,
        memory_bytes=plan.gpu_memory,
        usable_bytes=usable,
        required_bytes=per_gpu,
        fits=fits,
        level=fit.level(headroom, margin),
        margin_bytes=margin,
        headroom_bytes=headroom,
        max_context_length=max_ctx,
        max_batch_size=max_batch,
        verdict=fit.verdict(per_gpu, usable, req.num_gpus, device.name, plan.runtime.profile, margin),
    )
    if entry and entry.gpu_usable_fraction:
        assumptions.append(
            f"{entry.name}: the GPU may use {entry.gpu_usable_fraction:.0%} of unified memory "
            "(Metal recommendedMaxWorkingSetSize)"
        )
    if plan.fmt.id.startswith("fp8") and entry and not entry.fp8:
        warnings.append(f"{entry.name} has no FP8 tensor cores: FP8 weights run as weight-only (slower) or not at all")
    if plan.fmt.id == "bf16" and entry and not entry.bf16:
        warnings.append(f"{entry.name} has no BF16 support: use fp16")
    return result
