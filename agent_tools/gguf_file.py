"""Read a local GGUF file's header: the architecture (as config.json fields) and the exact type and size of every
tensor. The only module that touches the file system for model input; the estimate itself stays pure."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
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


# GGUF value types (gguf spec: GGUFValueType) -> struct format of a scalar.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# Bounds on what a header may declare, so that a damaged or hostile file cannot make the parser allocate or loop
# without limit (a real 256k-token vocabulary is 2^18 strings; DeepSeek-V3 has ~1,000 tensors per GGUF shard).
_MAX_ITEMS = 1 << 22
_MAX_STRING = 1 << 20
_MAX_TENSORS = 1 << 17
_MAX_DIMS = 8
_MAX_KEPT_NUMBERS = (
    4096  # per-layer arrays (head_count_kv, feed_forward_length) are kept; vocabulary-sized ones are not
)


class GgufHeaderError(VramwiseError):
    """A GGUF header that cannot be read (truncated, damaged, or not GGUF)."""


class _Cursor:
    """Sequential reads over a byte source, `read(n)` returning exactly n bytes or raising."""

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self.offset = 0

    def take(self, n: int) -> bytes:
        data = self._read(n)
        if len(data) != n:
            raise GgufHeaderError(f"GGUF header truncated at byte {self.offset + len(data):,}", value=self.offset)
        self.offset += n
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > _MAX_STRING:
            raise GgufHeaderError(f"GGUF string of {n:,} bytes exceeds the {_MAX_STRING:,}-byte limit", value=n)
        return self.take(n).decode("utf-8", errors="replace")

    def value(self, vtype: int, *, keep_arrays: bool) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type = self.unpack("<I")
            n = self.unpack("<Q")
            if n > _MAX_ITEMS:
                raise GgufHeaderError(f"GGUF array of {n:,} items exceeds the {_MAX_ITEMS:,}-item limit", value=n)
            if item_type in _SCALARS:
                size = struct.calcsize(_SCALARS[item_type])
                raw = self.take(n * size)
                if not keep_arrays and n > _MAX_KEPT_NUMBERS:  # token scores, not per-layer values
                    return _ArrayLength(n)
                return list(struct.unpack(f"<{n}{_SCALARS[item_type][1]}", raw))
            items = [self.value(item_type, keep_arrays=False) for _ in range(n)]
            return items if keep_arrays or n <= 64 else _ArrayLength(n)
        raise GgufHeaderError(f"unknown GGUF value type {vtype}", value=vtype)


class _ArrayLength(int):
    """A long metadata array (token list, merges) kept only as its length."""


@dataclass(frozen=True)
class GgufTensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order: ne[0] (row length) first
    type_id: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class GgufHeader:
    version: int
    metadata: dict[str, Any]
    tensors: tuple[GgufTensorInfo, ...]
    header_bytes: int  # bytes read up to the end of the tensor infos


def parse_gguf_header(read: Callable[[int], bytes]) -> GgufHeader:
    """Parse a GGUF header (metadata key/values and tensor infos) from a sequential byte source.

    Reads only the header, never tensor data, so the source may be the first megabytes of a remote file fetched
    with HTTP range requests (as gguf-parser does) or a header-only file.
    """
    c = _Cursor(read)
    if c.take(4) != b"GGUF":
        raise GgufHeaderError("not a GGUF file (magic bytes are not 'GGUF')", value="magic")
    version = c.unpack("<I")
    if version not in (2, 3):
        raise GgufHeaderError(f"GGUF version {version} is not supported (accepted: 2, 3)", value=version)
    n_tensors = c.unpack("<Q")
    n_kv = c.unpack("<Q")
    if n_tensors > _MAX_TENSORS or n_kv > _MAX_ITEMS:
        raise GgufHeaderError(
            f"GGUF header declares {n_tensors:,} tensors and {n_kv:,} keys: too many", value=n_tensors
        )
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = c.string()
        vtype = c.unpack("<I")
        metadata[key] = c.value(vtype, keep_arrays=False)
    tensors = []
    for _ in range(n_tensors):
        name = c.string()
        n_dims = c.unpack("<I")
        if n_dims > _MAX_DIMS:
            raise GgufHeaderError(f"GGUF tensor {name!r} has {n_dims} dimensions (at most {_MAX_DIMS})", value=n_dims)
        shape = tuple(c.unpack("<Q") for _ in range(n_dims))
        type_id = c.unpack("<I")
        c.unpack("<Q")  # data offset
        tensors.append(GgufTensorInfo(name, shape, type_id))
    return GgufHeader(version, metadata, tuple(tensors), c.offset)


def tensor_bytes(info: GgufTensorInfo) -> tuple[str, int]:
    """(ggml type name, stored bytes) of one tensor, from ggml's block sizes."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    try:
        qtype = GGMLQuantizationType(info.type_id)
    except ValueError:
        raise GgufHeaderError(
            f"tensor {info.name!r} has unknown ggml type {info.type_id}", value=info.type_id
        ) from None
    block, size = GGML_QUANT_SIZES[qtype]
    return qtype.name, info.elements // block * size


