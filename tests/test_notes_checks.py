"""Every figure a knowledge note states that the calculator can produce is checked against the calculator,
so the notes and the tools never disagree. The figures live in each English note's front matter (`checks`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_tools import estimate_memory

NOTES = Path(__file__).resolve().parents[1] / "knowledge" / "notes"


def _front_matter(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path.name}: no front matter"
    return yaml.safe_load(text.split("---\n", 2)[1]) or {}


def _checks() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(NOTES.glob("*.en.md")):
        for i, check in enumerate(_front_matter(path).get("checks") or []):
            out.append((f"{path.stem}#{i}", check))
    return out


def _field(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


CHECKS = _checks()


def test_notes_carry_enough_checked_figures() -> None:
    assert len(CHECKS) >= 25


@pytest.mark.parametrize(("name", "check"), CHECKS, ids=[c[0] for c in CHECKS])
def test_note_figure_matches_the_calculator(name: str, check: dict[str, Any]) -> None:
    result = estimate_memory(**check["args"])
    got = _field(result, check["field"])
    expected = check["expected"]
    if isinstance(expected, bool):
        assert got is expected, check["claim"]
    else:
        tolerance = float(check.get("tolerance", 0))
        assert got == pytest.approx(expected, rel=tolerance, abs=0 if tolerance else 0.5), check["claim"]


def test_every_note_has_both_languages_and_sources() -> None:
    ids_en = {p.name.removesuffix(".en.md") for p in NOTES.glob("*.en.md")}
    ids_zh = {p.name.removesuffix(".zh.md") for p in NOTES.glob("*.zh.md")}
    assert ids_en == ids_zh
    assert len(ids_en) >= 20
    for path in NOTES.glob("*.md"):
        meta = _front_matter(path)
        assert meta.get("id") and meta.get("title") and meta.get("title_zh") and meta.get("sources"), path.name
        assert meta.get("lang") in ("en", "zh"), path.name


def test_calculator_sources_name_existing_notes() -> None:
    from agent_tools.estimate import NOTE_FOR

    ids = {p.name.removesuffix(".en.md") for p in NOTES.glob("*.en.md")}
    for note in NOTE_FOR.values():
        assert note.removeprefix("note:") in ids, note
