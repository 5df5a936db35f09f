"""assistant.offline's concept path: explanations quoted from knowledge passages, cited by note id.

Uses the fixture notes (tests/fixtures/notes) ingested into a temporary store and passed in as `search=`,
so the test does not depend on (or fill) the user's default store.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest

pytest.importorskip("knowledge.search", reason="the knowledge base (knowledge.search) is not installed")

from test_assistant_offline import assert_traceable

import knowledge.search as knowledge_search
from assistant.offline import answer
from knowledge.ingest import ingest
from knowledge.store import KnowledgeStore, open_store

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "notes"


@pytest.fixture(autouse=True, scope="module")
def onnx_tripwire():
    """Fail loudly if Chroma falls back to its ONNX default model (it would try to download it)."""
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def refuse(self, *args, **kwargs):
        raise AssertionError("Chroma's default ONNX embedding function was used")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ONNXMiniLM_L6_V2, "_download_model_if_not_exists", refuse)
        yield


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory):
    """search_knowledge(query, k, lang) bound to a store holding only the fixture notes."""
    store: KnowledgeStore = open_store(path=tmp_path_factory.mktemp("kb") / "chroma")
    ingest([FIXTURES], store, progress=False)
    if hasattr(knowledge_search, "search_store"):
        return functools.partial(knowledge_search.search_store, store)
    return functools.partial(knowledge_search.search_knowledge, store=store)


@pytest.mark.parametrize(
    ("question", "language"),
    [("什么是 KV cache", "zh"), ("what is the KV cache?", "en"), ("KV缓存是什么意思？", "zh")],
)
def test_a_concept_is_explained_from_a_cited_passage_in_the_question_language(search, question, language):
    ans = answer(question, search=search)
    assert ans.intent == "concept" and ans.language == language
    assert [c.tool for c in ans.tool_calls] == ["search_knowledge"]
    assert ans.tool_calls[0].args["lang"] == language
    assert ans.citations[0].note_id == "kv-cache-basics"
    assert ans.citations[0].heading and ans.citations[0].source.startswith("http")
    assert "note:kv-cache-basics" in ans.text
    excerpts = [f for f in ans.numbers if f.format == "excerpt"]
    assert excerpts and all(f.text in ans.text for f in excerpts)
    passages = search(**ans.tool_calls[0].args).passages
    assert {passages[int(f.field.split("[")[1].split("]")[0])].lang for f in excerpts} == {language}
    assert_traceable(ans, search=search)


def test_gb_versus_gib_is_a_concept_even_with_a_gpu_named(search):
    ans = answer("why does my 4090 show less than 24 GB?", search=search)
    assert ans.intent == "concept"
    assert ans.citations
    assert_traceable(ans, search=search)


def test_the_concept_path_is_fast_once_the_model_is_loaded(search):
    answer("what is the KV cache?", search=search)
    start = time.perf_counter()
    answer("什么是 KV cache", search=search)
    assert time.perf_counter() - start < 2.0
