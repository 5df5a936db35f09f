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
    return ParsedDocument(
        note_id=note_id,
        lang=lang,
        title=title,
        tags=tags,
        source=first_source(meta.get("sources") or meta.get("source")) or (source or path),
        path=path,
        body=body,
        alt_title=alt_title,
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
    return blocks


def _split_block(block: str, max_units: float) -> list[str]:
    """Break one oversize block into lines, then sentences, then words/characters."""
    if text_units(block) <= max_units:
        return [block]
    for splitter in (lambda s: s.split("\n"), lambda s: [p for p in _SENTENCE_END_RE.split(s) if p]):
        parts = [p for p in splitter(block) if p.strip()]
        if len(parts) > 1:
            out: list[str] = []
            for part in parts:
                out.extend(_split_block(part, max_units))
            return out
    # A single run with no line or sentence breaks: cut by size.
    pieces: list[str] = []
    current = ""
    for token in re.findall(r"\S+\s*|\s+", block) if count_cjk(block) == 0 else list(block):
        if current and text_units(current + token) > max_units:
            pieces.append(current)
            current = ""
        current += token
    if current.strip():
        pieces.append(current)
    return pieces


def _pack(blocks: list[str], max_units: float) -> list[str]:
    """Greedily pack blocks into pieces of about equal size, none above max_units when avoidable."""
    total = sum(text_units(b) for b in blocks)
    pieces_needed = max(1, -(-int(total) // int(max_units)))
    target = total / pieces_needed
    pieces: list[str] = []
    current: list[str] = []
    size = 0.0
    for block in blocks:
        units = text_units(block)
        if current and (size + units > max_units or size >= target):
            pieces.append("\n\n".join(current))
            current, size = [], 0.0
        current.append(block)
        size += units
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
        if text_units(section.text) <= options.max_units:
            out.append(section)
            continue
        blocks: list[str] = []
        for block in _paragraphs(section.text):
            blocks.extend(_split_block(block, options.max_units))
        out.extend(Section(section.heading_path, piece) for piece in _pack(blocks, options.max_units))
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
CHUNK_FORMAT_VERSION = 3


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
    for section in sized_sections(split_sections(doc.body), options):
        heading = " > ".join(section.heading_path)
        chunk = Chunk(
            chunk_id="",
            note_id=doc.note_id,
            lang=doc.lang,
            title=doc.title,
            heading=heading,
            text=section.text,
            source=doc.source,
            tags=",".join(doc.tags),
            path=doc.path,
            index=len(chunks),
            content_hash=content_hash(section.text),
            alt_title=doc.alt_title,
            extra=extra,
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