def gguf_info_from_header(header: GgufHeader, path: str, stem: str) -> GgufInfo:
    """The architecture (as config.json fields) and exact tensor sizes a GGUF header declares."""
    meta = header.metadata
    arch = str(meta.get("general.architecture") or "llama")

    def key(suffix: str) -> Any:
        return meta.get(f"{arch}.{suffix}")

    def number(suffix: str) -> int:
        value = key(suffix)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    by_type: dict[str, int] = {}
    total = params = embd = output = experts = 0
    vocab_from_tensor = None
    for t in header.tensors:
        type_name, size = tensor_bytes(t)
        by_type[type_name] = by_type.get(type_name, 0) + size
        total += size
        params += t.elements
        if t.name == "token_embd.weight":
            embd += size
            vocab_from_tensor = int(t.shape[-1])
        elif t.name == "output.weight":
            output += size
        if "_exps." in t.name:
            experts += size
    tokens = meta.get("tokenizer.ggml.tokens")
    config: dict[str, Any] = {
        "model_type": arch,
        "hidden_size": key("embedding_length"),
        "num_hidden_layers": key("block_count"),
        "num_attention_heads": key("attention.head_count"),
        "num_key_value_heads": key("attention.head_count_kv"),
        "intermediate_size": key("feed_forward_length"),
        "vocab_size": len(tokens) if isinstance(tokens, list) else (int(tokens) if tokens else vocab_from_tensor),
        "max_position_embeddings": key("context_length"),
        "tie_word_embeddings": output == 0,
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
            qk_nope_head_dim=(number("attention.key_length_mla") or number("attention.key_length"))
            - number("rope.dimension_count"),
            v_head_dim=key("attention.value_length_mla") or key("attention.value_length"),
        )
    config.update(_hybrid_fields(arch, key, config))
    for field_name in ("num_key_value_heads", "intermediate_size"):
        if isinstance(config[field_name], list):  # per-layer arrays: keep the largest (conservative)
            numbers = [v for v in config[field_name] if isinstance(v, int) and not isinstance(v, bool)]
            config[field_name] = max(numbers) if numbers else None
    config = {k: v for k, v in config.items() if v is not None}
    missing = [k for k in ("hidden_size", "num_hidden_layers", "num_attention_heads") if k not in config]
    if missing and arch != "clip":
        raise VramwiseError(
            f"{stem}: GGUF metadata lacks {', '.join(f'{arch}.{m}' for m in missing)}; cannot size it",
            value=path,
        )
    ftype = meta.get("general.file_type")
    return GgufInfo(
        path=path,
        name=str(meta.get("general.name") or stem),
        architecture=arch,
        file_type=_FTYPES.get(int(ftype)) if isinstance(ftype, int) else None,
        config=config,
        tensors=GgufTensors(
            total_bytes=total,
            params=params,
            token_embd_bytes=embd,
            output_bytes=output,
            expert_bytes=experts,
            bytes_by_type=by_type,
            tensor_count=len(header.tensors),
        ),
    )


# llama.cpp architecture names of hybrid models -> the config.json model_type whose layout they share.
_HYBRID_TYPES = {"jamba": "jamba", "granitehybrid": "granitemoehybrid", "falcon-h1": "falcon_h1"}


def _hybrid_fields(arch: str, key: Callable[[str], Any], config: dict[str, Any]) -> dict[str, Any]:
    """config.json fields of a hybrid model, rebuilt from llama.cpp's metadata: the SSM sizes (`ssm.*`) and which
    layers attend (a per-layer `attention.head_count_kv` array holds 0 for a recurrent layer; Qwen3-Next gives
    `full_attention_interval`)."""
    state = key("ssm.state_size")
    if not isinstance(state, int) or isinstance(state, bool) or state <= 0:
        return {}
    conv, inner = key("ssm.conv_kernel"), key("ssm.inner_size")
    rank, groups = key("ssm.time_step_rank"), key("ssm.group_count")
    kv = config.get("num_key_value_heads")
    hidden = config.get("hidden_size")
    if arch == "qwen3next":
        if not all(isinstance(v, int) and v > 0 for v in (inner, rank, groups)):
            return {}
        return {
            "model_type": "qwen3_next",
            "full_attention_interval": key("full_attention_interval") or 4,
            "linear_num_key_heads": groups,
            "linear_num_value_heads": rank,
            "linear_key_head_dim": state,
            "linear_value_head_dim": inner // rank,
            "linear_conv_kernel_dim": conv or 4,
        }
    out: dict[str, Any] = {"mamba_d_state": state, "mamba_d_conv": conv or 4}
    if isinstance(kv, list):
        out["layer_types"] = ["attention" if v else "mamba" for v in kv]
    if arch == "jamba":
        if isinstance(inner, int) and isinstance(hidden, int) and hidden > 0:
            out["mamba_expand"] = max(1, inner // hidden)
        out.update(model_type="jamba", mamba_dt_rank=rank or "auto")
        return out
    if isinstance(inner, int) and isinstance(rank, int) and rank > 0:
        out.update(mamba_n_heads=rank, mamba_d_head=inner // rank, mamba_d_ssm=inner, mamba_n_groups=groups or 1)
    out["model_type"] = _HYBRID_TYPES.get(arch, "granitemoehybrid")
    return out


def read_gguf_header(path: str | Path) -> GgufHeader:
    p = Path(path)
    if not p.is_file():
        raise VramwiseError(f"GGUF file not found: {str(p)!r}", value=str(p), accepted=["path to a .gguf file"])
    try:
        with p.open("rb") as f:
            return parse_gguf_header(f.read)
    except GgufHeaderError as e:
        raise GgufHeaderError(f"{p.name}: not a readable GGUF file ({e})", value=str(p)) from None
    except (OSError, struct.error, UnicodeError, MemoryError) as e:
        raise GgufHeaderError(f"{p.name}: not a readable GGUF file ({e})", value=str(p)) from None


def read_gguf(path: str | Path) -> GgufInfo:
    """Parse the header of a GGUF file (tensor data is never read, so a header-only file sizes the same)."""
    p = Path(path)
    return gguf_info_from_header(read_gguf_header(p), str(p), p.name)
