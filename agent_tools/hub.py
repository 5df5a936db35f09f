"""Size any Hugging Face Hub repo: its config.json, its safetensors headers (or index) and its GGUF headers.

Everything goes through `huggingface_hub`: `hf_hub_download` for config.json and the safetensors index (cached in
the Hugging Face cache like any download), `HfApi.model_info` for the file list and sizes, `get_safetensors_metadata`
for the safetensors headers (range reads of the first 8 + N bytes of each shard), and HTTP range reads of the first
megabytes of a GGUF file for its header (as gguf-parser does). Nothing reads tensor data.

What the headers say is cached as a small JSON summary in the repo's own cache folder
(`<HF_HUB_CACHE>/models--org--name/vramwise/<commit>.json`), so a second resolution of the same commit reads two
small local files. With `HF_HUB_OFFLINE=1` only the cache is used. Network calls time out after
`HUB_TIMEOUT_S` seconds (connect and read; `HF_HUB_ETAG_TIMEOUT` / `HF_HUB_DOWNLOAD_TIMEOUT` override it).
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from agent_tools.architecture import Architecture, not_an_llm_reason, parse_config
from agent_tools.errors import ConfigError, VramwiseError, closest
from agent_tools.gguf_file import GgufHeaderError, GgufInfo, gguf_info_from_header, parse_gguf_header
from agent_tools.weights import WeightBreakdown

HUB_TIMEOUT_S = 10.0
SUMMARY_VERSION = 1
_GGUF_CHUNK = 1 << 20
_GGUF_MAX_HEADER = 64 << 20  # a 256k-token vocabulary with merges is ~10 MB; refuse to read past 64 MiB
# org/name as the Hub spells them: letters, digits, '-', '_', '.', each part at most 96 characters.
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_DTYPE_BYTES = {
    "F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2,
    "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I8": 1, "U8": 1, "BOOL": 1,
}  # fmt: skip
_TORCH_DTYPE = {"bfloat16": "BF16", "float16": "F16", "float32": "F32", "half": "F16", "float": "F32"}


class HubError(VramwiseError):
    """A repo that cannot be resolved; the message is one line saying why and what to do."""


class HubOfflineError(HubError):
    """Offline (or unreachable) and the repo is not in the local cache."""


class HubGatedError(HubError):
    """A gated or private repo and no token with access."""


class HubNotFoundError(HubError):
    """No such repo, revision or file on the Hub."""


class NotAnLlmError(HubError):
    """The repo holds something other than a text decoder (a diffusion pipeline, an image encoder...)."""


@dataclass(frozen=True)
class QuantScheme:
    """A pre-quantized checkpoint's declared scheme (config.json quantization_config)."""

    method: str  # gptq | awq | bitsandbytes | fp8 | fbgemm_fp8 | compressed-tensors | mxfp4 | ...
    bits: float
    group_size: int | None = None
    format_id: str | None = None  # the calculator's format id it corresponds to, when one does
    skipped_modules: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class GgufFileFacts:
    filename: str
    size_bytes: int | None  # the file's size on the Hub (LFS size), when known
    info: GgufInfo


@dataclass(frozen=True)
class HubModel:
    """What a Hub repo says about its model: enough to size it exactly."""

    repo_id: str
    revision: str  # the commit the facts were read from
    config: dict[str, Any]
    arch: Architecture
    params: int  # exact when read from headers (params_source says)
    params_source: str
    weight_bytes: int | None  # stored tensor bytes (safetensors data or GGUF tensors), None if nothing says
    weight_bytes_source: str | None
    params_by_dtype: dict[str, int] = field(default_factory=dict)
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    stored_dtype: str | None = None  # dominant stored dtype of an unquantized checkpoint (BF16, F16, F32)
    quantization: QuantScheme | None = None
    gguf: GgufFileFacts | None = None
    mmproj: GgufFileFacts | None = None
    gguf_files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def format_id(self) -> str | None:
        """The calculator's weight-format id the checkpoint is stored in."""
        if self.gguf is not None:
            return (self.gguf.info.file_type or "").lower() or None
        if self.quantization is not None:
            return self.quantization.format_id
        return {"BF16": "bf16", "F16": "fp16", "F32": "fp32"}.get(self.stored_dtype or "")


# ------------------------------------------------------------------------------------------- declared schemes


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
    groups = q.get("config_groups") if isinstance(q.get("config_groups"), dict) else {}
    weights: dict[str, Any] = {}
    for group in groups.values():
        if isinstance(group, dict) and isinstance(group.get("weights"), dict):
            weights = group["weights"]
            break
    bits = weights.get("num_bits", 8) if isinstance(weights.get("num_bits"), int) else 8
    kind = str(weights.get("type", "int")).lower()
    strategy = str(weights.get("strategy", "channel")).lower()
    group_size = weights.get("group_size") if isinstance(weights.get("group_size"), int) else None
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


