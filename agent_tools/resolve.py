"""The edge of the core: turns the names in a request into typed objects, once, before any arithmetic.

This is the only module that looks names up in the catalogs (models, GPUs, formats, KV formats, runtimes).
Everything after it (plan, runtimes, fit, speed) works on the objects it returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from agent_tools import catalog
from agent_tools.architecture import Architecture, parse_config, text_config
from agent_tools.errors import UnknownNameError
from agent_tools.runtimes import Runtime, behaviour
from agent_tools.schemas import CpuMemoryEntry, FormatEntry, GpuEntry, KvFormatEntry, ModelEntry
from agent_tools.units import MAX_NAME_CHARS, GiB
from agent_tools.weights import WeightBreakdown, weight_breakdown

if TYPE_CHECKING:
    from agent_tools.estimate import EstimateRequest


@dataclass(frozen=True)
class Subject:
    """The model being sized: its architecture and where it came from."""

    id: str
    name: str
    arch: Architecture
    published: int | None
    source: str | None
    max_context: int | None
    assumptions: tuple[str, ...] = ()
    exact_weights: WeightBreakdown | None = None
    exact_params: int | None = None
    file_format: str | None = None
    from_catalog: bool = False
    # Where a name outside the catalog was resolved: "huggingface.co/<repo>@<commit>", a local config.json or GGUF path
    resolved_from: str | None = None


@dataclass(frozen=True)
class Device:
    """The memory the model must fit in: a catalog GPU, or a size (and bandwidth) the user gave."""

    name: str
    memory_bytes: int | None  # what the GPU may address, per GPU (unified memory: its GPU share)
    bandwidth_gb_s: float | None
    fp16_tflops: float | None
    entry: GpuEntry | None = None

    @property
    def unified_memory(self) -> bool:
        return self.entry is not None and self.entry.memory_basis == "unified_ram"


# ------------------------------------------------------------------------------------------------ models


def model_entry(name: str) -> ModelEntry:
    return catalog.resolve_model(name)


def catalog_stand_in(name: str) -> ModelEntry | None:
    """The catalog entry that answers for a name the catalog does not list literally (a base repo answered by its
    instruct sibling), else None: what estimate_memory will size and report in model.resolved_from."""
    try:
        entry = catalog.resolve_model(name)
    except UnknownNameError:
        return None
    return entry if _stand_in_note(name, entry) else None


@cache
def catalog_architecture(model_id: str) -> Architecture:
    """Parsed architecture of a catalog model (parsed once per process)."""
    return parse_config(catalog.resolve_model(model_id).config)


@cache
def _catalog_weights(model_id: str, format_id: str) -> WeightBreakdown:
    return weight_breakdown(catalog_architecture(model_id), catalog.resolve_format(format_id), catalog.formats_file())


def weights(subject: Subject, fmt: FormatEntry) -> WeightBreakdown:
    # A Hub/local checkpoint's exact bytes hold for the format it is stored in; asked for another known format, the
    # weights are that format's recipe over the architecture.
    stored = (subject.file_format or "").lower()
    stored_elsewhere = subject.resolved_from is not None and stored in known_precisions() and stored != fmt.id
    if subject.exact_weights is not None and not stored_elsewhere:
        return subject.exact_weights
    if subject.from_catalog:
        return _catalog_weights(subject.id, fmt.id)
    return weight_breakdown(subject.arch, fmt, catalog.formats_file())


def _stand_in_note(name: str, entry: ModelEntry) -> str | None:
    """Say so when the catalog entry that answers is not the repo or name the user typed: a base repo answered by
    its instruct sibling, or a name read with a suffix added or dropped."""
    typed = catalog.normalize(name)
    own = (entry.id, entry.id.split("/")[-1], entry.name)
    if typed in {catalog.normalize(n) for n in own}:
        return None
    if "/" in name or not catalog.is_catalog_name(name):
        return (
            f"{name} is sized as the catalog's {entry.id} ({entry.name}): the same architecture, so the same memory; "
            "pass its config.json as config= if it differs"
        )
    return None


def subject(req: EstimateRequest) -> Subject:
    if req.model is not None:
        try:
            entry = catalog.resolve_model(req.model)
        except UnknownNameError:
            # Catalog first; then a local config.json / model folder / GGUF path; then the Hugging Face Hub.
            found = outside_catalog_subject(req.model)
            if found is None:
                raise
            return found
        arch = catalog_architecture(entry.id)
        published = entry.params_published.total if entry.params_published else None
        stand_in = _stand_in_note(req.model, entry)
        return Subject(
            entry.id, entry.name, arch, published, entry.sources[0], arch.max_position_embeddings,
            (stand_in,) if stand_in else (), from_catalog=True,
            resolved_from=f"catalog entry {entry.id} (for {req.model!r})" if stand_in else None,
        )  # fmt: skip
    if req.config is not None:
        from agent_tools.hub import declared_quantization

        arch = parse_config(req.config)
        name = str(req.config.get("_name_or_path") or req.config.get("model_type") or "custom config")
        # A pre-quantized checkpoint's config declares how it is stored: size it so unless a precision is asked.
        quant = declared_quantization(req.config)
        notes = (*arch.notes, f"config.json declares {quant.description}") if quant else arch.notes
        return Subject(
            name, name, arch, None, "config.json (given)", arch.max_position_embeddings, notes,
            file_format=quant.format_id if quant else None,
        )  # fmt: skip
    if req.gguf is not None:
        info = req.gguf
        arch = parse_config(info.config)
        t = info.tensors
        exact = WeightBreakdown(
            t.total_bytes, dict(t.bytes_by_type), t.token_embd_bytes, t.output_bytes, t.expert_bytes
        )
        note = f"weights: exact tensor sizes read from {info.path} ({t.tensor_count} tensors)"
        return Subject(
            info.name,
            info.name,
            arch,
            t.params,
            info.path,
            arch.max_position_embeddings,
            (note,),
            exact,
            t.params,
            info.file_type,
        )
    assert req.params_b is not None
    return params_only_subject(req.params_b)


# Whether a model name may be a local file or folder (config.json, model folder, .gguf). Off by default: a server
# must not let its clients probe or read the host's files through a model name; the CLI switches it on.
LOCAL_PATHS_ALLOWED = False


def outside_catalog_subject(name: str) -> Subject | None:
    """A model the catalog does not hold: a local path (when LOCAL_PATHS_ALLOWED), or a Hub repo id ("org/name",
    "org/name@revision", "org/name-GGUF:Q4_K_M"). None when the name is neither, so the caller keeps the catalog's
    did-you-mean."""
    from pathlib import Path

    from agent_tools import hub

    local = LOCAL_PATHS_ALLOWED and len(name) <= 1024 and ("/" in name or name.endswith((".json", ".gguf")))
    path = Path(name).expanduser() if local else None
    if path is not None and path.exists():
        return _local_subject(path)
    repo, _, revision = name.partition("@")
    repo, _, quant = repo.partition(":")
    if not hub.looks_like_repo_id(repo):
        return None
    model = hub.resolve_repo(
        repo, revision=revision or None, gguf_file=quant or None, candidates=[m.id for m in catalog.list_models()]
    )
    where = f"huggingface.co/{model.repo_id}@{model.revision[:12]}"
    notes = [f"{model.repo_id} is not in the catalog: read from {where} ({model.params_source})", *model.notes]
    if model.quantization is not None:
        notes.append(f"stored as {model.quantization.description}")
    exact = hub.weight_breakdown_of(model)
    return Subject(
        model.repo_id, model.repo_id, model.arch, None, where, model.arch.max_position_embeddings, tuple(notes),
        exact, model.params, model.format_id, resolved_from=where,
    )  # fmt: skip


def _local_subject(path: Any) -> Subject:
    from agent_tools.errors import ConfigError
    from agent_tools.gguf_file import read_gguf
    from agent_tools.jsonfile import MAX_CONFIG_BYTES, JsonFileError, read_json_object

    if path.is_file() and path.suffix == ".gguf":
        info = read_gguf(path)
        arch = parse_config(info.config)
        t = info.tensors
        exact = WeightBreakdown(
            t.total_bytes, dict(t.bytes_by_type), t.token_embd_bytes, t.output_bytes, t.expert_bytes
        )
        note = f"weights: exact tensor sizes read from {path} ({t.tensor_count} tensors)"
        return Subject(
            info.name, info.name, arch, t.params, str(path), arch.max_position_embeddings, (note,), exact, t.params,
            (info.file_type or "").lower() or None, resolved_from=str(path),
        )  # fmt: skip
    config_path = path / "config.json" if path.is_dir() else path
    try:
        config = read_json_object(config_path, MAX_CONFIG_BYTES)
    except JsonFileError as e:
        raise ConfigError(f"{config_path}: not a readable config.json ({e})", value=str(path)) from None
    arch = parse_config(config)
    name = str(config.get("_name_or_path") or path.name)[:200]
    note = f"read from the local file {config_path}"
    return Subject(
        name, name, arch, None, str(config_path), arch.max_position_embeddings, (note, *arch.notes),
        resolved_from=str(config_path),
    )  # fmt: skip


@cache
def _dense_shapes() -> tuple[tuple[ModelEntry, Architecture], ...]:
    out = []
    for entry in catalog.list_models():
        arch = catalog_architecture(entry.id)
        if not entry.legacy and not arch.is_moe and not arch.is_mla:
            out.append((entry, arch))
    return tuple(out)


def params_only_subject(params_b: float) -> Subject:
    """No config: borrow the shape of the nearest dense catalog model and scale its layer count."""
    target = params_b * 1e9
    entry, arch = min(_dense_shapes(), key=lambda pair: abs(pair[1].params_total - target) / target)
    embed = arch.vocab_size * arch.hidden_size * (1 if arch.tied_embeddings else 2)
    per_layer = (arch.params_total - embed) / arch.num_layers
    layers = max(1, round((target - embed) / per_layer)) if target > embed else 1
    cfg: dict[str, Any] = dict(text_config(entry.config))
    cfg["num_hidden_layers"] = layers
    cfg.pop("layer_types", None)
    scaled = parse_config(cfg)
    note = (
        f"only a parameter count was given: shape (hidden {arch.hidden_size}, {arch.num_kv_heads} KV heads x "
        f"{arch.head_dim}) borrowed from {entry.id}, layers scaled to {layers} to reach {params_b:g}B; "
        "KV cache is approximate — pass model= or config= for exact figures"
    )
    return Subject(f"{params_b:g}B", f"{params_b:g}B model", scaled, int(target), None, None, (note,))


# ------------------------------------------------------------------------------------------ formats, runtime


def precision(name: str) -> FormatEntry:
    return catalog.resolve_format(name)


def known_precisions() -> set[str]:
    return {f.id for f in catalog.list_formats()}


def float_precisions() -> list[str]:
    """The unquantized weight formats (what full fine-tuning trains in)."""
    return sorted(f.id for f in catalog.list_formats() if f.kind == "float")


def kv_format(name: str) -> tuple[str, KvFormatEntry]:
    return catalog.resolve_kv_format(name)


def runtime(name: str) -> Runtime:
    return behaviour(catalog.resolve_runtime(name))


def default_runtime(mode: str, num_gpus: int) -> str:
    """The runtime sized when a request names none: the serving runtime for inference on several GPUs (its own
    limits decide what fits there), transformers for fine-tuning (where it runs), else the generic profile."""
    row = catalog.defaults()["default_runtime"]
    if mode != "inference":
        return str(row["training"])
    return str(row["multi_gpu_inference"] if num_gpus > 1 else row["otherwise"])


# ------------------------------------------------------------------------------- names for question parsers
# The assistant reads names out of free text with these: the catalog's own alias indexes, never a private copy.


_FORGIVEN_SUFFIXES = ("instruct", "chat", "it", "hf", "base")  # as catalog.resolve_model forgives them


def find_model(name: str) -> ModelEntry | None:
    """The catalog model this exact name or alias means, else None: the catalog's own index, without the
    did-you-mean search (a parser tries many pieces of text; most are not model names)."""
    if len(name) > MAX_NAME_CHARS:
        return None
    index = catalog._model_index()
    key = catalog.normalize(name)
    hit = index.get(key)
    for suffix in _FORGIVEN_SUFFIXES:
        if hit is not None:
            break
        hit = index.get(key[: -len(suffix)]) if key.endswith(suffix) else None
        hit = hit or index.get(key + suffix)
    return hit


@cache
def model_alias_keys() -> dict[str, str]:
    """Normalised name or alias -> catalog model id, for every catalog model."""
    return {catalog.normalize(alias): m.id for m in catalog.list_models() for alias in (m.id, m.name, *m.aliases)}


def find_gpu(name: str) -> GpuEntry | None:
    """The catalog GPU this exact name or alias means, else None (no did-you-mean search)."""
    if len(name) > MAX_NAME_CHARS:
        return None
    key = catalog.normalize_gpu(name)
    index = catalog._gpu_index()
    return index.get(key) or (index.get(key[3:]) if key.startswith("rtx") else None)


def gpu_alias_keys() -> dict[str, GpuEntry]:
    """The catalog's normalised GPU alias index (normalize_gpu keys)."""
    return dict(catalog._gpu_index())


