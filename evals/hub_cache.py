"""Build a local Hugging Face cache of header-only repos, the way huggingface_hub lays one out on disk.

`models--org--name/refs/main` names a commit; `snapshots/<commit>/` holds the files. Weight files are written
header-only (a safetensors header with the real tensor names, dtypes and shapes; a GGUF header with the real tensor
types and shapes, written with the `gguf` package), so a repo of hundreds of gigabytes takes kilobytes, and
`huggingface_hub` reads the cache with HF_HUB_OFFLINE=1 as it would a real download.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

DTYPE_BYTES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "I16": 2, "F8_E4M3": 1, "I8": 1, "U8": 1}


def commit_of(repo_id: str) -> str:
    """A stable 40-hex commit id for a fixture repo."""
    return hashlib.sha1(repo_id.encode()).hexdigest()


def write_repo(cache: Path, repo_id: str, files: dict[str, bytes], commit: str | None = None) -> Path:
    """Write `files` as the snapshot of `repo_id` at `commit` (refs/main points to it); returns the snapshot."""
    commit = commit or commit_of(repo_id)
    folder = cache / ("models--" + repo_id.replace("/", "--"))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    for name, data in files.items():
        path = snapshot / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return snapshot


def safetensors_header(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    """A safetensors file holding only its header: 8-byte length + JSON with every tensor's dtype, shape, offsets."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = 1
        for d in shape:
            n *= d
        size = n * DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw


def gguf_header(path: Path, arch: str, metadata: dict[str, Any], tensors: list[tuple[str, list[int], str]]) -> None:
    """Write a header-only GGUF: metadata key/values and tensor infos (ggml shapes: ne[0] first), no data."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter

    w = GGUFWriter(str(path), arch)
    for key, value in metadata.items():
        if isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value) if value < 2**32 else w.add_uint64(key, value)
        elif isinstance(value, float):
            w.add_float32(key, value)
        elif isinstance(value, str):
            w.add_string(key, value)
        elif isinstance(value, list):
            w.add_array(key, value)
    for name, ne, type_name in tensors:
        qtype = GGMLQuantizationType[type_name]
        block, size = GGML_QUANT_SIZES[qtype]
        n = 1
        for d in ne:
            n *= d
        nbytes = n // block * size
        # add_tensor_info takes the numpy (reversed) shape for quantized types as bytes: rows x row-bytes
        shape = list(reversed(ne))
        if qtype in (GGMLQuantizationType.F32, GGMLQuantizationType.F16, GGMLQuantizationType.BF16):
            dtype = {"F32": np.float32, "F16": np.float16, "BF16": np.float16}[type_name]
            w.add_tensor_info(name, shape, dtype, nbytes, raw_dtype=qtype)
        else:
            shape[-1] = shape[-1] // block * size
            w.add_tensor_info(name, shape, np.uint8, nbytes, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
