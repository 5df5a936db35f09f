"""The quantization scheme a pre-quantized checkpoint declares in its config.json, and the format it is sized as."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QuantScheme:
    """A pre-quantized checkpoint's declared scheme (config.json quantization_config)."""

    method: str  # gptq | awq | bitsandbytes | fp8 | fbgemm_fp8 | compressed-tensors | mxfp4 | ...
    bits: float
    group_size: int | None = None
    format_id: str | None = None  # the calculator's format id it corresponds to, when one does
    skipped_modules: tuple[str, ...] = ()
    description: str = ""


def declared_quantization(config: dict[str, Any]) -> QuantScheme | None:
    """The quantization scheme a config.json declares, with the format id the calculator sizes it as."""
    q = config.get("quantization_config")
    if not isinstance(q, dict):
        nested = config.get("text_config")
        q = nested.get("quantization_config") if isinstance(nested, dict) else None
    if not isinstance(q, dict):
        return None
    method = str(q.get("quant_method", "")).lower()[:40]
    skipped = tuple(str(m)[:80] for m in (q.get("modules_to_not_convert") or q.get("ignore") or [])[:64])
    group = q.get("group_size")
    group = group if isinstance(group, int) and not isinstance(group, bool) and group > 0 else None
    if method in ("gptq", "awq"):
        bits = q.get("bits") if isinstance(q.get("bits"), int) else q.get("w_bit", 4)
        bits = bits if isinstance(bits, int) and 2 <= bits <= 8 else 4
        group = group or (q.get("q_group_size") if isinstance(q.get("q_group_size"), int) else None)
        fmt = {("gptq", 4): "gptq_int4", ("gptq", 8): "gptq_int8", ("awq", 4): "awq_int4"}.get((method, bits))
        desc = f"{method.upper()} int{bits}, group size {group or 'per channel'}"
        if method == "gptq" and q.get("desc_act"):
            desc += ", act-order (desc_act)"
        if q.get("lm_head"):
            desc += ", lm_head quantized"
        return QuantScheme(method, bits, group, fmt, skipped, desc)
    if method == "bitsandbytes":
        if q.get("load_in_8bit"):
            return QuantScheme(method, 8, None, "bnb_int8", skipped, "bitsandbytes LLM.int8()")
        double = bool(q.get("bnb_4bit_use_double_quant"))
        kind = str(q.get("bnb_4bit_quant_type", "fp4")).lower()
        fmt = "bnb_nf4_dq" if double else "bnb_nf4"
        return QuantScheme(method, 4, 64, fmt, skipped, f"bitsandbytes {kind}{' + double quant' if double else ''}")
    if method in ("fp8", "fbgemm_fp8"):
        block = q.get("weight_block_size")
        if isinstance(block, list) and block:
            return QuantScheme(method, 8, None, "fp8_block", skipped, f"FP8 e4m3, {block} block scales")
        return QuantScheme(method, 8, None, "fp8", skipped, "FP8 e4m3, per-channel scales")
    if method == "mxfp4":
        return QuantScheme(method, 4.25, 32, "mxfp4", skipped, "MXFP4 experts (E2M1 + E8M0 scale per 32)")
    if method == "compressed-tensors":
        return _compressed_tensors(q, skipped)
    return QuantScheme(method or "unknown", 16, None, None, skipped, f"quant_method '{method}' (not modelled)")


def _compressed_tensors(q: dict[str, Any], skipped: tuple[str, ...]) -> QuantScheme:
    groups_raw = q.get("config_groups")
    groups: dict[str, Any] = groups_raw if isinstance(groups_raw, dict) else {}
    weights: dict[str, Any] = {}
    for group in groups.values():
        if isinstance(group, dict) and isinstance(group.get("weights"), dict):
            weights = group["weights"]
            break
    bits = weights.get("num_bits", 8) if isinstance(weights.get("num_bits"), int) else 8
    kind = str(weights.get("type", "int")).lower()
    strategy = str(weights.get("strategy", "channel")).lower()
    group_size = weights.get("group_size") if isinstance(weights.get("group_size"), int) else None
    fmt: str | None
    if kind == "float" and bits == 8:
        fmt, desc = ("fp8_block" if strategy == "block" else "fp8"), f"compressed-tensors FP8 ({strategy} scales)"
    elif bits == 4 and kind == "int":
        fmt, desc = (
            "w4a16_g128" if (group_size or 128) == 128 else None,
            f"compressed-tensors W4A16 (group {group_size})",
        )
    elif bits == 4 and kind == "float":
        fmt, desc = "nvfp4", "compressed-tensors NVFP4 (FP4 + FP8 scale per 16)"
    elif bits == 8:
        fmt, desc = "w8a8_int8", f"compressed-tensors W8A8 int8 ({strategy} scales)"
    else:
        fmt, desc = None, f"compressed-tensors {kind}{bits} ({strategy})"
    return QuantScheme("compressed-tensors", bits, group_size, fmt, skipped, desc)
