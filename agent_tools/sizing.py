"""The arithmetic of one plan at one context and batch: bytes per component, per GPU and in total."""

from __future__ import annotations

from agent_tools import memory
from agent_tools.plan import Plan
from agent_tools.results import Breakdown, RuntimeDetail
from agent_tools.runtimes import PerGpu


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def weights_per_gpu(plan: Plan) -> tuple[int, int]:
    """(weights on each GPU, weights in system RAM)."""
    gpu_total, cpu = plan.runtime.weights_on_gpus(plan)
    req = plan.req
    if req.mode in ("full_finetune", "lora", "qlora") and req.zero_stage == 3:
        return _ceil_div(gpu_total, req.num_gpus), cpu
    shards = max(plan.tp, plan.layer_split)
    return (_ceil_div(gpu_total, shards) if shards > 1 else gpu_total), cpu


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
    kv = kv_cache(plan, context, batch)
    kv_per_gpu = kv.bytes
    kv_all = kv.bytes * plan.tp if plan.tp > 1 else kv.bytes
    overhead = memory.runtime_overhead(rt.profile)
    detail = RuntimeDetail(runtime=rt.id)

    if req.mode == "inference":
        act, layer_peak = rt.inference_activations(plan, context, batch)
        split = plan.layer_split
        if req.legacy_kv_cache:
            act += kv_per_gpu // split  # the old cache tuple is still referenced while the new one is built
        per_gpu = weights + _ceil_div(kv_per_gpu, split) + act + overhead
        # Layer split: every GPU holds its layers' transient, only the last one the output head.
        act_all = act * n if split == 1 else (split - 1) * min(act, layer_peak) + act
        breakdown = Breakdown(
            weights_bytes=weights * n if (plan.tp > 1 or split > 1) else weights,
            kv_cache_bytes=kv_all,
            activations_bytes=act_all,
            overhead_bytes=overhead * n,
        )
        rt.describe_buffers(plan, context, batch, detail, PerGpu(weights, kv_per_gpu, act, overhead, cpu_ram))
        return breakdown, detail, per_gpu, kv.bytes_per_token

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
        opt = _ceil_div(opt, n)
    if req.zero_stage >= 2 and req.mode == "full_finetune":
        # DeepSpeed ZeRO-2/3 keep the bf16 gradients for the backward pass plus an fp32 gradient partition:
        # its estimator counts 2P + 18P/N per GPU = params 2P + (fp16 grads 2 + fp32 grads 4 + master 4 + Adam 8)P/N
        # (deepspeed/runtime/zero/stage_1_and_2.py estimate_zero2_model_states_mem_needs).
        grads = _ceil_div(grads + 2 * states.trainable_params, n)
    elif req.zero_stage >= 2:
        grads = _ceil_div(grads, n)
    if req.mode == "qlora":
        # bitsandbytes dequantizes one weight at a time to bf16 for the matmul
        largest = max(t.rows * t.cols for t in arch.tensors if t.name not in ("token_embd", "output"))
        act += largest * memory.BF16
    per_gpu = weights + grads + opt + adapter + act + overhead
    breakdown = Breakdown(
        weights_bytes=weights * n,
        kv_cache_bytes=0,
        activations_bytes=act * n,
        overhead_bytes=overhead * n,
        gradients_bytes=grads * n,
        optimizer_bytes=opt * n,
        adapter_bytes=adapter * n,
    )
    return breakdown, detail, per_gpu, 0
