"""Turn a note or a user file into heading-aware retrieval chunks with stable ids (pure: no I/O)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Any, Literal

import yaml

Lang = Literal["en", "zh"]
LANGS: tuple[str, ...] = ("en", "zh")

# Size is counted in "word units": a Latin word is one unit, a CJK character 0.38 units, so that the
# target 150-350 English words matches roughly 400-900 Chinese characters.
CJK_CHAR_UNITS = 0.38

_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_LATIN_LETTER_RE = re.compile(r"[A-Za-z]")
_LATIN_WORD_RE = re.compile(r"[A-Za-z0-9]+(?:['.\-][A-Za-z0-9]+)*")
_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END_RE = re.compile(r"(?<=[。！？；!?;])|(?<=[.:])\s+(?=[A-Z0-9(\"'*\[`])")


@dataclass(frozen=True)
class ChunkingOptions:
    """Chunk size limits in word units (see CJK_CHAR_UNITS)."""

    min_units: float = 60.0  # a section smaller than this is merged with a neighbour
    max_units: float = 300.0  # a section larger than this is split on paragraphs
    # Hard cap on a chunk's characters, whatever its word count: a 5 MB line without spaces is one "word".
    max_chars: int = 2400


@dataclass(frozen=True)
class Section:
    heading_path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    """A file's text and the facts about it that every chunk carries."""

    note_id: str
    lang: str
    title: str
    tags: tuple[str, ...]
    source: str
    path: str
    body: str
    alt_title: str = ""  # the title in the other language, when the front matter gives one
    # The front matter's sources in order, so that "[3]" in the text names sources[2] ('' for a non-URL entry).
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    note_id: str
    lang: str
    title: str
    heading: str
    text: str
    source: str
    tags: str
    path: str
    index: int
    content_hash: str
    alt_title: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def index_text(self) -> str:
        """The text that is embedded and BM25-indexed (see index_text())."""
        return index_text(self.metadata(), self.text)

    def metadata(self) -> dict[str, str | int]:
        meta: dict[str, str | int] = {
            "note_id": self.note_id,
            "lang": self.lang,
            "title": self.title,
            "alt_title": self.alt_title,
            "heading": self.heading,
            "source": self.source,
            "tags": self.tags,
            "path": self.path,
            "content_hash": self.content_hash,
        }
        meta.update(self.extra)
        return meta


def index_text(metadata: dict[str, Any], text: str) -> str:
    """What retrieval sees of a chunk: title, heading and tags on top of the body.

    The English title of a Chinese chunk goes in too: the default embedding model reads only English.
    """
    keys = ("title", "alt_title", "heading") if metadata.get("lang") == "zh" else ("title", "heading")
    head = " / ".join(str(metadata[key]) for key in keys if metadata.get(key))
    tags = str(metadata.get("tags") or "").replace(",", " ")
    return f"{head}\n{tags}\n\n{text}" if tags else f"{head}\n\n{text}"


# --------------------------------------------------------------------------- language


def count_cjk(text: str) -> int:
    return len(_CJK_RE.findall(text))


def cjk_ratio(text: str) -> float:
    """Share of CJK characters among CJK characters plus Latin letters (digits and punctuation ignored)."""
    cjk = count_cjk(text)
    latin = len(_LATIN_LETTER_RE.findall(text))
    return cjk / (cjk + latin) if cjk + latin else 0.0


def detect_lang(text: str, threshold: float = 0.2) -> str:
    """'zh' when CJK characters make up at least `threshold` of the letters, else 'en'.

    A CJK character carries about as much as a short English word, so 0.2 is already clearly Chinese
    ("我的 4090 能跑 Qwen2.5-14B 吗" has ratio 0.35).
    """
    return "zh" if cjk_ratio(text) >= threshold else "en"


def text_units(text: str) -> float:
    cjk = count_cjk(text)
    latin_words = len(_LATIN_WORD_RE.findall(text))
    return latin_words + CJK_CHAR_UNITS * cjk


# --------------------------------------------------------------------------- front matter


