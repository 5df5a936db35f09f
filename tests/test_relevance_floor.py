"""The relevance floor ("I don't know"): word coverage makes up for a cosine a little low, and the other way round.

The Relevance values below are what the shipped notes give for training inputs (evals/retrieval/questions_c.yaml
and nonsense_c.yaml, measured with evals/bench_retrieval.py); the end-to-end test asks the real search()."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.search import DEFAULT_CONFIG, Relevance, search

# c-009 "what does the B in 7B stand for": every word occurs in the notes, best cosine 0.840. A cosine-only
# cut (the former floor, 0.867) said "I don't know" to it.
HIGH_COVERAGE_LOW_COSINE = Relevance(lexical_top=3.37, dense_top=0.840, coverage=1.0)
# nonc-025 "怎么减肥最快" (fastest way to lose weight): half its words occur in the notes, cosine 0.856.
OFF_TOPIC = Relevance(lexical_top=1.84, dense_top=0.856, coverage=0.5)
# nonc-028 "嘻嘻嘻嘻": no word occurs in the notes, yet the highest junk cosine of the training split (0.872).
GIBBERISH = Relevance(lexical_top=0.0, dense_top=0.872, coverage=0.0)


def test_high_word_coverage_passes_with_a_slightly_low_cosine():
    assert HIGH_COVERAGE_LOW_COSINE.passes(DEFAULT_CONFIG)
    # the same cosine with only half the words known is not enough
    half_known = Relevance(lexical_top=3.37, dense_top=0.840, coverage=0.5)
    assert not half_known.passes(DEFAULT_CONFIG)


def test_off_topic_and_gibberish_fail_even_with_a_higher_cosine():
    assert OFF_TOPIC.dense_top is not None and HIGH_COVERAGE_LOW_COSINE.dense_top is not None
    assert OFF_TOPIC.dense_top > HIGH_COVERAGE_LOW_COSINE.dense_top
    assert not OFF_TOPIC.passes(DEFAULT_CONFIG)
    assert not GIBBERISH.passes(DEFAULT_CONFIG)
    # no BM25 match at all fails whatever the cosine
    assert not Relevance(lexical_top=0.0, dense_top=0.99, coverage=1.0).passes(DEFAULT_CONFIG)


def test_keyword_only_judges_coverage_alone():
    threshold = DEFAULT_CONFIG.min_coverage_lexical_only
    assert Relevance(lexical_top=2.0, dense_top=None, coverage=threshold).passes(DEFAULT_CONFIG)
    assert not Relevance(lexical_top=2.0, dense_top=None, coverage=threshold - 0.01).passes(DEFAULT_CONFIG)


def test_floor_score_is_cosine_plus_weighted_coverage():
    score = HIGH_COVERAGE_LOW_COSINE.floor_score(DEFAULT_CONFIG)
    assert score == pytest.approx(0.840 + DEFAULT_CONFIG.floor_coverage_weight)
    assert Relevance(lexical_top=1.0, dense_top=None, coverage=1.0).floor_score(DEFAULT_CONFIG) is None


@pytest.mark.slow
def test_search_over_the_shipped_notes_answers_the_question_and_not_the_junk(tmp_path: Path):
    from knowledge.ingest import ingest
    from knowledge.store import open_store

    store = open_store(path=tmp_path / "chroma")
    ingest(None, store, progress=False)
    answer = search("what does the B in 7B stand for", store=store)
    assert answer.mode == "hybrid" and answer.found
    assert "what-7b-means" in [p.note_id for p in answer.passages]
    for junk in ("嘻嘻嘻嘻", "怎么减肥最快", "ghfjdkslaa"):
        result = search(junk, store=store)
        assert not result.found and result.passages == [], junk
