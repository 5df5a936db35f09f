"""Docs that cannot drift: every `$ vramwise ...` command shown in README.md and docs/*.md is run, and its output
must match what the page shows, numbers and layout.

    python -m evals.docs_examples           # check; exit 1 listing every example that drifted
    python -m evals.docs_examples --write   # rewrite the shown outputs from real runs (then read the diff)

Inside a ``` block, a line starting with "$ " is a command and the lines after it, up to the next "$ " line or the
end of the block, are its output (stdout, then stderr). A lone "..." line in a shown output stands for any run of
lines, so a page may show the head and the tail of a long output. Commands run offline with a fixed 120-column
terminal, so rich tables lay out the same everywhere.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
FENCE = re.compile(r"^```")
ELLIPSIS = "..."


@dataclass
class Example:
    page: Path
    line: int  # 0-based index of the "$ " line
    command: str
    shown: list[str]


def examples(page: Path) -> list[Example]:
    lines = page.read_text(encoding="utf-8").splitlines()
    out: list[Example] = []
    inside = False
    current: Example | None = None
    for i, line in enumerate(lines):
        if FENCE.match(line):
            inside = not inside
            current = None
            continue
        if not inside:
            continue
        if line.startswith("$ vramwise"):
            current = Example(page, i, line[2:], [])
            out.append(current)
        elif current is not None:
            current.shown.append(line)
    return out


def run(command: str) -> list[str]:
    args = shlex.split(command)
    # an empty Hugging Face cache and knowledge store: what a fresh install prints, whatever this machine has cached
    scratch = Path(tempfile.mkdtemp(prefix="vramwise-docs-"))
    env = {
        **os.environ,
        "COLUMNS": "120",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "PYTHONIOENCODING": "utf-8",
        "HF_HUB_CACHE": str(scratch / "hf"),
        "VRAMWISE_DATA_DIR": str(scratch / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "vramwise.cli", *args[1:]],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )
    shutil.rmtree(scratch, ignore_errors=True)
    text = done.stdout + done.stderr
    return [line.rstrip() for line in text.rstrip("\n").splitlines()]


def matches(shown: list[str], actual: list[str]) -> bool:
    """Shown lines equal the actual ones, where a lone '...' line matches any run of actual lines."""
    parts: list[list[str]] = [[]]
    for line in shown:
        if line.strip() == ELLIPSIS:
            parts.append([])
        else:
            parts[-1].append(line.rstrip())
    if len(parts) == 1:
        return parts[0] == actual
    first, *middle, last = parts
    if actual[: len(first)] != first or (last and actual[len(actual) - len(last) :] != last):
        return False
    pos, end = len(first), len(actual) - len(last)
    for part in middle:
        for start in range(pos, end - len(part) + 1):
            if actual[start : start + len(part)] == part:
                pos = start + len(part)
                break
        else:
            return False
    return pos <= end


def check(pages: tuple[Path, ...] = PAGES) -> list[str]:
    drifted = []
    for page in pages:
        for ex in examples(page):
            actual = run(ex.command)
            if not matches(ex.shown, actual):
                drifted.append(
                    f"{page.name}:{ex.line + 1}: `{ex.command}` printed:\n" + "\n".join(f"    {a}" for a in actual)
                )
    return drifted


def write(pages: tuple[Path, ...] = PAGES) -> int:
    changed = 0
    for page in pages:
        lines = page.read_text(encoding="utf-8").splitlines()
        for ex in reversed(examples(page)):
            actual = run(ex.command)
            if matches(ex.shown, actual):
                continue
            lines[ex.line + 1 : ex.line + 1 + len(ex.shown)] = actual
            changed += 1
        page.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite drifted outputs from real runs")
    args = parser.parse_args(argv)
    if args.write:
        print(f"rewrote {write()} example output(s)")
        return 0
    drifted = check()
    total = sum(len(examples(p)) for p in PAGES)
    print(f"{total - len(drifted)}/{total} documented commands print what the docs show")
    for d in drifted:
        print(d)
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
