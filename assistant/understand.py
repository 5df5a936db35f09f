"""Reading a help-desk question: language, intent and entities (models, GPUs, precision, context, batch, mode).

Pure and deterministic: names resolve through the catalog (agent_tools.catalog), nothing else is consulted.
Handles English and Chinese, colloquial wording ("双卡3090", "10个人同时用", "two 3090s") and common typos.
"""

from __future__ import annotations

import difflib
import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, Literal

from agent_tools import catalog, resolve
from agent_tools.errors import VramwiseError
from agent_tools.schemas import GpuEntry, ModelEntry
from agent_tools.units import GiB, parse_tokens
from assistant.prefilter import Prefiltered

Intent = Literal["estimate", "recommend", "compare", "concept"]
Lang = Literal["en", "zh"]
ModeWord = Literal["inference", "full_finetune", "lora", "qlora", "finetune"]  # finetune: method not said

# Examples offered when something is missing; tests check that each one is understood by this module.
GPU_EXAMPLES = ("RTX 4090", "2x3090", "M3 Max 64GB")
MODEL_EXAMPLES = ("Qwen2.5 14B", "Llama 3.1 8B", "DeepSeek-R1 70B")


@dataclass
class Need:
    what: Literal["model", "gpu", "model_size", "gpu_memory"]
    examples: list[str]
    unknown: bool = False  # a name was given but is not in the catalog
    named: str | None = None  # that name, as written


@dataclass
class Subject:
    """A model the question names: a catalog entry, or only a size ('70b', '14B')."""

    span: tuple[int, int]
    model_id: str | None = None
    params_b: float | None = None
    default_size: bool = False  # the size was not said; the catalog's default for the name was used
    precision: str | None = None
    named: str | None = None  # the name as written, when it is not exactly the model sized (never a silent swap)
    repo: str | None = None  # a Hugging Face repo id as written ('google/gemma-3n-E4B'), passed to the tool as is
    closest: str | None = None  # the catalog model nearest to an uncatalogued name (said, never sized instead)
    inherited: bool = False  # taken from the conversation ("and at 32k context?")
    config: dict[str, Any] | None = None  # a config.json the question points to (read by the caller, not here)

    @property
    def label(self) -> str:
        return self.model_id or self.repo or self.named or f"{self.params_b:g}B"


@dataclass
class GpuMention:
    span: tuple[int, int]
    gpu_id: str
    count: int | None = None


@dataclass
class UnknownGpu:
    """A device the catalog does not have (or a catalog card with another memory size), as the user named it."""

    name: str
    vram_gb: float | None  # the memory the user stated (GiB: a "24 GB" card holds 24 GiB), None: not stated
    bandwidth_gb_s: float | None = None  # stated, or the catalog card's when only its memory differs
    catalog_id: str | None = None  # the catalog card of that name whose memory differs ('2080 Ti 22G')


Ask = Literal["concurrency", "max_context", "max_batch", "speed", "prefill"]


@dataclass
class Parsed:
    question: str
    text: str  # normalised: NFKC, lower case, Chinese numerals before measure words as digits
    lang: Lang
    intent: Intent = "concept"
    subjects: list[Subject] = field(default_factory=list)
    precisions: list[tuple[tuple[int, int], str]] = field(default_factory=list)
    gpus: list[GpuMention] = field(default_factory=list)
    gpu_count_asked: bool = False
    vram_gb: float | None = None
    system_ram_gb: float | None = None
    context_length: int | None = None
    batch_size: int | None = None
    mode: ModeWord | None = None
    runtime: str | None = None
    task: str | None = None
    wants_fit: bool = False
    small_talk: bool = False  # a greeting or thanks: answered with what the desk can do
    needs: list[Need] = field(default_factory=list)
    kv_precision: str | None = None  # "KV cache in q8_0"
    unknown_precision: str | None = None  # looks like a format name but is not one ('q4_k_z'): the tool says so
    optimizer: str | None = None  # adamw_8bit, sgd
    zero_stage: int | None = None
    lora_rank: int | None = None
    cpu_only: bool = False  # "no GPU", "纯 CPU": sized in system RAM at CPU memory bandwidth
    min_tokens_per_s: float | None = None
    file_size: bool = False  # asks how big the file / the weights are, not what the runtime holds
    ladder: bool = False  # "all the quants", "各个量化档位": one model across the precision ladder
    also: list[Intent] = field(default_factory=list)  # further things the question asks, answered after `intent`
    runtimes: list[str] = field(default_factory=list)  # every runtime named, first mention first
    count_only: int | None = None  # "same on two cards", "四张卡呢": a GPU count without a GPU name
    asks: list[Ask] = field(default_factory=list)  # the calculator figures asked for by name
    followup: bool = False  # worded as a follow-up ("and at 32k?", "换成 q4_k_m 呢？", "that one")
    bandwidth_gb_s: float | None = None  # stated memory bandwidth ("1 TB/s")
    unknown_gpu: UnknownGpu | None = None
    inherited: list[str] = field(default_factory=list)  # what was taken from the conversation
    config_path: str | None = None  # 'a local ./my-model/config.json': the caller may read it and pass config

    @property
    def gpu(self) -> GpuMention | None:
        return self.gpus[0] if self.gpus else None

    @property
    def num_gpus(self) -> int | None:
        return self.gpus[0].count if self.gpus else None


# --------------------------------------------------------------------------------------------- normalising

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_NUMBER = Prefiltered(
    r"[零一二两三四五六七八九十]+(?=\s{0,4}(?:个|张|块|卡|人|位|路并发|路请求|台|倍|比特|bit|并发))"
)
# Chinese (and nickname) family names -> the Latin family word the model pattern knows.
_ZH_FAMILIES = (
    ("通义千问", " qwen "),
    ("千问", " qwen "),
    ("通义", " qwen "),
    ("深度求索", " deepseek "),
    ("羊驼", " llama "),
    ("智谱", " glm "),
    ("百川", " baichuan "),
    ("零一万物", " yi "),
)
_FAMILY_WORDS = ("llama", "qwen", "deepseek", "mistral", "mixtral", "gemma", "tinyllama", "chatglm", "baichuan")
_TYPOS = {"lama": "llama", "llma": "llama", "lamma": "llama", "quen": "qwen", "qwn": "qwen", "qwem": "qwen"}
_NOT_TYPOS = frozenset(
    {"ollama", "lmstudio", "vllm", "alpaca", "camel", "gamma", "drama", "llamacpp", "deep", "seek", "deepspeed"}
)


def detect_language(text: str) -> Lang:
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    return "zh" if cjk and cjk / (cjk + latin) >= 0.15 else "en"


def _zh_number(word: str) -> int:
    if "十" not in word:
        value = 0
        for ch in word:
            value = value * 10 + _ZH_DIGITS[ch]
        return value
    tens, _, ones = word.partition("十")
    return (_ZH_DIGITS.get(tens[-1], 1) if tens else 1) * 10 + (_ZH_DIGITS.get(ones[:1], 0) if ones else 0)


def _fix_typo(match: re.Match[str]) -> str:
    return _typo_fixed(match.group(0))


@lru_cache(maxsize=4096)
def _typo_fixed(word: str) -> str:
    if word in _TYPOS:
        return _TYPOS[word]
    if len(word) < 4 or word in _NOT_TYPOS or word in _FAMILY_WORDS:
        return word
    # a typo keeps about the length and one of the first two letters: only those are compared (cheap to skip)
    near = [f for f in _FAMILY_WORDS if abs(len(f) - len(word)) <= 2 and (f[0] == word[0] or f[1] == word[1])]
    close = difflib.get_close_matches(word, near, n=1, cutoff=0.8) if near else []
    return close[0] if close else word


_BLANKS = re.compile(r"\s+")
_LLAMA_CPP = Prefiltered(r"llama[\s.\-_]?cpp")
# A question names a handful of models, GPUs and formats; past this many mentions of one kind the rest are not read
# (bounds the per-mention work on long or hostile input).
MAX_MENTIONS = 8


def normalise(question: str) -> str:
    text = _BLANKS.sub(" ", unicodedata.normalize("NFKC", question).lower())  # one space per run: less to scan
    text = _ZH_NUMBER.sub(lambda m: str(_zh_number(m.group(0))), text)
    for zh, latin in _ZH_FAMILIES:
        text = text.replace(zh, latin)
    text = text.replace("deep seek", "deepseek")
    text = _LLAMA_CPP.sub("llamacpp", text)  # the runtime, not a Llama model
    return re.sub(r"(?<![a-z/])[a-z]{3,}(?![a-z/])", _fix_typo, text)  # repo ids ('mistralai/...') as written


# ------------------------------------------------------------------------------------------------- models