class FrontMatterError(ValueError):
    pass


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Split a leading YAML front matter block (between '---' lines) from the body.

    Returns ({}, text) when there is none. Raises FrontMatterError when the block is not valid YAML
    or not a mapping.
    """
    text = text.lstrip("\ufeff")
    if not text.startswith("---"):
        return {}, text
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        return {}, text
    raw = "\n".join(lines[1:end])
    try:
        data = yaml.safe_load(raw) if raw.strip() else {}
    except yaml.YAMLError as exc:
        raise FrontMatterError(f"front matter is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontMatterError(f"front matter must be a mapping, got {type(data).__name__}")
    return data, "\n".join(lines[end + 1 :])


def first_source(sources: Any) -> str:
    """The first URL among `sources` (strings or one-key mappings like {seed: file}), else the first entry."""
    if not isinstance(sources, list):
        sources = [sources] if sources else []
    flat: list[str] = []
    for item in sources:
        if isinstance(item, dict):
            flat.extend(f"{key}: {value}" for key, value in item.items())
        elif item is not None:
            flat.append(str(item))
    for item in flat:
        if re.match(r"https?://", item.strip()):
            return item.strip()
    return flat[0].strip() if flat else ""


def source_list(sources: Any) -> tuple[str, ...]:
    """The front matter's sources in order, URLs kept and anything else ('seed: file') blanked, so that
    position N-1 is what a "[N]" in the text cites."""
    if not isinstance(sources, list):
        sources = [sources] if sources else []
    return tuple(
        item.strip() if isinstance(item, str) and re.match(r"https?://", item.strip()) else "" for item in sources
    )


_CITATION_RE = re.compile(r"\[(\d{1,3}(?:\s*[,，、–-]\s*\d{1,3})*)\](?!\()")


def cited_sources(text: str, sources: tuple[str, ...]) -> list[str]:
    """URLs a text cites with "[N]", "[1, 3]" or "[2–4]" markers, in order of first citation."""
    found: list[str] = []
    for match in _CITATION_RE.finditer(text):
        numbers: list[int] = []
        for part in re.split(r"\s*[,，、]\s*", match.group(1)):
            bounds = [int(n) for n in re.split(r"\s*[–-]\s*", part) if n]
            numbers.extend(
                range(bounds[0], bounds[-1] + 1) if len(bounds) == 2 and bounds[1] - bounds[0] < 20 else bounds
            )
        for number in numbers:
            url = sources[number - 1] if 0 < number <= len(sources) else ""
            if url and url not in found:
                found.append(url)
    return found


# --------------------------------------------------------------------------- editorial wording

# The shipped notes were written against a set of source articles ("seeds") and say so ("Seed 002 says ...",
# "Corrections to the seed articles"). That is an editing note, not something a user can look up: the chunker
# rewrites it to neutral wording. Applied only to documents whose front matter lists a `seed:` source.
_EDITORIAL_EN: tuple[tuple[str, str], ...] = (
    (r"Corrections?\s+to\s+the\s+seed\s+articles", "Common claims corrected"),
    (r"Correcting\s+the\s+seed's\s+(\w+)\s+formula", r"Correcting a common \1 formula"),
    (r"Correcting\s+the\s+seed\s+formula", "Correcting a common formula"),
    (r"\s*\((?:seeds?)\s+\d{3}(?:\s*(?:,|and)\s*\d{3})*\)", ""),
    (r"\bSeeds?\s+\d{3}(?:\s*(?:,|and)\s*\d{3})*'s\b", "One article's"),
    (r"\bSeeds?\s+\d{3}(?:\s*(?:,|and)\s*\d{3})*", "One article"),
    (r"\bseeds?\s+\d{3}(?:\s*(?:,|and)\s*\d{3})*", "one article"),
    (r"\bThe\s+seeds\b", "Some articles"),
    (r"\bthe\s+seeds\b", "some articles"),
    (r"\bone\s+seed\s+article\b", "one article"),
    (r"\bseed\s+articles\b", "articles"),
    (r"\bThe\s+same\s+seed's\b", "The same article's"),
    (r"\b[Tt]he\s+seed's\b", "the common"),
    (r"\bThe\s+seed\s+(claim|claims|rule|advice|suggestion|line|description|formula)\b", r"The common \1"),
    (r"\bthe\s+seed\s+(claim|claims|rule|advice|suggestion|line|description|formula)\b", r"the common \1"),
    (r"\b(two|three|four)\s+seed\s+claims\b", r"\1 common claims"),
    (r"\bseed\s+claims?\b", "common claim"),
    (r"\bthe\s+seed\s+raises\b", "the claim raises"),
    (r"\bseed\s+formula\b", "common formula"),
)
_EDITORIAL_ZH: tuple[tuple[str, str], ...] = (
    (r"对种子文章的(?:更正|纠正)", "常见说法的更正"),
    (r"更正种子文章里的公式", "更正一个常见公式"),
    (r"更正种子文章的训练显存公式", "更正一个常见的训练显存公式"),
    (r"\s*（种子 ?\d{3}(?:\s*[、,，和]\s*\d{3})*）", ""),
    (r"某篇种子文章", "某篇文章"),
    (r"种子 ?\d{3}(?:\s*[、,，和]\s*\d{3})*\s*(?=里的)", "某篇文章"),
    (r"种子 ?\d{3}(?:\s*[、,，和]\s*\d{3})*\s*", "某篇文章"),
    (r"种子文章", "有些文章"),
    (r"种子的", "常见的"),
    (r"种子公式", "常见公式"),
    (r"种子真正想问", "这个说法真正想问"),
)
_EDITORIAL_LEFTOVER_RE = re.compile(r"\bseeds?\b|种子", re.IGNORECASE)


def strip_editorial(text: str) -> str:
    """Text with the notes' references to their seed articles rewritten as neutral wording."""
    for pattern, replacement in _EDITORIAL_EN + _EDITORIAL_ZH:
        text = re.sub(pattern, replacement, text)
    return text


