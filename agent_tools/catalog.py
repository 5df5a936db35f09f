"""The catalogs (models, GPUs, formats, runtimes, quality evidence): loaded once from data/*.yaml, validated,
and looked up by the names people type."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from agent_tools.errors import unknown_name
from agent_tools.schemas import (
    CpuMemoryEntry,
    FormatEntry,
    FormatsFile,
    GpuEntry,
    KvFormatEntry,
    ModelEntry,
    QualityEntry,
    RuntimeProfile,
)

DATA_DIR = Path(__file__).parent / "data"

try:  # libyaml is ~10x faster; fall back to the pure-Python loader where it is missing
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.SafeLoader


class CatalogError(RuntimeError):
    """A data file that does not validate: a packaging bug, not a user error."""


def _load(name: str) -> Any:
    with open(DATA_DIR / name, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)


def _validate(model: type[BaseModel], rows: list[dict[str, Any]], file: str) -> list[Any]:
    out = []
    for i, row in enumerate(rows):
        try:
            out.append(model(**row))
        except ValidationError as e:
            ident = row.get("id") or row.get("model") or f"row {i}"
            raise CatalogError(f"{file}: {ident}: {e}") from e
    return out


_SEPARATORS = re.compile(r"[\s\-_./,()（）]+")
_GPU_NOISE = re.compile(r"nvidia|geforce|amd|radeon|intel|apple|gpu|显卡|graphics|card")


_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")


def normalize(name: str) -> str:
    """Lowercase and drop separators, so 'Qwen/Qwen2.5-7B' == 'qwen2.5 7b' == 'QWEN2.5_7B'.

    A decimal point between digits is kept (as 'p'): 'qwen2.5-1.5b' and 'qwen2.5-15b' must not collide.
    """
    return _SEPARATORS.sub("", _DECIMAL_POINT.sub("p", name.lower()))


# No nested optional runs (linear on long blank input), and tried only where a digit run starts: from inside a run
# '\d+' would re-read the rest of it each time (quadratic on '999…'); a match starts there anyway.
_CORES = re.compile(r"(?<!\d)\d+\s*(?:-\s*)?core")


def normalize_gpu(name: str) -> str:
    """Also ignores vendor words and core counts, and reads '80GB' and '80G' alike."""
    text = _CORES.sub("", _GPU_NOISE.sub("", name.lower()))
    return normalize(text).replace("gb", "g")


# ---------------------------------------------------------------------------------------------- formats


@cache
def formats_file() -> FormatsFile:
    try:
        return FormatsFile(**_load("formats.yaml"))
    except ValidationError as e:
        raise CatalogError(f"formats.yaml: {e}") from e


@cache
def _format_index() -> dict[str, FormatEntry]:
    index: dict[str, FormatEntry] = {}
    for fmt in formats_file().formats:
        for key in (fmt.id, fmt.name, *fmt.aliases):
            index.setdefault(normalize(key), fmt)
    return index


def list_formats() -> list[FormatEntry]:
    return list(formats_file().formats)


def resolve_format(name: str) -> FormatEntry:
    fmt = _format_index().get(normalize(name))
    if fmt is None:
        raise unknown_name(
            "precision",
            name,
            [f.id for f in formats_file().formats],
            "run `vramwise formats` to list them",
            key=normalize,
            aliases={a: f.id for f in formats_file().formats for a in f.aliases},
        )
    return fmt


@cache
def _kv_index() -> dict[str, tuple[str, KvFormatEntry]]:
    index: dict[str, tuple[str, KvFormatEntry]] = {}
    for key, entry in formats_file().kv_cache_formats.items():
        for alias in (key, *entry.aliases):
            index.setdefault(normalize(alias), (key, entry))
    return index


def resolve_kv_format(name: str) -> tuple[str, KvFormatEntry]:
    hit = _kv_index().get(normalize(name))
    if hit is None:
        raise unknown_name(
            "KV-cache precision",
            name,
            list(formats_file().kv_cache_formats),
            f"accepted: {', '.join(formats_file().kv_cache_formats)}",
        )
    return hit


# ----------------------------------------------------------------------------------------------- models


@cache
def list_models() -> list[ModelEntry]:
    rows = _validate(ModelEntry, _load("models.yaml")["models"], "models.yaml")
    return rows


@cache
def _model_index() -> dict[str, ModelEntry]:
    index: dict[str, ModelEntry] = {}
    for m in list_models():
        repo_name = m.id.split("/", 1)[-1]
        for key in (m.id, repo_name, m.name, *m.aliases):
            norm = normalize(key)
            other = index.get(norm)
            if other is not None and other.id != m.id:
                raise CatalogError(f"models.yaml: alias {key!r} names both {other.id} and {m.id}")
            index[norm] = m
    return index


def is_catalog_name(name: str) -> bool:
    """True when `name` is a catalog id, name or alias as typed (not reached by adding or dropping a suffix)."""
    return normalize(name) in _model_index()


def resolve_model(name: str) -> ModelEntry:
    key = normalize(name)
    hit = _model_index().get(key)
    if hit is not None:
        return hit
    # Forgive a common suffix people add or drop ("-instruct", "-chat", "-it", "-hf", "-base").
    for suffix in ("instruct", "chat", "it", "hf", "base"):
        if key.endswith(suffix) and (hit := _model_index().get(key[: -len(suffix)])):
            return hit
        if (hit := _model_index().get(key + suffix)) is not None:
            return hit
    raise unknown_name(
        "model",
        name,
        [m.id for m in list_models()],
        "run `vramwise models` to list them, or pass config= (a config.json object) or params_b=",
        key=normalize,
        aliases={a: m.id for m in list_models() for a in (m.name, m.id.split("/")[-1], *m.aliases)},
    )


# ------------------------------------------------------------------------------------------------- GPUs


@cache
def list_gpus() -> list[GpuEntry]:
    return _validate(GpuEntry, _load("gpus.yaml")["gpus"], "gpus.yaml")


@cache
def _gpu_index() -> dict[str, GpuEntry]:
    index: dict[str, GpuEntry] = {}
    for g in list_gpus():
        for key in (g.id, g.name, *g.aliases):
            norm = normalize_gpu(key)
            other = index.get(norm)
            if other is not None and other.id != g.id:
                raise CatalogError(f"gpus.yaml: alias {key!r} names both {other.id} and {g.id}")
            index[norm] = g
    return index


def resolve_gpu(name: str) -> GpuEntry:
    key = normalize_gpu(name)
    hit = _gpu_index().get(key)
    if hit is None and key.startswith("rtx"):
        hit = _gpu_index().get(key[3:])
    if hit is None:
        raise unknown_name(
            "GPU",
            name,
            [g.name for g in list_gpus()],
            "run `vramwise gpus` to list them, or pass vram_gb=",
            key=normalize_gpu,
            aliases={a: g.name for g in list_gpus() for a in (g.id, *g.aliases)},
        )
    return hit


@cache
def list_cpu_memory() -> list[CpuMemoryEntry]:
    return _validate(CpuMemoryEntry, _load("cpu_memory.yaml")["cpu_memory"], "cpu_memory.yaml")


@cache
def _cpu_memory_index() -> dict[str, CpuMemoryEntry]:
    index: dict[str, CpuMemoryEntry] = {}
    for row in list_cpu_memory():
        for key in (row.id, row.name, *row.aliases):
            index.setdefault(normalize(key), row)
    return index


def resolve_cpu_memory(name: str) -> CpuMemoryEntry:
    hit = _cpu_memory_index().get(normalize(name))
    if hit is None:
        rows = list_cpu_memory()
        raise unknown_name(
            "system memory",
            name,
            [r.id for r in rows],
            f"accepted: {', '.join(r.id for r in rows)}",
            key=normalize,
            aliases={a: r.id for r in rows for a in (r.name, *r.aliases)},
        )
    return hit


# ------------------------------------------------------------------------------------------ runtimes


@cache
def runtimes() -> dict[str, RuntimeProfile]:
    data = _load("runtimes.yaml")
    rows = _validate(RuntimeProfile, data["runtimes"], "runtimes.yaml")
    return {r.id: r for r in rows}


@cache
def _runtime_index() -> dict[str, RuntimeProfile]:
    index: dict[str, RuntimeProfile] = {}
    for profile in runtimes().values():
        for key in (profile.id, *profile.aliases):
            index.setdefault(normalize(key), profile)
    return index


def resolve_runtime(name: str) -> RuntimeProfile:
    hit = _runtime_index().get(normalize(name))
    if hit is None:
        raise unknown_name(
            "runtime",
            name,
            list(runtimes()),
            f"accepted: {', '.join(runtimes())}",
        )
    return hit


# ------------------------------------------------------------------------------------------- quality


@cache
def defaults() -> dict[str, Any]:
    """Domain defaults and tables (data/defaults.yaml), each with its source."""
    return dict(_load("defaults.yaml"))


@cache
def quality_index() -> dict[str, QualityEntry]:
    path = DATA_DIR / "quality.yaml"
    if not path.exists():
        return {}
    rows = _validate(QualityEntry, _load("quality.yaml")["quality"], "quality.yaml")
    return {r.model: r for r in rows}
