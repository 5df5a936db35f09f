"""Weight bytes of a model in a format, tensor by tensor, following each format's recipe (formats.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from agent_tools.architecture import Architecture, Tensor
from agent_tools.schemas import FormatEntry, FormatsFile, RecipeRule

# Tensors llama-quantize never quantizes: 1-D tensors, the MoE router and Mamba's small 2-D tensors (llama-quant.cpp:
# "do not quantize Mamba's small yet 2D weights": ssm_conv1d, ssm_x, ssm_dt; A is stored F32).
_KEEP_F32 = {"norm", "bias", "ffn_gate_inp", "ffn_gate_inp_shexp", "ssm_conv1d", "ssm_x", "ssm_dt", "ssm_a"}
# Tensors the HF quantizers (GPTQ, AWQ, bitsandbytes, FP8) leave at 16 bit (non-Linear modules are never converted).
_KEEP_16_LINEAR = {
    "token_embd", "output", "norm", "bias", "ffn_gate_inp", "ffn_gate_inp_shexp", "ssm_conv1d", "ssm_a",
}  # fmt: skip
_EXPERT_CLASSES = {"ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"}


@dataclass(frozen=True)
class WeightBreakdown:
    total_bytes: int
    bytes_by_type: dict[str, int]
    token_embd_bytes: int
    output_bytes: int
    expert_bytes: int  # routed-expert tensors (all experts)

    def bits_per_weight(self, params: int) -> float:
        return 8 * self.total_bytes / params if params else 0.0


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _layer_selected(rule: RecipeRule, layer: int | None, n_layers: int) -> bool:
    if rule.layers == "all":
        return True
    if layer is None:
        return False
    if rule.layers == "more_bits":
        return _use_more_bits(layer, n_layers)
    kind, _, arg = rule.layers.partition(":")
    if kind == "first":
        return layer < int(arg)
    if kind == "first_fraction":
        return layer < int(n_layers * Fraction(arg))
    raise ValueError(f"unknown layer selector {rule.layers!r} in formats.yaml")


def _condition(rule: RecipeRule, arch: Architecture) -> bool:
    match rule.when:
        case None:
            return True
        case "n_expert_eq_8":
            return arch.num_experts == 8
        case "n_gqa_ge_4":
            return arch.gqa_ratio >= 4
        case "dense_80_layers":
            return arch.num_layers == 80 and not arch.is_moe
        case "tied":
            return arch.tied_embeddings
    return False


def _ggml_bytes(elements: int, cols: int, ggml_type: str, formats: FormatsFile) -> tuple[str, int]:
    """Bytes of `elements` stored as `ggml_type`, applying llama.cpp's fallback when rows do not fit blocks."""
    t = ggml_type
    block = formats.ggml_types[t]
    if cols % block.block_elements:
        t = formats.ggml_fallback.get(t, "F16")
        block = formats.ggml_types[t]
        if cols % block.block_elements:
            t, block = "F16", formats.ggml_types["F16"]
    return t, elements // block.block_elements * block.block_bytes


def _gguf_type(tensor: Tensor, fmt: FormatEntry, arch: Architecture) -> str:
    name = tensor.name
    if name in _KEEP_F32:
        return "F32"
    # With tied embeddings the token embedding doubles as the output matrix and takes the output's type.
    lookup = "output" if (name == "token_embd" and arch.tied_embeddings) else name
    for rule in fmt.rules:
        if lookup in rule.tensors and _condition(rule, arch) and _layer_selected(rule, tensor.layer, arch.num_layers):
            return rule.type
    assert fmt.base is not None
    return fmt.base


def _linear_bytes(tensor: Tensor, fmt: FormatEntry) -> tuple[str, int]:
    keep = tensor.name in _KEEP_16_LINEAR or (fmt.experts_only and tensor.name not in _EXPERT_CLASSES)
    if tensor.name in ("vision",) or keep:
        return f"{fmt.keep_bits}bit", tensor.elements * fmt.keep_bits // 8
    bits = Fraction(fmt.bits or 16) + Fraction(fmt.scale_bits_per_weight).limit_denominator(1 << 20)
    data = int(tensor.elements * bits / 8)
    rows = tensor.rows * tensor.count * fmt.scale_bits_per_row / 8
    return fmt.id, data + int(rows)


def tensor_bytes(arch: Architecture, fmt: FormatEntry, formats: FormatsFile) -> list[tuple[Tensor, str, int]]:
    """(tensor, stored type label, bytes) for every language-model tensor, in inventory order."""
    out = []
    for tensor in arch.tensors:
        if fmt.kind == "float":
            label, size = fmt.id, tensor.elements * int(fmt.bits or 16) // 8
        elif fmt.kind == "gguf":
            label, size = _ggml_bytes(tensor.elements, tensor.cols, _gguf_type(tensor, fmt, arch), formats)
        else:
            label, size = _linear_bytes(tensor, fmt)
        out.append((tensor, label, size))
    return out


def weight_breakdown(arch: Architecture, fmt: FormatEntry, formats: FormatsFile) -> WeightBreakdown:
    by_type: dict[str, int] = {}
    embd = output = experts = 0
    for tensor, label, size in tensor_bytes(arch, fmt, formats):
        by_type[label] = by_type.get(label, 0) + size
        if tensor.name == "token_embd":
            embd += size
        elif tensor.name == "output":
            output += size
        if tensor.expert:
            experts += size
    if arch.vision_params:
        # Vision towers ship at 16 bit in every format we model (llama.cpp keeps them in a separate mmproj file).
        size = arch.vision_params * (int(fmt.bits) if fmt.kind == "float" and fmt.bits else 16) // 8
        by_type["vision"] = size
    return WeightBreakdown(
        total_bytes=sum(by_type.values()),
        bytes_by_type=by_type,
        token_embd_bytes=embd,
        output_bytes=output,
        expert_bytes=experts,
    )
