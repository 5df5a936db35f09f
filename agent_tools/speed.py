"""Decode and prefill speed: one physical formula, used by estimate_memory, the calibration and the benchmark.

Seconds per decode step (one token per sequence of the batch):

    fixed per-token cost                      (CPU-side work, kernel launches; per runtime and memory class)
  + layers x per-layer cost                   (launch/dispatch per layer)
  + bytes read / (bandwidth x efficiency)     (weights of this GPU's share + the batch's KV cache; efficiency by
                                               memory class, HBM / GDDR / unified LPDDR, and by weight format kernel)
  + layers x cached tokens x attention cost   (attention kernel time beyond the bytes it reads)
  + layer split: hops between GPUs            (pipeline: a token visits the GPUs in turn, so speed stays ~flat)
  + tensor parallel: 2 all-reduces per layer  (by interconnect, PCIe or NVLink; the bytes are divided by the GPUs)
  + MoE expert dispatch                       (runtimes that loop over every expert)

and at least the compute time batch x 2 x active params / (TFLOPS x prefill efficiency). Prefill is compute-bound
from TFLOPS with its own efficiency. The constants are fitted by evals/calibrate_speed.py on a named training split
and stored in data/speed_fit.yaml with the residual spread that gives each result its low-high range.

`decode_features` is the formula: each term is a feature times a constant, so the calibration fits exactly the
function the product evaluates (`decode_seconds` is the dot product).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from agent_tools.results import RuntimeDetail, Speed

if TYPE_CHECKING:
    from agent_tools.plan import Plan
    from agent_tools.schemas import GpuEntry, RuntimeProfile

MemoryClass = Literal["hbm", "gddr", "unified"]
Split = Literal["none", "layers", "tensor"]
Interconnect = Literal["pcie", "nvlink"]
MEMORY_CLASSES: tuple[MemoryClass, ...] = ("hbm", "gddr", "unified")
INTERCONNECTS: tuple[Interconnect, ...] = ("pcie", "nvlink")
FIT_FILE = Path(__file__).parent / "data" / "speed_fit.yaml"

# Float formats are the baseline kernel; every other format gets its own extra cost per weight byte.
BASE_FORMATS = frozenset({"fp16", "bf16", "fp32"})


@dataclass(frozen=True)
class DecodeInputs:
    """What one decode step has to do, independent of any runtime's constants (all per token of one sequence)."""

    weight_bytes: int  # weight bytes one step streams, whole model (before any split)
    kv_bytes: int  # KV-cache bytes one sequence reads per step, per GPU that holds it
    layers: int
    bandwidth_gb_s: float  # per GPU, decimal GB/s
    memory: MemoryClass
    fmt: str  # weight format id (formats.yaml)
    tflops: float | None = None  # dense FP16 tensor TFLOPS per GPU
    flops_per_token: float = 0.0  # 2 x active parameters
    n_gpus: int = 1
    split: Split = "none"
    interconnect: Interconnect = "pcie"
    batch: int = 1
    context: int = 0  # cached tokens the step attends to
    expert_dispatches: int = 0  # MoE layers x experts (for runtimes that loop over every expert)

    @property
    def tp(self) -> int:
        return self.n_gpus if self.split == "tensor" else 1

    @property
    def pipeline_gpus(self) -> int:
        return self.n_gpus if self.split == "layers" else 1


def decode_features(x: DecodeInputs) -> dict[str, float]:
    """Each term of the step time with a constant of 1 (seconds): feature name -> value.

    Units of the matching constants: fixed/layer/hop/allreduce/expert in microseconds, attention in nanoseconds,
    bytes and fmt as inverse efficiency (1 = the full bandwidth).
    """
    bw = x.bandwidth_gb_s * 1e9
    weight_s = x.weight_bytes / x.tp / bw
    kv_s = x.kv_bytes * x.batch / bw
    out: dict[str, float] = {
        f"fixed@{x.memory}": 1e-6,
        "layer": x.layers * 1e-6,
        f"bytes@{x.memory}": weight_s + kv_s,
        "attention": x.layers * x.context * x.batch / x.tp * 1e-9,
    }
    if x.fmt not in BASE_FORMATS:
        out[f"fmt@{x.fmt}"] = weight_s
    if x.pipeline_gpus > 1:
        # one hop per GPU boundary; later GPUs overlap their hand-off (fits better than n-1: see calibrate_speed)
        out["hop"] = math.log2(x.pipeline_gpus) * 1e-6
    if x.tp > 1:
        out[f"allreduce@{x.interconnect}"] = 2 * x.layers * 1e-6
    if x.expert_dispatches:
        out["expert"] = x.expert_dispatches * 1e-6
    return out


