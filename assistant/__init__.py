"""vramwise help desk: an offline assistant that answers GPU-memory questions from the typed tools (no LLM),
its CLI commands (`vramwise ask`, `vramwise chat`), and LangChain tools and an agent (assistant.agent).

Public API (imported lazily, so `import assistant.cli` stays cheap):
    answer(question, *, search=None) -> Answer
"""

from __future__ import annotations

_EXPORTS = {"answer": "assistant.offline", "Answer": "assistant.offline"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