# ---------------------------------------------------------------------------------------------- resolution


def looks_like_repo_id(name: str) -> bool:
    return len(name) <= 193 and _REPO_ID.fullmatch(name) is not None


def _offline() -> bool:
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return constants.HF_HUB_OFFLINE or (value or "").strip().lower() in ("1", "on", "yes", "true")


def _cache_dir(cache_dir: str | Path | None) -> Path:
    from huggingface_hub import constants

    return Path(cache_dir or os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)


def _timeout() -> float:
    value = os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT") or os.environ.get("HF_HUB_ETAG_TIMEOUT")
    try:
        return float(value) if value else HUB_TIMEOUT_S
    except ValueError:
        return HUB_TIMEOUT_S


def _not_found(repo_id: str, candidates: list[str], what: str = "model repo") -> HubNotFoundError:
    suggestions = closest(repo_id, candidates)
    message = f"{what} {repo_id!r} not found on the Hugging Face Hub"
    if suggestions:
        message += f"; did you mean {', '.join(repr(s) for s in suggestions)}?"
    return HubNotFoundError(message, value=repo_id, accepted=["org/name of a public or accessible repo"],
                            suggestions=suggestions)  # fmt: skip


def _offline_error(repo_id: str, why: str) -> HubOfflineError:
    return HubOfflineError(
        f"{repo_id!r}: {why} and it is not in the local Hugging Face cache; run once online "
        "(unset HF_HUB_OFFLINE) or pass its config.json as `config` instead",
        value=repo_id,
        accepted=["a cached repo", "config"],
    )


def _gated_error(repo_id: str) -> HubGatedError:
    return HubGatedError(
        f"{repo_id!r} is gated or private: accept its licence on huggingface.co, then log in with "
        "`hf auth login` or set HF_TOKEN to a token with access",
        value=repo_id,
        accepted=["HF_TOKEN", "hf auth login"],
    )


def _translate(e: Exception, repo_id: str, candidates: list[str], revision: str | None) -> HubError:
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(e, GatedRepoError):
        return _gated_error(repo_id)
    if isinstance(e, RepositoryNotFoundError):
        return _not_found(repo_id, candidates)
    if isinstance(e, RevisionNotFoundError):
        return HubNotFoundError(f"revision {revision!r} of {repo_id!r} not found", value=revision)
    if isinstance(e, LocalEntryNotFoundError | OfflineModeIsEnabled):
        return _offline_error(repo_id, "offline (HF_HUB_OFFLINE=1)" if _offline() else "the Hub is unreachable")
    text = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
    return HubOfflineError(
        f"{repo_id!r}: the Hub did not answer within {_timeout():g} s ({text}); retry, or pass `config` instead",
        value=repo_id,
    )


def resolve_repo(
    repo_id: str,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    gguf_file: str | None = None,
    candidates: list[str] | None = None,
    cache_dir: str | Path | None = None,
) -> HubModel:
    """Resolve a Hub repo id into its architecture and stored weights.

    `candidates` are names to suggest when the repo does not exist (the catalog's ids). `gguf_file` picks one
    GGUF file of a repo that holds several (default: a Q4_K_M file, else the first). Raises HubError subclasses.
    """
    candidates = candidates or []
    if not isinstance(repo_id, str) or not looks_like_repo_id(repo_id):
        raise _not_found(str(repo_id)[:200], candidates, "model name or repo id")
    if revision is not None and (not isinstance(revision, str) or not 0 < len(revision) <= 100):
        raise HubNotFoundError("revision must be a branch, tag or commit of at most 100 characters", value=revision)
    offline = _offline()
    cache = _cache_dir(cache_dir)
    token = token if token is not None else (os.environ.get("HF_TOKEN") or None)
    try:
        return _resolve(repo_id, revision, token, gguf_file, cache, offline)
    except (HubError, ConfigError):
        raise
    except Exception as e:  # huggingface_hub / requests errors: one line, typed
        raise _translate(e, repo_id, candidates, revision) from None