_VARIANTS = ("coder", "distill", "nemo", "small")
_MODEL_RE = Prefiltered(
    r"(?<![a-z0-9])(?P<fam>tinyllama|llama(?!cpp)|qwen|(?:deepseek|ds)(?![a-qs-uw-z])|mixtral|mistral|gemma|phi|chatglm"
    r"|glm|yi(?![a-z])|gpt[\s\-_]?oss|baichuan)"
    r"[\s\-_:]*(?P<ver>v?\d+(?:\.\d+)?(?![\d.]|\s{0,4}b(?![a-z])|x\d)|r1)?"
    r"(?P<mods>(?:[\s\-_:]*(?:coder|instruct|chat|it|distill|蒸馏版?|qwen|llama|nemo|small|mini|medium|base|moe)"
    r"(?![a-z]))*)"
    r"[\s\-_:]*(?P<size>(?:\d+x)?\d+(?:\.\d+)?\s{0,4}b(?![a-z])(?:[\s\-_]*a\d+(?:\.\d+)?b)?)?"
    r"(?P<tail>(?:[\s\-_:]*(?:coder|instruct|chat|it|distill|蒸馏版?)(?![a-z]))*)"
)
_SIZE_RE = Prefiltered(r"(?<![a-z0-9.])(?P<n>\d+(?:\.\d+)?)\s{0,4}b(?![a-z])")
_YI_RE = Prefiltered(r"(?<![\d.])(?P<n>\d+(?:\.\d+)?)\s{0,4}亿")  # 70亿 = 7B
_SIZE_LABEL = re.compile(r"(?<![a-z0-9.])((?:\d+x)?\d+(?:\.\d+)?)b(?![a-z0-9])")


@lru_cache(maxsize=4096)
def _family_key(family: str) -> str:
    return re.sub(r"[^a-z0-9]", "", family.lower())


def _norm_size(size: str) -> str:
    """'70B' -> '70b', '0.50b' -> '0.5b', '30b-a3b' -> '30b', '8x7b' -> '8x7b'."""
    m = re.match(r"(\d+x)?(\d+(?:\.\d+)?)", re.sub(r"\s+", "", size.lower()))
    assert m is not None, size
    return f"{m.group(1) or ''}{float(m.group(2)):g}b"


@cache
def size_label(model_id: str) -> str | None:
    """'70b', '0.5b', '8x7b' from a catalog model's repo name or display name."""
    entry = catalog.resolve_model(model_id)
    for text in (entry.id.split("/")[-1], entry.name):
        m = _SIZE_LABEL.search(text.lower().replace("_", "."))
        if m:
            return _norm_size(m.group(1))
    return None


@dataclass
class ModelLookup:
    entry: ModelEntry | None
    candidates: list[ModelEntry]
    default_size: bool = False


def _newest_family(models: list[ModelEntry]) -> list[ModelEntry]:
    pool = [m for m in models if not m.legacy] or models
    newest = max(pool, key=lambda m: (m.released or "", m.family))
    return [m for m in pool if m.family == newest.family]


def _plainest(cands: list[ModelEntry], base: str, ver: str, variant: str, size: str) -> list[ModelEntry]:
    """'Qwen2.5 7B' among Qwen2.5-7B-Instruct, Qwen2.5-Math-7B-Instruct and Qwen2.5-7B-Instruct-1M: the one the
    catalog itself calls that name, else the one whose repo name starts with the family and is shortest (the
    others add a word the question did not say)."""
    direct = resolve.find_model("-".join(x for x in (base + ver, variant, size) if x))
    if direct is not None and direct in cands:
        return [direct]
    own = [c for c in cands if catalog.normalize(c.id.split("/")[-1]).startswith(base)] or cands
    shortest = min(len(c.id.split("/")[-1]) for c in own)
    plain = [c for c in own if len(c.id.split("/")[-1]) == shortest]
    return plain if len(plain) == 1 else cands


@lru_cache(maxsize=1024)
def find_model(fam: str, ver: str | None, mods: str, size: str | None, full: bool = False) -> ModelLookup:
    """The catalog model a (family, version, modifiers, size) mention names, or the candidates when ambiguous."""
    base = {"ds": "deepseek"}.get(fam, re.sub(r"[^a-z]", "", fam))
    words = set(re.findall(r"[a-z]+|蒸馏", mods))
    variant = next((v for v in _VARIANTS if v in words), "")
    if "蒸馏" in words:
        variant = "distill"
    ver_text = ver or ""  # as written ('2.5'), for catalog lookups; `ver` below is compared with family keys
    ver = ver_text.replace(".", "") or None
    size = _norm_size(size) if size else None
    if base == "deepseek":
        if ver in (None, "r1") and size and size != "671b":
            variant = "distill"  # Ollama's deepseek-r1:14b etc. are the R1 distills
        if variant == "distill" or (ver is None and full):
            ver = ver_text = "r1"
    models = catalog.list_models()
    if ver:
        key = base + ver + variant
        cands = [m for m in models if _family_key(m.family) == key]
        if not cands:
            written = catalog.normalize(base + ver_text)
            cands = [m for m in models if written in catalog.normalize(m.id)]
    else:
        cands = [
            m
            for m in models
            if _family_key(m.family).startswith(base)
            and (_family_key(m.family).endswith(variant) if variant else not _family_key(m.family).endswith(_VARIANTS))
        ]
    for word in ("mini", "medium", "qwen", "llama"):
        if word in words and word != base:
            cands = [m for m in cands if word in m.id.lower()]
    if size:
        cands = [m for m in cands if size_label(m.id) == size]
    if not ver and cands:
        cands = _newest_family(cands)
    if len(cands) > 1 and size:
        cands = _plainest(cands, base, ver_text, variant, size)
    if len(cands) == 1:
        # "llama" alone resolves to the newest family's only model: say that a default was taken.
        return ModelLookup(cands[0], cands, default_size=size is None and ver is None)
    if len(cands) > 1 and not size:
        default = resolve.find_model(base + ver_text)
        if default is not None and default in cands:
            return ModelLookup(default, cands, default_size=True)
    if not cands and not size:
        return ModelLookup(None, [])
    return ModelLookup(None, cands)


_ALIAS_MIN = 5  # shorter alias keys ('yi', 'phi3') are too common inside other words to be read as a name


@cache
def _alias_keys() -> list[tuple[str, str]]:
    keys = {k: model_id for k, model_id in resolve.model_alias_keys().items() if len(k) >= _ALIAS_MIN}
    return sorted(keys.items(), key=lambda kv: -len(kv[0]))


@cache
def _alias_heads() -> dict[str, list[int]]:
    """The first _ALIAS_MIN characters of each alias key -> the keys' ranks in _alias_keys()."""
    heads: dict[str, list[int]] = {}
    for rank, (key, _) in enumerate(_alias_keys()):
        heads.setdefault(key[:_ALIAS_MIN], []).append(rank)
    return heads


def _alias_scan(text: str) -> str | None:
    """The longest catalog alias written anywhere in the text (joined). A key can only occur where its head does,
    so one pass collects the text's heads and only those keys are searched, not all ~900 (each a scan of the text)."""
    joined = catalog.normalize(text)
    heads = _alias_heads()
    present = {joined[i : i + _ALIAS_MIN] for i in range(len(joined) - _ALIAS_MIN + 1)} & heads.keys()
    keys = _alias_keys()
    for rank in sorted(rank for head in present for rank in heads[head]):
        key, model_id = keys[rank]
        if key in joined:
            return model_id
    return None


# Words in a model mention that do not distinguish one checkpoint from another (or were read as something else).
_MENTION_NOISE = frozenset(
    {"instruct", "chat", "it", "base", "hf", "gguf", "model", "distill", "蒸馏", "蒸馏版", "ds", "v", "the", "of"}
)
_REPO_RE = Prefiltered(r"(?<![a-z0-9_.\-/])[a-z0-9][a-z0-9_.\-]{0,95}/[a-z0-9][a-z0-9_.\-]{0,95}(?![a-z0-9_\-/])")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-/")
_NAME_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "for",
        "my",
        "our",
        "your",
        "model",
        "models",
        "llm",
        "llms",
        "dense",
        "moe",
        "with",
        "at",
        "in",
        "on",
        "run",
        "running",
        "fit",
        "and",
        "or",
        "vs",
        "to",
        "is",
        "are",
        "about",
        "what",
        "how",
        "need",
        "does",
        "do",
        "can",
        "could",
        "will",
        "fine",
        "tune",
        "tuning",
        "lora",
        "qlora",
        "size",
        "params",
        "parameters",
        "parameter",
        "billion",
        "from",
        "than",
        "like",
        "as",
        "use",
        "using",
        "between",
        "both",
        "only",
        "just",
        "any",
        "some",
        "this",
        "that",
        "it",
        "its",
        "per",
        "each",
        "every",
        "gpu",
        "card",
        "vram",
        "memory",
    ]
)
_NAME_BEFORE = re.compile(
    r"([a-z][a-z0-9.]{0,30}(?:[\-_][a-z0-9.]{1,30}){0,4})[\s\-_]{1,3}(?:([a-z0-9.]{1,4})[\s\-_]{1,3})?$"
)


