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
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent_tools.architecture import not_an_llm_reason, parse_config
from agent_tools.errors import ConfigError, closest
from agent_tools.gguf_file import GgufInfo
from agent_tools.hub_files import model_from_gguf, model_from_safetensors, mtp_layers_in, read_remote_gguf
from agent_tools.hub_model import (
    HUB_TIMEOUT_S,
    GgufFileFacts,
    HubError,
    HubGatedError,
    HubModel,
    HubNotFoundError,
    HubOfflineError,
    NotAnLlmError,
    gated_error,
    hub_cache_dir,
    hub_timeout,
    is_offline,
    not_found_error,
    offline_error,
    read_json_file,
    summary_dict,
    weight_breakdown_of,
)
from agent_tools.quantization import QuantScheme, declared_quantization

__all__ = [
    "HUB_TIMEOUT_S",
    "HubError",
    "HubGatedError",
    "HubModel",
    "HubNotFoundError",
    "HubOfflineError",
    "NotAnLlmError",
    "QuantScheme",
    "declared_quantization",
    "looks_like_repo_id",
    "mtp_layers_in",
    "read_remote_gguf",
    "resolve_repo",
    "summary_dict",
    "weight_breakdown_of",
]

SUMMARY_VERSION = 1
# How long a branch's cached summary is trusted without asking the Hub for the branch's current commit.
SUMMARY_FRESH_S = 24 * 3600
# org/name as the Hub spells them: letters, digits, '-', '_', '.', each part at most 96 characters.
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


# ---------------------------------------------------------------------------------------------- resolution


def looks_like_repo_id(name: str) -> bool:
    return len(name) <= 193 and _REPO_ID.fullmatch(name) is not None


def _translate(e: Exception, repo_id: str, candidates: list[str], revision: str | None) -> HubError:
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(e, GatedRepoError):
        return gated_error(repo_id)
    if isinstance(e, RepositoryNotFoundError):
        return not_found_error(repo_id, candidates)
    if isinstance(e, RevisionNotFoundError):
        return HubNotFoundError(f"revision {revision!r} of {repo_id!r} not found", value=revision)
    if isinstance(e, LocalEntryNotFoundError | OfflineModeIsEnabled):
        return offline_error(repo_id, "offline (HF_HUB_OFFLINE=1)" if is_offline() else "the Hub is unreachable")
    text = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
    return HubOfflineError(
        f"{repo_id!r}: the Hub did not answer within {hub_timeout():g} s ({text}); retry, or pass `config` instead",
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
        raise not_found_error(str(repo_id)[:200], candidates, "model name or repo id")
    if revision is not None and (not isinstance(revision, str) or not 0 < len(revision) <= 100):
        raise HubNotFoundError("revision must be a branch, tag or commit of at most 100 characters", value=revision)
    offline = is_offline()
    cache = hub_cache_dir(cache_dir)
    token = token if token is not None else (os.environ.get("HF_TOKEN") or None)
    try:
        return _resolve(repo_id, revision, token, gguf_file, cache, offline)
    except HubOfflineError as e:
        raise _with_suggestions(e, repo_id, candidates) from None
    except (HubError, ConfigError):
        raise
    except Exception as e:  # huggingface_hub / requests errors: one line, typed
        raise _with_suggestions(_translate(e, repo_id, candidates, revision), repo_id, candidates) from None


def _with_suggestions(error: HubError, repo_id: str, candidates: list[str]) -> HubError:
    """An offline miss on a name close to a catalog entry is most likely a typo: say which entries are close."""
    if not isinstance(error, HubOfflineError) or not candidates:
        return error
    suggestions = closest(repo_id, candidates)
    if not suggestions:
        return error
    message = f"{error}; or did you mean {', '.join(repr(s) for s in suggestions)}?"
    return HubOfflineError(message, value=repo_id, accepted=error.accepted, suggestions=suggestions)


def _resolve(
    repo_id: str, revision: str | None, token: str | bool | None, gguf_file: str | None, cache: Path, offline: bool
) -> HubModel:
    from huggingface_hub import HfApi, hf_hub_download

    api = HfApi(token=token)
    sizes: dict[str, int | None] | None = None
    commit: str | None = None
    fresh = _fresh_summary(cache, repo_id, revision, gguf_file)
    if fresh is not None:  # read within SUMMARY_FRESH_S (or pinned to a commit): no network round trip
        return fresh
    if not offline:
        info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=hub_timeout())
        commit = info.sha
        sizes = {s.rfilename: s.size for s in (info.siblings or [])}
    snapshot = _snapshot(cache, repo_id, commit or revision)
    if offline and snapshot is None:
        raise offline_error(repo_id, "offline (HF_HUB_OFFLINE=1)")
    commit = commit or (snapshot.name if snapshot else None)
    summary = _load_summary(cache, repo_id, commit, gguf_file)
    if summary is not None:
        return summary

    def download(filename: str) -> Path | None:
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

        try:
            path = hf_hub_download(
                repo_id, filename, revision=commit or revision, token=token, cache_dir=cache,
                local_files_only=offline, etag_timeout=hub_timeout(),
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
    config: dict[str, Any] = read_json_file(config_path, repo_id) if config_path else {}
    if config:
        reason = not_an_llm_reason(config)
        if reason:
            raise NotAnLlmError(f"{repo_id!r} is not an LLM: {reason}", value=repo_id)
    notes: list[str] = []

    if gguf_names and (gguf_file or not config or not _has_safetensors(files)):
        model = model_from_gguf(repo_id, commit, config, gguf_names, gguf_file, sizes, snapshot, offline, token, notes)
    elif config:
        on_main = revision in (None, "main")
        model = model_from_safetensors(
            repo_id, commit, config, files, sizes, snapshot, offline, token, download, notes, on_main=on_main
        )
    else:
        if offline and not files:
            raise offline_error(repo_id, "offline (HF_HUB_OFFLINE=1)")
        raise NotAnLlmError(
            f"{repo_id!r} has no config.json and no GGUF file: not a transformers or llama.cpp LLM repo",
            value=repo_id,
        )
    _store_summary(cache, model, gguf_file)
    return model


def _fresh_summary(cache: Path, repo_id: str, revision: str | None, gguf_file: str | None) -> HubModel | None:
    """The cached summary of a branch's last-seen commit when it is recent, or of a pinned commit at any age."""
    snapshot = _snapshot(cache, repo_id, revision)
    if snapshot is None:
        return None
    path = _summary_path(cache, repo_id, snapshot.name, gguf_file)
    pinned = revision is not None and re.fullmatch(r"[0-9a-f]{40}", revision) is not None
    try:
        if not pinned and time.time() - path.stat().st_mtime > SUMMARY_FRESH_S:
            return None
    except OSError:
        return None
    return _load_summary(cache, repo_id, snapshot.name, gguf_file)


def _has_safetensors(files: list[str]) -> bool:
    return any(f.endswith(".safetensors") or f.endswith(".safetensors.index.json") for f in files)


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
