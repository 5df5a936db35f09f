"""Reading a repo's weight files without their data: safetensors headers or index, GGUF headers (local, or by HTTP
range requests), and the mmproj file llama.cpp loads beside a multimodal GGUF."""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent_tools.architecture import parse_config
from agent_tools.errors import closest
from agent_tools.gguf_file import GgufHeaderError, GgufInfo, gguf_info_from_header, parse_gguf_header
from agent_tools.hub_model import (
    GgufFileFacts,
    HubError,
    HubModel,
    HubNotFoundError,
    hub_timeout,
    offline_error,
    read_json_file,
)
from agent_tools.quantization import declared_quantization

_GGUF_CHUNK = 1 << 20
_GGUF_MAX_HEADER = 64 << 20  # a 256k-token vocabulary with merges is ~10 MB; refuse to read past 64 MiB
_DTYPE_BYTES = {
    "F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I8": 1, "U8": 1, "BOOL": 1,
}  # fmt: skip
_TORCH_DTYPE = {"bfloat16": "BF16", "float16": "F16", "float32": "F32", "half": "F16", "float": "F32"}


# --------------------------------------------------------------------------------------------- safetensors


def model_from_safetensors(
    repo_id: str,
    commit: str | None,
    config: dict[str, Any],
    files: list[str],
    sizes: dict[str, int | None] | None,
    snapshot: Path | None,
    offline: bool,
    token: str | bool | None,
    download: Any,
    notes: list[str],
    on_main: bool = False,
) -> HubModel:
    arch = parse_config(config)
    quant = declared_quantization(config)
    headers: dict[str, dict[str, Any]] | None = None
    total_size: int | None = None
    index_path = download("model.safetensors.index.json") if "model.safetensors.index.json" in files else None
    if index_path is not None:
        index = read_json_file(index_path, repo_id)
        meta_raw = index.get("metadata")
        meta: dict[str, Any] = meta_raw if isinstance(meta_raw, dict) else {}
        size = meta.get("total_size")
        total_size = int(size) if isinstance(size, int | float) and not isinstance(size, bool) and size > 0 else None
        map_raw = index.get("weight_map")
        weight_map: dict[str, Any] = map_raw if isinstance(map_raw, dict) else {}
        shards = sorted(set(map(str, weight_map.values())))
        stored_mtp = mtp_layers_in(weight_map, arch.num_layers)
        if stored_mtp and not arch.mtp_layers:
            arch = replace(arch, mtp_layers=stored_mtp)
            notes.append(
                f"the index lists {stored_mtp} multi-token-prediction layer(s) its config.json does not declare"
            )
    else:
        shards = [f for f in files if f.endswith(".safetensors") and "/" not in f][:1000]
    # Header-only (or complete) shard files already in the snapshot are read locally; otherwise, online, the Hub.
    local = [snapshot / s for s in shards] if snapshot is not None else []
    if local and all(p.is_file() for p in local):
        headers = {}
        for p in local:
            headers.update(_local_safetensors_header(p, repo_id))
    elif not offline and shards:
        repo_meta = _remote_safetensors_metadata(
            repo_id, commit, token, sharded=index_path is not None, on_main=on_main
        )
        headers = {
            name: {"dtype": t.dtype, "shape": list(t.shape), "bytes": t.data_offsets[1] - t.data_offsets[0]}
            for fm in repo_meta.files_metadata.values()
            for name, t in fm.tensors.items()
        }
    params_by_dtype: dict[str, int] = {}
    bytes_by_dtype: dict[str, int] = {}
    if headers:
        for t in headers.values():
            n = 1
            for d in t["shape"]:
                n *= int(d)
            params_by_dtype[t["dtype"]] = params_by_dtype.get(t["dtype"], 0) + n
            bytes_by_dtype[t["dtype"]] = bytes_by_dtype.get(t["dtype"], 0) + int(t["bytes"])
    stored_dtype = None
    if params_by_dtype:
        stored_dtype = max(params_by_dtype, key=params_by_dtype.__getitem__)
    elif quant is None:
        stored_dtype = _TORCH_DTYPE.get(str(arch.torch_dtype or "").lower())

    if headers and quant is None:
        params, params_source = sum(params_by_dtype.values()), "safetensors headers (every tensor's shape)"
    else:
        params = arch.params_checkpoint
        params_source = "config.json (tensor inventory)"
        if arch.params_mtp:
            notes.append(
                f"the checkpoint stores {arch.mtp_layers} multi-token-prediction layer(s) "
                f"({arch.params_mtp:,} parameters) that runtimes load only for speculative decoding"
            )
        if quant is not None:
            notes.append(f"pre-quantized checkpoint: {quant.description}; parameters counted from config.json")
        if quant is None and total_size and stored_dtype in _DTYPE_BYTES:
            implied = total_size // _DTYPE_BYTES[stored_dtype]
            notes.append(f"index total_size / {stored_dtype} bytes implies {implied:,} parameters")
    if headers:
        weight_bytes, source = sum(bytes_by_dtype.values()), "safetensors headers (data size of every tensor)"
    elif total_size:
        weight_bytes, source = total_size, "model.safetensors.index.json metadata.total_size"
    else:
        weight_bytes, source = None, None
    if weight_bytes is None and quant is not None:
        notes.append("stored size unknown (no index or headers): sized from the declared quantization scheme")
    if arch.vision_params and not headers:
        notes.append("vision tower parameters come from vision_config (no headers read)")
    return HubModel(
        repo_id=repo_id,
        revision=commit or "unknown",
        config=config,
        arch=arch,
        params=params,
        params_source=params_source,
        weight_bytes=weight_bytes,
        weight_bytes_source=source,
        params_by_dtype=params_by_dtype,
        bytes_by_dtype=bytes_by_dtype,
        stored_dtype=stored_dtype,
        quantization=quant,
        notes=tuple(notes + list(arch.notes)),
    )