def _is_repo(name: str) -> bool:
    """'org/name' as Hugging Face spells repo ids: 'tokens/s', 'fp16/bf16', '13b/14b' are not."""
    org, sep, repo = name.partition("/")
    return (
        bool(sep)
        and "/" not in repo
        and len(org) >= 2
        and org[0].isalpha()
        and len(repo) >= 3
        and any(c in repo for c in "-.")
        and any(c.isalpha() for c in repo)
    )


def _widen(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """The whole written name around a match: 'gemma 3' in 'google/gemma-3n-e4b' widens to all of it."""
    a, b = span
    while b > a and text[b - 1].isspace():
        b -= 1
    while a < b and text[a].isspace():
        a += 1
    while a > 0 and text[a - 1] in _NAME_CHARS:
        a -= 1
    while b < len(text) and text[b] in _NAME_CHARS:
        b += 1
    while b > a and text[b - 1] in "._-/":
        b -= 1
    return a, b


def _as_written(parsed: Parsed, span: tuple[int, int]) -> str:
    """The text of a span of the normalised question, in the user's own capitals when it can be found."""
    piece = parsed.text[span[0] : span[1]].strip()
    at = parsed.question.lower().find(piece)
    return parsed.question[at : at + len(piece)] if at >= 0 and piece else piece


def _mention(parsed: Parsed, span: tuple[int, int]) -> str:
    return _as_written(parsed, _widen(parsed.text, span))


def _extra_words(mention: str, entry: ModelEntry) -> list[str]:
    """Words of the mention the catalog entry's id, name and aliases do not contain ('3n', 'coder', 'vl')."""
    hay = catalog.normalize(" ".join((entry.id, entry.name, *entry.aliases)))
    words = [w for w in re.split(r"[\s/_:\-]+", mention.lower()) if w]
    extra = []
    for word in words:
        key = catalog.normalize(word)
        if not key or word in _MENTION_NOISE or key in hay or resolve.find_precision(word) is not None:
            continue
        extra.append(word)
    return extra


def _uncatalogued(parsed: Parsed, span: tuple[int, int], mention: str, closest: str | None) -> None:
    """A model named but not in the catalog: a Hub id goes to the tool as written; a name with a size is sized
    from that size (and says so); else the assistant asks."""
    if _is_repo(mention):
        parsed.subjects.append(Subject(span, repo=mention, named=mention, closest=closest))
        return
    size = _SIZE_RE.search(parsed.text, span[0], span[1])
    if size is not None and float(size.group("n")) > 0:
        parsed.subjects.append(Subject(span, params_b=float(size.group("n")), named=mention, closest=closest))
        return
    examples = [resolve.model_entry(closest).name] if closest else list(MODEL_EXAMPLES)
    parsed.needs.append(Need("model", examples, unknown=True, named=mention))


def _name_before(parsed: Parsed, span: tuple[int, int]) -> str | None:
    """'OLMo 2 13B', 'Falcon 40B', 'Seed-OSS-36B': the name written just before a bare size, when there is one."""
    window = parsed.text[max(0, span[0] - 40) : span[0]]
    m = _NAME_BEFORE.search(window)
    if m is None:
        return None
    word = m.group(1)
    if word in _NAME_STOP or word.split("-")[0] in _NAME_STOP or len(word) < 3:
        return None
    if m.group(2) and m.group(2) in _NAME_STOP:
        return None
    start = span[0] - len(window) + m.start(1)
    return _as_written(parsed, _widen(parsed.text, (start, span[1])))


def _models(parsed: Parsed) -> list[tuple[int, int]]:
    """Fill parsed.subjects; returns the spans taken."""
    text = parsed.text
    full = "满血" in text or "full 671b" in text
    taken: list[tuple[int, int]] = []
    for m in itertools.islice(_MODEL_RE.finditer(text), MAX_MENTIONS):
        fam = re.sub(r"[\s\-_]", "", m.group("fam"))
        mods = (m.group("mods") or "") + (m.group("tail") or "")
        found = find_model(fam, m.group("ver"), mods, m.group("size"), full)
        span = (m.start(), m.end())
        wide = _widen(text, span)
        if any(a < wide[1] and wide[0] < b for a, b in taken):
            continue  # 'mistral' twice in 'mistralai/mistral-7b-v0.1': one name
        taken.append(span)
        mention = _mention(parsed, span)
        if found.entry is not None and not _extra_words(mention, found.entry):
            parsed.subjects.append(Subject(span, model_id=found.entry.id, default_size=found.default_size))
            continue
        if found.entry is not None or _is_repo(mention):
            # A name the catalog model does not carry ('gemma-3n-e4b' is not Gemma 3 4B): never sized silently.
            taken[-1] = _widen(parsed.text, span)
            _uncatalogued(parsed, taken[-1], mention, found.entry.id if found.entry else None)
        elif found.candidates:
            parsed.needs.append(Need("model_size", [c.name for c in found.candidates[:8]]))
        else:
            family = [c for c in find_model(fam, m.group("ver"), "", None).candidates if not c.legacy]
            examples = [c.name for c in family[:4]] or list(MODEL_EXAMPLES)
            parsed.needs.append(Need("model", examples, unknown=True, named=mention))
    if not parsed.subjects and not any(n.what.startswith("model") for n in parsed.needs):
        model_id = _alias_scan(text)
        if model_id:
            parsed.subjects.append(Subject((0, 0), model_id=model_id))
    for m in itertools.islice(_REPO_RE.finditer(text), MAX_MENTIONS):
        span = (m.start(), m.end())
        free = not any(a < span[1] and span[0] < b for a, b in taken)
        if free and _is_repo(m.group(0)) and resolve.find_model(m.group(0)) is None:
            taken.append(span)
            _uncatalogued(parsed, span, _mention(parsed, span), None)
    for m in itertools.islice(_SIZE_RE.finditer(text), MAX_MENTIONS):
        span = (m.start(), m.end())
        if not any(a <= span[0] < b for a, b in taken) and float(m.group("n")) > 0:
            named = _name_before(parsed, span)
            subject = Subject(span, params_b=float(m.group("n")), named=named)
            parsed.subjects.append(subject)
            taken.append(span)
    for m in itertools.islice(_YI_RE.finditer(text), MAX_MENTIONS):
        if float(m.group("n")) <= 0:
            continue
        parsed.subjects.append(Subject((m.start(), m.end()), params_b=float(m.group("n")) / 10))
        taken.append((m.start(), m.end()))
    if any(s.model_id for s in parsed.subjects):
        # "13B/14B 的 4bit…Qwen2.5-14B 的 Q4_K_M…": a named model is the subject; bare sizes are talk around it
        parsed.subjects = [s for s in parsed.subjects if s.model_id]
    parsed.subjects.sort(key=lambda s: s.span)
    return taken


# --------------------------------------------------------------------------------------------------- GPUs

_TOKEN = re.compile(r"[a-z0-9.]+|[\u3400-\u9fff]+")
_COUNT_WORDS = {"one": 1, "single": 1, "two": 2, "dual": 2, "double": 2, "pair of": 2, "couple of": 2, "three": 3}
_COUNT_WORDS |= {"four": 4, "quad": 4, "six": 6, "eight": 8, "sixteen": 16}
_MEASURE = r"(?:张|块|个|台|卡|片)"
_BEFORE_COUNT = (
    re.compile(r"(\d{1,2})\s{0,4}[x×*]\s{0,4}$"),
    re.compile(rf"(\d{{1,2}})\s{{0,4}}{_MEASURE}\s{{0,4}}(?:的)?\s{{0,4}}$"),
    re.compile(r"(?<![\d.a-z])(\d{1,2})\s+$"),
    re.compile(r"(?<![a-z])(" + "|".join(_COUNT_WORDS) + r")\s+$"),
)
_AFTER_COUNT = (
    re.compile(r"^s?\s{0,4}[x×*]\s{0,4}(\d{1,2})(?![\d.])"),
    re.compile(rf"^s?\s{{0,4}}(\d{{1,2}})\s{{0,4}}{_MEASURE}"),
)
_COUNT_ASKED = Prefiltered(
    r"(?:几|多少)\s{0,4}(?:张|块|台|卡|片)|how many (?:gpus|cards|graphics cards)|number of (?:gpus|cards)"
)
_COUNT_NEAR_WORD = Prefiltered(rf"(\d{{1,2}})\s{{0,4}}(?:gpus|cards|{_MEASURE}卡|卡)")  # '3090 ... 2 cards'
_HOW_MANY_BEFORE = Prefiltered(r"how many\s+(?:(?:nvidia|rtx)\s+)?$")
_COUNT_PREFIX = re.compile(r"^(\d{1,2}x)(.*\d.*)$")  # '2x4090' is one token: split the count off
_COUNT_SUFFIX = re.compile(r"^(.*\d)(x\d{1,2})$")  # '4090x2'
_CHIP = re.compile(r"^(?=.*[a-z])(?=.*\d)[a-z0-9]{2,}$")  # 'm3max', '4060ti': a chip that comes in several sizes


@cache
def _gpu_index() -> dict[str, GpuEntry]:
    return resolve.gpu_alias_keys()  # the catalog's own alias index


_MAX_GPU_TOKEN = 24


@cache
def _gpu_key_prefixes() -> frozenset[str]:
    """Every prefix of every catalog GPU key (with and without 'rtx'): a window of words whose joined key is not
    one cannot grow into a GPU name, so it is not looked up (this keeps the scan linear in the question)."""
    out: set[str] = set()
    for key in _gpu_index():
        for full in (key, "rtx" + key):
            out.update(full[:n] for n in range(1, len(full) + 1))
    return frozenset(out)


@lru_cache(maxsize=8192)
def _chip_key(words: tuple[str, ...]) -> str | None:
    """'m3 max' -> 'm3max' when it names a chip the catalog sells in several memory sizes, else None."""
    chip = resolve.gpu_key(" ".join(words))
    return chip if _CHIP.match(chip) and chip in _sized_chips() else None


@lru_cache(maxsize=8192)
def _word_key(word: str) -> str:
    return resolve.gpu_key(word)


def _window(words: tuple[str, ...]) -> int:
    """How many of the words (at most 4) can still be the start of a catalog GPU name."""
    prefixes = _gpu_key_prefixes()
    joined = ""
    longest = 0
    for n, word in enumerate(words[:4]):
        joined += _word_key(word)
        if not joined:
            longest = n + 1  # a vendor word ('nvidia') alone: keep going
            continue
        if joined in prefixes or (joined.endswith("s") and joined[:-1] in prefixes):
            longest = n + 1
        else:
            break
    return longest


@lru_cache(maxsize=8192)
def _gpu_at(words: tuple[str, ...]) -> tuple[GpuEntry | None, int]:
    """The catalog GPU that the longest run of these words (at most 4) names, and how many words it takes.
    Cached on the words: a long question repeats the same few runs, each looked up once."""
    for length in range(_window(words), 0, -1):
        if length > 1 and any(_is_cjk(w) for w in words[:length]):
            continue
        hit = _gpu_key_of(words[:length])
        if hit is not None:
            return hit, length
    return None, 0


@cache
def _sized_chips() -> dict[str, dict[str, GpuEntry]]:
    """'m3max' -> {GPU id: entry} for the chips the catalog sells in several memory sizes ('m3max64g')."""
    out: dict[str, dict[str, GpuEntry]] = {}
    for key, entry in _gpu_index().items():
        if not key.endswith("g"):
            continue
        cut = len(key) - 1
        while cut > 0 and key[cut - 1].isdigit():
            cut -= 1
            # every split of the digits: 'm18g' is chip 'm1' with 8 GB (or 'm' with 18 GB)
            if cut < len(key) - 1:
                out.setdefault(key[:cut], {})[entry.id] = entry
    return out


def _gpu_key(words: list[str]) -> GpuEntry | None:
    return _gpu_key_of(tuple(words))


@lru_cache(maxsize=8192)
def _gpu_key_of(words: tuple[str, ...]) -> GpuEntry | None:
    key = resolve.gpu_key(" ".join(words))
    index = _gpu_index()
    hit = index.get(key)
    if hit is None and key.endswith("s"):
        hit = index.get(key[:-1])  # '3090s', 'a100s'
    if hit is None and key.startswith("rtx"):
        hit = index.get(key[3:])
    return hit


_MEM_TOKEN = re.compile(r"^(\d+(?:\.\d+)?)g(?:b|ib)?$")


_NUMBER_TOKEN = re.compile(r"\d+(?:\.\d+)?")


@lru_cache(maxsize=8192)
def _memory_word(token: str) -> tuple[float, bool] | None:
    """'24gb' -> (24.0, True): a memory size; '24' -> (24.0, False): one when 'gb' follows; else None."""
    word = token.rstrip(".")  # '11gb.' at the end of a sentence
    m = _MEM_TOKEN.match(word)
    if m:
        return float(m.group(1)), True
    return (float(word), False) if _NUMBER_TOKEN.fullmatch(word) else None


def _memory_tokens(tokens: list[tuple[str, int, int]]) -> dict[int, tuple[float, int]]:
    """Token index -> (GB, tokens it spans) for '24gb', '24g', '24 gb'."""
    found: dict[int, tuple[float, int]] = {}
    for k, (token, _, _) in enumerate(tokens):
        if not token[:1].isdigit():
            continue
        read = _memory_word(token)
        if read is None:
            continue
        if read[1]:
            found[k] = (read[0], 1)
        elif k + 1 < len(tokens) and tokens[k + 1][0] in ("g", "gb", "gib"):
            found[k] = (read[0], 2)
    return found


def _memory_near(memory: dict[int, tuple[float, int]], i: int, j: int) -> float | None:
    """GB written just before tokens[i:j] ('a 40 GB A100', '8GB 内存的 M1') or just after ('M3 Pro with 36GB')."""
    for k in range(i - 1, max(-1, i - 4), -1):
        if k in memory and k + memory[k][1] <= i:
            return memory[k][0]
    for k in range(j, j + 4):
        if k in memory:
            return memory[k][0]
    return None


def _count_near(text: str, start: int, end: int) -> int | None:
    before, after = text[max(0, start - 14) : start], text[end : end + 10]
    if re.search(r"双\s{0,4}(?:卡|显卡|路)?\s{0,4}$", before) or re.match(r"^s?\s{0,4}双卡", after):
        return 2
    if re.search(r"单\s{0,4}(?:卡|显卡)\s{0,4}$", before):
        return 1
    for pattern in _BEFORE_COUNT:
        m = pattern.search(before)
        if m:
            word = m.group(1)
            return _COUNT_WORDS.get(word) or int(word)
    for pattern in _AFTER_COUNT:
        m = pattern.match(after)
        if m:
            return int(m.group(1))
    return None


# Most words of a question start no GPU name: two cached tests per word let the scan move on without the search.
@lru_cache(maxsize=8192)
def _may_start_gpu(word: str) -> bool:
    """As _window: a vendor word ('nvidia'), or a word whose key begins some catalog GPU key."""
    key = _word_key(word)
    return not key or key in _gpu_key_prefixes() or (key.endswith("s") and key[:-1] in _gpu_key_prefixes())


@lru_cache(maxsize=8192)
def _may_start_chip(word: str, nxt: str | None) -> bool:
    """A chip sold in several memory sizes named by this word, alone or with the next ('m3max', 'm3 max')."""
    if _is_cjk(word):
        return False
    if _chip_key((word,)) is not None:
        return True
    return nxt is not None and not _is_cjk(nxt) and _chip_key((word, nxt)) is not None


def _gpus(parsed: Parsed) -> None:
    text = parsed.text
    tokens: list[tuple[str, int, int]] = []
    for m in _TOKEN.finditer(text):
        word, start = m.group(0), m.start()
        # both count patterns need an 'x' ('2x4090', '4090x2'): most words are not tried
        split = (_COUNT_PREFIX.match(word) or _COUNT_SUFFIX.match(word)) if "x" in word else None
        if split:
            cut = start + len(split.group(1))
            tokens += [(split.group(1), start, cut), (split.group(2), cut, m.end())]
        else:
            tokens.append((word, start, m.end()))
    memory = _memory_tokens(tokens)
    words = [t[0] for t in tokens]
    i = 0
    while i < len(tokens) and len(parsed.gpus) < MAX_MENTIONS:
        hit = None
        if i in memory or tokens[i][0] == "a":  # '40 gb' is a size, 'a 40 gb a100' is not an A40
            i += 1
            continue
        if len(tokens[i][0]) > _MAX_GPU_TOKEN:
            i += 1  # no GPU name has a word this long ('1111…'): not looked up
            continue
        gpu_here = _may_start_gpu(words[i])
        chip_here = _may_start_chip(words[i], words[i + 1] if i + 1 < len(words) else None)
        if not gpu_here and not chip_here:
            i += 1
            continue
        hit, length = _gpu_at(tuple(words[i : i + 4])) if gpu_here else (None, 0)
        if hit is not None:
            gb = _memory_near(memory, i, i + length)
            sized = _gpu_key([*words[i : i + length], f"{gb:g}g"]) if gb else None
            if gb and sized is None and hit.memory_basis != "unified_ram" and abs(gb * GiB - hit.memory_bytes) > GiB:
                # '2080 Ti 22G' (a modded card): the stated memory wins, the catalog card's bandwidth is kept
                start, end = tokens[i][1], tokens[i + length - 1][2]
                parsed.unknown_gpu = UnknownGpu(
                    _as_written(parsed, (start, end)), gb, hit.bandwidth_gb_s, catalog_id=hit.id
                )
                parsed.vram_gb = gb
                parsed.bandwidth_gb_s = parsed.bandwidth_gb_s or hit.bandwidth_gb_s
                i += length
                continue
            hit = sized or hit
            nxt = tokens[i + length][0] if i + length < len(tokens) else ""
            if nxt in _GPU_SUFFIXES and _gpu_key([*words[i : i + length], nxt]) is None:
                i += 1  # 'Titan V', '4060 Ti' when the catalog lacks that variant: not the base card
                continue
        if hit is None:
            for length in (2, 1) if chip_here else ():
                run = tuple(words[i : i + length])
                if len(run) < length or any(_is_cjk(w) for w in run):
                    continue
                chip = _chip_key(run)
                if chip is None:
                    continue
                sizes = _sized_chips().get(chip, {})
                if len(sizes) > 1 and not parsed.gpus:
                    gb = _memory_near(memory, i, i + length)
                    hit = _gpu_index().get(f"{chip}{gb:g}g") if gb else None
                    if hit is not None:
                        break
                    by_memory = sorted(sizes.values(), key=lambda g: g.memory_bytes)
                    parsed.needs.append(Need("gpu_memory", [g.aliases[0] for g in by_memory]))
                    i += length - 1
                    break
            if hit is None:
                i += 1
                continue
        start, end = tokens[i][1], tokens[i + length - 1][2]
        parsed.gpus.append(GpuMention((start, end), hit.id, _count_near(text, start, end)))
        i += length
    if parsed.gpus and (_COUNT_ASKED.search(text) or _HOW_MANY_BEFORE.search(text[: parsed.gpus[0].span[0]])):
        parsed.gpu_count_asked = True
        parsed.gpus[0].count = None
    if parsed.gpus and parsed.gpus[0].count is None and not parsed.gpu_count_asked:
        said = _COUNT_NEAR_WORD.search(text)
        if said:
            parsed.gpus[0].count = int(said.group(1))


# Product-line words that mark a GPU mention even when the card is not in the catalog ('GTX 1080 Ti', '昇腾 910B').
# Not a GPU list: the card itself is never looked up here, only recognised as a device the user named.
_GPU_LINES = (
    "rtx",
    "gtx",
    "rx",
    "radeon",
    "titan",
    "tesla",
    "quadro",
    "jetson",
    "arc",
    "instinct",
    "mtt",
    "dcu",
    "mlu",
)
_GPU_LINES_ZH = ("昇腾", "摩尔线程", "寒武纪", "海光", "天数", "沐曦")
_GPU_SUFFIXES = frozenset(
    [
        "ti",
        "super",
        "xt",
        "xtx",
        "nx",
        "agx",
        "nano",
        "orin",
        "xavier",
        "pro",
        "max",
        "ultra",
        "v",
        "vii",
        "ada",
        "sxm",
        "pcie",
        "nvl",
        "laptop",
        "mobile",
        "s",
    ]
)


def _is_cjk(token: str) -> bool:
    return token[:1] >= "\u3400"  # a _TOKEN is all Latin letters and digits or all CJK


@lru_cache(maxsize=8192)
def _line_word(token: str) -> bool:
    if any(w in token for w in _GPU_LINES_ZH):
        return True
    return any(token == w or (token.startswith(w) and token[len(w) :].isdigit()) for w in _GPU_LINES)


def _unknown_gpu(parsed: Parsed) -> None:
    """A GPU named but not in the catalog: sized with the memory stated next to it, else the memory is asked."""
    if parsed.unknown_gpu is not None or parsed.cpu_only:
        return
    if not any(w in parsed.text for w in (*_GPU_LINES_ZH, *_GPU_LINES)):
        return  # a line word is part of the word it marks: none in the text, no word to look at
    tokens = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(parsed.text)]
    memory: dict[int, tuple[float, int]] | None = None
    for i, (word, _, _) in enumerate(tokens):
        if not _line_word(word):
            continue
        if memory is None:
            memory = _memory_tokens(tokens)
        j = i + 1
        while j < len(tokens) and j - i < 5 and j not in memory and not _is_cjk(tokens[j][0]):
            nxt = tokens[j][0]
            if not (any(c.isdigit() for c in nxt) or nxt in _GPU_SUFFIXES or _line_word(nxt)):
                break
            j += 1
        if j == i + 1 and not any(c.isdigit() for c in word):
            continue  # 'rtx' or 'radeon' alone names no card
        start = tokens[i + 1][1] if _is_cjk(word) and j > i + 1 else tokens[i][1]
        name = _as_written(parsed, (start, tokens[j - 1][2]))
        gb = _memory_near(memory, i, j)
        if gb is None and parsed.vram_gb is not None:
            gb = parsed.vram_gb  # 'my 16GB card ... a Radeon VII'
        parsed.unknown_gpu = UnknownGpu(name, gb, parsed.bandwidth_gb_s)
        if gb is not None:
            parsed.vram_gb = gb
        return


