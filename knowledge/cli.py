"""`ingest` and `search` subcommands for the vramwise CLI (heavy modules load only when a command runs)."""

from __future__ import annotations

import argparse
import sys

EXCERPT_CHARS = 360


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `ingest` and `search` to an argparse subparsers object; each sets func(args) -> exit code."""
    ingest = subparsers.add_parser(
        "ingest",
        help="add notes or your own files to the knowledge base",
        description=(
            "Ingest Markdown, text and HTML files (PDF with pypdf installed) into the knowledge base. "
            "Without PATH, (re-)ingests the shipped notes. Re-running is cheap: unchanged files are skipped, "
            "edited files replaced and deleted files removed."
        ),
    )
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the shipped notes)")
    _add_store_options(ingest)
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.set_defaults(func=run_ingest)

    search = subparsers.add_parser(
        "search",
        help="search the knowledge base (English or Chinese)",
        description="Hybrid (dense + BM25) search over the notes and anything you ingested.",
    )
    search.add_argument("query", metavar="QUERY", help="a question or keywords, English or Chinese")
    search.add_argument("-k", type=int, default=4, help="passages to return, 1-20 (default 4)")
    search.add_argument("--lang", default=None, metavar="{en,zh}", help="prefer this language (default: detect)")
    _add_store_options(search)
    search.add_argument("--json", action="store_true", help="print the result as JSON")
    search.set_defaults(func=run_search)


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--chroma-url",
        metavar="URL",
        help="a Chroma server, e.g. http://127.0.0.1:8000 (env VRAMWISE_CHROMA_URL)",
    )
    where.add_argument(
        "--data-dir",
        metavar="DIR",
        help="keep the store in DIR/chroma (default $VRAMWISE_DATA_DIR or ~/.local/share/vramwise)",
    )


def _open_store(args: argparse.Namespace) -> object:
    from pathlib import Path

    from knowledge.store import open_store

    if args.data_dir:
        return open_store(path=Path(args.data_dir).expanduser() / "chroma")
    return open_store(url=args.chroma_url) if args.chroma_url else open_store()


def _fail(command: str, message: str) -> int:
    print(f"vramwise {command}: error: {message}", file=sys.stderr)
    return 2


def _guarded(command: str, args: argparse.Namespace, body: object) -> int:
    """Run body(args); known failures become one line on stderr and exit code 2."""
    from knowledge.embeddings import EmbeddingModelError
    from knowledge.store import StoreError

    try:
        return body(args)  # type: ignore[operator]
    except KeyboardInterrupt:
        print(f"vramwise {command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, StoreError, EmbeddingModelError, OSError) as exc:
        return _fail(command, str(exc))
    except Exception as exc:  # never a traceback for a CLI user
        return _fail(command, f"unexpected {type(exc).__name__}: {exc}")


def run_ingest(args: argparse.Namespace) -> int:
    return _guarded("ingest", args, _ingest)


def run_search(args: argparse.Namespace) -> int:
    return _guarded("search", args, _search)


def _ingest(args: argparse.Namespace) -> int:
    from knowledge.ingest import ingest

    report = ingest(args.paths or None, _open_store(args), progress=not args.json)  # type: ignore[arg-type]
    if args.json:
        print(report.model_dump_json(indent=2))
        return 0
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"[bold]{report.files_ingested}[/] ingested, {report.files_unchanged} unchanged, "
        f"{report.files_removed} removed, {len(report.skipped)} skipped "
        f"(of {report.files_seen} files) in {report.elapsed_s:.1f} s"
    )
    added, removed, total = report.chunks_added, report.chunks_removed, report.chunks_total
    console.print(f"chunks: +{added} -{removed}, {total} in the store at {report.store}")
    for skipped in report.skipped:
        console.print(f"  [yellow]skipped[/] {skipped.path}: {skipped.reason}", markup=True)
    return 0


def _search(args: argparse.Namespace) -> int:
    from knowledge.search import search_store, validate_search_args

    validate_search_args(args.query, args.k, args.lang)  # fail fast, before the store and model load
    result = search_store(_open_store(args), args.query, k=args.k, lang=args.lang)  # type: ignore[arg-type]
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=True)
    if not result.passages:
        console.print(f"no passages found for {result.query!r}")
        return 0
    for rank, passage in enumerate(result.passages, start=1):
        heading = f" > {passage.heading}" if passage.heading else ""
        excerpt = _excerpt(passage.text)
        console.print(
            f"[bold]{rank}. {escape(passage.note_id)}[/]{escape(heading)}  "
            f"[dim]score {passage.score:.4f} · {passage.lang}[/]"
        )
        console.print(f"   {escape(excerpt)}")
        console.print(f"   [dim]source: {escape(passage.source)}[/]")
    return 0


def _excerpt(text: str) -> str:
    """One line of at most EXCERPT_CHARS; line breaks inside Chinese text leave no stray space."""
    import re

    line = " ".join(text.split())
    line = re.sub(r"(?<=[\u3000-\u9fff\uff00-\uffef]) (?=[\u3000-\u9fff\uff00-\uffef])", "", line)
    return line if len(line) <= EXCERPT_CHARS else line[:EXCERPT_CHARS].rstrip() + "…"


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: python -m knowledge.cli {ingest,search} ..."""
    parser = argparse.ArgumentParser(prog="vramwise", description="vramwise knowledge base")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
