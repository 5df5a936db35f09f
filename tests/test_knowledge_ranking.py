"""The hybrid ranking: one passage per note before any note gets a second, the dense list weighted per language,
and the benchmark's training-only mode and fusion fit (which must never read the held-out questions)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import knowledge.search as search_module
from evals import bench_retrieval
from knowledge.embeddings import MULTILINGUAL_MODEL_ID
from knowledge.search import DEFAULT_CONFIG, Passage, _limit, retrieve_scored


def _passage(note: str, section: str, score: float, lang: str = "en") -> Passage:
    return Passage(
        note_id=note,
        title=note,
        heading=section,
        text=f"{note} {section}",
        score=score,
        source=f"note:{note}",
        lang=lang,
        chunk_id=f"{note}.{lang}/{section}",
    )


def test_the_top_k_are_k_different_notes_each_by_its_best_section():
    ranked = [
        _passage("kv-cache", "formula", 0.9),
        _passage("kv-cache", "example", 0.8),
        _passage("misconceptions", "kv", 0.7),
        _passage("kv-cache", "gqa", 0.6),
        _passage("context-length", "costs", 0.5),
        _passage("weight-memory", "bytes", 0.4),
    ]
    chosen = _limit(ranked, 4, max_per_note=1)
    assert [(p.note_id, p.heading) for p in chosen] == [
        ("kv-cache", "formula"),
        ("misconceptions", "kv"),
        ("context-length", "costs"),
        ("weight-memory", "bytes"),
    ]


def test_a_notes_further_sections_fill_in_when_fewer_notes_than_k_match():
    ranked = [_passage("kv-cache", "formula", 0.9), _passage("kv-cache", "example", 0.8), _passage("gb", "gib", 0.7)]
    chosen = _limit(ranked, 3, max_per_note=1)
    assert [(p.note_id, p.heading) for p in chosen] == [("kv-cache", "formula"), ("gb", "gib"), ("kv-cache", "example")]


def test_the_same_note_in_another_language_counts_apart():
    ranked = [_passage("kv-cache", "formula", 0.9), _passage("kv-cache", "公式", 0.8, lang="zh")]
    assert len(_limit(ranked, 2, max_per_note=1)) == 2


class _FakeStore:
    """Just enough of a KnowledgeStore for retrieve_scored: filled, with a multilingual dense model."""

    embedding_model_id = MULTILINGUAL_MODEL_ID

    def count(self) -> int:
        return 2


def _hit(note: str, lang: str, score: float) -> tuple[str, str, dict[str, Any], float]:
    return (f"{note}.{lang}/s", note, {"note_id": note, "lang": lang}, score)


@pytest.fixture
def split_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dense ranks note 'dense-first' first, BM25 ranks 'bm25-first' first, in either language."""

    def dense(store: Any, query: str, n: int, where: dict[str, Any] | None) -> list[Any]:
        lang = (where or {}).get("lang")
        if not isinstance(lang, str):
            return []
        return [_hit("dense-first", lang, 0.9), _hit("bm25-first", lang, 0.8)]

    def lexical(corpus: Any, query: str, n: int, scope: str) -> list[Any]:
        langs = ("en", "zh") if scope == "all" else (scope,)
        return [h for lang in langs for h in (_hit("bm25-first", lang, 5.0), _hit("dense-first", lang, 4.0))]

    monkeypatch.setattr(search_module, "_dense_ranked", dense)
    monkeypatch.setattr(search_module, "_lexical_ranked", lexical)
    monkeypatch.setattr(search_module, "_coverage", lambda corpus, query, scope: 1.0)


@pytest.mark.usefixtures("split_lists")
def test_each_language_weighs_the_dense_list_by_its_own_weight():
    config = dataclasses.replace(DEFAULT_CONFIG, dense_weight=2.0, multilingual_dense_weight_zh=0.5)
    _, english, _ = retrieve_scored("kv cache size", k=2, store=_FakeStore(), config=config)
    _, chinese, _ = retrieve_scored("键值缓存多大", k=2, store=_FakeStore(), config=config)
    assert [p.note_id for p in english] == ["dense-first", "bm25-first"]
    assert [p.note_id for p in chinese] == ["bm25-first", "dense-first"]
    assert {p.lang for p in chinese} == {"zh"}


def test_training_only_never_opens_the_held_out_set(tmp_path: Path):
    (tmp_path / "questions_a.yaml").write_text(
        "questions:\n  - {id: a-1, lang: en, question: kv cache size, expected_notes: [kv-cache]}\n", encoding="utf-8"
    )
    (tmp_path / bench_retrieval.INDEPENDENT_SET).write_text("{not: yaml: at all", encoding="utf-8")
    questions = bench_retrieval.load_questions(tmp_path, training_only=True)
    assert [q["id"] for q in questions] == ["a-1"]
    with pytest.raises(Exception, match="flow mapping"):  # the full load does read it
        bench_retrieval.load_questions(tmp_path)


def test_the_fusion_grid_computes_each_ranked_list_once_and_restores_the_search_module(
    monkeypatch: pytest.MonkeyPatch,
):
    calls: list[tuple[str, int]] = []

    def dense(store: Any, query: str, n: int, where: Any) -> list[int]:
        calls.append((query, n))
        return list(range(n))

    monkeypatch.setattr(search_module, "_dense_ranked", dense)
    store: Any = None
    with bench_retrieval._memoised_ranked_lists(depth=30):
        assert search_module._dense_ranked(store, "q", 10, {"lang": "en"}) == list(range(10))
        assert search_module._dense_ranked(store, "q", 20, {"lang": "en"}) == list(range(20))
    assert calls == [("q", 30)]
    assert search_module._dense_ranked is dense