def has_editorial_wording(text: str) -> bool:
    return bool(_EDITORIAL_LEFTOVER_RE.search(text))


def _is_edited_note(sources: Any) -> bool:
    items = sources if isinstance(sources, list) else [sources]
    return any(isinstance(item, dict) and "seed" in item for item in items)


def slugify(text: str) -> str:
    """Lowercase ASCII-and-CJK slug: 'Guides/My Notes.md' -> 'guides-my-notes-md'."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w]+", "-", text, flags=re.UNICODE).replace("_", "-")
    return re.sub(r"-{2,}", "-", text).strip("-") or "untitled"


def note_id_for_path(relative_path: str) -> str:
    """Note id of a user file without front matter: a slug of its relative path minus the extension."""
    stem = re.sub(r"\.(md|markdown|txt|html?|pdf)$", "", relative_path, flags=re.IGNORECASE)
    return slugify(stem)


def parse_document(text: str, *, path: str, relative_path: str, source: str | None = None) -> ParsedDocument:
    """Front matter (if any) plus body. `path` is what chunks report as their path; `relative_path`
    names the note when the front matter has no id."""
    meta, body = split_front_matter(text)
    note_id = str(meta.get("id") or "").strip() or note_id_for_path(relative_path)
    lang = str(meta.get("lang") or "").strip().lower()
    if lang not in LANGS:
        lang = detect_lang(body)
    title = str(meta.get("title") or "").strip()
    alt_title = ""
    if lang == "zh" and meta.get("title_zh"):
        alt_title, title = title, str(meta["title_zh"]).strip()
    elif meta.get("title_zh"):
        alt_title = str(meta["title_zh"]).strip()
    if not title:
        h1_lines = (m.group(2) for m in map(_HEADING_RE.match, body.split("\n")) if m and m.group(1) == "#")
        title = next(h1_lines, "").strip() or relative_path
    tags_raw = meta.get("tags") or []
    if isinstance(tags_raw, str):
        tags_raw = [t for t in re.split(r"[,\s]+", tags_raw) if t]
    tags = tuple(str(t).strip() for t in tags_raw if str(t).strip())
    raw_sources = meta.get("sources") or meta.get("source")
    if _is_edited_note(raw_sources):
        body = strip_editorial(body)
    return ParsedDocument(
        note_id=note_id,
        lang=lang,
        title=title,
        tags=tags,
        source=first_source(meta.get("sources") or meta.get("source")) or (source or path),
        path=path,
        body=body,
        alt_title=alt_title,
        sources=source_list(raw_sources),
    )


# --------------------------------------------------------------------------- sections


def split_sections(body: str) -> list[Section]:
    """Split Markdown on '##' and '###' headings (outside code fences); '#' lines are dropped as titles.

    Each section carries its heading path, e.g. ('KV cache size', 'Worked example').
    """
    sections: list[Section] = []
    path: tuple[str, ...] = ()
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        text = "\n".join(lines).strip()
        if text:
            sections.append(Section(path, text))
        lines.clear()

    for line in body.split("\n"):
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            lines.append(line)
            continue
        match = None if in_fence else _HEADING_RE.match(line)
        if match is None:
            lines.append(line)
            continue
        level, heading = len(match.group(1)), match.group(2).strip()
        if level == 1:
            flush()
            path = ()
        elif level == 2:
            flush()
            path = (heading,)
        elif level == 3:
            flush()
            path = (*path[:1], heading)
        else:
            lines.append(line)
    flush()
    return sections


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, keeping fenced code blocks whole."""
    blocks: list[str] = []
    current: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        if not in_fence and not line.strip():
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return _attach_lead_ins(blocks)


