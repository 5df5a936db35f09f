"""llama.cpp (and Ollama, LM Studio): model, KV and compute buffers; token embeddings stay in system RAM; layers
split across GPUs; layers that do not fit can stay in system RAM (-ngl)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from agent_tools import memory
from agent_tools.runtimes.base import PerGpu, Runtime
from agent_tools.schemas import FormatEntry

if TYPE_CHECKING:
    from agent_tools.plan import Plan
    from agent_tools.results import RuntimeDetail


class LlamaCpp(Runtime):
    id = "llama.cpp"
    multi_gpu: ClassVar[Literal["tensor", "layers"]] = "layers"
    offloads_layers: ClassVar[bool] = True

    def default_kv(self, fmt: FormatEntry) -> str:
        return "fp16"  # llama.cpp's --cache-type-k/v default f16 whatever the weights

    def sliding_extra_tokens(self) -> int:
        return self.profile.n_ubatch or 0

    def overhead_bytes(self, plan: Plan) -> int:
        # Metal has no CUDA context: llama.cpp's Metal backend compares its model, KV and compute buffers alone with
        # recommendedMaxWorkingSetSize ("allocated ... (X / limit)" in its logs, llama.cpp issues #2048, #5206).
        return 0 if plan.unified_memory else super().overhead_bytes(plan)

    def gpu_layers(self, plan: Plan) -> int | None:
        layers = plan.req.gpu_layers
        return layers if layers is not None and layers < plan.subject.arch.num_layers else None

    def weights_on_gpus(self, plan: Plan) -> tuple[int, int]:
        w = plan.weights
        if plan.unified_memory:
            return w.total_bytes, 0  # the whole mapped file is one Metal buffer, embeddings included
        # token_embd stays in host memory; tied models get a GPU copy for the output projection.
        cpu = w.token_embd_bytes
        gpu_total = w.total_bytes - (0 if plan.subject.arch.tied_embeddings else w.token_embd_bytes)
        layers = self.gpu_layers(plan)
        if layers is not None:
            block = gpu_total - w.output_bytes
            on_gpu = block * layers // plan.subject.arch.num_layers
            cpu += block - on_gpu
            gpu_total = on_gpu + w.output_bytes
        return gpu_total, cpu

    def kv_layer_fraction(self, plan: Plan) -> float:
        if plan.req.gpu_layers is None:
            return 1.0
        return min(1.0, plan.req.gpu_layers / plan.subject.arch.num_layers)

    def inference_activations(self, plan: Plan, context: int, batch: int) -> tuple[int, int]:
        buffer = memory.llama_cpp_compute_buffer(
            plan.subject.arch, context, self.profile.n_ubatch or 512, flash_attention=plan.flash_attention
        )
        return buffer, buffer

    def describe_buffers(self, plan: Plan, context: int, batch: int, detail: RuntimeDetail, per_gpu: PerGpu) -> None:
        detail.model_buffer_bytes = per_gpu.weights
        detail.compute_buffer_bytes = per_gpu.activations
        detail.cpu_ram_bytes = per_gpu.cpu_ram
        layers = plan.req.gpu_layers
        detail.gpu_layers = layers if layers is not None else plan.subject.arch.num_layers

    def launch_flags(self, plan: Plan, detail: RuntimeDetail) -> str | None:
        req = plan.req
        if req.mode != "inference":
            return None
        layers = detail.gpu_layers_that_fit if detail.gpu_layers_that_fit else (req.gpu_layers or 999)
        flags = [f"-c {req.context_length}", f"-ngl {layers}", f"-np {req.batch_size}" if req.batch_size > 1 else ""]
        if plan.kv_name not in ("fp16", "bf16"):
            flags.append(f"--cache-type-k {plan.kv_name} --cache-type-v {plan.kv_name}")
        flags.append("-fa on" if plan.flash_attention else "-fa off")
        if req.num_gpus > 1:
            flags.append("--split-mode layer")
        return " ".join(f for f in flags if f)

    def inference_assumptions(self, plan: Plan) -> list[str]:
        return [
            f"llama.cpp: n_ubatch {self.profile.n_ubatch}, flash attention {'on' if plan.flash_attention else 'off'}; "
            "token embeddings in system RAM"
        ]

    def multi_gpu_assumptions(self, plan: Plan) -> list[str]:
        n = plan.req.num_gpus
        return [(
            f"llama.cpp splits whole layers across {n} GPUs (--split-mode layer); the per-GPU figure is the fullest "
            "GPU's, the last one also holding the output layer"
        )] if n > 1 else []