def gpu_key(name: str) -> str:
    return catalog.normalize_gpu(name)


def find_precision(name: str) -> FormatEntry | None:
    """The weight format this exact id or alias means, else None (no did-you-mean search)."""
    return catalog._format_index().get(catalog.normalize(name)) if len(name) <= MAX_NAME_CHARS else None


@cache
def format_aliases() -> dict[str, str]:
    """Every weight-format id and alias as written in formats.yaml -> format id."""
    return {alias: f.id for f in catalog.list_formats() for alias in (f.id, *f.aliases)}


@cache
def runtime_aliases() -> dict[str, str]:
    """Every runtime id and alias as written in runtimes.yaml -> runtime id."""
    return {alias: p.id for p in catalog.runtimes().values() for alias in (p.id, *p.aliases)}


@cache
def _advice() -> dict[str, Any]:
    return dict(catalog._load("advice.yaml"))


@cache
def runtime_words() -> dict[str, str]:
    """Words that imply a runtime without naming one (advice.yaml runtime_words) -> runtime id."""
    tables = _advice()
    out: dict[str, str] = {}
    for target, words in tables["runtime_words"].items():
        runtime_id = str(tables[target]) if target in tables else str(target)
        for word in words:
            out[str(word)] = runtime_id
    return out


def serving_runtime() -> str:
    """The runtime concurrency questions are sized with (advice.yaml serving_runtime, with its source)."""
    return str(_advice()["serving_runtime"])


