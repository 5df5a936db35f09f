"""Docs that cannot drift: every `$ vramwise ...` command in README.md and docs/*.md prints what the page shows."""

from __future__ import annotations

from pathlib import Path

from evals import docs_examples


def test_every_documented_command_prints_what_the_page_shows() -> None:
    total = sum(len(docs_examples.examples(page)) for page in docs_examples.PAGES)
    assert total >= 10, "the README shows the main commands with their output"
    drifted = docs_examples.check()
    hint = "docs drifted from real output (python -m evals.docs_examples --write, then read the diff):\n"
    assert not drifted, hint + "\n".join(drifted)


def test_the_readme_starts_with_the_install_and_test_commands() -> None:
    lines = (docs_examples.REPO / "README.md").read_text(encoding="utf-8").splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert block[0].startswith("./scripts/install.sh && .venv/bin/vramwise ")
    assert block[1] == ".venv/bin/python -m pytest"
    assert "bash scripts/install.sh" in (docs_examples.REPO / ".ci/run").read_text()


def test_an_ellipsis_stands_for_any_run_of_lines_but_not_for_a_changed_line() -> None:
    actual = ["head", "a", "b", "middle", "c", "tail"]
    assert docs_examples.matches(["head", "...", "tail"], actual)
    assert docs_examples.matches(["head", "...", "middle", "...", "tail"], actual)
    assert docs_examples.matches(actual, actual)
    assert not docs_examples.matches(["head", "...", "other"], actual)
    assert not docs_examples.matches(["head", "a", "b"], actual)
    assert not docs_examples.matches(["head", "...", "missing", "...", "tail"], actual)


def test_a_drifted_output_is_reported_with_what_the_command_printed(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('```\n$ vramwise estimate llama3.1-8b --gpu "RTX 4095"\nerror: something else\n```\n')
    drifted = docs_examples.check((page,))
    assert len(drifted) == 1
    assert "unknown GPU 'RTX 4095'" in drifted[0] and "--vram-gb" in drifted[0]
    assert docs_examples.write((page,)) == 1
    assert docs_examples.check((page,)) == []