def _resolve(
    repo_id: str, revision: str | None, token: str | bool | None, gguf_file: str | None, cache: Path, offline: bool
) -> HubModel:
    from huggingface_hub import HfApi, hf_hub_download

    api = HfApi(token=token)
    sizes: dict[str, int | None] | None = None
    commit: str | None = None
    if not offline:
        info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=_timeout())
        commit = info.sha
        sizes = {s.rfilename: s.size for s in (info.siblings or [])}
    snapshot = _snapshot(cache, repo_id, commit or revision)
    if offline and snapshot is None:
        raise _offline_error(repo_id, "offline (HF_HUB_OFFLINE=1)")
    commit = commit or (snapshot.name if snapshot else None)
    summary = _load_summary(cache, repo_id, commit, gguf_file)
    if summary is not None:
        return summary

    def download(filename: str) -> Path | None:
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

        try:
            path = hf_hub_download(
                repo_id, filename, revision=commit or revision, token=token, cache_dir=cache,
                local_files_only=offline, etag_timeout=_timeout(),
            )  # fmt: skip
        except LocalEntryNotFoundError:
            if offline:
                return None
            raise
        except EntryNotFoundError:
            return None
        return Path(path)

    files = list(sizes) if sizes is not None else _snapshot_files(snapshot)
    gguf_names = sorted(f for f in files if f.lower().endswith(".gguf"))
    config_path = download("config.json") if (sizes is None or "config.json" in files) else None
    config: dict[str, Any] = _read_json(config_path, repo_id) if config_path else {}
    if config:
        reason = not_an_llm_reason(config)
        if reason:
            raise NotAnLlmError(f"{repo_id!r} is not an LLM: {reason}", value=repo_id)
    notes: list[str] = []

    if gguf_names and (gguf_file or not config or not _has_safetensors(files)):
        model = _from_gguf(repo_id, commit, config, gguf_names, gguf_file, sizes, snapshot, offline, token, notes)
    elif config:
        model = _from_safetensors(repo_id, commit, config, files, sizes, snapshot, offline, token, download, notes)
    else:
        if offline and not files:
            raise _offline_error(repo_id, "offline (HF_HUB_OFFLINE=1)")
        raise NotAnLlmError(
            f"{repo_id!r} has no config.json and no GGUF file: not a transformers or llama.cpp LLM repo",
            value=repo_id,
        )
    _store_summary(cache, model, gguf_file)
    return model


def _has_safetensors(files: list[str]) -> bool:
    return any(f.endswith(".safetensors") or f.endswith(".safetensors.index.json") for f in files)


def _read_json(path: Path, repo_id: str) -> dict[str, Any]:
    try:
        if path.stat().st_size > (32 << 20):
            raise HubError(f"{repo_id!r}: {path.name} is larger than 32 MiB; not a config", value=str(path))
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise HubError(f"{repo_id!r}: {path.name} is not valid JSON ({str(e)[:120]})", value=str(path)) from None
    if not isinstance(data, dict):
        raise HubError(f"{repo_id!r}: {path.name} is not a JSON object", value=str(path))
    return data


# ------------------------------------------------------------------------------------------------- cache


def _repo_folder(cache: Path, repo_id: str) -> Path:
    return cache / ("models--" + repo_id.replace("/", "--"))


def _snapshot(cache: Path, repo_id: str, revision: str | None) -> Path | None:
    """The cached snapshot folder of a revision (a branch or tag through refs/, or a commit hash)."""
    folder = _repo_folder(cache, repo_id)
    rev = revision or "main"
    commit = rev
    ref = folder / "refs" / rev
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
    path = folder / "snapshots" / commit
    return path if re.fullmatch(r"[0-9a-f]{40}", commit) and path.is_dir() else None


def _snapshot_files(snapshot: Path | None) -> list[str]:
    if snapshot is None:
        return []
    return sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file())[:10_000]


def _summary_path(cache: Path, repo_id: str, commit: str, gguf_file: str | None) -> Path:
    suffix = "" if not gguf_file else "-" + re.sub(r"[^A-Za-z0-9._-]", "_", gguf_file)[:120]
    return _repo_folder(cache, repo_id) / "vramwise" / f"{commit}{suffix}.json"


