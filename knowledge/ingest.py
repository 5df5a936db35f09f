"""Ingest notes and user folders into the store: idempotent, edit- and delete-aware, safe to interrupt.

How it stays consistent: every chunk records the file it came from (`path`) and the folder it was
ingested under (`root`); its id hashes the file, the metadata and the text. A run reads the ids already
stored per file, writes the chunks that are new (upsert, so a retry never duplicates), and only then
deletes the ids a file no longer produces and the chunks of files gone from the folders it walked. An
interrupted run leaves old and new chunks side by side; the next run finishes the job.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from knowledge import embeddings
from knowledge.chunking import (
    Chunk,
    ChunkingOptions,
    FrontMatterError,
    chunk_document,
    html_to_text,
    parse_document,
    slugify,
)
from knowledge.paths import SHIPPED_NOTES_DIR

if TYPE_CHECKING:
    from knowledge.store import KnowledgeStore

MAX_FILE_BYTES = 5 * 1024 * 1024
TEXT_SUFFIXES = (".md", ".markdown", ".txt")
HTML_SUFFIXES = (".html", ".htm")
PDF_SUFFIXES = (".pdf",)
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + HTML_SUFFIXES + PDF_SUFFIXES
SHIPPED_ROOT = "vramwise:notes"  # the `root` of the shipped notes, independent of where the package lives
SHIPPED_PREFIX = "knowledge/notes/"  # the `path` prefix of the shipped notes
EMBED_BATCH = 64
MAX_NOTE_ID_CHARS = 100
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})


class SkippedFile(BaseModel):
    path: str
    reason: str


class IngestReport(BaseModel):
    """What one ingest run did. Counts are files and chunks; `skipped` says why each file was left out."""

    store: str = Field(description="where the chunks live: a folder or a Chroma server URL")
    files_seen: int = 0
    files_ingested: int = Field(0, description="files whose chunks were added or replaced")
    files_unchanged: int = 0
    files_removed: int = Field(0, description="files gone from disk whose chunks were deleted")
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_total: int = Field(0, description="chunks in the store after the run")
    skipped: list[SkippedFile] = Field(default_factory=list)
    elapsed_s: float = 0.0


class UnreadableFile(Exception):
    """A file that cannot be ingested; the message is the reason shown to the user."""


class EmptyFile(UnreadableFile):
    """A file without text: unlike an unreadable one, whatever it held before is gone, so are its chunks."""


@dataclass(frozen=True)
class SourceFile:
    file: Path
    key: str  # the chunk `path`: 'knowledge/notes/x.en.md' for shipped notes, else the absolute path
    root: str  # the chunk `root`: SHIPPED_ROOT, or the absolute folder the file was found under
    relative: str  # path inside the root, names the note when there is no front matter id


@dataclass(frozen=True)
class Scope:
    """Stored files under `prefix` (or exactly `exact`) that are not on disk any more get removed."""

    prefix: str = ""
    exact: str = ""

    def covers(self, key: str) -> bool:
        return key == self.exact if self.exact else key.startswith(self.prefix)


def _is_shipped(path: Path) -> bool:
    try:
        path.relative_to(SHIPPED_NOTES_DIR)
    except ValueError:
        return False
    return True


def _source_file(file: Path, root_dir: Path | None) -> SourceFile:
    if _is_shipped(file):
        relative = file.relative_to(SHIPPED_NOTES_DIR).as_posix()
        return SourceFile(file, SHIPPED_PREFIX + relative, SHIPPED_ROOT, relative)
    root_dir = root_dir or file.parent
    return SourceFile(file, file.as_posix(), root_dir.as_posix(), file.relative_to(root_dir).as_posix())


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def _walk(folder: Path) -> tuple[list[Path], list[SkippedFile]]:
    """Supported files under `folder` (already resolved), and the symbolic links left alone.

    A link is followed only when its target stays inside `folder`: a `notes/link.md -> /etc/passwd` would
    otherwise be ingested and served to every client. Linked folders are never descended into (their files,
    when inside the folder, are found at their real place).
    """
    found: list[Path] = []
    skipped: list[SkippedFile] = []
    for dirpath, dirnames, filenames in os.walk(folder):  # followlinks=False: linked folders are not entered
        here = Path(dirpath)
        kept = []
        for d in sorted(dirnames):
            if d.startswith(".") or d in _SKIPPED_DIRS:
                continue
            if (here / d).is_symlink():
                target = (here / d).resolve()
                if not _inside(target, folder):
                    skipped.append(SkippedFile(path=str(here / d), reason=_outside_reason(target, folder)))
                continue
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(SUPPORTED_SUFFIXES):
                continue
            file = here / name
            if file.is_symlink():
                target = file.resolve()
                if not _inside(target, folder):
                    skipped.append(SkippedFile(path=str(file), reason=_outside_reason(target, folder)))
                    continue
                if target.name.lower().endswith(SUPPORTED_SUFFIXES):
                    found.append(target)  # keyed by its real path: a link beside its target adds nothing twice
                continue
            found.append(file)
    return found, skipped


def _outside_reason(target: Path, folder: Path) -> str:
    return f"symbolic link to {target}, outside {folder}: not followed"


def discover(
    paths: Iterable[str | os.PathLike[str]],
) -> tuple[list[SourceFile], list[Scope], list[SkippedFile]]:
    """Files to ingest, the scopes whose vanished files get removed, and paths refused up front."""
    files: dict[str, SourceFile] = {}
    scopes: list[Scope] = []
    skipped: list[SkippedFile] = []
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        path = path.resolve() if path.exists() else path
        if path.is_dir():
            if _is_shipped(path) and path == SHIPPED_NOTES_DIR:
                scopes.append(Scope(prefix=SHIPPED_PREFIX))
            elif _is_shipped(path):
                scopes.append(Scope(prefix=f"{SHIPPED_PREFIX}{path.relative_to(SHIPPED_NOTES_DIR).as_posix()}/"))
            else:
                scopes.append(Scope(prefix=path.as_posix().rstrip("/") + "/"))
                if SHIPPED_NOTES_DIR.is_relative_to(path):
                    scopes.append(Scope(prefix=SHIPPED_PREFIX))
            walked, refused = _walk(path)
            skipped.extend(refused)
            for file in walked:
                source = _source_file(file, path)
                files.setdefault(source.key, source)
        elif path.is_file():
            if not path.name.lower().endswith(SUPPORTED_SUFFIXES):
                accepted = ", ".join(SUPPORTED_SUFFIXES)
                skipped.append(SkippedFile(path=str(path), reason=f"unsupported file type (accepted: {accepted})"))
                continue
            source = _source_file(path, None)
            files.setdefault(source.key, source)
        else:
            # A file or folder that is gone: drop what was ingested from it, if anything.
            key = SHIPPED_PREFIX + path.relative_to(SHIPPED_NOTES_DIR).as_posix() if _is_shipped(path) else None
            key = key or path.as_posix()
            scopes.append(Scope(exact=key))
            scopes.append(Scope(prefix=key.rstrip("/") + "/"))
            reason = "not found (anything ingested from this path before is removed)"
            skipped.append(SkippedFile(path=str(path), reason=reason))
    return list(files.values()), scopes, skipped


def read_text(file: Path) -> str:
    """The text of a supported file. Raises UnreadableFile with a reason for the user."""
    try:
        # O_NOFOLLOW: a file swapped for a link after the walk is refused, not followed; O_NONBLOCK: a FIFO
        # named notes.md must not block the ingest (it is refused below as not a regular file).
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if getattr(os, "O_NOFOLLOW", 0) and file.is_symlink():
            raise UnreadableFile("a symbolic link (not followed)") from exc
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        try:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise UnreadableFile("not a regular file (a device, pipe or socket)")
            if info.st_size > MAX_FILE_BYTES:
                raise UnreadableFile(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB ({info.st_size:,} bytes)")
            data = handle.read(MAX_FILE_BYTES + 1)  # a file that grows while read is still bounded
        except OSError as exc:
            raise UnreadableFile(f"cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFile(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB (it grew while being read)")
    suffix = file.suffix.lower()
    if suffix in PDF_SUFFIXES:
        return _pdf_text(file)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise UnreadableFile("not valid UTF-16 text despite its byte-order mark") from exc
    if b"\0" in data[:8192]:
        raise UnreadableFile("binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8 text (byte {exc.start}); convert it to UTF-8 and ingest again") from exc
    return html_to_text(text) if suffix in HTML_SUFFIXES else text


def _pdf_text(file: Path) -> str:
    try:
        import pypdf  # optional: not a vramwise dependency
    except ImportError as exc:
        raise UnreadableFile("PDF support needs the optional package pypdf (pip install pypdf)") from exc
    try:
        reader = pypdf.PdfReader(str(file))
        return "\n\n".join(page.extract_text() or "" for page in reader.pages)
    except Exception as exc:  # pypdf raises many types for damaged files
        raise UnreadableFile(f"cannot extract text from PDF: {exc}") from exc


def chunk_file(source: SourceFile, options: ChunkingOptions | None = None) -> list[Chunk]:
    """Read, parse and chunk one file. Raises UnreadableFile (empty, binary, bad front matter, ...)."""
    text = read_text(source.file)
    if not text.strip():
        raise EmptyFile("empty (no text)")
    try:
        doc = parse_document(text, path=source.key, relative_path=source.relative)
    except FrontMatterError as exc:
        raise UnreadableFile(str(exc)) from exc
    safe_id = safe_note_id(doc.note_id)
    if safe_id != doc.note_id:
        doc = dataclasses.replace(doc, note_id=safe_id)
    kind = "note" if source.root == SHIPPED_ROOT else "user"
    chunks = chunk_document(doc, file_key=source.key, options=options, extra={"root": source.root, "kind": kind})
    if not chunks:
        raise EmptyFile("empty (no text)")
    return chunks


def safe_note_id(raw: str) -> str:
    """A note id that is safe in chunk ids, URIs and file names: a slug ('../../etc/passwd' -> 'etc-passwd').

    Front matter is user text; its `id` is slugged like ids derived from file names, and capped in length.
    """
    slug = slugify(raw)[:MAX_NOTE_ID_CHARS].strip("-")
    return slug or "untitled"


def _progress(enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )


def ingest(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    store: KnowledgeStore | None = None,
    progress: bool = True,
    *,
    options: ChunkingOptions | None = None,
) -> IngestReport:
    """Bring the store in line with `paths` (files or folders; default: the shipped notes).

    New and edited files are (re-)embedded, unchanged ones are left alone, files gone from a walked folder
    lose their chunks. Files that cannot be read are listed in `skipped` and their earlier chunks are kept
    (except for a file that became empty). Raises StoreError when the store cannot be reached.
    """
    started = time.perf_counter()
    if store is None:
        from knowledge.store import open_store

        store = open_store()
    files, scopes, skipped = discover([SHIPPED_NOTES_DIR] if paths is None else paths)
    report = IngestReport(store=store.location, files_seen=len(files), skipped=skipped)

    stored: dict[str, set[str]] = defaultdict(set)  # path -> chunk ids in the store
    for chunk_id, meta in store.metadatas().items():
        stored[str(meta.get("path", ""))].add(chunk_id)

    to_add: list[Chunk] = []
    to_delete: list[str] = []
    present: set[str] = set()
    with _progress(progress) as bar:
        task = bar.add_task("reading files", total=len(files))
        for source in files:
            present.add(source.key)
            bar.advance(task)
            try:
                chunks = chunk_file(source, options)
            except UnreadableFile as exc:
                report.skipped.append(SkippedFile(path=str(source.file), reason=str(exc)))
                if isinstance(exc, EmptyFile):
                    to_delete.extend(stored.get(source.key, ()))
                continue
            new_ids = {c.chunk_id for c in chunks}
            old_ids = stored.get(source.key, set())
            if new_ids == old_ids:
                report.files_unchanged += 1
                continue
            report.files_ingested += 1
            to_add.extend(c for c in chunks if c.chunk_id not in old_ids)
            to_delete.extend(old_ids - new_ids)

        gone = [key for key in stored if key not in present and any(scope.covers(key) for scope in scopes)]
        report.files_removed = len(gone)
        for key in gone:
            to_delete.extend(stored[key])

        if to_add:
            task = bar.add_task("embedding chunks", total=len(to_add))
            for start in range(0, len(to_add), EMBED_BATCH):
                batch = to_add[start : start + EMBED_BATCH]
                _write(store, batch)
                report.chunks_added += len(batch)
                bar.advance(task, len(batch))

    # Deletions come last, so an interrupted run never leaves a file without its chunks.
    if to_delete:
        store.delete(sorted(set(to_delete)))
        report.chunks_removed = len(set(to_delete))
    report.chunks_total = store.count()
    report.elapsed_s = round(time.perf_counter() - started, 3)
    return report


def _write(store: KnowledgeStore, chunks: list[Chunk]) -> None:
    vectors = embeddings.embed_documents([c.index_text() for c in chunks], store.model)
    store.upsert(
        [c.chunk_id for c in chunks],
        [c.text for c in chunks],
        [c.metadata() for c in chunks],
        vectors,
    )


def shipped_notes_present(store: KnowledgeStore) -> bool:
    return bool(store.ids(where={"root": SHIPPED_ROOT}))
