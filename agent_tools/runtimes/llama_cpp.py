"""llama.cpp (and Ollama, LM Studio): model, KV and compute buffers; token embeddings stay in system RAM; layers
split across GPUs (or, with --split-mode row, every matrix split by rows); layers that do not fit can stay in system
RAM (-ngl)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar, Literal

from agent_tools import catalog, memory
from agent_tools.architecture import Architecture
from agent_tools.runtimes.base import PerGpu, Runtime
from agent_tools.schemas import FormatEntry
from agent_tools.tensors import Tensor
from agent_tools.weights import tensor_bytes

if TYPE_CHECKING:
    from agent_tools.plan import Plan
    from agent_tools.results import RuntimeDetail


# --split-mode row puts every weight matrix on all GPUs, each holding a band of its rows
# (ggml_backend_cuda_split_buffer; before January 2024, tensors of backend GGML_BACKEND_GPU_SPLIT); vectors (norms,
# biases), the router and stacked expert tensors stay whole on the main GPU with the KV cache and the compute buffer.
_NOT_SPLIT = {"norm", "bias", "ffn_gate_inp", "ffn_gate_inp_shexp", "ssm_conv1d", "ssm_a", "ssm_dt"}
# Row bands start at floor(rows x tensor_split[i]) rounded down to the matmul tile (ggml-cuda get_row_rounding: mmq_y,
# 128 rows on NVIDIA Volta and newer); tensor_split is proportional to each GPU's memory, so equal for identical GPUs.
ROW_ROUNDING = 128
# Prompt batches of more than 32 tokens ran quantized matmuls through cuBLAS on GPUs with tensor cores in builds before
# January 2024 (ggml-cuda.cu MMQ_MAX_BATCH_SIZE 32, llama.cpp PR #3776); smaller batches used the quantized kernels.
CUBLAS_MIN_TOKENS = 33
_FLOAT_TYPES = {"F32", "F16", "BF16", "fp16", "bf16", "fp32"}


def _is_matrix(tensor: Tensor, tied: bool) -> bool:
    """A weight matrix on the GPU: split by rows under --split-mode row, multiplied through cuBLAS for prompts."""
    if tensor.name == "token_embd":
        return tied  # a tied table is the output projection's matrix on the GPU
    return tensor.rows > 1 and tensor.count == 1 and tensor.name not in _NOT_SPLIT


def _band_start(rows: int, gpu: int, n: int) -> int:
    if gpu == 0:
        return 0
    if gpu == n:
        return rows
    start = rows * gpu // n
    return start - start % ROW_ROUNDING


@lru_cache(maxsize=64)
def _tensors(arch: Architecture, fmt_id: str) -> tuple[tuple[Tensor, str, int], ...]:
    return tuple(tensor_bytes(arch, catalog.resolve_format(fmt_id), catalog.formats_file()))


def _metal_view_overlap(plan: Plan) -> int:
    """Bytes the Metal working set counts twice when the model is larger than one Metal buffer may be.

    ggml-metal maps such a model as several views of device.maxBufferLength bytes, each overlapping the next by the
    largest tensor rounded up to whole pages plus one page, so every tensor lies whole in one view; the views'
    lengths add up against recommendedMaxWorkingSetSize. maxBufferLength is a fraction of the working set
    (defaults.yaml metal_max_buffer_fraction, read off llama.cpp's logs)."""
    if plan.gpu_memory is None:
        return 0
    size = plan.weights.total_bytes
    d = catalog.defaults()
    view = int(plan.gpu_memory * float(d["metal_max_buffer_fraction"]["value"]))
    if size <= view:
        return 0
    page = int(d["metal_page_bytes"]["value"])
    largest = max(b for _t, _label, b in _tensors(plan.subject.arch, plan.fmt.id))
    overlap = (-(-largest // page) + 1) * page
    step = view - overlap
    if step <= 0:
        return 0
    views = -(-size // step)
    return (views - 1) * overlap


@lru_cache(maxsize=64)
def _row_split_shares(arch: Architecture, fmt_id: str, n: int) -> tuple[float, float]:
    """Shares of the GPU weight bytes on the main (first) GPU and on the last GPU under a row split over n GPUs."""
    main = last = whole = 0.0
    for tensor, _label, size in _tensors(arch, fmt_id):
        if tensor.name == "token_embd" and not arch.tied_embeddings:
            continue  # in system RAM
        whole += size
        if not _is_matrix(tensor, arch.tied_embeddings):
            main += size
            continue
        main += size * _band_start(tensor.rows, 1, n) / tensor.rows
        last += size * (tensor.rows - _band_start(tensor.rows, n - 1, n)) / tensor.rows
    return main / whole, last / whole


def _matmul_requests(rows: int, cols: int, tokens: int, stored: str, band: int | None, main: bool) -> tuple[int, ...]:
    """Pool requests of one cuBLAS matmul: a whole matrix is converted to F16 with its input and output; a row band
    of a split matrix (which cannot take the F16 path) is converted to F32, and a GPU other than the main one also
    receives a copy of the input and returns its band of the output (ggml_cuda_op_mul_mat, _mul_mat_cublas)."""
    float_weights = stored in _FLOAT_TYPES
    if band is None:
        return ((0 if float_weights else rows * cols * 2), tokens * cols * 2, rows * tokens * 2)
    convert = 0 if stored in ("F32", "fp32") else band * cols * 4
    return (convert,) if main else (tokens * cols * 4, band * tokens * 4, convert)


def _layer_order(name: str) -> int:
    if name.startswith("attn_") and name != "attn_output":
        return 0
    return {"attn_output": 2, "ffn_up": 3, "ffn_gate": 4, "ffn_down": 5}.get(name, 6)


def legacy_pool_blocks(
    arch: Architecture, fmt_id: str, tokens: int, n_kv: int, n: int, main: bool, attention: bool
) -> list[tuple[tuple[tuple[int, ...], ...], int]]:
    """The pool requests of one prompt batch on one GPU, as (ops of a layer, repeats) in graph order."""
    h, heads, hd = arch.hidden_size, arch.num_heads, arch.head_dim
    per_layer: dict[int | None, list[tuple[int, tuple[int, ...]]]] = {}
    for tensor, label, _size in _tensors(arch, fmt_id):
        if not _is_matrix(tensor, arch.tied_embeddings):
            continue
        band = None
        if n > 1:
            start, end = (0, _band_start(tensor.rows, 1, n)) if main else (_band_start(tensor.rows, n - 1, n), None)
            band = (end if end is not None else tensor.rows) - start
        op = _matmul_requests(tensor.rows, tensor.cols, tokens, label, band, main)
        per_layer.setdefault(tensor.layer, []).append((_layer_order(tensor.name), op))
    blocks: list[tuple[tuple[tuple[int, ...], ...], int]] = [(((tokens * h * 4,),), 1)]  # input rows from the host
    for layer in sorted(k for k in per_layer if k is not None):
        ops = [op for _order, op in sorted(per_layer[layer], key=lambda item: item[0])]
        if attention and arch.has_attention(layer):
            # K*Q and KQV on the F16 cache: batched cuBLAS with F16 copies of its input and output
            q, scores = hd * tokens * heads * 2, n_kv * tokens * heads * 2
            first = sum(1 for order, _op in per_layer[layer] if order == 0)
            ops[first:first] = [(q, scores), (scores, q)]
        block = tuple(tuple(r for r in op if r) for op in ops)
        if blocks and blocks[-1][0] == block:
            blocks[-1] = (block, blocks[-1][1] + 1)
        else:
            blocks.append((block, 1))
    tail = [op for _order, op in per_layer.get(None, [])]
    if tail:
        blocks.append((tuple(tuple(r for r in op if r) for op in tail), 1))
    return blocks


class LlamaCpp(Runtime):
    id = "llama.cpp"
    multi_gpu: ClassVar[Literal["tensor", "layers"]] = "layers"
    split_modes: ClassVar[tuple[str, ...]] = ("layer", "row")
    models_legacy_cuda_build: ClassVar[bool] = True
    offloads_layers: ClassVar[bool] = True

    def default_kv(self, fmt: FormatEntry) -> str:
        return "fp16"  # llama.cpp's --cache-type-k/v default f16 whatever the weights

    def sliding_extra_tokens(self) -> int:
        return self.profile.n_ubatch or 0

    def overhead_bytes(self, plan: Plan) -> int:
        # Metal has no CUDA context: llama.cpp's Metal backend compares its model, KV and compute buffers alone with
        # recommendedMaxWorkingSetSize ("allocated ... (X / limit)" in its logs, llama.cpp issues #2048, #5206).
        if plan.unified_memory:
            return _metal_view_overlap(plan)
        base = super().overhead_bytes(plan)
        if plan.req.legacy_cuda_build:
            return max(base, int(catalog.defaults()["llama_cpp_2023_cuda_overhead_bytes"]["value"]))
        return base

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

    def row_split_weights(self, plan: Plan) -> tuple[int, int]:
        gpu_total, _cpu = self.weights_on_gpus(plan)
        main, last = _row_split_shares(plan.subject.arch, plan.fmt.id, plan.row_split)
        return int(gpu_total * main), int(gpu_total * last)

    def prompt_pool_bytes(self, plan: Plan, context: int, batch: int) -> tuple[int, int]:
        req = plan.req
        if not req.legacy_cuda_build or plan.unified_memory:
            return 0, 0
        tokens = min(min(context, req.prompt_length or context) * batch, self.profile.n_ubatch or 512)
        if tokens < CUBLAS_MIN_TOKENS:
            return 0, 0
        arch, fmt, n = plan.subject.arch, plan.fmt.id, plan.row_split
        # K*Q is sized for a batch at the end of the context, as the compute buffer is; no flash attention then
        attention = not plan.flash_attention
        main = memory.legacy_cuda_pool_bytes(legacy_pool_blocks(arch, fmt, tokens, context, n, True, attention))
        if n == 1:
            return main, main
        return main, memory.legacy_cuda_pool_bytes(legacy_pool_blocks(arch, fmt, tokens, context, n, False, False))

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
            flags.append(f"--split-mode {'row' if plan.row_split > 1 else 'layer'}")
        return " ".join(f for f in flags if f)

    def inference_assumptions(self, plan: Plan) -> list[str]:
        return [
            f"llama.cpp: n_ubatch {self.profile.n_ubatch}, flash attention {'on' if plan.flash_attention else 'off'}; "
            "token embeddings in system RAM",
            *self.inference_pool_assumptions(plan),
        ]

    def multi_gpu_assumptions(self, plan: Plan) -> list[str]:
        n = plan.req.num_gpus
        if plan.row_split > 1:
            return [
                f"llama.cpp --split-mode row over {n} GPUs: every weight matrix split by rows (bands rounded to "
                f"{ROW_ROUNDING} rows); norms, KV cache and compute buffer on the main GPU, which the per-GPU figure "
                "describes unless the last GPU's band is fuller"
            ]
        if n <= 1:
            return []
        return [
            f"llama.cpp splits whole layers across {n} GPUs (--split-mode layer); the per-GPU figure is the "
            "fullest GPU's, the last one also holding the output layer"
        ]

    def inference_pool_assumptions(self, plan: Plan) -> list[str]:
        if not plan.req.legacy_cuda_build:
            return []
        return [
            "llama.cpp CUDA build of 2023: prompt batches over 32 tokens multiply through cuBLAS on F16 copies of "
            "whole matrices (F32 copies of row-split bands) that its CUDA pool keeps; each GPU also loses "
            f"{self.overhead_bytes(plan) / 2**20:.0f} MiB outside its tensors, not the "
            f"{self.profile.context_bytes / 2**20:.0f} MiB of current builds (fitted on that era's load logs); both "
            "counted with the overhead"
        ]