def _load_summary(cache: Path, repo_id: str, commit: str | None, gguf_file: str | None) -> HubModel | None:
    if commit is None:
        return None
    path = _summary_path(cache, repo_id, commit, gguf_file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != SUMMARY_VERSION:
            return None
        return _model_from_summary(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store_summary(cache: Path, model: HubModel, gguf_file: str | None) -> None:
    """Write the header-derived facts beside the cached files (best effort: a read-only cache just skips it)."""
    data = {
        "version": SUMMARY_VERSION,
        "repo_id": model.repo_id,
        "revision": model.revision,
        "config": model.config,
        "params": model.params,
        "params_source": model.params_source,
        "weight_bytes": model.weight_bytes,
        "weight_bytes_source": model.weight_bytes_source,
        "params_by_dtype": model.params_by_dtype,
        "bytes_by_dtype": model.bytes_by_dtype,
        "stored_dtype": model.stored_dtype,
        "gguf": _facts_dict(model.gguf),
        "mmproj": _facts_dict(model.mmproj),
        "gguf_files": list(model.gguf_files),
        "notes": list(model.notes),
        "mtp_layers": model.arch.mtp_layers,
    }
    path = _summary_path(cache, model.repo_id, model.revision, gguf_file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


def _facts_dict(facts: GgufFileFacts | None) -> dict[str, Any] | None:
    if facts is None:
        return None
    return {"filename": facts.filename, "size_bytes": facts.size_bytes, "info": facts.info.model_dump()}


def _facts(data: dict[str, Any] | None) -> GgufFileFacts | None:
    if not data:
        return None
    return GgufFileFacts(data["filename"], data["size_bytes"], GgufInfo.model_validate(data["info"]))


def _model_from_summary(data: dict[str, Any]) -> HubModel:
    gguf = _facts(data.get("gguf"))
    config = data["config"]
    arch = parse_config(gguf.info.config if gguf and not config else config)
    if data.get("mtp_layers") and not arch.mtp_layers:
        arch = replace(arch, mtp_layers=int(data["mtp_layers"]))
    return HubModel(
        repo_id=data["repo_id"],
        revision=data["revision"],
        config=config,
        arch=arch,
        params=int(data["params"]),
        params_source=data["params_source"] + " (cached summary)",
        weight_bytes=data["weight_bytes"],
        weight_bytes_source=data["weight_bytes_source"],
        params_by_dtype=data["params_by_dtype"],
        bytes_by_dtype=data["bytes_by_dtype"],
        stored_dtype=data["stored_dtype"],
        quantization=declared_quantization(config),
        gguf=gguf,
        mmproj=_facts(data.get("mmproj")),
        gguf_files=tuple(data["gguf_files"]),
        notes=tuple(data["notes"]),
    )


# --------------------------------------------------------------------------------------------- safetensors


def _from_safetensors(
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
) -> HubModel:
    arch = parse_config(config)
    quant = declared_quantization(config)
    headers: dict[str, dict[str, Any]] | None = None
    total_size: int | None = None
    index_path = download("model.safetensors.index.json") if "model.safetensors.index.json" in files else None
    if index_path is not None:
        index = _read_json(index_path, repo_id)
        meta = index.get("metadata") if isinstance(index.get("metadata"), dict) else {}
        size = meta.get("total_size")
        total_size = int(size) if isinstance(size, int | float) and not isinstance(size, bool) and size > 0 else None
        weight_map = index.get("weight_map") if isinstance(index.get("weight_map"), dict) else {}
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
        from huggingface_hub import HfApi

        meta = HfApi(token=token).get_safetensors_metadata(repo_id, revision=commit, timeout=_timeout())
        headers = {
            name: {"dtype": t.dtype, "shape": list(t.shape), "bytes": t.data_offsets[1] - t.data_offsets[0]}
            for fm in meta.files_metadata.values()
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


def _from_gguf(
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
        raise _offline_error(repo_id, f"offline and {filename} was never read")
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
        response = get_session().get(self.url, headers=headers, timeout=_timeout(), follow_redirects=True)
        hf_raise_for_status(response)
        return response.content


def summary_dict(model: HubModel) -> dict[str, Any]:
    """A JSON-ready view (for tools and benchmarks)."""
    out = asdict(model)
    out.pop("arch")
    out["format_id"] = model.format_id
    return out


def weight_breakdown_of(model: HubModel) -> WeightBreakdown | None:
    """The stored weights as the calculator's WeightBreakdown (None when nothing states the stored size).

    GGUF: per-type bytes from the header, plus the mmproj file llama.cpp loads beside it. Safetensors: per-dtype
    bytes from the headers (or the index total); embedding, output and expert shares follow the tensor inventory.
    """
    if model.gguf is not None:
        t = model.gguf.info.tensors
        by_type = dict(t.bytes_by_type)
        total = t.total_bytes
        if model.mmproj is not None:
            by_type["mmproj"] = model.mmproj.info.tensors.total_bytes
            total += by_type["mmproj"]
        return WeightBreakdown(total, by_type, t.token_embd_bytes, t.output_bytes, t.expert_bytes)
    if model.weight_bytes is None:
        return None
    arch = model.arch
    share = model.weight_bytes / max(1, arch.params_total)
    embd = arch.vocab_size * arch.hidden_size
    expert = sum(t.elements for t in arch.tensors if t.expert)
    by_type = dict(model.bytes_by_dtype) or {model.stored_dtype or model.format_id or "stored": model.weight_bytes}
    return WeightBreakdown(
        model.weight_bytes,
        by_type,
        int(embd * share),
        0 if arch.tied_embeddings else int(embd * share),
        int(expert * share),
    )