_LEAD_IN_END_RE = re.compile(r"[:：]\s*$")
_TABLE_LINE_RE = re.compile(r"^\s*\|")


def _attach_lead_ins(blocks: list[str]) -> list[str]:
    """A block that ends with a colon ("At 8,192 tokens:") is joined to the block after it (the table or
    list it introduces), so no chunk ends on a lead-in whose content went to the next chunk."""
    out: list[str] = []
    for block in blocks:
        if out and _LEAD_IN_END_RE.search(out[-1]):
            out[-1] = f"{out[-1]}\n\n{block}"
        else:
            out.append(block)
    return out


def _split_table(block: str, max_units: float) -> list[str] | None:
    """An oversize block holding a Markdown table, cut between rows; every piece repeats the text before the
    table (its lead-in) and the header rows, so each piece still reads as a table. None: no table here."""
    lines = block.split("\n")
    start = next((i for i, line in enumerate(lines) if _TABLE_LINE_RE.match(line)), None)
    if start is None:
        return None
    end = start
    while end < len(lines) and _TABLE_LINE_RE.match(lines[end]):
        end += 1
    lead, header, rows, after = lines[:start], lines[start : start + 2], lines[start + 2 : end], lines[end:]
    head = "\n".join(lead + header)
    if not rows or text_units(head) >= max_units / 2:
        return None
    pieces: list[str] = []
    current: list[str] = []
    size = text_units(head)
    for row in rows:
        units = text_units(row)
        if current and size + units > max_units:
            pieces.append("\n".join([head, *current]))
            current, size = [], text_units(head)
        current.append(row)
        size += units
    tail = "\n".join(after).strip()
    if current:
        pieces.append("\n".join([head, *current]))
    return pieces + ([tail] if tail else [])


def _split_block(block: str, max_units: float, max_chars: int = 2400) -> list[str]:
    """Break one oversize block into table row groups, lines, then sentences, then words/characters."""
    if text_units(block) <= max_units and len(block) <= max_chars:
        return [block]
    table = _split_table(block, max_units) if len(block) <= 50 * max_chars else None
    if table is not None and len(table) > 1:
        out = []
        for piece in table:
            out.extend([piece] if len(piece) <= max_chars else _split_block(piece, max_units, max_chars))
        return out
    for splitter in (lambda s: s.split("\n"), lambda s: [p for p in _SENTENCE_END_RE.split(s) if p]):
        parts = [p for p in splitter(block) if p.strip()]
        if len(parts) > 1:
            out: list[str] = []
            for part in parts:
                out.extend(_split_block(part, max_units, max_chars))
            return out
    return _cut_run(block, max_units, max_chars)