# ------------------------------------------------------------------------------------- precision and others


def _alias_pattern(alias: str) -> str:
    """A catalog alias as a regex of literals: separators (space, '.', '_', '-') optional and interchangeable."""
    parts = [re.escape(p) for p in re.split(r"[\s._\-]+", alias.lower()) if p]
    return r"[\s._\-]?".join(parts)


def _literal_alternation(aliases: list[str]) -> str:
    # longest first, so 'q4_k_m' wins over 'q4'; an alternation of literals cannot backtrack more than its length
    return "|".join(_alias_pattern(a) for a in sorted(set(aliases), key=lambda a: (-len(a), a)))


@cache
def _runtime_matcher() -> tuple[Prefiltered, dict[str, str], frozenset[str]]:
    """One pattern for every runtime alias in runtimes.yaml and every runtime word in advice.yaml; the matched
    text's key -> runtime id; the keys that only imply a runtime ('serving')."""
    named = {a: rt for a, rt in resolve.runtime_aliases().items() if len(a) >= 3 and rt != "generic"}
    named["llama.cpp"] = "llama.cpp"
    words = resolve.runtime_words()
    by_key = {_alias_key(w): rt for w, rt in words.items()} | {_alias_key(a): rt for a, rt in named.items()}
    pattern = Prefiltered(r"(?<![a-z])(?:" + _literal_alternation([*named, *words]) + r")(?![a-z])")
    return pattern, by_key, frozenset(_alias_key(w) for w in words)


