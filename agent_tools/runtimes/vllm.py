"""vLLM: pre-allocates gpu_memory_utilization x memory, profiles activations at max_num_batched_tokens, and turns
the rest into a paged KV pool; tensor parallel across GPUs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_tools import memory
from agent_tools.runtimes.base import PerGpu, Runtime

if TYPE_CHECKING:
    from agent_tools.plan import Plan
    from agent_tools.results import RuntimeDetail

# vLLM's --kv-cache-dtype values for the KV precisions it runs (fp16/bf16 are its "auto").
_KV_FLAG = {"fp8": "fp8"}


class Vllm(Runtime):
    id = "vllm"

    def sliding_extra_tokens(self) -> int:
        return self.profile.max_num_batched_tokens or 0

    def utilization(self, plan: Plan) -> float:
        return plan.req.gpu_memory_utilization or self.profile.gpu_memory_utilization or 0.9

    def inference_activations(self, plan: Plan, context: int, batch: int) -> tuple[int, int]:
        tokens = min(self.profile.max_num_batched_tokens or 8192, context * batch)
        layer_peak, head_peak = memory.forward_transient_bytes(
            plan.subject.arch, tokens, flash_attention=True, logits_tokens=min(batch, 256)
        )
        return max(layer_peak, head_peak) // plan.tp, layer_peak

    def describe_buffers(self, plan: Plan, context: int, batch: int, detail: RuntimeDetail, per_gpu: PerGpu) -> None:
        if plan.gpu_memory is None:
            return
        util = self.utilization(plan)
        reserved = int(plan.gpu_memory * util)
        pool = reserved - (per_gpu.weights + per_gpu.activations + per_gpu.overhead)
        per_token = max(1, per_gpu.kv // max(1, context * batch))
        detail.gpu_memory_utilization = util
        detail.preallocated_bytes = reserved * plan.req.num_gpus
        detail.kv_pool_bytes = max(0, pool) * (plan.req.num_gpus if plan.tp > 1 else 1)
        detail.kv_pool_tokens = max(0, pool) // per_token
        per_seq = memory.kv_cache(
            plan.subject.arch,
            context,
            1,
            plan.kv_fmt,
            kv_head_shards=plan.tp,
            sliding_extra_tokens=self.sliding_extra_tokens(),
        ).bytes
        detail.max_concurrency = round(max(0, pool) / per_seq, 2) if per_seq else None

    def capacity(self, plan: Plan, memory_bytes: int) -> int:
        if plan.req.mode == "inference":
            # vLLM claims utilization x the card's total; memory other programs hold comes out of the same card.
            return min(int(memory_bytes * self.utilization(plan)), memory_bytes - plan.reserve_bytes)
        return super().capacity(plan, memory_bytes)

    def reported_total(self, total: int, detail: RuntimeDetail) -> int:
        return max(total, detail.preallocated_bytes) if detail.preallocated_bytes else total

    def launch_flags(self, plan: Plan, detail: RuntimeDetail) -> str | None:
        req = plan.req
        if req.mode != "inference":
            return None
        util = detail.gpu_memory_utilization or self.profile.gpu_memory_utilization or 0.9
        flags = [f"--max-model-len {req.context_length}", f"--gpu-memory-utilization {util:g}"]
        if plan.tp > 1:
            flags.append(f"--tensor-parallel-size {plan.tp}")
        if plan.kv_name in _KV_FLAG:
            flags.append(f"--kv-cache-dtype {_KV_FLAG[plan.kv_name]}")
        if req.batch_size > 1:
            flags.append(f"--max-num-seqs {req.batch_size}")
        return " ".join(flags)

    def inference_assumptions(self, plan: Plan) -> list[str]:
        return [
            f"vLLM: activations profiled at max_num_batched_tokens {self.profile.max_num_batched_tokens}; "
            "the rest of gpu_memory_utilization x memory becomes the KV pool"
        ]
