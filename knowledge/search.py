"""Hybrid retrieval over the knowledge store: dense (Chroma) + BM25, fused by reciprocal rank, language-aware.

Importing this module is cheap: chromadb, bm25s, jieba and the embedding model load on the first search.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field

from knowledge import embeddings
from knowledge.chunking import LANGS, detect_lang, index_text

if TYPE_CHECKING:
    from knowledge.lexical import Bm25Index
    from knowledge.store import KnowledgeStore, StoredChunk

K_MIN, K_MAX = 1, 20
Mode = Literal["hybrid", "dense", "lexical"]


class Passage(BaseModel):
    note_id: str = Field(description="id of the note (or slug of the user file) the passage comes from")
    title: str
    heading: str = Field(description="heading path inside the note, e.g. 'KV cache size > Worked example'")
    text: str
    score: float = Field(description="fused reciprocal-rank score (higher is better; comparable within one query)")
    source: str = Field(description="first source URL of the note, or the file path")
    lang: str = Field(description="'en' or 'zh'")
    chunk_id: str


class SearchKnowledgeResult(BaseModel):
    query: str
    lang: str = Field(description="language the passages were chosen for: the lang argument or the detected one")
    passages: list[Passage]


@dataclass(frozen=True)
class RetrievalConfig:
    """Knobs of the fusion, measured with evals/bench_retrieval.py."""

    rrf_k: int = 30  # reciprocal rank fusion constant: score = sum(weight / (rrf_k + rank))
    dense_weight: float = 1.0
    # Weight of the dense list for Chinese queries: the default model (all-MiniLM-L6-v2) is English-only and
    # maps most Chinese characters to [UNK], so for Chinese it only sees the Latin terms of a query.
    dense_weight_zh: float = 0.1
    lexical_weight: float = 1.0
    candidates: int = 40  # hits taken from each ranked list before fusion
    lang_mode: Literal["filter", "boost", "none"] = "filter"  # filter: query language first, others fill up
    lang_boost: float = 2.0  # score multiplier for the query language when lang_mode == "boost"
    max_per_note: int = 2  # at most this many passages from one note (0: no limit)
    query_lang_threshold: float = 0.2  # CJK share of letters from which a query counts as Chinese


DEFAULT_CONFIG = RetrievalConfig()


# --------------------------------------------------------------------------- validation


def validate_search_args(query: Any, k: Any, lang: Any) -> tuple[str, int, str | None]:
    """Normalised (query, k, lang). Raises ValueError naming the bad value and what is accepted."""
    if not isinstance(query, str) or not query.strip():
        raise ValueError(f"query must be a non-empty string (got {query!r})")
    if isinstance(k, bool) or not isinstance(k, int) or not K_MIN <= k <= K_MAX:
        raise ValueError(f"k must be an integer from {K_MIN} to {K_MAX} (got {k!r})")
    if isinstance(lang, str):
        lang = lang.strip().lower() or None
    if lang is not None and lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(map(repr, LANGS))} or None for auto-detect (got {lang!r})")
    return query.strip(), k, lang


# --------------------------------------------------------------------------- lexical cache


@dataclass
class _LexicalState:
    fingerprint: str = ""
    chunks: list[StoredChunk] = field(default_factory=list)
    indexes: dict[str, tuple[Bm25Index, list[int]]] = field(default_factory=dict)  # scope -> index, positions


class _LexicalCache:
    """BM25 indexes built from the store's documents, rebuilt when the store's fingerprint changes."""

    def __init__(self) -> None:
        self._states: weakref.WeakKeyDictionary[KnowledgeStore, _LexicalState] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def chunks_and_index(self, store: KnowledgeStore, scope: str) -> tuple[list[StoredChunk], Bm25Index, list[int]]:
        from knowledge.lexical import Bm25Index, tokenize

        fingerprint = store.fingerprint()
        with self._lock:
            state = self._states.get(store)
            if state is None or state.fingerprint != fingerprint:
                state = _LexicalState(fingerprint=fingerprint, chunks=store.chunks())
                self._states[store] = state
            if scope not in state.indexes:
                positions = [i for i, c in enumerate(state.chunks) if scope == "all" or c.metadata.get("lang") == scope]
                tokens = [tokenize(index_text(state.chunks[i].metadata, state.chunks[i].text)) for i in positions]
                state.indexes[scope] = (Bm25Index(tokens), positions)
            index, positions = state.indexes[scope]
            return state.chunks, index, positions

    def clear(self) -> None:
        with self._lock:
            self._states.clear()


_lexical_cache = _LexicalCache()


# --------------------------------------------------------------------------- retrieval


@dataclass
class _Candidate:
    chunk_id: str
    text: str
    metadata: dict[str, Any]
    score: float = 0.0


def _ensure_populated(store: KnowledgeStore) -> None:
    if store.count() == 0:
        from knowledge.ingest import ingest

        ingest(None, store, progress=False)


def _dense_ranked(
    store: KnowledgeStore, query: str, n: int, where: dict[str, Any] | None
) -> list[tuple[str, str, dict[str, Any], float]]:
    vector = embeddings.embed_query(query, store.model)
    return [(h.chunk_id, h.text, h.metadata, 1.0 - h.distance) for h in store.query(vector, n, where)]


def _lexical_ranked(
    store: KnowledgeStore, query: str, n: int, scope: str
) -> list[tuple[str, str, dict[str, Any], float]]:
    from knowledge.lexical import tokenize

    chunks, index, positions = _lexical_cache.chunks_and_index(store, scope)
    hits = index.search(tokenize(query), n)
    found = [(chunks[positions[h.position]], h.score) for h in hits]
    return [(chunk.chunk_id, chunk.text, chunk.metadata, score) for chunk, score in found]


def retrieve(
    query: str,
    k: int = 4,
    lang: str | None = None,
    *,
    store: KnowledgeStore | None = None,
    mode: Mode = "hybrid",
    config: RetrievalConfig = DEFAULT_CONFIG,
) -> tuple[str, list[Passage]]:
    """Ranked passages for `query` and the language they were chosen for. `mode` picks dense-only,
    BM25-only or the hybrid (the benchmark compares them)."""
    query, k, lang = validate_search_args(query, k, lang)
    if store is None:
        from knowledge.store import open_store

        store = open_store()
    _ensure_populated(store)
    query_lang = lang or detect_lang(query, config.query_lang_threshold)
    filtered = config.lang_mode == "filter"
    dense_weight = config.dense_weight_zh if query_lang == "zh" else config.dense_weight

    ranked_lists: list[tuple[float, list[tuple[str, str, dict[str, Any], float]]]] = []
    if mode in ("hybrid", "dense"):
        where = {"lang": query_lang} if filtered else None
        ranked_lists.append((dense_weight, _dense_ranked(store, query, config.candidates, where)))
    if mode in ("hybrid", "lexical"):
        scope = query_lang if filtered else "all"
        ranked_lists.append((config.lexical_weight, _lexical_ranked(store, query, config.candidates, scope)))

    passages = _limit(_fuse(ranked_lists, config, query_lang, single=mode != "hybrid"), k, config.max_per_note)
    if filtered and len(passages) < k:
        # Not enough passages in the query language (e.g. English-only user files): fill from the others.
        others: list[tuple[float, list[tuple[str, str, dict[str, Any], float]]]] = []
        if mode in ("hybrid", "dense"):
            where = {"lang": {"$ne": query_lang}}
            others.append((dense_weight, _dense_ranked(store, query, config.candidates, where)))
        if mode in ("hybrid", "lexical"):
            hits = _lexical_ranked(store, query, config.candidates, "all")
            others.append((config.lexical_weight, [h for h in hits if h[2].get("lang") != query_lang]))
        fill = _fuse(others, config, query_lang, single=mode != "hybrid")
        passages += _limit(fill, k - len(passages), config.max_per_note)
    return query_lang, passages


def _fuse(
    ranked_lists: Sequence[tuple[float, list[tuple[str, str, dict[str, Any], float]]]],
    config: RetrievalConfig,
    query_lang: str,
    *,
    single: bool,
) -> list[Passage]:
    candidates: dict[str, _Candidate] = {}
    for weight, ranked in ranked_lists:
        for rank, (chunk_id, text, meta, raw_score) in enumerate(ranked, start=1):
            candidate = candidates.setdefault(chunk_id, _Candidate(chunk_id, text, meta))
            # A single list keeps its own score (cosine similarity or BM25); fusion uses reciprocal ranks.
            candidate.score += raw_score if single else weight / (config.rrf_k + rank)
    if config.lang_mode == "boost":
        for candidate in candidates.values():
            if candidate.metadata.get("lang") == query_lang:
                candidate.score *= config.lang_boost
    ordered = sorted(candidates.values(), key=lambda c: (-c.score, c.chunk_id))
    return [_passage(c) for c in ordered]


def _limit(passages: list[Passage], k: int, max_per_note: int) -> list[Passage]:
    """The top k, taking at most max_per_note passages per note (and language) before any note gets more:
    diversity first, but k is honoured when few notes match."""
    if max_per_note <= 0:
        return passages[:k]
    chosen: list[Passage] = []
    deferred: list[Passage] = []
    per_note: dict[tuple[str, str], int] = {}
    for passage in passages:
        key = (passage.note_id, passage.lang)
        if per_note.get(key, 0) < max_per_note:
            chosen.append(passage)
            per_note[key] = per_note.get(key, 0) + 1
            if len(chosen) == k:
                return chosen
        else:
            deferred.append(passage)
    return chosen + deferred[: k - len(chosen)]


def _passage(candidate: _Candidate) -> Passage:
    meta = candidate.metadata
    return Passage(
        note_id=str(meta.get("note_id", "")),
        title=str(meta.get("title", "")),
        heading=str(meta.get("heading", "")),
        text=candidate.text,
        score=round(candidate.score, 6),
        source=str(meta.get("source", "")),
        lang=str(meta.get("lang", "")),
        chunk_id=candidate.chunk_id,
    )


def search_knowledge(
    query: Annotated[str, Field(min_length=1, description="a question or keywords, in English or Chinese")],
    k: Annotated[int, Field(ge=K_MIN, le=K_MAX, description="how many passages to return")] = 4,
    lang: Annotated[
        Literal["en", "zh"] | None, Field(description="prefer passages in this language; null: detect from the query")
    ] = None,
) -> SearchKnowledgeResult:
    """Search the vramwise knowledge base: bilingual (English/Chinese) notes on LLM memory (weights, KV cache,
    context length, training, quantization, precision formats, GPUs, speed), plus any files the user ingested.

    Returns ranked passages with their note id, heading, source URL and language. Raises ValueError for an
    empty query, k outside 1-20 or a lang other than 'en'/'zh'. A fresh install's empty store is first
    filled with the shipped notes.
    """
    return search_store(None, query, k, lang)


def search_store(
    store: KnowledgeStore | None, query: str, k: int = 4, lang: str | None = None
) -> SearchKnowledgeResult:
    """search_knowledge against a given store (None: the default store from open_store())."""
    query_lang, passages = retrieve(query, k, lang, store=store)
    return SearchKnowledgeResult(query=query.strip(), lang=query_lang, passages=passages)


def clear_caches() -> None:
    """Forget the in-memory BM25 indexes (they rebuild on the next search)."""
    _lexical_cache.clear()