def _runtimes_named(text: str) -> list[str]:
    """Runtime ids the text names, in order of first mention (named runtimes before implied ones)."""
    pattern, by_key, implied = _runtime_matcher()
    hits: list[tuple[int, int, str]] = []
    for m in itertools.islice(pattern.finditer(text), 2 * MAX_MENTIONS):
        key = _alias_key(m.group(0))
        if key in by_key:
            hits.append((int(key in implied), m.start(), by_key[key]))
    return list(dict.fromkeys(rt for _, _, rt in sorted(hits)))


def _alias_key(text: str) -> str:
    return re.sub(r"[\s._\-]+", "", text.lower())


_BIT_WIDTH_ALIAS = re.compile(r"^(?:\d{1,2}\s{0,4}-?\s{0,4}(?:bits?|位|比特)|int\d{1,2})$")


@cache
def _precision_pattern() -> Prefiltered:
    """Every format id and alias in formats.yaml, as whole words. Left out: bare bit widths ('8bit', 'int4'),
    read through advice.yaml bits_formats for the runtime in use, and alias words without a digit that do not
    start a format id ('half', 'ollama default'), which are ordinary words in a sentence."""
    ids = {f for f in resolve.format_aliases().values()}
    keep = []
    for alias in resolve.format_aliases():
        low = alias.lower()
        if _BIT_WIDTH_ALIAS.match(low):
            continue
        if not re.search(r"\d|[\u3400-\u9fff]", low) and not any(i.startswith(low) for i in ids):
            continue
        keep.append(low)
    return Prefiltered(r"(?<![a-z0-9])(" + _literal_alternation(keep) + r")(?![a-z0-9_])")