@dataclass(frozen=True)
class SpeedConstants:
    """One runtime's fitted constants (data/speed_fit.yaml)."""

    runtime: str
    coefficients: dict[str, float]
    prefill_efficiency: dict[str, float]
    ratio_low: float  # measured / predicted, 10th percentile of held-out training rows
    ratio_high: float  # 90th percentile
    trained_on: tuple[str, ...] = ()
    rows: int = 0
    filled: tuple[str, ...] = ()  # constants with no training rows, set from their family (see calibrate_speed)
    default_format_coefficient: float = 0.0

    def coefficient(self, name: str) -> float:
        if name in self.coefficients:
            return self.coefficients[name]
        if name.startswith("fmt@"):
            return self.default_format_coefficient
        family = name.split("@")[0] + "@"
        values = [v for k, v in self.coefficients.items() if k.startswith(family)]
        return sum(values) / len(values) if values else 0.0

    @property
    def source(self) -> str:
        if not self.rows:
            return f"{self.runtime}: no measured rows; " + "; ".join(self.filled)
        return (
            f"{self.runtime} constants fitted by evals/calibrate_speed.py on {self.rows} measured rows of "
            f"{', '.join(self.trained_on) or 'no source'} (evals/data/throughput.json)"
        )


def decode_seconds(x: DecodeInputs, c: SpeedConstants) -> float:
    """Seconds per decode step: the memory-side sum, or the compute time when that is longer."""
    t_mem = sum(c.coefficient(name) * value for name, value in decode_features(x).items())
    return max(t_mem, compute_seconds(x, c))


def compute_seconds(x: DecodeInputs, c: SpeedConstants) -> float:
    if not x.tflops or not x.flops_per_token:
        return 0.0
    eff = c.prefill_efficiency.get(x.memory) or max(c.prefill_efficiency.values(), default=0.4)
    return x.batch * x.flops_per_token / (x.tflops * 1e12 * x.tp * eff)


def prefill_tokens_per_s(x: DecodeInputs, c: SpeedConstants, attention_flops_per_token: float = 0.0) -> float:
    """Prompt tokens per second, compute-bound: TFLOPS x efficiency / FLOPs per token."""
    if not x.tflops or not x.flops_per_token:
        return 0.0
    eff = c.prefill_efficiency.get(x.memory) or max(c.prefill_efficiency.values(), default=0.4)
    return x.tflops * 1e12 * x.tp * eff / (x.flops_per_token + attention_flops_per_token)


def roofline_seconds(x: DecodeInputs, efficiency: float = 1.0) -> float:
    """The baseline peers use (LLM-Viewer, llm-analysis): bytes / (bandwidth x efficiency), no fixed term."""
    return (x.weight_bytes / x.tp + x.kv_bytes * x.batch) / (x.bandwidth_gb_s * 1e9 * efficiency)


# ------------------------------------------------------------------------------------------------ constants


def constants_from_dict(runtime: str, d: dict[str, Any]) -> SpeedConstants:
    return SpeedConstants(
        runtime=runtime,
        coefficients={k: float(v) for k, v in d["coefficients"].items()},
        prefill_efficiency={k: float(v) for k, v in d.get("prefill_efficiency", {}).items()},
        ratio_low=float(d["ratio_low"]),
        ratio_high=float(d["ratio_high"]),
        trained_on=tuple(d.get("trained_on", ())),
        rows=int(d.get("rows", 0)),
        filled=tuple(d.get("filled", ())),
        default_format_coefficient=float(d.get("default_format_coefficient", 0.0)),
    )


