"""The arithmetic of one plan at one context and batch: bytes per component, per GPU and in total."""

from __future__ import annotations

from agent_tools import memory, training
from agent_tools.plan import Plan
from agent_tools.results import Breakdown, RuntimeDetail
from agent_tools.runtimes import PerGpu


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _non_layer_pieces(plan: Plan, gpu_total: int) -> tuple[int, int]:
    """(bytes on the GPUs that belong to no layer, the largest such piece one GPU holds)."""
    w = plan.weights
    embd_on_gpu = w.token_embd_bytes if gpu_total >= w.total_bytes else 0  # llama.cpp keeps it in RAM
    pieces = [w.output_bytes, embd_on_gpu] if not plan.subject.arch.tied_embeddings else [w.token_embd_bytes]
    return min(gpu_total, sum(pieces)), max(pieces)


def layers_on_busiest_gpu(plan: Plan) -> int:
    """Layers go to GPUs whole: with L layers on n GPUs one GPU holds ceil(L / n)."""
    return -(-plan.subject.arch.num_layers // plan.layer_split)


def weights_per_gpu(plan: Plan) -> tuple[int, int]:
    """(weights on the fullest GPU, weights in system RAM)."""
    gpu_total, cpu = plan.runtime.weights_on_gpus(plan)
    req = plan.req
    if req.mode in ("full_finetune", "lora", "qlora") and req.zero_stage == 3:
        return _ceil_div(gpu_total, req.num_gpus), cpu
    if plan.tp > 1:
        return _ceil_div(gpu_total, plan.tp), cpu
    if plan.layer_split > 1:
        # A layer split is uneven: whole layers per GPU, and the last GPU also holds the output head.
        non_layer, head = _non_layer_pieces(plan, gpu_total)
        per_layer = (gpu_total - non_layer) / plan.subject.arch.num_layers
        return int(layers_on_busiest_gpu(plan) * per_layer) + head, cpu
    return gpu_total, cpu


def kv_cache(plan: Plan, context: int, batch: int) -> memory.KvCache:
    return memory.kv_cache(
        plan.subject.arch,
        context,
        batch,
        plan.kv_fmt,
        kv_head_shards=plan.tp,
        sliding_extra_tokens=plan.runtime.sliding_extra_tokens(),
        layer_fraction=plan.runtime.kv_layer_fraction(plan),
    )


def kv_bytes_per_sequence(plan: Plan, context: int) -> int:
    """KV bytes one sequence reads per decode step (per GPU under tensor parallel)."""
    return memory.kv_cache(plan.subject.arch, context, 1, plan.kv_fmt, kv_head_shards=plan.tp).bytes


def components(plan: Plan, context: int, batch: int) -> tuple[Breakdown, RuntimeDetail, int, int]:
    """Breakdown for all GPUs, runtime detail, per-GPU required bytes, KV bytes per token."""
    req, arch, rt = plan.req, plan.subject.arch, plan.runtime
    n = req.num_gpus
    weights, cpu_ram = weights_per_gpu(plan)
    gpu_weights_total = plan.runtime.weights_on_gpus(plan)[0]
    kv = kv_cache(plan, context, batch)
    kv_per_gpu = kv.bytes
    kv_all = kv.bytes * plan.tp if plan.tp > 1 else kv.bytes
    overhead = rt.overhead_bytes(plan)
    detail = RuntimeDetail(runtime=rt.id)

    if req.mode == "inference":
        pool_main, pool_other = rt.prompt_pool_bytes(plan, context, batch)
        if plan.row_split > 1:
            act = rt.inference_activations(plan, context, batch)[0]
            return _row_split_components(plan, context, batch, act, overhead, (pool_main, pool_other))
        overhead += pool_main
        split = plan.layer_split
        kv_busiest = _ceil_div(kv_per_gpu * layers_on_busiest_gpu(plan), arch.num_layers) if split > 1 else kv_per_gpu
        act, act_all = rt.inference_activation_split(plan, context, batch, kv_per_gpu)
        per_gpu = weights + kv_busiest + act + overhead
        breakdown = Breakdown(
            weights_bytes=weights * n if plan.tp > 1 else (gpu_weights_total if split > 1 else weights),
            kv_cache_bytes=kv_all,
            activations_bytes=act_all,
            overhead_bytes=overhead * n,
        )
        rt.describe_buffers(plan, context, batch, detail, PerGpu(weights, kv_per_gpu, act, overhead, cpu_ram))
        return breakdown, detail, per_gpu, kv.bytes_per_token

    peak = training_peak(plan, context, batch)
    act = peak.activations_bytes + peak.logits_bytes + peak.transient_bytes
    per_gpu = peak.total_bytes + overhead
    breakdown = Breakdown(
        weights_bytes=peak.weights_bytes * n,
        kv_cache_bytes=0,
        activations_bytes=act * n,
        overhead_bytes=overhead * n,
        gradients_bytes=peak.gradients_bytes * n,
        optimizer_bytes=peak.optimizer_bytes * n,
        adapter_bytes=peak.adapter_bytes * n,
    )
    return breakdown, detail, per_gpu, 0


def _row_split_components(
    plan: Plan, context: int, batch: int, act: int, overhead: int, pools: tuple[int, int]
) -> tuple[Breakdown, RuntimeDetail, int, int]:
    """llama.cpp --split-mode row: each GPU holds a band of every matrix; the main GPU also the vectors, the whole KV
    cache and the compute buffer; the last GPU's band can be the larger one (bands round down to a tile)."""
    rt, n = plan.runtime, plan.row_split
    main_weights, last_weights = rt.row_split_weights(plan)
    cpu_ram = rt.weights_on_gpus(plan)[1]
    kv = kv_cache(plan, context, batch)
    main = main_weights + kv.bytes + act + overhead + pools[0]
    last = last_weights + overhead + pools[1]
    breakdown = Breakdown(
        weights_bytes=rt.weights_on_gpus(plan)[0],
        kv_cache_bytes=kv.bytes,
        activations_bytes=act,
        overhead_bytes=overhead * n + pools[0] + pools[1] * (n - 1),
    )
    detail = RuntimeDetail(runtime=rt.id)
    rt.describe_buffers(plan, context, batch, detail, PerGpu(main_weights, kv.bytes, act, overhead, cpu_ram))
    return breakdown, detail, max(main, last), kv.bytes_per_token


def training_peak(plan: Plan, context: int, batch: int) -> training.TrainingPeak:
    """The training step's peak on one GPU (training.training_peak with the request's options)."""
    req, arch = plan.req, plan.subject.arch
    gpu_total, _cpu = plan.runtime.weights_on_gpus(plan)
    if not req.gradient_checkpointing:
        checkpointing = "none"
    elif req.checkpoint_offload or (req.checkpoint_offload is None and req.stack == "unsloth"):
        checkpointing = "offload"
    else:
        checkpointing = "layer"
    # QLoRA recipes cast weights bitsandbytes left in bf16 (training.KBIT_CASTS); PEFT leaves GPTQ bases alone
    kbit_cast = None if plan.fmt.id.startswith("bnb") else "none"
    return training.training_peak(
        arch,
        req.mode,
        context,
        batch,
        base_weights_bytes=gpu_total,
        optimizer=req.optimizer,
        lora_rank=req.lora_rank,
        lora_targets=list(req.lora_targets),
        train_embeddings=req.train_embeddings,
        checkpointing=checkpointing,
        stack=req.stack,
        master_weights=req.master_weights,
        grad_accumulation=req.gradient_accumulation_steps,
        kbit_cast=kbit_cast,
        zero_stage=req.zero_stage,
        num_gpus=req.num_gpus,
        # training stacks default to SDPA/FlashAttention; eager attention only when asked for explicitly
        attention="eager" if req.flash_attention is False else "sdpa",
    )
