"""What a Hub repo says about its model, the errors a Hub lookup ends in, and the small helpers both sides use."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent_tools.architecture import Architecture
from agent_tools.errors import VramwiseError, closest
from agent_tools.gguf_file import GgufInfo
from agent_tools.jsonfile import JsonFileError, read_json_object
from agent_tools.quantization import QuantScheme
from agent_tools.weights import WeightBreakdown

HUB_TIMEOUT_S = 10.0


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


def is_offline() -> bool:
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return constants.HF_HUB_OFFLINE or (value or "").strip().lower() in ("1", "on", "yes", "true")


def hub_cache_dir(cache_dir: str | Path | None) -> Path:
    from huggingface_hub import constants

    return Path(cache_dir or os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE)


def hub_timeout() -> float:
    value = os.environ.get("HF_HUB_DOWNLOAD_TIMEOUT") or os.environ.get("HF_HUB_ETAG_TIMEOUT")
    try:
        return float(value) if value else HUB_TIMEOUT_S
    except ValueError:
        return HUB_TIMEOUT_S


def not_found_error(repo_id: str, candidates: list[str], what: str = "model repo") -> HubNotFoundError:
    suggestions = closest(repo_id, candidates)
    message = f"{what} {repo_id!r} not found on the Hugging Face Hub"
    if suggestions:
        message += f"; did you mean {', '.join(repr(s) for s in suggestions)}?"
    return HubNotFoundError(message, value=repo_id, accepted=["org/name of a public or accessible repo"],
                            suggestions=suggestions)  # fmt: skip


def offline_error(repo_id: str, why: str) -> HubOfflineError:
    return HubOfflineError(
        f"{repo_id!r}: {why} and it is not in the local Hugging Face cache; run once online "
        "(unset HF_HUB_OFFLINE) or pass its config.json as config= instead",
        value=repo_id,
        accepted=["a cached repo", "config"],
    )


def gated_error(repo_id: str) -> HubGatedError:
    return HubGatedError(
        f"{repo_id!r} is gated or private: accept its licence on huggingface.co, then log in with "
        "`hf auth login` or set HF_TOKEN to a token with access",
        value=repo_id,
        accepted=["HF_TOKEN", "hf auth login"],
    )


MAX_HUB_JSON_BYTES = 32 * 2**20  # a large MoE's safetensors index is a few MiB; a config.json a few KiB


def read_json_file(path: Path, repo_id: str) -> dict[str, Any]:
    try:
        return read_json_object(path, MAX_HUB_JSON_BYTES)
    except JsonFileError as e:
        raise HubError(f"{repo_id!r}: {path.name}: {e}", value=str(path)) from None


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