def bits_format(bits: int, runtime_id: str | None) -> str | None:
    """The format a bare bit width means in a runtime (advice.yaml bits_formats), None when it has none."""
    tables = _advice()
    rows = tables["bits_formats"]
    row = rows.get(runtime_id or "") or rows[tables["bits_formats_default_runtime"]]
    value = row.get(bits)
    return str(value) if value is not None else None


# ---------------------------------------------------------------------------------------------- devices


def gpu_entry(name: str) -> GpuEntry:
    return catalog.resolve_gpu(name)


def cpu_memory(name: str | None) -> CpuMemoryEntry:
    """The system RAM offloaded layers (or a CPU-only run) stream from: the named row, else the documented default."""
    return catalog.resolve_cpu_memory(name or str(catalog.defaults()["default_cpu_memory"]["id"]))


def unified_memory_default() -> tuple[float, str]:
    """GPU share of unified memory assumed where no working set was measured, and why."""
    row = catalog.defaults()["unified_memory_gpu_share"]
    return float(row["value"]), str(row["note"])


_MEMORY_TOKEN = re.compile(r"\s*\d+(?:\.\d+)?\s*(?:gb|g)\b", re.I)


@cache
def _bare_gpu_names() -> dict[str, tuple[GpuEntry, ...]]:
    """Bare names ("A100", "RTX 3060") that the catalog resolves to one memory size while a sibling sold under
    the same name with another size exists ("A100 40GB"): normalized name -> the other-size siblings."""
    gpus = catalog.list_gpus()
    sized = [(g, catalog.normalize_gpu(_MEMORY_TOKEN.sub("", n))) for g in gpus for n in (g.name, *g.aliases)]
    out: dict[str, tuple[GpuEntry, ...]] = {}
    for g in gpus:
        for name in (g.name, *g.aliases):
            if _MEMORY_TOKEN.search(name):
                continue
            key = catalog.normalize_gpu(name)
            siblings = {o.id: o for o, bare in sized if bare == key and o.memory_bytes != g.memory_bytes}
            if siblings:
                out[key] = tuple(siblings.values())
    return out


