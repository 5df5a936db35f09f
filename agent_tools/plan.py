"""The plan: a request joined with its resolved objects, everything that does not change with context or batch."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agent_tools import resolve
from agent_tools.errors import VramwiseError
from agent_tools.resolve import Device, Subject
from agent_tools.runtimes import Runtime
from agent_tools.schemas import CpuMemoryEntry, FormatEntry, KvFormatEntry
from agent_tools.units import GiB
from agent_tools.weights import WeightBreakdown

if TYPE_CHECKING:
    from agent_tools.estimate import EstimateRequest


@dataclass(frozen=True)
class Plan:
    req: EstimateRequest
    subject: Subject
    fmt: FormatEntry
    kv_name: str
    kv_fmt: KvFormatEntry
    runtime: Runtime
    weights: WeightBreakdown
    device: Device | None
    flash_attention: bool
    tp: int  # GPUs that split every tensor (tensor parallel)
    layer_split: int  # GPUs that each hold a slice of the layers
    cpu_memory: CpuMemoryEntry  # system RAM that offloaded layers stream from
    runtime_assumed: bool = False  # the request named no runtime
    reserve_bytes: int = 0  # per GPU, kept free for a desktop or other programs
    row_split: int = 1  # GPUs that each hold a band of rows of every weight matrix (llama.cpp --split-mode row)

    @property
    def unified_memory(self) -> bool:
        return self.device is not None and self.device.unified_memory

    @property
    def gpu_memory(self) -> int | None:
        return self.device.memory_bytes if self.device is not None else None

    def with_gpu_layers(self, layers: int) -> Plan:
        return replace(self, req=self.req.model_copy(update={"gpu_layers": layers}))


def _training_format(req: EstimateRequest, fmt: FormatEntry, assumptions: list[str]) -> FormatEntry:
    if req.mode == "qlora" and not (fmt.kind == "linear" and (fmt.bits or 16) <= 4):
        assumptions.append("QLoRA: base weights in bitsandbytes NF4 with double quantization (QLoRA default)")
        if req.stack != "unsloth":
            assumptions.append(
                "QLoRA: embeddings and output head kept in bf16, norms in fp32, as the QLoRA reference script "
                "(artidoro/qlora) and TRL's SFTTrainer leave them (PEFT's prepare_model_for_kbit_training alone "
                "casts every non-quantized weight to fp32)"
            )
        return resolve.precision("bnb_nf4_dq")
    if req.mode == "full_finetune" and fmt.kind != "float":
        floats = resolve.float_precisions()
        raise VramwiseError(
            f"full fine-tuning needs a float precision, not {fmt.id!r}; accepted: {', '.join(floats)} "
            "(use mode='qlora' to train adapters on a 4-bit base)",
            value=fmt.id,
            accepted=floats,
        )
    return fmt


def _check_tensor_parallel(tp: int, subject: Subject, assumptions: list[str]) -> None:
    arch = subject.arch
    if arch.num_heads % tp:
        raise VramwiseError(
            f"tensor parallel size {tp} must divide the {arch.num_heads} attention heads of {subject.name}; "
            f"accepted num_gpus: {', '.join(str(d) for d in range(1, 17) if arch.num_heads % d == 0)}",
            value=tp,
            accepted=[str(d) for d in range(1, 65) if arch.num_heads % d == 0],
        )
    if not arch.is_mla and arch.num_kv_heads % tp and tp % arch.num_kv_heads:
        raise VramwiseError(
            f"tensor parallel size {tp} does not divide the {arch.num_kv_heads} KV heads of {subject.name}", value=tp
        )
    if not arch.is_mla and tp > arch.num_kv_heads:
        assumptions.append(f"{arch.num_kv_heads} KV heads over {tp} GPUs: each GPU keeps one KV head (replicated)")


def make_plan(req: EstimateRequest, assumptions: list[str], warnings: list[str]) -> Plan:
    """Resolve the request's names and fix everything that does not depend on context or batch."""
    subject = resolve.subject(req)
    runtime_assumed = req.runtime is None
    runtime = resolve.runtime(req.runtime or resolve.default_runtime(req.mode, req.num_gpus))
    profile = runtime.profile
    assumptions.extend(subject.assumptions)
    precision = req.precision
    if subject.file_format and "precision" not in req.model_fields_set:
        precision = subject.file_format if subject.file_format.lower() in resolve.known_precisions() else "q8_0"
    fmt = _training_format(req, resolve.precision(precision), assumptions)
    kv_name, kv_fmt = resolve.kv_format(req.kv_cache_precision or runtime.default_kv(fmt))
    if profile.id not in fmt.runtimes:
        warnings.append(
            f"{fmt.name} is not a usual format for {profile.name.split(' (')[0]}; it runs on: {', '.join(fmt.runtimes)}"
        )
    device = resolve.device(req, assumptions)
    several = req.mode == "inference" and req.num_gpus > 1
    if req.split_mode is not None and req.split_mode not in runtime.split_modes:
        modes = ", ".join(runtime.split_modes) or "none"
        raise VramwiseError(
            f"split_mode {req.split_mode!r} is not a {profile.id} option (split modes: {modes}); "
            f"{profile.id} spreads over GPUs by {'tensor parallel' if runtime.multi_gpu == 'tensor' else 'layers'}",
            value=req.split_mode,
            accepted=list(runtime.split_modes),
        )
    if req.legacy_cuda_build and not runtime.models_legacy_cuda_build:
        raise VramwiseError(
            f"legacy_cuda_build describes llama.cpp CUDA builds of 2023, not {profile.id}; use runtime='llama.cpp'",
            value=req.legacy_cuda_build,
        )
    rows = several and req.split_mode == "row" and not (device is not None and device.unified_memory)
    tp = req.num_gpus if several and runtime.multi_gpu == "tensor" else 1
    layer_split = req.num_gpus if several and runtime.multi_gpu == "layers" and not rows else 1
    if tp > 1:
        _check_tensor_parallel(tp, subject, assumptions)
    flash = profile.flash_attention if req.flash_attention is None else req.flash_attention
    reserve = int((req.reserve_gb or 0) * GiB)
    return Plan(
        req,
        subject,
        fmt,
        kv_name,
        kv_fmt,
        runtime,
        resolve.weights(subject, fmt),
        device,
        flash,
        tp,
        layer_split,
        resolve.cpu_memory(req.cpu_memory),
        runtime_assumed,
        reserve,
        req.num_gpus if rows else 1,
    )
