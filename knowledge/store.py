"""The Chroma collection that holds the chunks: the only module that imports chromadb."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from knowledge import embeddings
from knowledge.paths import default_data_dir

CHROMA_URL_ENV = "VRAMWISE_CHROMA_URL"
COLLECTION_PREFIX = "vramwise-kb"
PAGE_SIZE = 1000
WRITE_BATCH = 256

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import chromadb  # noqa: E402  (after the telemetry switches above)
from chromadb.api.shared_system_client import SharedSystemClient  # noqa: E402
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings  # noqa: E402
from chromadb.config import Settings  # noqa: E402
from chromadb.utils.embedding_functions import register_embedding_function  # noqa: E402


class StoreError(RuntimeError):
    """The store cannot be opened or reached; the message says where and why."""


def collection_name(model_id: str) -> str:
    """One collection per embedding model, so vectors of two models never mix (3-512 chars, Chroma's rule)."""
    if model_id == embeddings.BUNDLED_MODEL_ID:
        return f"{COLLECTION_PREFIX}-minilm-l6-v2"
    return f"{COLLECTION_PREFIX}-{hashlib.sha256(model_id.encode()).hexdigest()[:12]}"


@register_embedding_function
class VramwiseEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma adapter around knowledge.embeddings, so Chroma never falls back to its ONNX default."""

    def __init__(self, model: str | None = None) -> None:
        self.model = model  # None: whatever knowledge.embeddings.configured_model() says at call time

    def __call__(self, input: Documents) -> Embeddings:
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in embeddings.embed_documents(list(input), self.model)]

    def embed_query(self, input: Documents) -> Embeddings:
        return self.__call__(input)

    @staticmethod
    def name() -> str:
        return "vramwise-sentence-transformers"

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model or ""}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> VramwiseEmbeddingFunction:
        return VramwiseEmbeddingFunction(config.get("model") or None)

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"


@dataclass(frozen=True)
class StoredChunk:
    chunk_id: str
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class DenseHit:
    chunk_id: str
    text: str
    metadata: dict[str, Any]
    distance: float  # cosine distance, 0 = same direction


class KnowledgeStore:
    """One Chroma collection of chunks, embedded with the configured sentence-transformers model."""

    def __init__(self, client: Any, *, location: str, model: str | None = None) -> None:
        self.client = client
        self.location = location
        self.model = model
        self.embedding_model_id = embeddings.model_id(model)
        self.name = collection_name(self.embedding_model_id)
        self.embedding_function = VramwiseEmbeddingFunction(model)
        self._collection: Any = None
        self._lock = threading.Lock()

    @property
    def collection(self) -> Any:
        if self._collection is None:
            with self._lock:
                if self._collection is None:
                    self._collection = _call(
                        self.location,
                        self.client.get_or_create_collection,
                        self.name,
                        embedding_function=self.embedding_function,
                        metadata={"hnsw:space": "cosine", "embedding_model": self.embedding_model_id},
                    )
        return self._collection

    def count(self) -> int:
        return int(_call(self.location, self.collection.count))

    def ids(self, where: dict[str, Any] | None = None) -> list[str]:
        return [c.chunk_id for c in self._iter_get(include=[], where=where)]

    def metadatas(self, where: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        return {c.chunk_id: c.metadata for c in self._iter_get(include=["metadatas"], where=where)}

    def chunks(self, where: dict[str, Any] | None = None) -> list[StoredChunk]:
        return list(self._iter_get(include=["documents", "metadatas"], where=where))

    def _iter_get(self, include: list[str], where: dict[str, Any] | None) -> Iterator[StoredChunk]:
        offset = 0
        while True:
            page = _call(
                self.location,
                self.collection.get,
                where=where,
                include=include,
                limit=PAGE_SIZE,
                offset=offset,
            )
            ids = page["ids"]
            documents = page.get("documents") or [""] * len(ids)
            metadatas = page.get("metadatas") or [{}] * len(ids)
            for chunk_id, text, meta in zip(ids, documents, metadatas, strict=True):
                yield StoredChunk(chunk_id, text or "", dict(meta or {}))
            if len(ids) < PAGE_SIZE:
                return
            offset += PAGE_SIZE

    def upsert(
        self,
        ids: Sequence[str],
        documents: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
        vectors: Sequence[Sequence[float]],
    ) -> None:
        for start in range(0, len(ids), WRITE_BATCH):
            end = start + WRITE_BATCH
            _call(
                self.location,
                self.collection.upsert,
                ids=list(ids[start:end]),
                documents=list(documents[start:end]),
                metadatas=[dict(m) for m in metadatas[start:end]],
                embeddings=[list(v) for v in vectors[start:end]],
            )

    def delete(self, ids: Iterable[str]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), WRITE_BATCH):
            _call(self.location, self.collection.delete, ids=ids[start : start + WRITE_BATCH])

    def query(self, vector: Sequence[float], n: int, where: dict[str, Any] | None = None) -> list[DenseHit]:
        total = self.count()
        if total == 0:
            return []
        result = _call(
            self.location,
            self.collection.query,
            query_embeddings=[list(vector)],
            n_results=min(n, total),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            DenseHit(chunk_id, text or "", dict(meta or {}), float(distance))
            for chunk_id, text, meta, distance in zip(
                result["ids"][0],
                result["documents"][0],
                result["metadatas"][0],
                result["distances"][0],
                strict=True,
            )
        ]

    def fingerprint(self) -> str:
        """Changes whenever a chunk is added, replaced or removed (ids embed a content hash)."""
        digest = hashlib.sha256()
        for chunk_id in sorted(self.ids()):
            digest.update(chunk_id.encode())
            digest.update(b"\0")
        return digest.hexdigest()


def _call(location: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a chromadb call, turning connection failures into StoreError naming the store."""
    try:
        return fn(*args, **kwargs)
    except ConnectionError as exc:
        raise StoreError(f"cannot reach the Chroma store at {location}: {exc}") from exc
    except OSError as exc:
        raise StoreError(f"cannot use the Chroma store at {location}: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("httpx", "httpcore")):
            raise StoreError(f"cannot reach the Chroma store at {location}: {exc}") from exc
        raise


_stores: dict[tuple[str, str], KnowledgeStore] = {}
_stores_lock = threading.Lock()
OPEN_LOCK_FILE = ".vramwise-open.lock"
OPEN_RETRY_SECONDS = 30.0


@contextlib.contextmanager
def _cross_process_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on PATH shared with other processes (POSIX flock; elsewhere no lock, the retry covers it)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _persistent_client(folder: Path, settings: Settings) -> Any:
    """An embedded client on FOLDER, safe against another process opening the same folder at the same moment.

    Two processes starting on one store both run Chroma's SQLite migrations, and the loser fails with "database is
    locked". Opening under a folder-wide file lock serialises that; a lock error that still gets through (another
    writer, a platform without flock) is retried with backoff for OPEN_RETRY_SECONDS.
    """
    deadline = time.monotonic() + OPEN_RETRY_SECONDS
    delay = 0.05
    while True:
        try:
            with _cross_process_lock(folder / OPEN_LOCK_FILE):
                return chromadb.PersistentClient(path=str(folder), settings=settings)
        except Exception as exc:
            if "database is locked" not in str(exc) or time.monotonic() > deadline:
                raise
            # chromadb caches a system per path before starting it; a failed start must not be reused
            getattr(SharedSystemClient, "_identifier_to_system", {}).pop(str(folder), None)
            time.sleep(delay)
            delay = min(2 * delay, 1.0)


def parse_chroma_url(url: str) -> tuple[str, int, bool]:
    """'http://127.0.0.1:8000' -> ('127.0.0.1', 8000, False). Raises ValueError naming the bad URL."""
    parsed = urlparse(url if "://" in url else f"http://{url}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"bad Chroma URL {url!r}: expected http://HOST:PORT, e.g. http://127.0.0.1:8000")
    ssl = parsed.scheme == "https"
    try:
        port = parsed.port or (443 if ssl else 8000)
    except ValueError as exc:
        raise ValueError(f"bad Chroma URL {url!r}: the port must be a number, e.g. :8000") from exc
    return parsed.hostname, port, ssl


def open_store(path: str | os.PathLike[str] | None = None, url: str | None = None) -> KnowledgeStore:
    """The knowledge store, opened once per process per location.

    url (or $VRAMWISE_CHROMA_URL): a Chroma server (`chroma run`), e.g. http://127.0.0.1:8000.
    path: a folder for an embedded PersistentClient; default <data dir>/chroma where the data dir is
    $VRAMWISE_DATA_DIR, else $XDG_DATA_HOME/vramwise, else ~/.local/share/vramwise.
    Raises ValueError for a malformed URL and StoreError when the server cannot be reached or the
    folder cannot be created.
    """
    settings = Settings(anonymized_telemetry=False)
    if path is not None and url is not None:
        raise ValueError("give either a store path or a Chroma URL, not both")
    url = url if path is not None or url is not None else (os.environ.get(CHROMA_URL_ENV, "").strip() or None)
    model = os.environ.get(embeddings.MODEL_ENV, "").strip() or None
    if url is not None:
        host, port, ssl = parse_chroma_url(url)
        key = ("url", f"{'https' if ssl else 'http'}://{host}:{port}|{model}")
    else:
        folder = Path(path).expanduser() if path is not None else default_data_dir() / "chroma"
        key = ("path", f"{folder.resolve()}|{model}")
    with _stores_lock:
        store = _stores.get(key)
        if store is not None:
            return store
        if url is not None:
            location = f"{'https' if ssl else 'http'}://{host}:{port}"
            try:
                client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
            except Exception as exc:  # chromadb raises ValueError (and httpx errors) for an unreachable server
                raise StoreError(f"cannot reach the Chroma server at {location}: {exc}") from exc
        else:
            location = str(folder)
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store folder {folder}: {exc}") from exc
            client = _persistent_client(folder, settings)
        store = KnowledgeStore(client, location=location, model=model)
        _stores[key] = store
        return store