_BITS = Prefiltered(r"(?<![\d.a-z])(?:(\d{1,2})\s?-?\s?(?:bits?|位|比特)(?![a-z])|int(4)(?![a-z0-9]))")
# Something written like a format name that the catalog does not know ('q4_k_z', 'fp6'): passed to the tool as
# written, so the answer is the tool's error with its did-you-mean rather than a silent default.
_FORMAT_LIKE = Prefiltered(r"(?<![a-z0-9])(i?q\d(?:_[a-z0-9]+)+|fp\d{1,2}|bf\d{1,2}|int\d{1,2})(?![a-z0-9])")
_KV_WORD = r"(?:kv[\s\-_]*(?:cache|缓存)?|k/v|键值缓存)"
_KV_BEFORE = re.compile(_KV_WORD + r"[^,.;，。？?]{0,12}$")  # "KV cache in q8_0": the format follows
_KV_AFTER = re.compile(r"\s{0,4}" + _KV_WORD)  # "fp8 KV cache": the format comes first
_OPTIMIZERS = (
    (Prefiltered(r"(?:8[\s-]?bit|8位|8比特)\s{0,4}adam\w*|adam\w*[\s_-]*8[\s_-]?bit|bnb\s{0,4}adam"), "adamw_8bit"),
    (Prefiltered(r"(?<![a-z])sgd(?![a-z])"), "sgd"),
    (Prefiltered(r"(?<![a-z])adamw?(?![a-z0-9_])"), "adamw"),
)


@cache
def _format_alias_keys() -> dict[str, str]:
    """_alias_key of every format id and alias -> format id."""
    return {_alias_key(a): f for a, f in resolve.format_aliases().items()}


def _precisions(parsed: Parsed, taken: list[tuple[int, int]]) -> None:
    text = parsed.text
    found: list[tuple[tuple[int, int], str]] = []

    def free(span: tuple[int, int]) -> bool:
        return not any(a < span[1] and span[0] < b for a, b in taken + [s for s, _ in found])

    aliases = _format_alias_keys()
    for m in itertools.islice(_precision_pattern().finditer(text), 2 * MAX_MENTIONS):
        span = (m.start(), m.end())
        fmt = aliases.get(_alias_key(m.group(1)))
        if fmt is not None and free(span):
            found.append((span, fmt))
    for m in itertools.islice(_BITS.finditer(text), MAX_MENTIONS):
        span = (m.start(), m.end())
        fmt = resolve.bits_format(int(m.group(1) or m.group(2)), parsed.runtime)
        if fmt and free(span):
            found.append((span, fmt))
    if parsed.unknown_precision is None:
        for m in _FORMAT_LIKE.finditer(text):
            if free((m.start(), m.end())):
                parsed.unknown_precision = m.group(1)
                break  # the first one is the one passed on: the rest are not looked at
    # A precision right after "KV cache" (or right before it) is the cache's, not the weights'.
    weights: list[tuple[tuple[int, int], str]] = []
    for span, fmt in sorted(found):
        kv_named = _KV_BEFORE.search(text[max(0, span[0] - 24) : span[0]]) or _KV_AFTER.match(text, span[1])
        if kv_named and parsed.kv_precision is None:
            try:
                parsed.kv_precision = resolve.kv_format(fmt)[0]
                continue
            except VramwiseError:
                pass
        weights.append((span, fmt))
    parsed.precisions = weights


_CONTEXT_PATTERNS = (
    Prefiltered(r"(?<![\d.])(\d{2,7})\s{0,4}(?:长度|长的|-?token[\s-]*(?:long|sequences?|samples?))"),
    Prefiltered(
        r"(?:sequence|seq|序列|样本)\s{0,4}(?:length|len|长度)?\s{0,4}(?:of|=|:|是|为)?\s{0,4}(\d{2,7}k?)(?![\d.])"
    ),
    Prefiltered(r"(?<![a-z0-9_.])(\d+(?:\.\d+)?\s{0,4}[km])(?:\s{0,4}(?:tokens?|context|ctx|上下文|token|词元))"),
    Prefiltered(r"(?<![a-z0-9_.])(\d+(?:\.\d+)?\s{0,4}k)(?![a-z])"),
    Prefiltered(
        r"(?<![\d.])(\d{3,7})\s{0,4}(?:个\s{0,4})?(?:tokens?|词元)(?![a-z])(?!\s{0,4}/|\s{0,4}per|\s{0,4}每秒|\s{0,4}每)"
    ),
    Prefiltered(
        r"(?:context|上下文|ctx)(?:\s{0,4}(?:length|window|长度|窗口))?\s{0,4}(?:of|=|:|是|为|开到|到|设为)?\s{0,4}(\d+k?)"
    ),
)
_BATCH_PATTERNS = (
    Prefiltered(r"(?<![\d.])(\d+)\s{0,4}(?:个)?\s{0,4}(?:人|用户|路并发|并发|路)"),
    Prefiltered(r"并发\s{0,4}(?:数|量)?\s{0,4}(?:是|为|=|:|开到|到)?\s{0,4}(\d+)"),
    Prefiltered(
        r"(?<![\d.])(\d+)\s{0,4}(?:concurrent|simultaneous|parallel)?\s{0,4}(?:users?|people|requests|sessions|clients)"
    ),
    Prefiltered(r"(?:batch(?:[\s_-]?size)?|批大小|批量)\s?(?:(?:of|=|:|为|是)\s?)?(\d+)"),
    Prefiltered(r"(?<![\d.])(\d+)\s{0,4}concurrent"),
)
_VRAM = (
    Prefiltered(
        r"(?<![\d.])(\d+(?:\.\d+)?)\s{0,4}g(?:b|ib)?\s{0,4}(?:的)?\s{0,4}(?:显存|vram|of vram|gpu memory|video memory"
        r"|(?:graphics\s+)?(?:card|gpu)s?(?![a-z])|显卡|卡)"
    ),
    Prefiltered(r"(?:显存|vram)\s{0,4}(?:是|有|只有|=|:)?\s{0,4}(\d+(?:\.\d+)?)\s{0,4}g"),
    Prefiltered(
        r"(?:进|放进|装进|塞进|fit (?:in|into|on)|into)\s{0,4}(?:an?\s+)?(\d+(?:\.\d+)?)\s{0,4}g(?:b|ib)?(?![a-z])"
    ),
)
_RAM = (
    Prefiltered(
        r"(?<![\d.])(\d+(?:\.\d+)?)\s{0,4}g(?:b|ib)?\s{0,4}(?:的)?\s{0,4}(?:of\s+)?(?:(?:dual|quad)[\s-]channel\s{0,4}|双通道\s{0,4})?"
        r"(?:ddr\d(?:[\s-]\d{4})?\s{0,4})?(?:内存|ram|system memory|ddr\d)"
    ),
    Prefiltered(r"(?:内存|ram)\s{0,4}(?:是|有|只有|=|:)?\s{0,4}(\d+(?:\.\d+)?)\s{0,4}g"),
)
_CPU_ONLY = Prefiltered(
    r"纯\s{0,4}cpu|cpu[\s-]*only|only (?:a |the )?cpu|no (?:gpu|graphics card|dedicated gpu)|without (?:a |any )?gpu|"
    r"没有\s{0,4}(?:独立)?\s{0,4}(?:显卡|gpu)|无\s{0,4}(?:独立)?\s{0,4}显卡|不用\s{0,4}(?:显卡|gpu)|"
    r"只有\s{0,4}cpu|on (?:a |the )?cpu|cpu\s{0,4}上"
)
_SPEED_FLOOR = (
    Prefiltered(
        r"(?<![\d.])(\d+(?:\.\d+)?)\s{0,4}(?:个\s{0,4})?(?:tokens?|tok|t)\s{0,4}"
        r"(?:/\s{0,4}s(?:ec)?|per second|每秒|/秒)"
    ),
    Prefiltered(
        r"每秒\s{0,4}(?:至少|超过|能有|能到|要有)?\s{0,4}(\d+(?:\.\d+)?)\s{0,4}(?:个)?\s{0,4}(?:tokens?|词元|字)"
    ),
)
_ZERO = Prefiltered(r"zero[\s\-_]*(?:stage)?[\s\-_]*([123])(?!\d)|([123])\s{0,4}阶段?\s{0,4}zero")
_LORA_RANK = Prefiltered(r"(?:rank|秩|(?<![a-z])r)\s{0,4}(?:=|:|of|为|是)?\s{0,4}(\d{1,4})(?![\d.])")
_FILE_SIZE = Prefiltered(
    r"文件|file|how big|size of|(?<![a-z])sized?(?![a-z])|多大|多少字节|how many bytes|权重大约|"
    r"weights? (?:take|are|is)"
)
_LADDER = Prefiltered(
    r"各种|各个|所有|每种|每个量化|各档|不同的?\s{0,4}(?:量化|精度)|档位|一路量化|"
    r"all (?:the )?(?:quants|quantizations|precisions)|each (?:quant|precision)|every (?:quant|precision)|"
    r"(?:different|various|smaller|lower) (?:quants?|quantizations?|precisions?)|quant(?:ization)? levels?|ladder|"
    r"all the way down"
)
_QUALITY = Prefiltered(r"quality|accuracy|hurts?|degrad|lossy|质量|精度损失|掉点|掉精度|效果")
_TEAM = Prefiltered(r"team of (\d+)|(?<![\d.])(\d+) of us|(?<![\d.])(\d+)\s{0,4}(?:名|位)?\s{0,4}(?:同事|员工)")
_TASKS = (
    ("code", Prefiltered(r"cod(?:e|ing)|program|编程|写代码|代码|coder")),
    ("reasoning", Prefiltered(r"math|数学|reasoning|逻辑")),
    ("rag", Prefiltered(r"\brag\b|知识库|检索|retrieval")),
    ("long_context", Prefiltered(r"long[\s-]context|长文本|长上下文|long documents")),
    ("multilingual", Prefiltered(r"translat|翻译|multilingual|多语言")),
    ("edge", Prefiltered(r"手机|phone|(?<![a-z])edge(?![a-z])|边缘|端侧|嵌入式|on[\s-]device|树莓派|raspberry|jetson")),
    ("chat", Prefiltered(r"\bchat|聊天|对话|assistant|助手")),
)


