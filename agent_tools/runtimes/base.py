"""The runtime protocol: what a runtime keeps in memory besides weights and KV cache, how it spreads a model over
several GPUs, what it tells the user to launch, and what it assumes.

`Runtime` is also the generic behaviour (weights + KV + one prefill pass + a CUDA context); a runtime module
subclasses it, sets `id` to its data row's id in runtimes.yaml, and overrides only what differs. The registry in
`agent_tools.runtimes` discovers the modules of this package, so a new runtime is one module plus one data row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from agent_tools import catalog, memory
from agent_tools.schemas import FormatEntry, RuntimeProfile

if TYPE_CHECKING:
    from agent_tools.plan import Plan
    from agent_tools.results import RuntimeDetail


class Runtime:
    """Generic behaviour; runtime modules override the methods that differ."""

    id: ClassVar[str] = "generic"
    # How inference spreads over several GPUs: "tensor" splits every weight matrix (and KV heads) across them,
    # "layers" gives each GPU a slice of the layers that run one after another.
    multi_gpu: ClassVar[Literal["tensor", "layers"]] = "tensor"
    # Ways the runtime can be told to spread inference over GPUs (llama.cpp --split-mode); empty: only `multi_gpu`.
    split_modes: ClassVar[tuple[str, ...]] = ()
    # Whether the runtime models its CUDA builds of 2023 (EstimateRequest.legacy_cuda_build).
    models_legacy_cuda_build: ClassVar[bool] = False
    # Whether the runtime can keep some layers in system RAM when the model does not fit (llama.cpp -ngl).
    offloads_layers: ClassVar[bool] = False
    # Tokens of one prefill pass the activation estimate assumes (None: the whole prompt).
    prefill_chunk_tokens: ClassVar[int | None] = 2048

    def __init__(self, profile: RuntimeProfile) -> None:
        self.profile = profile

    # ------------------------------------------------------------------------------------------- memory

    def default_kv(self, fmt: FormatEntry) -> str:
        """KV-cache precision when the request names none: the activation dtype of the weights."""
        return "fp16" if fmt.id == "fp16" else "bf16"

    def sliding_extra_tokens(self) -> int:
        """Tokens a sliding-window layer holds beyond its window (the runtime's step size)."""
        return 0

    def overhead_bytes(self, plan: Plan) -> int:
        """Per GPU, outside the model's buffers: the CUDA context, library workspaces, CUDA graphs."""
        return memory.runtime_overhead(self.profile)

    def weights_on_gpus(self, plan: Plan) -> tuple[int, int]:
        """(weight bytes on the GPUs before any split, weight bytes in system RAM)."""
        return plan.weights.total_bytes, 0

    def row_split_weights(self, plan: Plan) -> tuple[int, int]:
        """Row split (llama.cpp --split-mode row): weight bytes on the main GPU and on the last GPU."""
        share = _ceil_div(self.weights_on_gpus(plan)[0], plan.row_split)
        return share, share

    def prompt_pool_bytes(self, plan: Plan, context: int, batch: int) -> tuple[int, int]:
        """Bytes a prompt batch leaves in the runtime's own GPU memory pool outside its logged buffers: (main GPU,
        each other GPU)."""
        return 0, 0

    def kv_layer_fraction(self, plan: Plan) -> float:
        """Share of the layers whose KV cache lives on the GPUs."""
        return 1.0

    def inference_activations(self, plan: Plan, context: int, batch: int) -> tuple[int, int]:
        """(activation bytes per GPU at the peak, the largest single-layer transient) for one forward pass."""
        req = plan.req
        prompt = min(context, req.prompt_length or context)
        chunk = prompt if self.prefill_chunk_tokens is None else min(prompt, self.prefill_chunk_tokens)
        tokens = chunk * batch
        logits_tokens = tokens if req.full_prompt_logits else batch
        layer_peak, head_peak = memory.forward_transient_bytes(
            plan.subject.arch, tokens, flash_attention=plan.flash_attention, logits_tokens=logits_tokens
        )
        return max(layer_peak, head_peak) // plan.tp, layer_peak

    def inference_activation_split(self, plan: Plan, context: int, batch: int, kv_bytes: int) -> tuple[int, int]:
        """(bytes on the busiest GPU, bytes summed over the GPUs) on top of the weights and the KV cache of `context`
        tokens (`kv_bytes`: the whole cache, before a layer split)."""
        act, layer_peak = self.inference_activations(plan, context, batch)
        split = plan.layer_split
        if plan.req.legacy_kv_cache:
            act += kv_bytes // split  # the old cache tuple is still referenced while the new one is built
        # Layer split: every GPU holds its layers' transient, only the last one the output head.
        act_all = act * plan.req.num_gpus if split == 1 else (split - 1) * min(act, layer_peak) + act
        return act, act_all

    def describe_buffers(self, plan: Plan, context: int, batch: int, detail: RuntimeDetail, per_gpu: PerGpu) -> None:
        """Fill the runtime-specific part of the result (buffers, pools) for inference."""

    def capacity(self, plan: Plan, memory_bytes: int) -> int:
        """Bytes per GPU this runtime can use of `memory_bytes` (less what the user keeps for other programs)."""
        usable = int(memory_bytes * (1 - self.profile.allocator_reserve_fraction)) - plan.reserve_bytes
        if plan.unified_memory:
            # The Metal working set is a soft limit shared with the OS: keep a small measured margin under it.
            usable -= int(catalog.defaults()["unified_memory_margin_bytes"]["value"])
        return usable

    def fit_margin(self, plan: Plan) -> int:
        """Headroom under which a fit is called tight (the runtime's own safety margin)."""
        return self.profile.fit_margin_bytes

    def reported_total(self, total: int, detail: RuntimeDetail) -> int:
        """The total the user sees on the GPUs (a runtime that pre-allocates shows its reservation)."""
        return total

    def gpu_layers(self, plan: Plan) -> int | None:
        """Layers on the GPU when the request offloads the rest to system RAM, else None."""
        return None

    # ---------------------------------------------------------------------------------------------- words

    def launch_flags(self, plan: Plan, detail: RuntimeDetail) -> str | None:
        """The flags that make the runtime do what this estimate assumed."""
        return None

    def inference_assumptions(self, plan: Plan) -> list[str]:
        req = plan.req
        return [
            "activations: one prefill forward pass over the "
            + ("whole context" if self.prefill_chunk_tokens is None else f"first {self.prefill_chunk_tokens} tokens")
            + (", FlashAttention/SDPA (no score matrix)" if plan.flash_attention else ", eager attention")
            + ("; fp32 logits for every prompt token" if req.full_prompt_logits else "; last-token logits")
        ]

    def multi_gpu_assumptions(self, plan: Plan) -> list[str]:
        return []


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class PerGpu:
    """What each GPU holds for inference, passed to describe_buffers."""

    __slots__ = ("activations", "cpu_ram", "kv", "overhead", "weights")

    def __init__(self, weights: int, kv: int, activations: int, overhead: int, cpu_ram: int) -> None:
        self.weights, self.kv, self.activations, self.overhead, self.cpu_ram = (
            weights,
            kv,
            activations,
            overhead,
            cpu_ram,
        )