def _remote_safetensors_metadata(
    repo_id: str, commit: str | None, token: str | bool | None, *, sharded: bool, on_main: bool
) -> Any:
    """Every shard header: in one request for a sharded repo on main (the Hub's safetensors-metadata endpoint),
    else with huggingface_hub's per-shard range reads of the first 8 + N bytes."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    if sharded and on_main:
        try:
            return api.get_sharded_safetensors_metadata(repo_id, timeout=hub_timeout())
        except Exception:  # an older Hub without the endpoint: fall back to one range read per shard
            pass
    return api.get_safetensors_metadata(repo_id, revision=commit, timeout=hub_timeout())


def mtp_layers_in(weight_map: dict[str, Any], num_layers: int) -> int:
    """Multi-token-prediction layers a checkpoint stores, from its tensor names: `mtp.layers.K.` (Qwen3-Next,
    Qwen3.5) or decoder layers past num_hidden_layers (`model.layers.61.` in DeepSeek-V3)."""
    layers: set[str] = set()
    for name in list(weight_map)[:2_000_000]:
        if name.startswith("mtp.layers."):
            layers.add("mtp" + name.split(".")[2])
        elif name.startswith("model.layers."):
            index = name.split(".")[2]
            if index.isdigit() and int(index) >= num_layers:
                layers.add(index)
    return len(layers)


def _local_safetensors_header(path: Path, repo_id: str) -> dict[str, dict[str, Any]]:
    """Tensor name -> dtype, shape and data bytes from a safetensors file's header (8-byte length + JSON)."""
    try:
        with path.open("rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > (100 << 20):
                raise HubError(f"{repo_id!r}: {path.name} declares a {n:,}-byte header (limit 100 MiB)", value=n)
            header = json.loads(f.read(n))
    except (OSError, struct.error, ValueError) as e:
        raise HubError(f"{repo_id!r}: {path.name} has no readable safetensors header ({str(e)[:80]})") from None
    out = {}
    for name, t in header.items():
        if name == "__metadata__" or not isinstance(t, dict):
            continue
        start, end = t["data_offsets"]
        out[name] = {"dtype": str(t["dtype"]), "shape": list(t["shape"]), "bytes": int(end) - int(start)}
    return out


# ---------------------------------------------------------------------------------------------------- GGUF


def _pick_gguf(names: list[str], wanted: str | None, repo_id: str) -> str:
    models = [n for n in names if "mmproj" not in n.lower()]
    if wanted:
        if wanted in names:
            return wanted
        matches = [n for n in models if wanted.lower() in n.lower()]
        if len(matches) >= 1:
            return _first_shard(matches)
        raise HubNotFoundError(
            f"{repo_id!r} has no GGUF file matching {wanted!r}; files: {', '.join(models[:8])}",
            value=wanted,
            accepted=models[:20],
            suggestions=closest(wanted, models),
        )
    for pref in ("q4_k_m", "q4_0", "q8_0"):
        hits = [n for n in models if pref in n.lower()]
        if hits:
            return _first_shard(hits)
    return _first_shard(models) if models else names[0]


def _first_shard(names: list[str]) -> str:
    """Split GGUFs (-00001-of-00003.gguf): the first shard carries the metadata."""
    return sorted(names)[0]


def model_from_gguf(
    repo_id: str,
    commit: str | None,
    config: dict[str, Any],
    names: list[str],
    wanted: str | None,
    sizes: dict[str, int | None] | None,
    snapshot: Path | None,
    offline: bool,
    token: str | bool | None,
    notes: list[str],
) -> HubModel:
    filename = _pick_gguf(names, wanted, repo_id)
    shards = _shards_of(filename, names)
    infos = [_gguf_header(repo_id, commit, s, snapshot, offline, token) for s in shards]
    info = _merge_shards(infos) if len(infos) > 1 else infos[0]
    size = sum((sizes or {}).get(s) or 0 for s in shards) or None
    main = GgufFileFacts(filename, size, info)
    mmproj = None
    projectors = [n for n in names if "mmproj" in n.lower()]
    if projectors:
        pick = sorted(projectors, key=lambda n: ("f16" not in n.lower(), n))[0]
        mmproj = GgufFileFacts(
            pick, (sizes or {}).get(pick), _gguf_header(repo_id, commit, pick, snapshot, offline, token)
        )
        notes.append(f"llama.cpp also loads the vision projector {pick} ({mmproj.info.tensors.total_bytes:,} bytes)")
    arch = parse_config(config or info.config) if config else parse_config(info.config)
    notes.append(f"weights: exact tensor sizes from the header of {filename} ({info.tensors.tensor_count} tensors)")
    return HubModel(
        repo_id=repo_id,
        revision=commit or "unknown",
        config=config,
        arch=arch,
        params=info.tensors.params,
        params_source=f"GGUF header of {filename} (every tensor's shape)",
        weight_bytes=info.tensors.total_bytes,
        weight_bytes_source=f"GGUF header of {filename}",
        bytes_by_dtype=dict(info.tensors.bytes_by_type),
        gguf=main,
        mmproj=mmproj,
        gguf_files=tuple(names),
        notes=tuple(notes),
    )


def _shards_of(filename: str, names: list[str]) -> list[str]:
    m = re.search(r"-(\d{5})-of-(\d{5})\.gguf$", filename)
    if not m:
        return [filename]
    stem = filename[: m.start()]
    return sorted(n for n in names if n.startswith(stem) and re.search(r"-\d{5}-of-\d{5}\.gguf$", n))


def _merge_shards(infos: list[GgufInfo]) -> GgufInfo:
    first = infos[0]
    by_type: dict[str, int] = {}
    for i in infos:
        for k, v in i.tensors.bytes_by_type.items():
            by_type[k] = by_type.get(k, 0) + v
    t = first.tensors.model_copy(
        update={
            "total_bytes": sum(i.tensors.total_bytes for i in infos),
            "params": sum(i.tensors.params for i in infos),
            "token_embd_bytes": sum(i.tensors.token_embd_bytes for i in infos),
            "output_bytes": sum(i.tensors.output_bytes for i in infos),
            "expert_bytes": sum(i.tensors.expert_bytes for i in infos),
            "bytes_by_type": by_type,
            "tensor_count": sum(i.tensors.tensor_count for i in infos),
        }
    )
    return first.model_copy(update={"tensors": t})


def _gguf_header(
    repo_id: str, commit: str | None, filename: str, snapshot: Path | None, offline: bool, token: str | bool | None
) -> GgufInfo:
    local = snapshot / filename if snapshot is not None else None
    if local is not None and local.is_file():
        with local.open("rb") as f:
            header = parse_gguf_header(f.read)
        return gguf_info_from_header(header, f"{repo_id}/{filename}", filename)
    if offline:
        raise offline_error(repo_id, f"offline and {filename} was never read")
    return read_remote_gguf(repo_id, filename, revision=commit, token=token)


def read_remote_gguf(
    repo_id: str,
    filename: str,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    endpoint: str | None = None,
) -> GgufInfo:
    """A Hub GGUF file's header, read with HTTP range requests (1 MiB at a time): the tensor data is never fetched."""
    reader = _RangeReader(repo_id, filename, revision, token, endpoint)
    try:
        header = parse_gguf_header(reader.read)
    except GgufHeaderError as e:
        raise HubError(f"{repo_id}/{filename}: {e}", value=filename) from None
    return gguf_info_from_header(header, f"{repo_id}/{filename}", filename)


class _RangeReader:
    """Sequential reads of a remote file through HTTP range requests, 1 MiB at a time, at most 64 MiB."""

    def __init__(
        self, repo_id: str, filename: str, revision: str | None, token: str | bool | None, endpoint: str | None = None
    ) -> None:
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers

        self.url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint or os.environ.get("HF_ENDPOINT"))
        self.headers = build_hf_headers(token=token)
        self.buffer = b""
        self.fetched = 0

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if self.fetched >= _GGUF_MAX_HEADER:
                raise GgufHeaderError(f"GGUF header larger than {_GGUF_MAX_HEADER >> 20} MiB", value=self.fetched)
            chunk = self._fetch(self.fetched, max(_GGUF_CHUNK, n - len(self.buffer)))
            if not chunk:
                break
            self.buffer += chunk
            self.fetched += len(chunk)
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _fetch(self, start: int, length: int) -> bytes:
        from huggingface_hub.utils import get_session, hf_raise_for_status

        headers = {**self.headers, "Range": f"bytes={start}-{start + length - 1}"}
        response = get_session().get(self.url, headers=headers, timeout=hub_timeout(), follow_redirects=True)
        hf_raise_for_status(response)
        return response.content
