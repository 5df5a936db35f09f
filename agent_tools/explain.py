"""The words of an estimate: what the model is, which assumptions the figures rest on, and where they come from."""

from __future__ import annotations

from agent_tools import catalog, training
from agent_tools.architecture import Architecture
from agent_tools.plan import Plan
from agent_tools.results import ModelInfo

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


def attention_label(arch: Architecture) -> str:
    if arch.is_mla:
        return f"MLA (latent {arch.kv_lora_rank} + rope {arch.qk_rope_head_dim})"
    kind = "MHA" if arch.num_kv_heads == arch.num_heads else ("MQA" if arch.num_kv_heads == 1 else "GQA")
    label = f"{kind} {arch.num_heads}q/{arch.num_kv_heads}kv"
    layout = arch.kv_layout
    if layout.sliding_layers:
        windows = ",".join(str(w) for w in layout.sliding_values)
        label += (
            f", {layout.sliding_layers} sliding (window {windows}) : {layout.full_layers} full layers"
            if layout.full_layers
            else f", every layer sliding (window {windows})"
        )
    return label


def model_info(plan: Plan) -> ModelInfo:
    subject, arch = plan.subject, plan.subject.arch
    exact = subject.exact_params
    return ModelInfo(
        id=subject.id,
        name=subject.name,
        requested=plan.req.model,
        resolved_from=subject.resolved_from,
        params_total=exact or arch.params_total,
        params_active=arch.params_active if not exact else exact - (arch.params_total - arch.params_active),
        params_published=subject.published,
        layers=arch.num_layers,
        hidden_size=arch.hidden_size,
        attention_heads=arch.num_heads,
        kv_heads=arch.num_kv_heads,
        head_dim=arch.head_dim,
        vocab_size=arch.vocab_size,
        max_context_length=subject.max_context,
        attention=attention_label(arch),
        is_moe=arch.is_moe,
        source=subject.source,
    )


def assumptions(plan: Plan) -> list[str]:
    req, arch, rt = plan.req, plan.subject.arch, plan.runtime
    profile = rt.profile
    out = [
        "units: bytes; GB = 10^9 bytes, GiB = 2^30 bytes",
        f"weights: {plan.fmt.name}, applied tensor by tensor "
        f"({plan.weights.bits_per_weight(arch.params_total):.3f} bits/weight overall)",
        f"KV cache: {plan.kv_name}, 2 (K,V) x layers x KV heads x head_dim per token"
        + ("; MLA caches kv_lora_rank + rope dims per token per layer" if arch.is_mla else "")
        + ("; sliding-window layers hold at most their window" if arch.kv_layout.sliding_layers else ""),
        f"runtime {rt.id}: {profile.context_bytes / 2**20:.0f} MiB context"
        + (f" + {profile.cuda_graph_bytes / 2**20:.0f} MiB CUDA graphs" if profile.cuda_graph_bytes else ""),
    ]
    if plan.runtime_assumed:
        why = (
            f"one model served over {req.num_gpus} GPUs runs on a tensor-parallel serving runtime, whose own limits "
            "decide what fits"
            if req.num_gpus > 1 and req.mode == "inference"
            else "fine-tuning runs on transformers with PEFT and bitsandbytes"
            if req.mode != "inference"
            else "weights + KV cache + one prefill pass + a CUDA context"
        )
        name = profile.name.split(" (")[0]
        out.append(f"runtime not given: sized for the {name} profile ({why}); pass runtime= for another")
    if req.mode == "inference":
        out += rt.inference_assumptions(plan)
    else:
        offload = req.checkpoint_offload or (req.checkpoint_offload is None and req.stack == "unsloth")
        checkpointing = "off" if not req.gradient_checkpointing else ("offloaded to CPU RAM" if offload else "on")
        out.append(
            f"training: {req.mode}, optimizer {req.optimizer}, batch {req.batch_size} x {req.context_length} "
            f"tokens, gradient checkpointing {checkpointing}; peak = the largest moment of a step (forward end, "
            "loss backward, a recomputed layer, end of backward), PyTorch tensors as transformers 5.x saves them"
        )
        out.append(f"loss path ({req.stack}): {training.LOSS_PATHS[req.stack].why}")
        if req.mode == "full_finetune":
            layouts = {
                "optimizer": "bf16 weights and gradients, fp32 master copy and moments in the optimizer",
                "fp32_params": "fp32 weights and gradients under bf16 autocast (bf16 weight copies while forward runs)",
                "none": "pure bf16: weights, gradients and optimizer moments bf16",
            }
            out.append(f"precision: {layouts[req.master_weights]}")
        if req.mode in ("lora", "qlora"):
            out.append(f"LoRA rank {req.lora_rank} on {', '.join(req.lora_targets)}; adapters and their states fp32")
        if req.gradient_accumulation_steps > 1:
            out.append(f"{req.gradient_accumulation_steps} micro-batches per step: gradients stay through forward")
        if req.num_gpus > 1:
            out.append(f"data parallel over {req.num_gpus} GPUs with ZeRO stage {req.zero_stage}")
    if plan.tp > 1:
        out.append(f"tensor parallel over {plan.tp} GPUs: weights and KV heads split, figures per GPU x {plan.tp}")
    out += rt.multi_gpu_assumptions(plan)
    return out


def sources(plan: Plan) -> list[str]:
    fsources = catalog.formats_file().sources
    out = [fsources.get(s, s) for s in plan.fmt.sources]
    out += list(plan.runtime.profile.sources.values())[:2]
    if plan.subject.source:
        out.insert(0, plan.subject.source)
    notes = [NOTE_FOR["weights"], NOTE_FOR["kv_cache"], NOTE_FOR["activations"], NOTE_FOR["units"]]
    if plan.req.mode != "inference":
        notes.append(NOTE_FOR["training"])
    if plan.gpu_memory is not None:
        notes += [NOTE_FOR["fit"], NOTE_FOR["speed"]]
    if plan.subject.arch.is_moe:
        notes.append(NOTE_FOR["moe"])
    entry = plan.device.entry if plan.device else None
    if plan.req.num_gpus > 1 or (entry and entry.gpu_usable_fraction):
        notes.append(NOTE_FOR["multi_gpu"])
    return list(dict.fromkeys(out + notes))
