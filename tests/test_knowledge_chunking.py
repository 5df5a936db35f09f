"""knowledge.chunking: front matter, heading-aware sections, sizes, stable ids, language, HTML (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.chunking import (
    ChunkingOptions,
    FrontMatterError,
    chunk_document,
    cjk_ratio,
    detect_lang,
    first_source,
    html_to_text,
    note_id_for_path,
    parse_document,
    split_front_matter,
    split_sections,
    text_units,
)

FIXTURES = Path(__file__).parent / "fixtures" / "notes"


def _doc(text: str, path: str = "notes/x.md", relative: str = "x.md"):
    return parse_document(text, path=path, relative_path=relative)


def _words(n: int, word: str = "memory") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def test_front_matter_is_split_from_the_body():
    meta, body = split_front_matter("---\nid: a\nlang: zh\ntags: [x, y]\n---\n\n## H\ntext\n")
    assert meta == {"id": "a", "lang": "zh", "tags": ["x", "y"]}
    assert body.strip() == "## H\ntext"


def test_text_without_front_matter_is_returned_whole():
    assert split_front_matter("## H\nbody") == ({}, "## H\nbody")


def test_invalid_front_matter_raises_with_the_reason():
    with pytest.raises(FrontMatterError, match="not valid YAML"):
        split_front_matter("---\nid: [unclosed\n---\nbody")
    with pytest.raises(FrontMatterError, match="mapping"):
        split_front_matter("---\n- a\n- b\n---\nbody")


def test_fixture_note_metadata_comes_from_front_matter():
    doc = _doc((FIXTURES / "kv-cache-basics.zh.md").read_text(), path="knowledge/notes/kv-cache-basics.zh.md")
    assert doc.note_id == "kv-cache-basics"
    assert doc.lang == "zh"
    assert doc.title == "KV 缓存基础（测试样例）"  # a Chinese file shows its Chinese title
    assert doc.alt_title == "KV cache basics (test fixture)"
    assert doc.tags == ("kv-cache", "gqa", "context")
    assert doc.source == "https://arxiv.org/abs/2305.13245"


def test_first_source_prefers_a_url_over_a_seed_entry():
    assert first_source([{"seed": "000.txt"}, "https://a.example/x"]) == "https://a.example/x"
    assert first_source([{"seed": "000.txt"}]) == "seed: 000.txt"
    assert first_source(None) == ""


def test_plain_user_file_gets_a_path_slug_id_and_detected_language():
    text = "显存不够时可以把模型量化到四位，再看看上下文长度。"
    doc = _doc(text, path="/u/docs/笔记/显存 Tips.txt", relative="笔记/显存 Tips.txt")
    assert doc.note_id == "笔记-显存-tips"
    assert doc.lang == "zh"
    assert doc.title == "笔记/显存 Tips.txt"
    assert doc.source == "/u/docs/笔记/显存 Tips.txt"
    assert note_id_for_path("Guides/My Notes.md") == "guides-my-notes"


def test_h1_becomes_the_title_of_a_markdown_file_without_front_matter():
    assert _doc("# GPU buying guide\n\nSome text here.").title == "GPU buying guide"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("How much VRAM does Qwen2.5-14B need at 32k context?", "en"),
        ("我的4090跑32k上下文的14B模型，KV缓存占多少？", "zh"),
        ("4090 能跑 Qwen2.5-14B 吗", "zh"),  # 3 CJK vs 6 Latin letters: ratio 0.33
        ("what is KV cache 吗", "en"),
        ("", "en"),
    ],
)
def test_language_is_detected_from_the_cjk_share_of_letters(text: str, lang: str):
    assert detect_lang(text) == lang


def test_cjk_ratio_ignores_digits_and_punctuation():
    assert cjk_ratio("显存 24 GB!") == pytest.approx(2 / 4)


def test_sections_split_on_h2_and_h3_and_keep_the_heading_path():
    body = "# Title\nintro\n## A\na text\n### A1\nsub text\n#### deep\nstays\n## B\nb text\n"
    sections = split_sections(body)
    assert [s.heading_path for s in sections] == [(), ("A",), ("A", "A1"), ("B",)]
    assert "#### deep" in sections[2].text


def test_headings_inside_code_fences_do_not_split():
    body = "## A\n```\n## not a heading\n```\ntext\n"
    assert [s.heading_path for s in split_sections(body)] == [("A",)]


def test_chunks_carry_heading_path_and_metadata():
    doc = _doc((FIXTURES / "kv-cache-basics.en.md").read_text(), path="knowledge/notes/kv-cache-basics.en.md")
    chunks = chunk_document(doc, options=ChunkingOptions(min_units=20, max_units=300))
    assert [c.heading for c in chunks] == ["What the cache stores", "Bytes per token", "Grouped-query attention"]
    meta = chunks[1].metadata()
    assert meta["note_id"] == "kv-cache-basics"
    assert meta["lang"] == "en"
    assert meta["tags"] == "kv-cache,gqa,context"
    assert meta["path"] == "knowledge/notes/kv-cache-basics.en.md"
    assert meta["source"] == "https://arxiv.org/abs/2305.13245"
    assert all(isinstance(v, str | int) for v in meta.values())
    assert chunks[1].chunk_id.startswith("kv-cache-basics.en/bytes-per-token/")


def test_tiny_sections_are_merged_into_a_neighbour():
    body = f"## A\n{_words(100)}\n### A1\nshort note\n## B\n{_words(100)}\n"
    chunks = chunk_document(_doc(body), options=ChunkingOptions(min_units=20, max_units=300))
    assert [c.heading for c in chunks] == ["A", "B"]
    assert "### A1\n\nshort note" in chunks[0].text  # the merged heading stays visible


def test_a_tiny_intro_is_prepended_to_the_first_section():
    body = f"A one-line intro.\n## A\n{_words(100)}\n"
    chunks = chunk_document(_doc(body), options=ChunkingOptions(min_units=20, max_units=300))
    assert len(chunks) == 1
    assert chunks[0].heading == "A"
    assert chunks[0].text.startswith("A one-line intro.")


def test_long_sections_are_split_on_paragraphs_within_the_size_limit():
    paragraphs = "\n\n".join(_words(90, f"p{i}w") for i in range(6))  # 540 words
    chunks = chunk_document(_doc(f"## Long\n{paragraphs}\n"), options=ChunkingOptions(min_units=20, max_units=300))
    assert len(chunks) == 2
    assert all(c.heading == "Long" for c in chunks)
    assert all(text_units(c.text) <= 300 for c in chunks)
    assert "\n\n".join(c.text for c in chunks) == paragraphs  # nothing lost, nothing repeated


def test_a_long_chinese_paragraph_is_split_on_sentences():
    sentences = [f"第{i}句：量化会把每个权重用更少的位数来存储，从而减少显存占用。" for i in range(80)]
    body = "## 长段落\n" + "".join(sentences)  # about 2,300 CJK characters in one paragraph
    chunks = chunk_document(_doc(body), options=ChunkingOptions(min_units=20, max_units=300))
    assert len(chunks) >= 3
    assert all(text_units(c.text) <= 300 for c in chunks)
    assert all(c.text.endswith("。") for c in chunks)


def test_chunk_ids_are_stable_and_change_with_content_or_metadata():
    text = (FIXTURES / "gpu-tiers.en.md").read_text()
    first = [c.chunk_id for c in chunk_document(_doc(text))]
    assert first == [c.chunk_id for c in chunk_document(_doc(text))]
    edited = [c.chunk_id for c in chunk_document(_doc(text.replace("22 to 23 GiB", "21 to 22 GiB")))]
    assert edited[0] != first[0] and edited[1:] == first[1:]
    retagged = [c.chunk_id for c in chunk_document(_doc(text.replace("tags: [gpu,", "tags: [gpus,")))]
    assert set(retagged).isdisjoint(first)
    elsewhere = [c.chunk_id for c in chunk_document(_doc(text), file_key="/other/place.md")]
    assert set(elsewhere).isdisjoint(first)


def test_index_text_of_a_chinese_chunk_includes_the_english_title():
    doc = _doc((FIXTURES / "gpu-tiers.zh.md").read_text())
    chunk = chunk_document(doc)[0]
    assert "Which models fit a 24 GB card" in chunk.index_text()
    assert chunk.text in chunk.index_text()


def test_html_becomes_markdown_like_text_without_scripts():
    html = (
        "<html><head><title>GPU page</title><style>p{}</style></head><body>"
        "<h2>Memory</h2><p>The card has 24&nbsp;GiB.</p><script>alert(1)</script>"
        "<ul><li>one</li><li>two</li></ul></body></html>"
    )
    text = html_to_text(html)
    assert text.startswith("# GPU page")
    assert "## Memory" in text
    assert "24\xa0GiB" in text or "24 GiB" in text
    assert "alert" not in text and "p{}" not in text
    assert [s.heading_path for s in split_sections(text)] == [("Memory",)]


def test_fixture_notes_chunk_within_limits():
    for path in sorted(FIXTURES.glob("*.md")):
        chunks = chunk_document(_doc(path.read_text(), path=path.name, relative=path.name))
        assert chunks, path
        assert all(text_units(c.text) <= ChunkingOptions().max_units for c in chunks)
        assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_data_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from knowledge.paths import default_data_dir

    monkeypatch.setenv("VRAMWISE_DATA_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "explicit"
    monkeypatch.delenv("VRAMWISE_DATA_DIR")
    assert default_data_dir() == tmp_path / "xdg" / "vramwise"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".local" / "share" / "vramwise"


# --------------------------------------------------------------------------- retrieval hygiene

SHIPPED = Path(__file__).parent.parent / "knowledge" / "notes"


def _shipped_chunks():
    chunks = []
    for path in sorted(SHIPPED.glob("*.md")):
        chunks.extend(chunk_document(_doc(path.read_text(encoding="utf-8"), path=path.name, relative=path.name)))
    return chunks


def test_shipped_chunks_have_no_editing_notes_no_dangling_lead_in_and_respect_the_caps():
    import re

    from knowledge.chunking import has_editorial_wording

    chunks = _shipped_chunks()
    assert len(chunks) > 100
    for chunk in chunks:
        assert not has_editorial_wording(chunk.text), chunk.chunk_id  # no "seed 002 says", no "种子文章"
        assert not has_editorial_wording(chunk.heading), chunk.chunk_id
        assert not re.search(r"[:：]\s*$", chunk.text), chunk.chunk_id  # a lead-in never ends a chunk
        assert len(chunk.text) <= ChunkingOptions().max_chars
        assert chunk.source.startswith(("https://", "note:")), chunk.chunk_id  # never a seed file


def test_a_passage_is_credited_to_the_source_it_cites():
    by_heading = {(c.note_id, c.lang, c.heading): c for c in _shipped_chunks()}
    lora = by_heading[("training-memory", "en", "LoRA: train small adapters, freeze the base")]
    assert lora.source == "https://arxiv.org/abs/2106.09685"  # [7], the LoRA paper; not [1], ZeRO
    assert lora.metadata()["sources"].split() == ["https://arxiv.org/abs/2106.09685"]
    zero = by_heading[("training-memory", "en", "ZeRO stages: per-GPU model-state formulas")]
    assert zero.source == "https://arxiv.org/abs/1910.02054"


def test_citation_markers_map_to_the_front_matter_sources_in_order():
    from knowledge.chunking import cited_sources, source_list

    sources = source_list(["https://a.example", {"seed": "000.txt"}, "https://c.example", "https://d.example"])
    assert sources == ("https://a.example", "", "https://c.example", "https://d.example")
    assert cited_sources("x [3] y [1, 4] z [2] [see](kv-cache) [1]", sources) == [
        "https://c.example", "https://a.example", "https://d.example",
    ]  # fmt: skip
    assert cited_sources("range [1–3]", sources) == ["https://a.example", "https://c.example"]


def test_editorial_wording_is_rewritten_only_in_notes_that_list_seed_sources():
    note = "---\nid: n\nsources:\n  - https://a.example\n  - seed: 001.txt\n---\n\n"
    note += "## Corrections to the seed articles\n\n"
    doc = _doc(note + "Seed 001 says X. The seed claim that Y (seed 002) is wrong.\n")
    assert "seed" not in doc.body.lower()
    assert "## Common claims corrected" in doc.body and "One article says X." in doc.body
    user = _doc("## Notes\n\nThe seed 001 of the tomato plant.\n")
    assert "seed 001" in user.body  # a user's own file is left as written


def test_a_table_stays_with_its_lead_in_and_an_oversize_table_repeats_its_header():
    rows = "\n".join(f"| model {i} | {i},000 tokens | {i}.5 GB |" for i in range(60))
    text = f"## Sizes\n\n{_words(200)}\n\nAt 8,192 tokens:\n\n| model | context | size |\n|---|---|---|\n{rows}\n"
    chunks = chunk_document(_doc(text), options=ChunkingOptions(min_units=20, max_units=150))
    with_table = [c for c in chunks if "| model |" in c.text]
    assert len(with_table) > 1
    for chunk in with_table:
        assert "At 8,192 tokens:" in chunk.text and "|---|---|---|" in chunk.text
    assert all(f"| model {i} |" in "".join(c.text for c in chunks) for i in range(60))


def test_a_one_line_5_mb_file_becomes_many_capped_chunks_that_keep_all_its_text():
    import random

    rng = random.Random(7)
    line = "".join(rng.choice("abcdefghij ") for _ in range(5_000_000))
    chunks = chunk_document(_doc(line, path="big.txt", relative="big.txt"))
    limit = ChunkingOptions().max_chars
    assert len(chunks) > 5_000_000 // limit
    assert max(len(c.text) for c in chunks) <= limit
    assert "".join(c.text for c in chunks).replace(" ", "") == line.replace(" ", "")


def test_one_5_mb_word_is_cut_too():
    chunks = chunk_document(_doc("x" * 1_000_000 + "y", path="w.txt", relative="w.txt"))
    assert max(len(c.text) for c in chunks) <= ChunkingOptions().max_chars
