"""estimate_memory: the typed tool every adapter (CLI, MCP, LangChain) calls.

Resolves names, builds the breakdown in integer bytes, checks the fit on a GPU and estimates speed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent_tools import catalog, memory
from agent_tools.architecture import Architecture, parse_config
from agent_tools.errors import VramwiseError
from agent_tools.gguf_file import GgufInfo
from agent_tools.schemas import FormatEntry, GpuEntry, KvFormatEntry
from agent_tools.units import GB, GiB, fmt_bytes
from agent_tools.weights import WeightBreakdown, weight_breakdown

Mode = Literal["inference", "full_finetune", "lora", "qlora"]
Optimizer = Literal["adamw", "adamw_8bit", "sgd"]
MAX_CONTEXT = 10_000_000
MAX_BATCH = 100_000

# Note ids in knowledge/notes that explain each term; results cite them so answers can quote a passage.
NOTE_FOR = {
    "weights": "note:weight-memory",
    "kv_cache": "note:kv-cache",
    "activations": "note:inference-memory-budget",
    "overhead": "note:inference-memory-budget",
    "training": "note:training-memory",
    "fit": "note:gpu-fit-and-headroom",
    "speed": "note:speed-and-bandwidth",
    "units": "note:gb-vs-gib",
    "moe": "note:moe-total-vs-active",
    "multi_gpu": "note:multi-gpu-offload-unified-memory",
    "context": "note:context-length-costs",
}


class EstimateRequest(BaseModel):
    """What to size. Give exactly one of `model`, `config` or `params_b`."""

    model_config = ConfigDict(extra="forbid")

    model: Annotated[
        str | None,
        Field(description="catalog id, alias or HF repo id, e.g. 'Qwen/Qwen2.5-14B-Instruct', 'llama3 8b'"),
    ] = None
    config: Annotated[dict[str, Any] | None, Field(description="a Hugging Face config.json object")] = None
    params_b: Annotated[
        float | None, Field(gt=0, le=100_000, description="parameter count in billions (no config at hand)")
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
    runtime: Annotated[str, Field(description="generic | transformers | vllm | llama.cpp")] = "generic"
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
        Optimizer, Field(description="training: adamw (mixed precision, 12 B/param), adamw_8bit (6), sgd (8)")
    ] = "adamw"
    lora_rank: Annotated[int, Field(gt=0, le=4096, description="LoRA/QLoRA adapter rank r")] = 16
    lora_targets: list[Literal["q", "k", "v", "o", "gate", "up", "down"]] = Field(
        default_factory=lambda: ["q", "k", "v", "o", "gate", "up", "down"],
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
    gpu_memory_utilization: Annotated[
        float | None, Field(gt=0, le=1, description="vLLM: share of GPU memory it pre-allocates (default 0.9)")
    ] = None
    gpu_layers: Annotated[int | None, Field(ge=0, description="llama.cpp layers on the GPU (partial offload)")] = None
    flash_attention: Annotated[
        bool | None, Field(description="override the runtime's flash-attention default (llama.cpp -fa)")
    ] = None
    gguf: Annotated[GgufInfo | None, Field(description="a parsed local GGUF header (CLI: pass a .gguf path)")] = None
    legacy_kv_cache: Annotated[
        bool, Field(description="old remote-code models keep the previous past_key_values tuple: KV peaks at 2x")
    ] = False
    full_prompt_logits: Annotated[
        bool, Field(description="transformers < 4.45 materialised fp32 logits for the whole prompt")
    ] = False

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


class ModelInfo(BaseModel):
    id: str
    name: str
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


class EstimateResult(BaseModel):
    model: ModelInfo
    precision: PrecisionInfo
    mode: Mode
    runtime: str
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


# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subject:
    id: str
    name: str
    arch: Architecture
    published: int | None
    source: str | None
    max_context: int | None
    assumptions: tuple[str, ...] = ()
    exact_weights: WeightBreakdown | None = None
    exact_params: int | None = None
    file_format: str | None = None
    from_catalog: bool = False


def _subject(req: EstimateRequest) -> _Subject:
    if req.model is not None:
        entry = catalog.resolve_model(req.model)
        arch = catalog_architecture(entry.id)
        published = entry.params_published.total if entry.params_published else None
        return _Subject(
            entry.id, entry.name, arch, published, entry.sources[0], arch.max_position_embeddings, from_catalog=True
        )
    if req.config is not None:
        arch = parse_config(req.config)
        name = str(req.config.get("_name_or_path") or req.config.get("model_type") or "custom config")
        return _Subject(name, name, arch, None, "config.json (given)", arch.max_position_embeddings, arch.notes)
    if req.gguf is not None:
        info = req.gguf
        arch = parse_config(info.config)
        t = info.tensors
        weights = WeightBreakdown(
            t.total_bytes, dict(t.bytes_by_type), t.token_embd_bytes, t.output_bytes, t.expert_bytes
        )
        note = f"weights: exact tensor sizes read from {info.path} ({t.tensor_count} tensors)"
        return _Subject(
            info.name,
            info.name,
            arch,
            t.params,
            info.path,
            arch.max_position_embeddings,
            (note,),
            weights,
            t.params,
            info.file_type,
        )
    assert req.params_b is not None
    return _params_only_subject(req.params_b)


def _params_only_subject(params_b: float) -> _Subject:
    """No config: borrow the shape of the nearest dense catalog model and scale its layer count."""
    target = params_b * 1e9
    best = None
    for entry in catalog.list_models():
        if entry.legacy:
            continue
        arch = catalog_architecture(entry.id)
        if arch.is_moe or arch.is_mla:
            continue
        gap = abs(arch.params_total - target) / target
        if best is None or gap < best[0]:
            best = (gap, entry, arch)
    assert best is not None
    _, entry, arch = best
    per_layer = (arch.params_total - arch.vocab_size * arch.hidden_size * (1 if arch.tied_embeddings else 2)) / (
        arch.num_layers
    )
    embed = arch.vocab_size * arch.hidden_size * (1 if arch.tied_embeddings else 2)
    layers = max(1, round((target - embed) / per_layer)) if target > embed else 1
    cfg = dict(parse_source_config(entry.config))
    cfg["num_hidden_layers"] = layers
    cfg.pop("layer_types", None)
    scaled = parse_config(cfg)
    note = (
        f"only a parameter count was given: shape (hidden {arch.hidden_size}, {arch.num_kv_heads} KV heads x "
        f"{arch.head_dim}) borrowed from {entry.id}, layers scaled to {layers} to reach {params_b:g}B; "
        "KV cache is approximate — pass model= or config= for exact figures"
    )
    return _Subject(f"{params_b:g}B", f"{params_b:g}B model", scaled, int(target), None, None, (note,))


@cache
def catalog_architecture(model_id: str) -> Architecture:
    """Parsed architecture of a catalog model (parsed once per process)."""
    return parse_config(catalog.resolve_model(model_id).config)


@cache
def _catalog_weights(model_id: str, format_id: str) -> WeightBreakdown:
    return weight_breakdown(catalog_architecture(model_id), catalog.resolve_format(format_id), catalog.formats_file())


def _weights(subject: _Subject, arch: Architecture, fmt: FormatEntry) -> WeightBreakdown:
    if subject.from_catalog:
        return _catalog_weights(subject.id, fmt.id)
    return weight_breakdown(arch, fmt, catalog.formats_file())


def _known_formats() -> set[str]:
    return {f.id for f in catalog.list_formats()}


def parse_source_config(config: dict[str, Any]) -> dict[str, Any]:
    from agent_tools.architecture import text_config

    return text_config(config)


def _attention_label(arch: Architecture) -> str:
    if arch.is_mla:
        return f"MLA (latent {arch.kv_lora_rank} + rope {arch.qk_rope_head_dim})"
    kind = "MHA" if arch.num_kv_heads == arch.num_heads else ("MQA" if arch.num_kv_heads == 1 else "GQA")
    label = f"{kind} {arch.num_heads}q/{arch.num_kv_heads}kv"
    layout = arch.kv_layout
    if layout.sliding_layers:
        windows = ",".join(str(w) for w in layout.sliding_values)
        label += f", {layout.sliding_layers} sliding (window {windows}) : {layout.full_layers} full layers"
    return label


def _default_kv(fmt: FormatEntry, runtime: str) -> str:
    if runtime == "llama.cpp":
        return "fp16"
    return "fp16" if fmt.id == "fp16" else "bf16"


def _effective_format(req: EstimateRequest, fmt: FormatEntry, assumptions: list[str]) -> FormatEntry:
    if req.mode == "qlora" and not (fmt.kind == "linear" and (fmt.bits or 16) <= 4):
        assumptions.append("QLoRA: base weights in bitsandbytes NF4 with double quantization (QLoRA default)")
        return catalog.resolve_format("bnb_nf4_dq")
    if req.mode in ("full_finetune",) and fmt.kind != "float":
        raise VramwiseError(
            f"full fine-tuning needs a float precision, not {fmt.id!r}; accepted: bf16, fp16, fp32 "
            "(use mode='qlora' to train adapters on a 4-bit base)",
            value=fmt.id,
            accepted=["bf16", "fp16", "fp32"],
        )
    return fmt


@dataclass
class _Plan:
    """Everything that does not change with context/batch, computed once per request."""

    req: EstimateRequest
    subject: _Subject
    fmt: FormatEntry
    kv_name: str
    kv_fmt: KvFormatEntry
    runtime: catalog.RuntimeProfile
    weights: WeightBreakdown
    gpu: GpuEntry | None
    gpu_memory: int | None
    flash_attention: bool
    tp: int

    @property
    def unified_memory(self) -> bool:
        return self.gpu is not None and self.gpu.memory_basis == "unified_ram"

    @property
    def layer_split(self) -> int:
        """GPUs that each hold a slice of the layers (transformers device_map, llama.cpp split)."""
        if self.req.mode == "inference" and self.req.num_gpus > 1 and self.runtime.id in ("transformers", "llama.cpp"):
            return self.req.num_gpus
        return 1


def _per_gpu_weights(plan: _Plan) -> tuple[int, int]:
    """(weights on each GPU, weights in CPU RAM)."""
    w = plan.weights
    req = plan.req
    cpu = 0
    gpu_total = w.total_bytes
    if plan.runtime.id == "llama.cpp" and not plan.unified_memory:
        # token_embd stays in host memory; tied models get a GPU copy for the output projection.
        # (On unified memory the whole mapped file is one Metal buffer, embeddings included.)
        cpu += w.token_embd_bytes
        gpu_total -= 0 if plan.subject.arch.tied_embeddings else w.token_embd_bytes
        if req.gpu_layers is not None and req.gpu_layers < plan.subject.arch.num_layers:
            layers = plan.subject.arch.num_layers
            block = gpu_total - w.output_bytes
            on_gpu = block * req.gpu_layers // layers
            cpu += block - on_gpu
            gpu_total = on_gpu + w.output_bytes
    if req.mode in ("full_finetune", "lora", "qlora") and req.zero_stage == 3:
        return -(-gpu_total // req.num_gpus), cpu
    if plan.tp > 1:
        return -(-gpu_total // plan.tp), cpu
    if plan.layer_split > 1:
        return -(-gpu_total // plan.layer_split), cpu
    return gpu_total, cpu


def _components(plan: _Plan, context: int, batch: int) -> tuple[Breakdown, RuntimeDetail, int, int]:
    """Breakdown for all GPUs, runtime detail, per-GPU required bytes, KV bytes per token."""
    req, arch, rt = plan.req, plan.subject.arch, plan.runtime
    n = req.num_gpus
    weights_per_gpu, cpu_ram = _per_gpu_weights(plan)
    layer_fraction = 1.0
    if rt.id == "llama.cpp" and req.gpu_layers is not None:
        layer_fraction = min(1.0, req.gpu_layers / arch.num_layers)
    detail = RuntimeDetail(runtime=rt.id)
    sliding_extra = (rt.n_ubatch or 0) if rt.id == "llama.cpp" else 0
    if rt.id == "vllm":
        sliding_extra = rt.max_num_batched_tokens or 0
    kv = memory.kv_cache(
        arch,
        context,
        batch,
        plan.kv_fmt,
        kv_head_shards=plan.tp,
        sliding_extra_tokens=sliding_extra,
        layer_fraction=layer_fraction,
    )
    kv_per_gpu = kv.bytes
    kv_all = kv.bytes * plan.tp if plan.tp > 1 else kv.bytes
    overhead_per_gpu = memory.runtime_overhead(rt)
    grads = opt = adapter = 0

    if req.mode == "inference":
        if rt.id == "llama.cpp":
            act = layer_peak = memory.llama_cpp_compute_buffer(
                arch, context, rt.n_ubatch or 512, flash_attention=plan.flash_attention
            )
            detail.model_buffer_bytes = weights_per_gpu
            detail.compute_buffer_bytes = act
            detail.cpu_ram_bytes = cpu_ram
            detail.gpu_layers = req.gpu_layers if req.gpu_layers is not None else arch.num_layers
        elif rt.id == "vllm":
            tokens = min(rt.max_num_batched_tokens or 8192, context * batch)
            layer_peak, head_peak = memory.forward_transient_bytes(
                arch, tokens, flash_attention=True, logits_tokens=min(batch, 256)
            )
            act = max(layer_peak, head_peak) // plan.tp
        else:
            prompt = min(context, req.prompt_length or context)
            tokens = prompt * batch if rt.id == "transformers" else min(prompt, 2048) * batch
            logits_tokens = tokens if req.full_prompt_logits else batch
            layer_peak, head_peak = memory.forward_transient_bytes(
                arch, tokens, flash_attention=plan.flash_attention, logits_tokens=logits_tokens
            )
            act = max(layer_peak, head_peak) // plan.tp
        split = plan.layer_split
        if req.legacy_kv_cache:
            act += kv_per_gpu // split  # the old cache tuple is still referenced while the new one is built
        per_gpu = weights_per_gpu + -(-kv_per_gpu // split) + act + overhead_per_gpu
        # Layer split: every GPU holds its layers' transient, only the last one the output head.
        act_all = act * n if split == 1 else (split - 1) * min(act, layer_peak) + act
        breakdown = Breakdown(
            weights_bytes=weights_per_gpu * n if (plan.tp > 1 or split > 1) else weights_per_gpu,
            kv_cache_bytes=kv_all,
            activations_bytes=act_all,
            overhead_bytes=overhead_per_gpu * n,
        )
        if rt.id == "vllm" and plan.gpu_memory is not None:
            util = req.gpu_memory_utilization or rt.gpu_memory_utilization or 0.9
            reserved = int(plan.gpu_memory * util)
            pool = reserved - (weights_per_gpu + act + overhead_per_gpu)
            per_token = max(1, kv_per_gpu // max(1, context * batch))
            detail.gpu_memory_utilization = util
            detail.preallocated_bytes = reserved * n
            detail.kv_pool_bytes = max(0, pool) * (n if plan.tp > 1 else 1)
            detail.kv_pool_tokens = max(0, pool) // per_token
            per_seq = memory.kv_cache(
                arch, context, 1, plan.kv_fmt, kv_head_shards=plan.tp, sliding_extra_tokens=sliding_extra
            ).bytes
            detail.max_concurrency = round(max(0, pool) / per_seq, 2) if per_seq else None
        return breakdown, detail, per_gpu, kv.bytes_per_token

    # training
    states = memory.training_states(
        arch, req.mode, req.optimizer, req.lora_rank, list(req.lora_targets), req.train_embeddings
    )
    act = memory.training_activations(
        arch,
        context,
        batch,
        gradient_checkpointing=req.gradient_checkpointing,
        lora_rank=req.lora_rank if req.mode != "full_finetune" else 0,
    )
    grads, opt, adapter = states.gradients_bytes, states.optimizer_bytes, states.adapter_bytes
    if req.zero_stage >= 1:
        opt = -(-opt // n)
    if req.zero_stage >= 2 and req.mode == "full_finetune":
        # DeepSpeed ZeRO-2/3 keep the bf16 gradients for the backward pass plus an fp32 gradient partition:
        # its estimator counts 2P + 18P/N per GPU = params 2P + (fp16 grads 2 + fp32 grads 4 + master 4 + Adam 8)P/N
        # (deepspeed/runtime/zero/stage_1_and_2.py estimate_zero2_model_states_mem_needs).
        grads = -(-(grads + 2 * states.trainable_params) // n)
    elif req.zero_stage >= 2:
        grads = -(-grads // n)
    if req.mode == "qlora":
        # bitsandbytes dequantizes one weight at a time to bf16 for the matmul
        largest = max(t.rows * t.cols for t in arch.tensors if t.name not in ("token_embd", "output"))
        act += largest * memory.BF16
    per_gpu = weights_per_gpu + grads + opt + adapter + act + overhead_per_gpu
    breakdown = Breakdown(
        weights_bytes=weights_per_gpu * n,
        kv_cache_bytes=0,
        activations_bytes=act * n,
        overhead_bytes=overhead_per_gpu * n,
        gradients_bytes=grads * n,
        optimizer_bytes=opt * n,
        adapter_bytes=adapter * n,
    )
    return breakdown, detail, per_gpu, 0


def _capacity(plan: _Plan) -> int | None:
    if plan.gpu_memory is None:
        return None
    if plan.runtime.id == "vllm" and plan.req.mode == "inference":
        util = plan.req.gpu_memory_utilization or plan.runtime.gpu_memory_utilization or 0.9
        return int(plan.gpu_memory * util)
    usable = int(plan.gpu_memory * (1 - plan.runtime.allocator_reserve_fraction))
    if plan.unified_memory:
        # Unified memory is shared with the OS and apps: keep the runtime's margin under the Metal working set.
        # LLaMA-65B Q4_0 needing 36,701 MiB of a 36,864 MiB working set fell back to the CPU on an M3 Max 48 GB.
        usable -= plan.runtime.fit_margin_bytes
    return usable


def _fits(plan: _Plan, context: int, batch: int) -> bool:
    capacity = _capacity(plan)
    assert capacity is not None
    return _components(plan, context, batch)[2] <= capacity


def _largest(plan: _Plan, lo: int, hi: int, probe) -> int:
    """Largest x in [lo, hi] with probe(x) true, assuming monotone; 0 if probe(lo) is false."""
    if not probe(lo):
        return 0
    if probe(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _speed(plan: _Plan, context: int, batch: int, kv_bytes_per_seq: int) -> Speed | None:
    gpu = plan.gpu
    if gpu is not None:
        bandwidth_gb_s, fp16_tflops = gpu.bandwidth_gb_s, gpu.fp16_tflops
    elif plan.req.bandwidth_gb_s is not None:
        bandwidth_gb_s, fp16_tflops = plan.req.bandwidth_gb_s, None
    else:
        return None
    arch, w, rt = plan.subject.arch, plan.weights, plan.runtime
    # Per token the runtime streams every weight except the unused experts and the embedding table (one row).
    active_share = arch.experts_per_token / arch.num_experts if arch.is_moe else 1.0
    dense = w.total_bytes - w.token_embd_bytes - w.expert_bytes
    if arch.tied_embeddings:
        dense += w.token_embd_bytes  # the tied table is read whole as the output projection
    weights_read = int(dense + w.expert_bytes * active_share)
    kv_read = int(kv_bytes_per_seq * batch * rt.kv_traffic_factor)
    # Tensor parallelism streams each GPU's shard at once; a layer split runs the GPUs one after another.
    bandwidth = bandwidth_gb_s * 1e9 * plan.tp * (0.9 if plan.tp > 1 else 1.0)
    efficiency = rt.format_decode_efficiency.get(plan.fmt.id, rt.decode_efficiency)
    t_mem = (weights_read + kv_read) / (bandwidth * efficiency)
    t_mem += arch.num_layers * rt.decode_layer_overhead_us * 1e-6
    if not (rt.attention_cost_only_without_flash and plan.flash_attention):
        t_mem += arch.num_layers * context * rt.decode_attention_ns_per_layer_token * 1e-9
    moe_layers = sum(arch.is_moe_layer(i) for i in range(arch.num_layers))
    t_mem += moe_layers * arch.num_experts * rt.moe_expert_overhead_us * 1e-6
    if plan.layer_split > 1:
        t_mem += arch.num_layers * rt.multi_gpu_layer_sync_us * 1e-6 * (plan.layer_split - 1) ** 0.5
    flops_per_token = 2 * arch.params_active
    tflops = (fp16_tflops or 0) * 1e12 * plan.tp
    t_compute = (flops_per_token * batch) / (tflops * rt.prefill_efficiency) if tflops else 0.0
    cpu_part = 0.0
    if rt.id == "llama.cpp" and plan.req.gpu_layers is not None and plan.req.gpu_layers < arch.num_layers:
        offloaded = weights_read * (arch.num_layers - plan.req.gpu_layers) / arch.num_layers
        cpu_part = offloaded / (CPU_RAM_BANDWIDTH * efficiency)
        t_mem = t_mem * plan.req.gpu_layers / arch.num_layers + cpu_part
    step = max(t_mem, t_compute)
    bound = "memory bandwidth" if t_mem >= t_compute else "compute"
    if cpu_part:
        bound = "system RAM bandwidth (layers offloaded to CPU)"
    attn_flops = 4 * arch.num_layers * context // 2 * arch.num_heads * arch.head_dim
    prefill = tflops * rt.prefill_efficiency / (flops_per_token + attn_flops) if tflops else 0.0
    return Speed(
        decode_tokens_per_s=round(1 / step, 1),
        aggregate_decode_tokens_per_s=round(batch / step, 1),
        prefill_tokens_per_s=round(prefill, 0),
        bound=bound,
        bytes_read_per_token=weights_read + kv_read,
        efficiency=efficiency,
        source=rt.sources.get("decode_efficiency", ""),
    )


# Dual-channel DDR5-5600: 2 x 8 bytes x 5.6 GT/s = 89.6 GB/s peak (JEDEC JESD79-5); llama.cpp reaches ~60-70%.
CPU_RAM_BANDWIDTH = 89.6e9


def _make_plan(req: EstimateRequest, assumptions: list[str], warnings: list[str]) -> _Plan:
    """Resolve names and fix everything that does not depend on context or batch."""
    subject = _subject(req)
    arch = subject.arch
    runtime = catalog.resolve_runtime(req.runtime)
    assumptions.extend(subject.assumptions)
    precision = req.precision
    if subject.file_format and "precision" not in req.model_fields_set:
        precision = subject.file_format if subject.file_format.lower() in _known_formats() else "q8_0"
    fmt = _effective_format(req, catalog.resolve_format(precision), assumptions)
    kv_name, kv_fmt = catalog.resolve_kv_format(req.kv_cache_precision or _default_kv(fmt, runtime.id))
    if runtime.id not in fmt.runtimes:
        warnings.append(
            f"{fmt.name} is not a usual format for {runtime.name.split(' (')[0]}; it runs on: {', '.join(fmt.runtimes)}"
        )
    gpu = None
    gpu_memory = None
    if req.gpu is not None:
        gpu = catalog.resolve_gpu(req.gpu)
        fraction = gpu.gpu_usable_fraction
        if fraction is None and gpu.memory_basis == "unified_ram":
            fraction = 2 / 3
            assumptions.append(
                f"{gpu.name}: no measured GPU share of unified memory; assumed 2/3 (the Metal limit on <= 32 GB Macs)"
            )
        gpu_memory = int(gpu.memory_bytes * (fraction or 1.0))
    if req.vram_gb is not None:
        gpu_memory = int(req.vram_gb * GiB)
    # vLLM and generic serving split tensors across GPUs; transformers (device_map) and llama.cpp split layers.
    tp = req.num_gpus if (req.mode == "inference" and req.num_gpus > 1 and runtime.id in ("vllm", "generic")) else 1
    if tp > 1:
        if arch.num_heads % tp:
            raise VramwiseError(
                f"tensor parallel size {tp} must divide the {arch.num_heads} attention heads of {subject.name}; "
                f"accepted num_gpus: {', '.join(str(d) for d in range(1, 17) if arch.num_heads % d == 0)}",
                value=tp,
                accepted=[str(d) for d in range(1, 65) if arch.num_heads % d == 0],
            )
        if not arch.is_mla and arch.num_kv_heads % tp and tp % arch.num_kv_heads:
            raise VramwiseError(
                f"tensor parallel size {tp} does not divide the {arch.num_kv_heads} KV heads of {subject.name}",
                value=tp,
            )
        if not arch.is_mla and tp > arch.num_kv_heads:
            assumptions.append(f"{arch.num_kv_heads} KV heads over {tp} GPUs: each GPU keeps one KV head (replicated)")
    flash = runtime.flash_attention if req.flash_attention is None else req.flash_attention
    weights = subject.exact_weights or _weights(subject, arch, fmt)
    return _Plan(req, subject, fmt, kv_name, kv_fmt, runtime, weights, gpu, gpu_memory, flash, tp)


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
    plan = _make_plan(req, [], [])
    breakdown, _detail, per_gpu, _ = _components(plan, req.context_length, req.batch_size)
    total = sum(breakdown.model_dump().values())
    kv_seq = memory.kv_cache(plan.subject.arch, req.context_length, 1, plan.kv_fmt, kv_head_shards=plan.tp).bytes
    speed = _speed(plan, req.context_length, req.batch_size, kv_seq) if req.mode == "inference" else None
    arch = plan.subject.arch
    return QuickEstimate(
        arch.params_total,
        arch.params_active,
        total,
        per_gpu,
        _capacity(plan),
        speed.decode_tokens_per_s if speed else None,
    )


def estimate_memory(request: EstimateRequest | None = None, /, **kwargs: Any) -> EstimateResult:
    """Size a model: weights + KV cache + activations + runtime overhead (+ training states), fit and speed.

    Call as estimate_memory(EstimateRequest(...)) or estimate_memory(model=..., precision=..., ...).
    Raises VramwiseError (a ValueError) for bad input, naming the value and what is accepted.
    """
    req = request if request is not None else EstimateRequest(**kwargs)
    assumptions: list[str] = []
    warnings: list[str] = []
    plan = _make_plan(req, assumptions, warnings)
    subject, arch, runtime, fmt = plan.subject, plan.subject.arch, plan.runtime, plan.fmt
    gpu, gpu_memory, tp, kv_fmt = plan.gpu, plan.gpu_memory, plan.tp, plan.kv_fmt
    breakdown, detail, per_gpu, kv_per_token = _components(plan, req.context_length, req.batch_size)
    total = sum(breakdown.model_dump().values())
    if runtime.id == "vllm" and detail.preallocated_bytes:
        total = max(total, detail.preallocated_bytes)

    if subject.max_context and req.context_length > subject.max_context:
        warnings.append(
            f"context_length {req.context_length} exceeds {subject.name}'s maximum of {subject.max_context} tokens "
            "(max_position_embeddings); quality degrades or the runtime refuses without rope scaling"
        )

    fit = None
    if gpu_memory is not None:
        capacity = _capacity(plan)
        assert capacity is not None
        headroom = capacity - per_gpu
        # without a known maximum (params_b only), search up to 1M tokens
        cap_ctx = max(req.context_length, subject.max_context or 1_048_576)
        max_ctx = _largest(plan, 1, cap_ctx, lambda c: _fits(plan, c, req.batch_size))
        max_batch = _largest(plan, 1, 4096, lambda b: _fits(plan, req.context_length, b))
        if runtime.id == "llama.cpp" and headroom < 0 and req.mode == "inference":

            def probe(layers: int) -> bool:
                sub = _Plan(**{**plan.__dict__, "req": req.model_copy(update={"gpu_layers": layers})})
                return _components(sub, req.context_length, req.batch_size)[2] <= capacity

            detail.gpu_layers_that_fit = _largest(plan, 0, arch.num_layers, probe) if probe(0) else 0
        gpu_name = gpu.name if gpu else f"{req.vram_gb:g} GiB GPU"
        fits = headroom >= 0
        verdict = _verdict(fits, per_gpu, capacity, req.num_gpus, gpu_name, runtime, headroom)
        fit = Fit(
            gpu=gpu_name,
            num_gpus=req.num_gpus,
            memory_bytes=gpu_memory,
            usable_bytes=capacity,
            required_bytes=per_gpu,
            fits=fits,
            headroom_bytes=headroom,
            max_context_length=max_ctx,
            max_batch_size=max_batch,
            verdict=verdict,
        )
        if gpu and gpu.gpu_usable_fraction:
            assumptions.append(
                f"{gpu.name}: the GPU may use {gpu.gpu_usable_fraction:.0%} of unified memory "
                "(Metal recommendedMaxWorkingSetSize)"
            )
        if fmt.id.startswith("fp8") and gpu and not gpu.fp8:
            warnings.append(
                f"{gpu.name} has no FP8 tensor cores: FP8 weights run as weight-only (slower) or not at all"
            )
        if fmt.id == "bf16" and gpu and not gpu.bf16:
            warnings.append(f"{gpu.name} has no BF16 support: use fp16")

    kv_seq = memory.kv_cache(arch, req.context_length, 1, kv_fmt, kv_head_shards=tp).bytes
    speed = _speed(plan, req.context_length, req.batch_size, kv_seq) if req.mode == "inference" else None
    if fit is not None and not fit.fits and speed is not None:
        layers = detail.gpu_layers_that_fit
        if runtime.id == "llama.cpp" and layers:
            # What a user would run instead: llama.cpp with the layers that fit on the GPU, the rest in RAM.
            offload = _Plan(**{**plan.__dict__, "req": req.model_copy(update={"gpu_layers": layers})})
            speed = _speed(offload, req.context_length, req.batch_size, kv_seq)
            warnings.append(
                f"speed assumes partial offload: {layers} of {arch.num_layers} layers on the GPU (-ngl {layers}), "
                "the rest in system RAM"
            )
        else:
            speed = None

    detail.launch_flags = _launch_flags(plan, detail)
    assumptions += _assumptions(plan)
    result = EstimateResult(
        model=ModelInfo(
            id=subject.id,
            name=subject.name,
            params_total=subject.exact_params or arch.params_total,
            params_active=arch.params_active
            if not subject.exact_params
            else (subject.exact_params - (arch.params_total - arch.params_active)),
            params_published=subject.published,
            layers=arch.num_layers,
            hidden_size=arch.hidden_size,
            attention_heads=arch.num_heads,
            kv_heads=arch.num_kv_heads,
            head_dim=arch.head_dim,
            vocab_size=arch.vocab_size,
            max_context_length=subject.max_context,
            attention=_attention_label(arch),
            is_moe=arch.is_moe,
            source=subject.source,
        ),
        precision=PrecisionInfo(
            id=fmt.id if not subject.file_format else subject.file_format.lower(),
            name=fmt.name if not subject.file_format else f"GGUF file ({subject.file_format})",
            bits_per_weight=round(plan.weights.bits_per_weight(arch.params_total), 4),
            kv_cache=plan.kv_name,
        ),
        mode=req.mode,
        runtime=runtime.id,
        context_length=req.context_length,
        batch_size=req.batch_size,
        breakdown=breakdown,
        total_bytes=total,
        total_gb=round(total / GB, 3),
        total_gib=round(total / GiB, 3),
        per_gpu_bytes=per_gpu,
        kv_cache_bytes_per_token=kv_per_token,
        runtime_detail=detail,
        fit=fit,
        speed=speed,
        warnings=warnings,
        assumptions=assumptions,
        sources=_sources(plan),
    )
    return result


_KV_FLAG = {"fp8": "fp8", "fp16": "auto", "bf16": "auto"}


def _launch_flags(plan: _Plan, detail: RuntimeDetail) -> str | None:
    """The flags that make the runtime do what this estimate assumed."""
    req = plan.req
    if req.mode != "inference":
        return None
    if plan.runtime.id == "llama.cpp":
        layers = detail.gpu_layers_that_fit if detail.gpu_layers_that_fit else (req.gpu_layers or 999)
        flags = [f"-c {req.context_length}", f"-ngl {layers}", f"-np {req.batch_size}" if req.batch_size > 1 else ""]
        if plan.kv_name not in ("fp16", "bf16"):
            flags.append(f"--cache-type-k {plan.kv_name} --cache-type-v {plan.kv_name}")
        flags.append("-fa on" if plan.flash_attention else "-fa off")
        if req.num_gpus > 1:
            flags.append("--split-mode layer")
        return " ".join(f for f in flags if f)
    if plan.runtime.id == "vllm":
        util = detail.gpu_memory_utilization or plan.runtime.gpu_memory_utilization or 0.9
        flags = [f"--max-model-len {req.context_length}", f"--gpu-memory-utilization {util:g}"]
        if plan.tp > 1:
            flags.append(f"--tensor-parallel-size {plan.tp}")
        if plan.kv_name in _KV_FLAG and plan.kv_name != "bf16" and plan.kv_name != "fp16":
            flags.append(f"--kv-cache-dtype {_KV_FLAG[plan.kv_name]}")
        if req.batch_size > 1:
            flags.append(f"--max-num-seqs {req.batch_size}")
        return " ".join(flags)
    return None


def _verdict(fits: bool, need: int, capacity: int, n: int, gpu: str, rt: catalog.RuntimeProfile, headroom: int) -> str:
    where = f"{n} x {gpu}" if n > 1 else gpu
    per = " per GPU" if n > 1 else ""
    if not fits:
        return f"does not fit: needs {fmt_bytes(need)}{per}, {where} offers {fmt_bytes(capacity)}{per}"
    if headroom < rt.fit_margin_bytes:
        return (
            f"fits, tight: {fmt_bytes(headroom)} left{per} on {where} "
            f"(under the {fmt_bytes(rt.fit_margin_bytes)} margin {rt.id} keeps)"
        )
    return f"fits: {fmt_bytes(need)}{per} of {fmt_bytes(capacity)}{per} on {where}, {fmt_bytes(headroom)} left"


def _assumptions(plan: _Plan) -> list[str]:
    req, arch, rt = plan.req, plan.subject.arch, plan.runtime
    out = [
        "units: bytes; GB = 10^9 bytes, GiB = 2^30 bytes",
        f"weights: {plan.fmt.name}, applied tensor by tensor "
        f"({plan.weights.bits_per_weight(arch.params_total):.3f} bits/weight overall)",
        f"KV cache: {plan.kv_name}, 2 (K,V) x layers x KV heads x head_dim per token"
        + ("; MLA caches kv_lora_rank + rope dims per token per layer" if arch.is_mla else "")
        + ("; sliding-window layers hold at most their window" if arch.kv_layout.sliding_layers else ""),
        f"runtime {rt.id}: {rt.context_bytes / 2**20:.0f} MiB context"
        + (f" + {rt.cuda_graph_bytes / 2**20:.0f} MiB CUDA graphs" if rt.cuda_graph_bytes else ""),
    ]
    if req.mode == "inference":
        if rt.id == "llama.cpp":
            out.append(
                f"llama.cpp: n_ubatch {rt.n_ubatch}, flash attention {'on' if plan.flash_attention else 'off'}; "
                "token embeddings in system RAM"
            )
        elif rt.id == "vllm":
            out.append(
                f"vLLM: activations profiled at max_num_batched_tokens {rt.max_num_batched_tokens}; "
                "the rest of gpu_memory_utilization x memory becomes the KV pool"
            )
        else:
            out.append(
                "activations: one prefill forward pass over the "
                + ("whole context" if rt.id == "transformers" else "first 2048 tokens")
                + (", FlashAttention/SDPA (no score matrix)" if plan.flash_attention else ", eager attention")
                + ("; fp32 logits for every prompt token" if req.full_prompt_logits else "; last-token logits")
            )
    else:
        out.append(
            f"training: {req.mode}, optimizer {req.optimizer}, batch {req.batch_size} x {req.context_length} "
            f"tokens, gradient checkpointing {'on' if req.gradient_checkpointing else 'off'}, bf16 activations "
            "with FlashAttention (Korthikanti et al. adapted to SwiGLU)"
        )
        if req.mode in ("lora", "qlora"):
            out.append(f"LoRA rank {req.lora_rank} on {', '.join(req.lora_targets)}; adapters and their states fp32")
        if req.num_gpus > 1:
            out.append(f"data parallel over {req.num_gpus} GPUs with ZeRO stage {req.zero_stage}")
    if plan.tp > 1:
        out.append(f"tensor parallel over {plan.tp} GPUs: weights and KV heads split, figures per GPU x {plan.tp}")
    if req.num_gpus > 1 and rt.id == "llama.cpp":
        out.append(f"llama.cpp splits layers across {req.num_gpus} GPUs; per-GPU figure assumes an even split")
    return out


def _sources(plan: _Plan) -> list[str]:
    fsources = catalog.formats_file().sources
    out = [fsources.get(s, s) for s in plan.fmt.sources]
    out += list(plan.runtime.sources.values())[:2]
    if plan.subject.source:
        out.insert(0, plan.subject.source)
    notes = [NOTE_FOR["weights"], NOTE_FOR["kv_cache"], NOTE_FOR["activations"], NOTE_FOR["units"]]
    if plan.req.mode != "inference":
        notes.append(NOTE_FOR["training"])
    if plan.gpu_memory is not None:
        notes += [NOTE_FOR["fit"], NOTE_FOR["speed"]]
    if plan.subject.arch.is_moe:
        notes.append(NOTE_FOR["moe"])
    if plan.req.num_gpus > 1 or (plan.gpu and plan.gpu.gpu_usable_fraction):
        notes.append(NOTE_FOR["multi_gpu"])
    return list(dict.fromkeys(out + notes))