def _cut_run(block: str, max_units: float, max_chars: int) -> list[str]:
    """A run with no line or sentence breaks cut into pieces of at most max_units and max_chars, in one
    pass (a 5 MB line must not cost quadratic time); a word longer than max_chars is cut inside."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0.0
    length = 0
    for token in re.findall(r"\S+\s*|\s+", block) if count_cjk(block) == 0 else list(block):
        for part in (token[i : i + max_chars] for i in range(0, len(token), max_chars)):
            units = text_units(part) if len(part) > 1 else (CJK_CHAR_UNITS if _CJK_RE.match(part) else 0.0)
            if current and (size + units > max_units or length + len(part) > max_chars):
                pieces.append("".join(current))
                current, size, length = [], 0.0, 0
            current.append(part)
            size += units
            length += len(part)
    if current and "".join(current).strip():
        pieces.append("".join(current))
    return [piece for piece in pieces if piece.strip()]


def _pack(blocks: list[str], max_units: float, max_chars: int = 2400) -> list[str]:
    """Greedily pack blocks into pieces of about equal size, none above max_units or max_chars."""
    total = sum(text_units(b) for b in blocks)
    pieces_needed = max(1, -(-int(total) // int(max_units)))
    target = total / pieces_needed
    pieces: list[str] = []
    current: list[str] = []
    size = 0.0
    length = 0
    for block in blocks:
        units = text_units(block)
        if current and (size + units > max_units or size >= target or length + len(block) + 2 > max_chars):
            pieces.append("\n\n".join(current))
            current, size, length = [], 0.0, 0
        current.append(block)
        size += units
        length += len(block) + 2
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def sized_sections(sections: list[Section], options: ChunkingOptions) -> list[Section]:
    """Merge tiny sections into a neighbour and split oversize ones on paragraphs.

    A tiny section joins the previous chunk when both sit under the same '##' heading, else it is
    prepended to the next section when that one is its child (or the tiny one is the untitled intro),
    else it joins the previous chunk; merged headings stay inline as Markdown headings.
    """
    merged: list[Section] = []
    carry: Section | None = None  # tiny text waiting to be prepended to the next section
    for position, section in enumerate(sections):
        if carry is not None:
            path = carry.heading_path or section.heading_path
            line = _heading_line(section.heading_path, path)
            section = Section(path, f"{carry.text}\n\n{line}{section.text}")
            carry = None
        if text_units(section.text) >= options.min_units:
            merged.append(section)
            continue
        following = sections[position + 1] if position + 1 < len(sections) else None
        if merged and _same_top(merged[-1], section):
            merged.append(_join(merged.pop(), section))
        elif following is not None and (not section.heading_path or _same_top(section, following)):
            carry = section
        elif merged:
            merged.append(_join(merged.pop(), section))
        elif following is not None:
            carry = section
        else:
            merged.append(section)

    out: list[Section] = []
    for section in merged:
        if text_units(section.text) <= options.max_units and len(section.text) <= options.max_chars:
            out.append(section)
            continue
        blocks: list[str] = []
        for block in _paragraphs(section.text):
            blocks.extend(_split_block(block, options.max_units, options.max_chars))
        pieces = _pack(blocks, options.max_units, options.max_chars)
        out.extend(Section(section.heading_path, piece) for piece in pieces)
    return out


def _join(first: Section, second: Section) -> Section:
    line = _heading_line(second.heading_path, first.heading_path)
    return Section(first.heading_path, f"{first.text}\n\n{line}{second.text}")


def _same_top(a: Section, b: Section) -> bool:
    return a.heading_path[:1] == b.heading_path[:1]


def _heading_line(path: tuple[str, ...], under: tuple[str, ...]) -> str:
    """Markdown heading kept inline when a section is merged into another one with a different path."""
    if path == under or not path:
        return ""
    level = "###" if len(path) > 1 else "##"
    return f"{level} {path[-1]}\n\n"


# --------------------------------------------------------------------------- chunks


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# Bump when what a chunk id stands for changes (the index text format, the metadata fields), so that an
# ingest re-embeds everything instead of keeping vectors made from the old format.
CHUNK_FORMAT_VERSION = 4  # 4: per-chunk sources, editorial wording, table lead-ins, char cap


def chunk_id(note_id: str, lang: str, heading: str, fingerprint: str) -> str:
    """Stable id: '<note id>.<lang>/<heading path slug>/<hash of file, metadata and text>'."""
    heading_slug = slugify(heading)[:48] if heading else "intro"
    return f"{note_id}.{lang}/{heading_slug}/{fingerprint[:16]}"


def chunk_document(
    doc: ParsedDocument,
    *,
    file_key: str | None = None,
    options: ChunkingOptions | None = None,
    extra: dict[str, str] | None = None,
) -> list[Chunk]:
    """Heading-aware chunks of one parsed document.

    `file_key` (default doc.path) names the file inside the chunk ids, so equal text in two files gets two
    ids; `extra` metadata (e.g. the ingest root) is stored with each chunk and also feeds the id, so any
    change to what a chunk carries gives it a new id.
    """
    options = options or ChunkingOptions()
    key = file_key or doc.path
    extra = dict(extra or {})
    chunks: list[Chunk] = []
    seen: set[str] = set()
    sections = split_sections(doc.body)
    # What each '##' section cites, for a chunk of it that cites nothing itself.
    section_citations: dict[tuple[str, ...], list[str]] = {}
    for section in sections:
        cited = section_citations.setdefault(section.heading_path[:1], [])
        cited.extend(url for url in cited_sources(section.text, doc.sources) if url not in cited)
    urls = [url for url in doc.sources if url]
    uses_markers = any(section_citations.values())
    uncited_source = doc.source if not doc.sources or (len(urls) == 1 and not uses_markers) else f"note:{doc.note_id}"
    for section in sized_sections(sections, options):
        heading = " > ".join(section.heading_path)
        cited = cited_sources(section.text, doc.sources) or section_citations.get(section.heading_path[:1], [])
        # A passage is credited to what it cites. Uncited text is the note's own ("note:<id>"), except in a
        # note that cites nothing anywhere and lists a single URL: that URL is its one source.
        source = cited[0] if cited else uncited_source
        chunk = Chunk(
            chunk_id="",
            note_id=doc.note_id,
            lang=doc.lang,
            title=doc.title,
            heading=heading,
            text=section.text,
            source=source,
            tags=",".join(doc.tags),
            path=doc.path,
            index=len(chunks),
            content_hash=content_hash(section.text),
            alt_title=doc.alt_title,
            extra={**extra, "sources": " ".join(cited)} if doc.sources else extra,
        )
        described = {k: v for k, v in chunk.metadata().items() if k != "chunk_index"}
        fingerprint = hashlib.sha256(
            repr((CHUNK_FORMAT_VERSION, key, sorted(described.items()), section.text)).encode()
        ).hexdigest()
        cid = chunk_id(doc.note_id, doc.lang, heading, fingerprint)
        if cid in seen:  # the same heading and text twice in one file: keep one
            continue
        seen.add(cid)
        chunks.append(replace(chunk, chunk_id=cid))
    return chunks


# --------------------------------------------------------------------------- HTML


class _HTMLText(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK = frozenset(
        {"p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "pre", "blockquote", "hr"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            level = int(tag[1])
            self.parts.append("\n\n" + "#" * min(level, 3) + " ")
        elif tag in self._BLOCK:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCK:
            self.parts.append("\n\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML page; headings become Markdown headings (h1 '#', h2 '##', h3+ '###')."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = parser.title.strip()
    if title and not body.startswith("# "):
        body = f"# {title}\n\n{body}"
    return body
