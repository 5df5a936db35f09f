"""Decode and prefill speed: one formula, used by estimate_memory and by the calibration script.

Decode time per token = bytes read / (bandwidth x efficiency) + fixed per-layer time + attention time per cached
token + per-expert dispatch + layer-split hops; compute-bound when batch x FLOPs outweigh it. Prefill is
compute-bound from the device's dense FP16 TFLOPS.
"""

from __future__ import annotations

from agent_tools import catalog
from agent_tools.plan import Plan
from agent_tools.results import Speed


def cpu_ram_bandwidth() -> float:
    """Bytes/s of system RAM that offloaded layers stream from (data/defaults.yaml)."""
    return float(catalog.defaults()["cpu_ram_bandwidth_gb_s"]["value"]) * 1e9


def weights_read_per_token(plan: Plan) -> int:
    """Weight bytes one decode step streams: every weight but unused experts and the embedding table (one row)."""
    arch, w = plan.subject.arch, plan.weights
    active_share = arch.experts_per_token / arch.num_experts if arch.is_moe else 1.0
    dense = w.total_bytes - w.token_embd_bytes - w.expert_bytes
    if arch.tied_embeddings:
        dense += w.token_embd_bytes  # the tied table is read whole as the output projection
    return int(dense + w.expert_bytes * active_share)


def decode_speed(plan: Plan, context: int, batch: int, kv_bytes_per_seq: int) -> Speed | None:
    device = plan.device
    if device is None or device.bandwidth_gb_s is None:
        return None
    arch, profile = plan.subject.arch, plan.runtime.profile
    weights_read = weights_read_per_token(plan)
    kv_read = int(kv_bytes_per_seq * batch * profile.kv_traffic_factor)
    # Tensor parallelism streams each GPU's shard at once; a layer split runs the GPUs one after another.
    bandwidth = device.bandwidth_gb_s * 1e9 * plan.tp * (0.9 if plan.tp > 1 else 1.0)
    efficiency = profile.format_decode_efficiency.get(plan.fmt.id, profile.decode_efficiency)
    t_mem = (weights_read + kv_read) / (bandwidth * efficiency)
    t_mem += arch.num_layers * profile.decode_layer_overhead_us * 1e-6
    if not (profile.attention_cost_only_without_flash and plan.flash_attention):
        t_mem += arch.num_layers * context * profile.decode_attention_ns_per_layer_token * 1e-9
    moe_layers = sum(arch.is_moe_layer(i) for i in range(arch.num_layers))
    t_mem += moe_layers * arch.num_experts * profile.moe_expert_overhead_us * 1e-6
    if plan.layer_split > 1:
        t_mem += arch.num_layers * profile.multi_gpu_layer_sync_us * 1e-6 * (plan.layer_split - 1) ** 0.5
    flops_per_token = 2 * arch.params_active
    tflops = (device.fp16_tflops or 0) * 1e12 * plan.tp
    t_compute = (flops_per_token * batch) / (tflops * profile.prefill_efficiency) if tflops else 0.0
    cpu_part = 0.0
    gpu_layers = plan.runtime.gpu_layers(plan)
    if gpu_layers is not None:
        offloaded = weights_read * (arch.num_layers - gpu_layers) / arch.num_layers
        cpu_part = offloaded / (cpu_ram_bandwidth() * efficiency)
        t_mem = t_mem * gpu_layers / arch.num_layers + cpu_part
    step = max(t_mem, t_compute)
    bound = "memory bandwidth" if t_mem >= t_compute else "compute"
    if cpu_part:
        bound = "system RAM bandwidth (layers offloaded to CPU)"
    attn_flops = 4 * arch.num_layers * context // 2 * arch.num_heads * arch.head_dim
    prefill = tflops * profile.prefill_efficiency / (flops_per_token + attn_flops) if tflops else 0.0
    return Speed(
        decode_tokens_per_s=round(1 / step, 1),
        aggregate_decode_tokens_per_s=round(batch / step, 1),
        prefill_tokens_per_s=round(prefill, 0),
        bound=bound,
        bytes_read_per_token=weights_read + kv_read,
        efficiency=efficiency,
        source=profile.sources.get("decode_efficiency", ""),
    )