def gpu_size_note(typed: str, entry: GpuEntry) -> str | None:
    """When a bare name stands for one of several memory sizes, the sentence that says which one was sized."""
    if len(typed) > MAX_NAME_CHARS:
        return None
    siblings = _bare_gpu_names().get(catalog.normalize_gpu(typed))
    if not siblings:
        return None
    sizes = sorted({entry.memory_marketed_gb or 0, *(s.memory_marketed_gb or 0 for s in siblings)} - {0})
    other = siblings[0].name
    return (
        f"'{typed}' is sold with {' and '.join(f'{s:g} GB' for s in sizes)}: sized as the {entry.name}; "
        f"name the size (e.g. '{other}') for another"
    )


def device(req: EstimateRequest, assumptions: list[str]) -> Device | None:
    """The GPU (or memory size) the request names, or None when it names none."""
    entry = None
    memory_bytes = None
    if req.gpu is not None:
        entry = catalog.resolve_gpu(req.gpu)
        size_note = gpu_size_note(req.gpu, entry)
        if size_note and req.vram_gb is None:
            assumptions.append(size_note)
        fraction = entry.gpu_usable_fraction
        if fraction is None and entry.memory_basis == "unified_ram":
            fraction, why = unified_memory_default()
            assumptions.append(f"{entry.name}: no measured GPU share of its unified memory; assumed {why}")
        memory_bytes = int(entry.memory_bytes * (fraction or 1.0))
    if req.vram_gb is not None:
        memory_bytes = int(req.vram_gb * GiB)
    ram = catalog.resolve_cpu_memory(req.cpu_memory) if req.cpu_memory and entry is None else None
    if entry is None and memory_bytes is None and req.bandwidth_gb_s is None and ram is None:
        return None
    if ram is not None:  # CPU-only: vram_gb is the RAM the model may use, the bandwidth is the RAM's
        name = f"CPU with {ram.name}" + (f", {req.vram_gb:g} GiB" if req.vram_gb is not None else "")
        return Device(name, memory_bytes, req.bandwidth_gb_s or ram.bandwidth_gb_s, None, None)
    name = entry.name if entry else f"{req.vram_gb:g} GiB GPU" if req.vram_gb is not None else "device"
    bandwidth = entry.bandwidth_gb_s if entry else req.bandwidth_gb_s
    tflops = entry.fp16_tflops if entry else None
    return Device(name, memory_bytes, bandwidth, tflops, entry)
