"""The BM25 tokenizer: English stemming, number+unit splitting and spelling correction against the index."""

from __future__ import annotations

import pytest

from knowledge.lexical import Bm25Index, stem, tokenize


@pytest.mark.parametrize(
    "words",
    [
        ("cache", "caches", "cached", "caching"),
        ("quantize", "quantized", "quantizing", "quantizes", "quantization"),
        ("fit", "fits", "fitting"),
        ("gpu", "gpus"),
        ("memory", "memories"),
        ("activation", "activations", "activated"),
        ("offload", "offloaded", "offloading", "offloads"),
        ("run", "runs", "running"),
    ],
)
def test_inflections_share_a_stem(words: tuple[str, ...]) -> None:
    assert len({stem(word) for word in words}) == 1, {word: stem(word) for word in words}


def test_stems_of_common_words() -> None:
    assert stem("gpus") == "gpu"
    assert stem("caches") == stem("cache") == "cach"
    assert stem("layers") == "layer"
    assert stem("bandwidth") == "bandwidth"


def test_stemmer_keeps_short_words_and_words_it_does_not_know_how_to_fold() -> None:
    assert stem("vs") == "vs" and stem("ms") == "ms" and stem("gbs") == "gbs"
    assert stem("less") == "less"  # -ss is not a plural
    assert stem("thing") == "thing"  # no vowel before -ing: not a verb form
    assert stem("general") != stem("generate")  # no derivational folding beyond -ation/-ization


def test_number_and_unit_split_like_the_spaced_form() -> None:
    assert tokenize("14GB") == tokenize("14 GB") == ["14", "gb"]
    assert tokenize("6.5GiB") == ["6.5", "gib"]
    # Model sizes and context lengths stay one word.
    assert tokenize("7B 8k") == ["7b", "8k"]


def test_query_and_document_forms_meet() -> None:
    assert sorted(tokenize("Does a quantized model fit?")) == sorted(tokenize("model quantization fits"))


def test_chinese_tokens_are_not_stemmed() -> None:
    tokens = tokenize("量化模型的显存占用 caches")
    assert "量化" in tokens and "显存" in tokens and "cach" in tokens


def test_inflected_stopwords_are_dropped() -> None:
    assert tokenize("it gets slower") == tokenize("it get slower") == ["slower"]


def test_misspelt_query_word_is_corrected_to_the_index_word() -> None:
    index = Bm25Index([tokenize("memory bandwidth sets decode speed"), tokenize("kv cache grows with context")])
    assert index.correct(tokenize("memory bandwith")) == tokenize("memory bandwidth")
    hits = index.search(tokenize("bandwith"), 2)
    assert [hit.position for hit in hits] == [0]
    assert index.coverage(tokenize("bandwith")) == 1.0


def test_spelling_correction_leaves_numbers_short_words_and_gibberish() -> None:
    index = Bm25Index([tokenize("fp8 on the gpu uses 14 GB")])
    assert index.correct(["fp4", "cpu", "13", "zzzzzzzz"]) == ["fp4", "cpu", "13", "zzzzzzzz"]
    assert index.coverage(["zzzzzzzz"]) == 0.0