def _spans(patterns: tuple[Prefiltered, ...], text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for pattern in patterns for m in pattern.finditer(text)]


def _first_int(patterns: tuple[Prefiltered, ...], text: str, parse: type = int) -> int | None:
    for pattern in patterns:
        m = pattern.search(text)
        if m:
            try:
                value = parse(m.group(1).replace(" ", ""))
            except ValueError:
                continue
            if value > 0:
                return value
    return None


_QLORA = Prefiltered(r"(?<![a-z])qlora(?![a-z])")
_LORA = Prefiltered(r"(?<![a-z])lora(?![a-z])")
_FOUR_BIT = Prefiltered(r"4\s{0,4}-?\s{0,4}(?:bit|位|比特)|nf4|int4")
_FULL_FINETUNE = Prefiltered(r"full(?:y)?[\s-]*(?:fine[\s-]*tun|finetun|param|train)|全参|全量")
_FINETUNE = Prefiltered(r"fine[\s-]*tun|finetun|微调|训练|(?<![a-z])train(?:ing)?(?![a-z])|(?<![a-z])sft(?![a-z])")


def _mode(text: str) -> ModeWord | None:
    if _QLORA.search(text):
        return "qlora"
    if _LORA.search(text):
        return "qlora" if _FOUR_BIT.search(text) else "lora"
    if _FULL_FINETUNE.search(text):
        return "full_finetune"
    if _FINETUNE.search(text):
        return "finetune"
    return None


# ------------------------------------------------------------------------------------------------ intent

_CONCEPT = Prefiltered(
    r"what(?:'s| is| are| does| happens)|explain|meaning of|(?<![a-z])why|difference between|how does|define|"
    r"how (?:do i|to|can i) (?:compute|calculate|work out|estimate)|formula|rule of thumb|"
    r"is (?:that|this|it) (?:right|true)|"
    r"as some say|(?<![a-z])supports?(?![a-z])|how many layers|kv heads|fact sheet|good rule|because|always|"
    r"is there an?(?![a-z])|how many parameters|do i get|unified memory|double the speed|"
    r"什么是|是什么|啥是|什么意思|啥意思|为什么|为啥|为何|区别|原理|解释|介绍一下|怎么理解|是啥|公式|对吗|对不对|是不是|"
    r"真的吗|是真的|怎么算|如何计算|怎么计算|有什么影响|影响|支持|多少层|几层|kv\s{0,4}头|参数表|漏了什么|分别|因为|"
    r"总是|一定|指数|有没有|统一内存|能用多少|还有哪些|除了|选哪个|估算|常数|constant|approximat"
)
_RECOMMEND = Prefiltered(
    r"what can (?:i|we) (?:actually )?(?:run|use)|what (?:models?|llms?) (?:can|should|could|fits?|to)|"
    r"which (?:models?|llms?)|recommend|suggest|best (?:[\w-]+ ){0,2}(?:models?|llms?)|strongest|most capable|"
    r"what (?:llm|model|should (?:i|we) (?:run|use|pick))|qualify|(?<![a-z])usable|"
    r"(?:would|should|do) you (?:pick|choose)|"
    r"能跑什么|跑什么|跑啥|什么模型|哪个模型|啥模型|哪些模型|推荐|适合|选什么|可选|用什么模型"
)
_COMPARE = Prefiltered(
    r"better|worse|(?<![a-z])vs\.?(?![a-z])|versus|(?<![a-z])or(?![a-z])|compare|comparison|哪个好|哪个更|还是|对比|比较|更好|不如|划算"
)
_SIZING = Prefiltered(
    r"how much|how many|多少|几张|几块|need|需要|要多大|多大|显存|vram|memory|内存|占用|fit|run|能跑|跑得|跑的动|"
    r"装得下|放得下|够不够|够吗|够用|能不能|带得动|hold|enough|size"
)
_FIT = Prefiltered(
    r"(?<![a-z])(?:fit|fits|run|runs|hold|enough)(?![a-z])|能跑|跑得动|跑的动|跑得了|装得下|放得下|够不够|够吗|够用|能不能跑|带得动|能用吗"
)


# "how big is it": the size of the model at the precision it is named with, asked beside a comparison
_HOW_BIG = Prefiltered(r"how (?:big|large)|what size|多大")
_ASKS_MODEL = Prefiltered(r"(?<![a-z])(?:models?|llms?)(?![a-z])|模型|what works")
_QUANT_WORD = Prefiltered(r"quant|量化")
_SMALL_TALK = Prefiltered(r"^\W*(?:hi|hello|hey|thanks?|thank you|你好|您好|嗨|谢谢|多谢|help|帮助)\W*$")


def weight_precisions(p: Parsed) -> list[str]:
    """The distinct weight formats the question names, in order."""
    return list(dict.fromkeys(fmt for _, fmt in p.precisions))


def _intent(p: Parsed) -> tuple[Intent, list[Intent]]:
    """What to answer first, and what else the question asks (answered after it)."""
    text = p.text
    hardware = bool(p.gpus) or p.vram_gb is not None or p.system_ram_gb is not None
    concept = bool(_CONCEPT.search(text))
    recommend = bool(_RECOMMEND.search(text))
    compare = bool(_COMPARE.search(text))
    precisions = weight_precisions(p)
    training = p.mode is not None
    also: list[Intent] = ["concept"] if concept else []
    if len(p.subjects) >= 2 and (compare or all(s.precision for s in p.subjects[:2])):
        return "compare", also
    if len(p.subjects) == 1 and not training and (len(precisions) >= 2 or p.ladder):
        if len(precisions) >= 2 and _HOW_BIG.search(text):
            # "how big is it in FP32, and how much does FP16 save?": its size first, then the comparison
            return "estimate", ["compare", *also]
        return "compare", also
    if p.subjects:
        if recommend and hardware:
            return "estimate", ["recommend"]
        if concept and not (_SIZING.search(text) or p.context_length or p.precisions or hardware):
            return "concept", []
        return "estimate", also
    if any(n.what in ("model_size", "model") for n in p.needs):
        return ("concept", []) if concept else ("estimate", [])
    if recommend and (hardware or not concept):
        return "recommend", []
    asks_model = _ASKS_MODEL.search(text)
    if hardware and not concept and not precisions and (_FIT.search(text) or asks_model or len(text) < 30):
        return "recommend", []
    if not training and (len(precisions) >= 2 or (p.ladder and (precisions or _QUALITY.search(text)))):
        return "compare", ["concept"]  # no model named: an example model, and the note that explains it
    if not training and precisions and _QUALITY.search(text) and _QUANT_WORD.search(text):
        return "compare", ["concept"]
    return "concept", []


# ------------------------------------------------------------------------------------------------- parse


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    for a, b in sorted(spans, reverse=True):
        text = text[:a] + " " * (b - a) + text[b:]
    return text


def _training_options(p: Parsed) -> list[tuple[int, int]]:
    """Optimizer, ZeRO stage and LoRA rank; returns their spans (so '8-bit Adam' is not an 8-bit model)."""
    spans: list[tuple[int, int]] = []
    for pattern, name in _OPTIMIZERS:
        m = pattern.search(p.text)
        if m:
            p.optimizer = name
            spans.append((m.start(), m.end()))
            break
    m = _ZERO.search(p.text)
    if m:
        p.zero_stage = int(m.group(1) or m.group(2))
        spans.append((m.start(), m.end()))
    if "lora" in p.text:
        m = _LORA_RANK.search(p.text)
        if m:
            p.lora_rank = int(m.group(1))
            spans.append((m.start(), m.end()))
    return spans


