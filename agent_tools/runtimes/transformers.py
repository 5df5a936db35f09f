"""Hugging Face transformers: generate() prefills the whole prompt at once; device_map splits layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from agent_tools import memory
from agent_tools.runtimes.base import Runtime

if TYPE_CHECKING:
    from agent_tools.plan import Plan


class Transformers(Runtime):
    id = "transformers"
    multi_gpu: ClassVar[Literal["tensor", "layers"]] = "layers"
    prefill_chunk_tokens: ClassVar[int | None] = None

    def weights_on_gpus(self, plan: Plan) -> tuple[int, int]:
        weights, cpu = super().weights_on_gpus(plan)
        arch = plan.subject.arch
        if plan.req.legacy_rope_tables and arch.max_position_embeddings:
            # Qwen2RotaryEmbedding (transformers 4.38) in every attention layer registers cos_cached and sin_cached
            # buffers of max_position_embeddings x head_dim in the model dtype; they grow to a longer sequence.
            positions = max(arch.max_position_embeddings, plan.req.context_length or 0)
            weights += arch.num_layers * 2 * positions * arch.head_dim * memory.BF16
        return weights, cpu

    def inference_activation_split(self, plan: Plan, context: int, batch: int, kv_bytes: int) -> tuple[int, int]:
        """generate()'s peak is the largest of three moments, per GPU, less the KV cache of `context` tokens:
        the prefill (prompt KV + the largest layer transient or, on the last GPU, the output head), the first decode
        step (generate() still holds the prefill's outputs, so their fp32 logits, while the next forward runs) and the
        last decode step (KV of the whole context). With `legacy_kv_cache` the previous step's past_key_values stay
        referenced while the next ones are concatenated, so the cache counts twice in the decode steps. On a layer
        split accelerate's top-level hook copies the model's outputs (the logits) to the first GPU."""
        req, arch = plan.req, plan.subject.arch
        prompt = min(context, req.prompt_length or context)
        tokens = prompt * batch
        logits_tokens = tokens if req.full_prompt_logits else batch
        layer_peak, head_peak = memory.forward_transient_bytes(
            arch, tokens, flash_attention=plan.flash_attention, logits_tokens=logits_tokens
        )
        retained_logits = logits_tokens * arch.vocab_size * memory.FP32
        kv_prompt = memory.kv_cache(
            arch, prompt, batch, plan.kv_fmt, sliding_extra_tokens=self.sliding_extra_tokens(),
            layer_fraction=self.kv_layer_fraction(plan),
        ).bytes  # fmt: skip
        copies = 2 if req.legacy_kv_cache else 1
        n = plan.layer_split

        def extra(share: float, position: str) -> int:
            """Bytes above the GPU's share of the context's KV cache at its own peak moment."""
            kc, kp = int(kv_bytes * share), int(kv_prompt * share)
            transient = max(layer_peak, head_peak) if position in ("only", "last") else layer_peak
            moments = [kp + transient, copies * kc]
            if position in ("only", "first"):
                moments.append(copies * kp + retained_logits)
            return max(moments) - kc

        if n == 1:
            act = extra(1.0, "only")
            return act, act
        positions = ["first"] + ["middle"] * (n - 2) + ["last"]
        act_all = sum(extra(1 / n, p) for p in positions)
        busiest = -(-arch.num_layers // n) / arch.num_layers
        return max(extra(busiest, p) for p in positions), act_all

    def inference_assumptions(self, plan: Plan) -> list[str]:
        notes = super().inference_assumptions(plan)
        notes.append(
            "peak: the larger of the prefill (prompt KV + activations) and the decode steps (KV of the whole context"
            + (", held twice while the old cache tuple is still referenced" if plan.req.legacy_kv_cache else "")
            + ")"
        )
        return notes
