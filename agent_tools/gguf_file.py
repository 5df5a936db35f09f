"""Read a local GGUF file's header: the architecture (as config.json fields) and the exact type and size of every
tensor. The only module that touches the file system for model input; the estimate itself stays pure."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agent_tools.errors import VramwiseError


class GgufTensors(BaseModel):
    total_bytes: int
    params: int
    token_embd_bytes: int
    output_bytes: int
    expert_bytes: int
    bytes_by_type: dict[str, int]
    tensor_count: int


class GgufInfo(BaseModel):
    """What a GGUF header says: enough to size the model exactly."""

    path: str
    name: str
    architecture: str
    file_type: str | None = Field(default=None, description="llama.cpp ftype as written by llama-quantize")
    config: dict[str, Any] = Field(description="config.json-style fields rebuilt from GGUF metadata")
    tensors: GgufTensors


_FTYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    38: "MXFP4_MOE",
}


def _field(reader: Any, key: str) -> Any:
    field = reader.get_field(key)
    if field is None:
        return None
    value = field.contents()
    return value


def read_gguf(path: str | Path) -> GgufInfo:
    """Parse the header of a GGUF file (tensor data is memory-mapped, not read)."""
    p = Path(path)
    if not p.is_file():
        raise VramwiseError(f"GGUF file not found: {str(p)!r}", value=str(p), accepted=["path to a .gguf file"])
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(p), "r")
    except Exception as e:  # the gguf package raises bare ValueError/struct errors on damaged files
        raise VramwiseError(f"{p.name}: not a readable GGUF file ({e})", value=str(p)) from None

    arch = _field(reader, "general.architecture") or "llama"

    def key(suffix: str) -> Any:
        return _field(reader, f"{arch}.{suffix}")

    tokens = reader.get_field("tokenizer.ggml.tokens")
    by_type: dict[str, int] = {}
    total = params = embd = output = experts = 0
    vocab_from_tensor = None
    for t in reader.tensors:
        size = int(t.n_bytes)
        type_name = t.tensor_type.name
        by_type[type_name] = by_type.get(type_name, 0) + size
        total += size
        params += int(t.n_elements)
        if t.name == "token_embd.weight":
            embd += size
            vocab_from_tensor = int(t.shape[-1])
        elif t.name == "output.weight":
            output += size
        if re.search(r"_exps\.", t.name):
            experts += size
    has_output = output > 0
    config: dict[str, Any] = {
        "model_type": arch,
        "hidden_size": key("embedding_length"),
        "num_hidden_layers": key("block_count"),
        "num_attention_heads": key("attention.head_count"),
        "num_key_value_heads": key("attention.head_count_kv"),
        "intermediate_size": key("feed_forward_length"),
        "vocab_size": len(tokens.data) if tokens is not None else vocab_from_tensor,
        "max_position_embeddings": key("context_length"),
        "tie_word_embeddings": not has_output,
    }
    head_dim = key("attention.key_length")
    if head_dim:
        config["head_dim"] = head_dim
    window = key("attention.sliding_window")
    if window:
        config["sliding_window"] = window
    experts_n = key("expert_count")
    if experts_n:
        config.update(
            num_experts=experts_n,
            num_experts_per_tok=key("expert_used_count"),
            moe_intermediate_size=key("expert_feed_forward_length") or key("feed_forward_length"),
            n_shared_experts=key("expert_shared_count") or 0,
            first_k_dense_replace=key("leading_dense_block_count") or 0,
        )
    kv_lora = key("attention.kv_lora_rank")
    if kv_lora:
        config.update(
            kv_lora_rank=kv_lora,
            q_lora_rank=key("attention.q_lora_rank"),
            qk_rope_head_dim=key("rope.dimension_count"),
            qk_nope_head_dim=(key("attention.key_length_mla") or key("attention.key_length") or 0)
            - (key("rope.dimension_count") or 0),
            v_head_dim=key("attention.value_length_mla") or key("attention.value_length"),
        )
    if isinstance(config["num_key_value_heads"], list):  # per-layer arrays: keep the largest (conservative)
        config["num_key_value_heads"] = max(config["num_key_value_heads"])
    config = {k: v for k, v in config.items() if v is not None}
    missing = [k for k in ("hidden_size", "num_hidden_layers", "num_attention_heads") if k not in config]
    if missing:
        raise VramwiseError(
            f"{p.name}: GGUF metadata lacks {', '.join(f'{arch}.{m}' for m in missing)}; cannot size it",
            value=str(p),
        )
    ftype = _field(reader, "general.file_type")
    return GgufInfo(
        path=str(p),
        name=_field(reader, "general.name") or p.stem,
        architecture=arch,
        file_type=_FTYPES.get(int(ftype)) if ftype is not None else None,
        config=config,
        tensors=GgufTensors(
            total_bytes=total,
            params=params,
            token_embd_bytes=embd,
            output_bytes=output,
            expert_bytes=experts,
            bytes_by_type=by_type,
            tensor_count=len(reader.tensors),
        ),
    )