@cache
def fitted_constants() -> dict[str, SpeedConstants]:
    """Runtime id -> constants, as written by `python -m evals.calibrate_speed --write`."""
    with open(FIT_FILE, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return {rt: constants_from_dict(rt, d) for rt, d in data["runtimes"].items()}


def constants_for(runtime: str, profile: RuntimeProfile | None = None) -> SpeedConstants:
    """The fitted constants of `runtime`; a runtime without measured rows (a new data row) is timed like the generic
    runtime but streams bytes at its own row's decode_efficiency and prefills at its prefill_efficiency."""
    table = fitted_constants()
    if runtime in table:
        return table[runtime]
    generic = table["generic"]
    if profile is None:
        return generic
    coefficients = {k: v for k, v in generic.coefficients.items() if not k.startswith(("bytes@", "fmt@"))}
    coefficients |= {f"bytes@{m}": round(1 / profile.decode_efficiency, 4) for m in MEMORY_CLASSES}
    return replace(
        generic,
        runtime=runtime,
        coefficients=coefficients,
        prefill_efficiency=dict.fromkeys(MEMORY_CLASSES, profile.prefill_efficiency),
        default_format_coefficient=0.0,
        trained_on=(),
        rows=0,
        filled=("bytes@ from runtimes.yaml decode_efficiency", "fixed, per-layer and range from the generic runtime"),
    )


# ---------------------------------------------------------------------------------------------- the plan


def memory_class(entry: GpuEntry | None) -> MemoryClass:
    """HBM, GDDR or unified memory. GDDR data-center cards top out at 864 GB/s (L40S); HBM parts start at 900 (V100)."""
    if entry is None:
        return "gddr"
    if entry.memory_basis == "unified_ram":
        return "unified"
    if entry.segment == "datacenter" and (entry.bandwidth_gb_s or 0) >= 900:
        return "hbm"
    return "gddr"


def interconnect(entry: GpuEntry | None) -> Interconnect:
    """NVLink/xGMI on SXM/OAM boards (the catalog's SXM, H200, B200, GH200, MI300-series rows), else PCIe."""
    if entry is None:
        return "pcie"
    key = entry.id.lower()
    return "nvlink" if any(s in key for s in ("sxm", "h200", "b200", "gh200", "mi300", "mi325", "mi250")) else "pcie"


def weights_read_per_token(plan: Plan) -> int:
    """Weight bytes one decode step streams: every weight but unused experts and the embedding table (one row)."""
    arch, w = plan.subject.arch, plan.weights
    active_share = arch.experts_per_token / arch.num_experts if arch.is_moe else 1.0
    dense = w.total_bytes - w.token_embd_bytes - w.expert_bytes
    if arch.tied_embeddings:
        dense += w.token_embd_bytes  # the tied table is read whole as the output projection
    return int(dense + w.expert_bytes * active_share)


def inputs_from_plan(plan: Plan, context: int, batch: int, kv_bytes_per_seq: int) -> DecodeInputs | None:
    device = plan.device
    if device is None or device.bandwidth_gb_s is None:
        return None
    arch = plan.subject.arch
    n = plan.req.num_gpus if plan.req.mode == "inference" else 1
    # llama.cpp's row split syncs every matrix across the GPUs, as tensor parallelism does
    split: Split = "tensor" if plan.tp > 1 or plan.row_split > 1 else "layers" if plan.layer_split > 1 else "none"
    experts = 0
    if plan.runtime.profile.moe_expert_overhead_us and arch.is_moe:
        experts = sum(arch.is_moe_layer(i) for i in range(arch.num_layers)) * arch.num_experts
    return DecodeInputs(
        weight_bytes=weights_read_per_token(plan),
        kv_bytes=kv_bytes_per_seq,
        layers=arch.num_layers,
        bandwidth_gb_s=device.bandwidth_gb_s,
        memory=memory_class(device.entry),
        fmt=plan.fmt.id,
        tflops=device.fp16_tflops,
        flops_per_token=2.0 * arch.params_active,
        n_gpus=n if split != "none" else 1,
        split=split,
        interconnect=interconnect(device.entry),
        batch=batch,
        context=context,
        expert_dispatches=experts,
    )


def attention_flops_per_token(plan: Plan, context: int) -> float:
    """Prefill attention FLOPs per prompt token at a mean position of context/2 (QK^T and AV)."""
    arch = plan.subject.arch
    return 4.0 * arch.num_layers * (context // 2) * arch.num_heads * arch.head_dim


@dataclass
class _Step:
    seconds: float
    bound: str
    cpu_seconds: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)


def _step(plan: Plan, x: DecodeInputs, c: SpeedConstants) -> _Step:
    parts = {k: c.coefficient(k) * v for k, v in decode_features(x).items()}
    t_mem = sum(parts.values())
    t_compute = compute_seconds(x, c)
    gpu_layers = plan.runtime.gpu_layers(plan)
    if gpu_layers is not None:
        # llama.cpp -ngl: the GPU part scales with its layers; the rest streams from system RAM at the same kernel
        # efficiency as the GPU's.
        eff = 1 / max(c.coefficient(f"bytes@{x.memory}") + c.coefficient(f"fmt@{x.fmt}"), 1e-9)
        cpu = x.weight_bytes * (x.layers - gpu_layers) / x.layers / (plan.cpu_memory.bandwidth_gb_s * 1e9 * eff)
        return _Step(t_mem * gpu_layers / x.layers + cpu, "system RAM bandwidth (layers offloaded to CPU)", cpu, parts)
    if t_compute > t_mem:
        return _Step(t_compute, "compute", 0.0, parts)
    return _Step(t_mem, "memory bandwidth", 0.0, parts)


def decode_speed(plan: Plan, context: int, batch: int, kv_bytes_per_seq: int) -> Speed | None:
    x = inputs_from_plan(plan, context, batch, kv_bytes_per_seq)
    if x is None:
        return None
    c = constants_for(plan.runtime.profile.id, plan.runtime.profile)
    step = _step(plan, x, c)
    prefill = prefill_tokens_per_s(x, c, attention_flops_per_token(plan, context))
    decode = 1 / step.seconds
    eff = 1 / max(c.coefficient(f"bytes@{x.memory}") + c.coefficient(f"fmt@{x.fmt}"), 1e-9)
    fixed = step.parts.get(f"fixed@{x.memory}", 0.0) + step.parts.get("layer", 0.0)
    return Speed(
        decode_tokens_per_s=round(decode, 1),
        aggregate_decode_tokens_per_s=round(batch * decode, 1),
        prefill_tokens_per_s=round(prefill, 0),
        bound=step.bound,
        bytes_read_per_token=x.weight_bytes + x.kv_bytes * batch,
        efficiency=round(min(eff, 1.0), 3),
        source=c.source,
        decode_tokens_per_s_low=round(decode * c.ratio_low, 1),
        decode_tokens_per_s_high=round(decode * c.ratio_high, 1),
        fixed_time_share=round(fixed / step.seconds, 3) if step.seconds else 0.0,
        memory_class=x.memory,
        split=x.split,
    )


def serving_throughput(plan: Plan, context: int, concurrency: int, kv_bytes_per_seq: int) -> tuple[float, float] | None:
    """(aggregate decode tokens/s, per-sequence tokens/s) with `concurrency` sequences decoding together: one step
    reads the weights once for all of them, each sequence's KV cache, and is compute-bound once the batch's FLOPs
    outweigh that (serving runtimes; e.g. at vLLM's max_concurrency for the KV pool)."""
    x = inputs_from_plan(plan, context, max(1, concurrency), kv_bytes_per_seq)
    if x is None:
        return None
    step = _step(plan, x, constants_for(plan.runtime.profile.id, plan.runtime.profile)).seconds
    return round(x.batch / step, 1), round(1 / step, 1)


def as_run(
    plan: Plan, context: int, batch: int, kv_seq: int, fits: bool | None, detail: RuntimeDetail, warnings: list[str]
) -> Speed | None:
    """Speed as a user would run it: partial offload when it does not fit, serving throughput when pooled."""
    result = decode_speed(plan, context, batch, kv_seq)
    if fits is False and result is not None:
        layers = detail.gpu_layers_that_fit
        if not (plan.runtime.offloads_layers and layers):
            return None
        # What a user would run instead: the layers that fit on the GPU, the rest in system RAM.
        result = decode_speed(plan.with_gpu_layers(layers), context, batch, kv_seq)
        warnings.append(
            f"speed assumes partial offload: {layers} of {plan.subject.arch.num_layers} layers on the GPU "
            f"(-ngl {layers}), the rest in system RAM"
        )
    if result is not None and detail.max_concurrency and detail.max_concurrency >= 1:
        served = serving_throughput(plan, context, int(detail.max_concurrency), kv_seq)
        result.serving_tokens_per_s = served[0] if served else None
    return result
