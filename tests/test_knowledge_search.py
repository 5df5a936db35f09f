"""knowledge.search, the LangChain retriever, the numpy query encoder and the CLI, on the fixture notes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import knowledge.ingest as ingest_module
from knowledge.ingest import ingest
from knowledge.search import SearchKnowledgeResult, retrieve, search_knowledge, search_store
from knowledge.store import KnowledgeStore, open_store

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "notes"
REPO = Path(__file__).parent.parent


@pytest.fixture(autouse=True, scope="module")
def onnx_tripwire():
    """Fail loudly if anything makes Chroma fall back to its ONNX default model (it would download it)."""
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def refuse(self, *args, **kwargs):
        raise AssertionError("Chroma's default ONNX embedding function was used")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ONNXMiniLM_L6_V2, "_download_model_if_not_exists", refuse)
        yield


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeStore:
    """The fixture notes, ingested once for this module (the embedding model loads once per process)."""
    kb = open_store(path=tmp_path_factory.mktemp("kb") / "chroma")
    ingest([FIXTURES], kb, progress=False)
    return kb


def _notes(result: SearchKnowledgeResult) -> list[str]:
    return [p.note_id for p in result.passages]


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ("how many bytes per token does the KV cache of Llama 3.1 8B take?", "kv-cache-basics"),
        ("does a 14B model in bf16 fit on an RTX 4090 with 24 GB?", "gpu-tiers"),
        ("Q4_K_M bits per weight and perplexity loss", "quantization-basics"),
    ],
)
def test_english_questions_find_the_right_english_note(store: KnowledgeStore, query: str, note: str):
    result = search_store(store, query, k=3)
    assert result.lang == "en"
    assert result.passages[0].note_id == note
    assert {p.lang for p in result.passages} == {"en"}


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ("KV缓存每个词元占多少字节？", "kv-cache-basics"),
        ("4090显卡能不能放下14B的模型", "gpu-tiers"),
        ("四位量化会不会让困惑度变差很多", "quantization-basics"),
    ],
)
def test_chinese_questions_find_the_right_chinese_note(store: KnowledgeStore, query: str, note: str):
    result = search_store(store, query, k=3)
    assert result.lang == "zh"
    assert result.passages[0].note_id == note
    assert {p.lang for p in result.passages} == {"zh"}


def test_passages_carry_everything_a_citation_needs(store: KnowledgeStore):
    passage = search_store(store, "grouped-query attention KV heads", k=1).passages[0]
    assert passage.note_id == "kv-cache-basics"
    assert passage.heading == "Grouped-query attention"
    assert passage.title == "KV cache basics (test fixture)"
    assert passage.source == "https://arxiv.org/abs/2305.13245"
    assert passage.chunk_id.startswith("kv-cache-basics.en/")
    assert "query heads" in passage.text
    assert passage.score > 0


def test_lang_argument_overrides_the_detected_language(store: KnowledgeStore):
    # retrieve(): the ranking without the relevance floor (fitted on the shipped notes, not on these fixtures)
    lang, passages = retrieve("KV cache bytes per token", k=2, lang="zh", store=store)
    assert lang == "zh"
    assert {p.lang for p in passages} == {"zh"}
    assert passages[0].note_id == "kv-cache-basics"


def test_k_limits_the_number_of_passages_and_other_languages_fill_up(store: KnowledgeStore):
    assert len(retrieve("GPU memory", k=1, store=store)[1]) == 1  # ranking without the relevance floor
    passages = retrieve("GPU memory", k=20, store=store)[1]
    english = [p for p in passages if p.lang == "en"]
    assert len(passages) == store.count()  # all chunks: English first, then Chinese
    assert passages[: len(english)] == english


@pytest.mark.parametrize(("mode"), ["dense", "lexical", "hybrid"])
def test_each_retrieval_mode_ranks_the_obvious_note_first(store: KnowledgeStore, mode: str):
    lang, passages = retrieve("GDDR6X gibibytes RTX 4090 24 GiB", k=2, store=store, mode=mode)  # type: ignore[arg-type]
    assert lang == "en"
    assert passages[0].note_id == "gpu-tiers"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": ""}, "query must be a non-empty string (got '')"),
        ({"query": "   "}, "query must be a non-empty string"),
        ({"query": "kv", "k": 0}, "k must be an integer from 1 to 20 (got 0)"),
        ({"query": "kv", "k": 21}, "k must be an integer from 1 to 20 (got 21)"),
        ({"query": "kv", "k": "4"}, "k must be an integer from 1 to 20 (got '4')"),
        ({"query": "kv", "lang": "fr"}, "lang must be one of 'en', 'zh' or None for auto-detect (got 'fr')"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_value(store: KnowledgeStore, kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        search_store(store, **kwargs)


def test_an_empty_store_is_filled_with_the_shipped_notes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ingest_module, "SHIPPED_NOTES_DIR", FIXTURES)
    empty = open_store(path=tmp_path / "chroma")
    assert empty.count() == 0
    result = search_store(empty, "KV cache bytes per token")
    assert result.passages[0].note_id == "kv-cache-basics"
    assert ingest_module.shipped_notes_present(empty)


def test_search_knowledge_uses_the_default_store_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """First run: keyword search over the shipped notes answers at once while the default store is filled in the
    background; once filled, the same call answers from the store (hybrid)."""
    from knowledge.search import first_run

    monkeypatch.setenv("VRAMWISE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VRAMWISE_CHROMA_URL", raising=False)
    monkeypatch.setattr(ingest_module, "SHIPPED_NOTES_DIR", FIXTURES)
    first = search_knowledge("显存 24 GiB 能放下 14B 吗", k=2)
    assert first.lang == "zh" and first.passages
    default = open_store()
    if first.mode == "lexical":  # the store was still being filled
        assert "first run" in first.message
        assert first_run.wait(default, timeout=300)
    result = search_knowledge("显存 24 GiB 能放下 14B 吗", k=2)
    assert result.mode == "hybrid"
    assert result.passages[0].note_id == "gpu-tiers"
    assert (tmp_path / "data" / "chroma" / "chroma.sqlite3").is_file()


def test_search_knowledge_signature_is_the_tool_schema():
    import inspect

    from pydantic import TypeAdapter

    parameters = inspect.signature(search_knowledge).parameters
    tool_arguments = [n for n, p in parameters.items() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert tool_arguments == ["query", "k", "lang"]
    # per_note is for Python callers (the offline assistant), keyword-only and outside the tool schema
    assert [n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY] == ["per_note"]
    schema = TypeAdapter(SearchKnowledgeResult).json_schema()
    assert set(schema["$defs"]["Passage"]["properties"]) == {
        "note_id", "title", "heading", "text", "score", "source", "sources", "lang", "chunk_id",
    }  # fmt: skip
    assert {"found", "mode", "message", "topics"} <= set(schema["properties"])


def test_new_ingests_are_searchable_at_once(tmp_path: Path):
    kb = open_store(path=tmp_path / "chroma")
    ingest([FIXTURES], kb, progress=False)
    assert all(p.note_id != "nvlink" for p in search_store(kb, "zorblax interconnect").passages)
    extra = tmp_path / "mine"
    extra.mkdir()
    (extra / "nvlink.md").write_text(
        "## Zorblax interconnect\n" + "The zorblax interconnect joins two cards with a private link. " * 6
    )
    ingest([extra], kb, progress=False)
    assert search_store(kb, "zorblax interconnect").passages[0].note_id == "nvlink"


def test_langchain_retriever_returns_documents_with_metadata(store: KnowledgeStore):
    from langchain_core.documents import Document

    from knowledge.langchain_retriever import VramwiseRetriever

    docs = VramwiseRetriever(k=2, store=store).invoke("Q8_0 scale per block of 32 weights")
    assert len(docs) == 2
    assert all(isinstance(d, Document) for d in docs)
    assert docs[0].metadata["note_id"] == "quantization-basics"
    assert set(docs[0].metadata) == {"note_id", "title", "heading", "score", "source", "sources", "lang", "chunk_id"}
    assert "34 bytes" in docs[0].page_content
    zh = VramwiseRetriever(k=1, lang="zh", store=store).invoke("Q8_0 scale")
    assert zh[0].metadata["lang"] == "zh"
    with pytest.raises(ValueError, match="query must be a non-empty string"):
        VramwiseRetriever(store=store).invoke("")


def test_numpy_query_encoder_matches_sentence_transformers():
    import numpy as np

    from knowledge import embeddings
    from knowledge.numpy_encoder import NumpySentenceEncoder, supports

    path = embeddings.bundled_model_path()
    assert path is not None and supports(path)
    texts = [
        "How much VRAM does Qwen2.5-14B need at 32k context?",
        "我的4090跑32k上下文的14B模型，KV缓存占多少？",
        "word " * 400,  # longer than max_seq_length: both truncate at 256 tokens
    ]
    fast = NumpySentenceEncoder(path).encode(texts)
    reference = embeddings.get_model(str(path)).encode(texts, normalize_embeddings=True)
    assert np.min(np.sum(fast * reference, axis=1)) > 0.99999


def test_nonsense_gets_i_dont_know_and_the_topics(store: KnowledgeStore):
    for query in ("asdkjh qwe zzz", "🤔🤔🤔", "今天天气怎么样"):
        result = search_store(store, query)
        assert not result.found, query
        assert result.passages == []
        assert "know" in result.message or "不知道" in result.message
        assert result.topics
    assert search_store(store, "KV cache bytes per token").found


def test_importing_the_search_and_cli_modules_loads_no_heavy_library():
    code = (
        "import sys, knowledge, knowledge.search, knowledge.cli, knowledge.ingest, knowledge.embeddings\n"
        "heavy = {'torch', 'sentence_transformers', 'chromadb', 'transformers', 'jieba', 'bm25s'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_module_imports_only_argparse_at_module_level():
    code = "import sys; before = set(sys.modules); import knowledge.cli; print(sorted(set(sys.modules) - before))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    loaded = set(json.loads(out.stdout.replace("'", '"')))
    assert loaded <= {"knowledge", "knowledge.cli", "argparse", "gettext", "locale", "encodings.idna", "stringprep"}


# --------------------------------------------------------------------------- CLI


def _cli(argv: list[str]) -> int:
    from knowledge.cli import main

    return main(argv)


def test_cli_ingest_and_search_print_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = str(tmp_path / "data")
    assert _cli(["ingest", str(FIXTURES), "--data-dir", data, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files_ingested"] == 6 and report["skipped"] == []

    assert _cli(["search", "KV缓存每个词元占多少字节", "-k", "2", "--data-dir", data, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["lang"] == "zh"
    assert len(result["passages"]) == 2
    assert result["passages"][0]["note_id"] == "kv-cache-basics"


def test_cli_search_prints_ranked_passages(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = str(tmp_path / "data")
    _cli(["ingest", str(FIXTURES), "--data-dir", data, "--json"])
    capsys.readouterr()
    assert _cli(["search", "RTX 4090 usable memory", "-k", "1", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. gpu-tiers > The RTX 4090 has 24 GiB")
    assert "source: https://www.nvidia.com/" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "", "--data-dir", "{tmp}"], "vramwise search: error: query must be a non-empty string (got '')"),
        (["search", "kv", "-k", "99", "--data-dir", "{tmp}"], "vramwise search: error: k must be an integer"),
        (["search", "kv", "--lang", "de", "--data-dir", "{tmp}"], "vramwise search: error: lang must be one of"),
        (["ingest", "--chroma-url", "http://127.0.0.1:9"], "vramwise ingest: error: cannot reach the Chroma server"),
        (["search", "kv", "--chroma-url", "ftp://x"], "vramwise search: error: bad Chroma URL 'ftp://x'"),
    ],
)
def test_cli_errors_are_one_line_on_stderr_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
):
    assert _cli([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message)
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err
