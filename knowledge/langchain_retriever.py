"""LangChain adapter: the hybrid knowledge search as a BaseRetriever returning Documents."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field

from knowledge.search import K_MAX, K_MIN, search_store


class VramwiseRetriever(BaseRetriever):
    """Passages from the vramwise knowledge base; Document.metadata carries note_id, title, heading,
    score, source, lang and chunk_id.

    >>> VramwiseRetriever(k=3).invoke("how big is the KV cache of Llama 3.1 8B at 32k?")
    """

    k: int = Field(4, ge=K_MIN, le=K_MAX, description="passages to return")
    lang: str | None = Field(None, description="'en' or 'zh' to prefer that language; None detects it")
    store: Any = Field(None, exclude=True, description="a knowledge.store.KnowledgeStore; None: the default store")

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        result = search_store(self.store, query, k=self.k, lang=self.lang)
        return [
            Document(
                page_content=passage.text,
                id=passage.chunk_id,
                metadata=passage.model_dump(exclude={"text"}),
            )
            for passage in result.passages
        ]
