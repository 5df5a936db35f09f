"""vramwise knowledge base: bilingual notes, ingest of user files, hybrid (dense + BM25) search.

Public API (imported lazily, so `import knowledge` stays cheap):
    search_knowledge(query, k=4, lang=None) -> SearchKnowledgeResult
    ingest(paths=None, store=None, progress=True) -> IngestReport
    open_store(path=None, url=None) -> KnowledgeStore
"""

from __future__ import annotations

_EXPORTS = {
    "search_knowledge": "knowledge.search",
    "SearchKnowledgeResult": "knowledge.search",
    "Passage": "knowledge.search",
    "ingest": "knowledge.ingest",
    "IngestReport": "knowledge.ingest",
    "SkippedFile": "knowledge.ingest",
    "open_store": "knowledge.store",
    "KnowledgeStore": "knowledge.store",
    "StoreError": "knowledge.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'knowledge' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