MAX_QUESTION_CHARS = 2000  # the help desk, the CLI and the agent refuse longer questions before parsing


class QuestionTooLong(ValueError):
    """A question over MAX_QUESTION_CHARS; the message is the one line the user sees."""


def check_length(question: str) -> None:
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionTooLong(
            f"the question is {len(question):,} characters long; at most {MAX_QUESTION_CHARS:,} are accepted "
            "(ask about one model and one GPU at a time)"
        )


def parse(question: str) -> Parsed:
    """Language, entities and intent of a question; `needs` says what is missing to answer it."""
    return finish(extract(question))


def extract(question: str) -> Parsed:
    """The entities a question names, before intent and needs (a conversation fills gaps in between)."""
    check_length(question)
    text = normalise(question)
    p = Parsed(question=question, text=text, lang=detect_language(question))
    p.runtimes = _runtimes_named(text)
    p.runtime = p.runtimes[0] if p.runtimes else None
    _gpus(p)
    taken = _models(p) + [g.span for g in p.gpus] + _training_options(p)
    speed = [m for pattern in _SPEED_FLOOR for m in pattern.finditer(text)]
    if speed:
        p.min_tokens_per_s = float(speed[0].group(1))
        taken += [(m.start(), m.end()) for m in speed]
    bandwidth = _BANDWIDTH.search(text)
    if bandwidth:
        scale = 1000.0 if bandwidth.group(2).startswith("t") else 1.0
        p.bandwidth_gb_s = float(bandwidth.group(1)) * scale
        taken.append((bandwidth.start(), bandwidth.end()))
    _precisions(p, taken)
    free_text = _blank(text, taken + [span for span, _ in p.precisions])
    p.context_length = _first_int(_CONTEXT_PATTERNS, free_text, parse_tokens)
    p.batch_size = _first_int(_BATCH_PATTERNS, free_text)
    team = _TEAM.search(free_text)
    if team and p.batch_size is None:
        p.batch_size = int(next(g for g in team.groups() if g))
    p.cpu_only = bool(_CPU_ONLY.search(text)) and not p.gpus
    if not p.gpus:
        ram = _first_int(_RAM, free_text, float)
        vram = None if p.cpu_only else _first_int(_VRAM, _blank(free_text, _spans(_RAM, free_text)), float)
        if vram or p.unknown_gpu is None:
            p.vram_gb = float(vram) if vram else None
        if ram and p.vram_gb is None:
            p.system_ram_gb = float(ram)
        _unknown_gpu(p)
        p.count_only = _count_only(text)
    p.file_size = bool(_FILE_SIZE.search(text)) and not p.gpus and p.vram_gb is None
    p.ladder = bool(_LADDER.search(text))
    p.mode = _mode(text)
    p.task = next((task for task, pattern in _TASKS if pattern.search(text)), None)
    p.wants_fit = bool(_FIT.search(text))
    p.small_talk = bool(_SMALL_TALK.match(text))
    p.asks = [name for name, pattern in _ASKS if pattern.search(text)]
    p.config_path = _config_path(question)
    p.followup = bool(_FOLLOWUP.search(text))
    return p


def finish(p: Parsed) -> Parsed:
    """Precisions to subjects, intent, and what is missing (`needs`)."""
    _assign_precisions(p)
    p.intent, p.also = _intent(p)
    hardware = bool(p.gpus) or p.vram_gb is not None or p.system_ram_gb is not None
    if p.unknown_gpu is not None and p.unknown_gpu.vram_gb is None:
        p.needs.append(Need("gpu_memory", ["16GB", "24GB"], unknown=True, named=p.unknown_gpu.name))
        hardware = True  # asked for below; no second question about the GPU
    if p.intent == "recommend" and not hardware and not any(n.what == "gpu_memory" for n in p.needs):
        p.needs.append(Need("gpu", list(GPU_EXAMPLES)))
    if (
        p.intent == "concept"
        and not p.subjects
        and _SIZING.search(p.text)
        and not _CONCEPT.search(p.text)
        and len(p.text) <= 60  # "how much VRAM do I need?"; longer questions are about the idea
        and not any(n.what.startswith("model") for n in p.needs)
        and not p.small_talk
    ):
        p.intent = "estimate"  # "how much VRAM do I need?": a calculation with the model missing: ask for it
        p.needs.append(Need("model", list(MODEL_EXAMPLES), named=_unknown_name(p)))
    asks_fit = p.wants_fit or p.gpu_count_asked or any(a in ("max_context", "max_batch", "concurrency") for a in p.asks)
    if (
        p.intent == "estimate"
        and p.subjects
        and asks_fit
        and not hardware
        and not any(n.what == "gpu_memory" for n in p.needs)
    ):
        p.needs.append(Need("gpu", list(GPU_EXAMPLES)))
    return p


def _config_path(question: str) -> str | None:
    """A path to a config.json written in the question (whitespace-separated, quotes stripped): linear, no regex."""
    for word in question.split():
        word = word.strip("\"'`“”‘’()[]<>,;:!?。，；：？！")
        if word.endswith("config.json") and len(word) <= 1024:
            return word
    return None


_BANDWIDTH = Prefiltered(r"(?<![\d.])(\d{1,5}(?:\.\d{1,3})?)\s?(gb/s|gbps|tb/s|tbps)(?![a-z])")
_COUNT_ONLY = (
    Prefiltered(r"(?<![\d.])(\d{1,2})\s?(?:x\s?)?(?:cards|gpus|of them|张卡|块卡|张|块|卡)(?![a-z])"),
    Prefiltered(r"(?<![a-z])(one|single|two|dual|three|four|quad|six|eight|sixteen)\s(?:cards|gpus|of them)(?![a-z])"),
)
_ZH_COUNT_ONLY = (("双卡", 2), ("双路", 2), ("单卡", 1))


def _count_only(text: str) -> int | None:
    for pattern in _COUNT_ONLY:
        m = pattern.search(text)
        if m:
            word = m.group(1)
            return _COUNT_WORDS.get(word) or int(word)
    return next((n for word, n in _ZH_COUNT_ONLY if word in text), None)


_ASKS: tuple[tuple[Ask, Prefiltered], ...] = (
    (
        "concurrency",
        Prefiltered(
            r"how many (?:users|people|requests|concurrent|sequences|clients)|users? (?:can|could|will) it serve|"
            r"serve how many|max(?:imum)? concurrency|"
            r"能服务多少|服务多少|多少(?:人|用户|并发|路)|几个人|并发(?:数|量)?是?多少"
        ),
    ),
    (
        "max_context",
        Prefiltered(
            r"longest context|max(?:imum)? context|largest context|how long (?:a |of a )?context|"
            r"how much context|最长|最大上下文|上下文(?:最多|最大)|能开多少"
        ),
    ),
    ("max_batch", Prefiltered(r"max(?:imum)? batch|largest batch|biggest batch|最大批|批大小最大|最多几路")),
    ("speed", Prefiltered(r"how fast|tokens?\s?(?:/|per)\s?s|tok/s|speed|速度|多快|每秒|throughput|吞吐")),
    ("prefill", Prefiltered(r"prefill|prompt processing|time to first token|ttft|预填充|首字|首 ?token")),
)
_FOLLOWUP = Prefiltered(
    r"^\W*(?:and|what about|how about|same|ok|okay|now|then|also|but)(?![a-z])|instead|same|that one|this one|"
    r"(?<![a-z])(?:it|that|them|those|this)(?![a-z])|呢|^\W*那|换成|改成|同样|它|这个|那个|^\W*再"
)
_UNKNOWN_NAME = re.compile(r"(?<![A-Za-z0-9])([A-Z][A-Za-z]{1,20}(?:[\s\-][A-Z]?[A-Za-z]{0,10}\d[\w.]{0,10}){1,3})")


def _unknown_name(p: Parsed) -> str | None:
    """A capitalised product-like name ('Kimi K2', 'Hunyuan-A13B') when the question names no known model."""
    m = _UNKNOWN_NAME.search(p.question)
    return m.group(1) if m else None


def _assign_precisions(p: Parsed) -> None:
    """Each precision goes to the nearest subject on its left (else the first on its right)."""
    if not p.subjects:
        return
    for span, fmt in p.precisions:
        left = [s for s in p.subjects if s.span[0] <= span[0]]
        target = left[-1] if left else p.subjects[0]
        if target.precision is None:
            target.precision = fmt
        elif len(p.subjects) > 1:
            free = [s for s in p.subjects if s.precision is None]
            if free:
                free[0].precision = fmt
