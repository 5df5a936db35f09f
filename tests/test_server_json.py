"""The MCP registry entry (server.json) against the registry's published schema and against the package itself."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCHEMA = Path(__file__).parent / "fixtures" / "mcp_registry" / "server.schema.json"


def _entry() -> dict:
    return json.loads((REPO / "server.json").read_text(encoding="utf-8"))


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_server_json_validates_against_the_registry_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(_entry()), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_schema_refuses_what_the_registry_refuses() -> None:
    """The vendored schema really checks: a long description, a bad name and a 'latest' version all fail."""
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    for broken in (
        {**_entry(), "description": "x" * 101},
        {**_entry(), "name": "vramwise"},
        {**_entry(), "packages": [{**_entry()["packages"][0], "version": "latest"}]},
        {**_entry(), "packages": [{**_entry()["packages"][0], "transport": {"type": "carrier-pigeon"}}]},
    ):
        assert list(validator.iter_errors(broken)), broken


def test_server_json_matches_the_package() -> None:
    entry, project = _entry(), _project()
    assert re.fullmatch(r"io\.github\.[A-Za-z0-9-]+/vramwise", entry["name"])
    assert len(entry["description"]) <= 100
    (package,) = entry["packages"]
    assert package["registryType"] == "pypi" and package["identifier"] == project["name"] == "vramwise"
    assert package["version"] == entry["version"] == project["version"]
    assert package["runtimeHint"] == "uvx" and package["transport"] == {"type": "stdio"}
    # `uvx vramwise` runs the console script named like the package; its `mcp` subcommand is the stdio server
    assert [a["value"] for a in package["packageArguments"]] == ["mcp"]
    assert "vramwise" in project["scripts"] and "vramwise-mcp" in project["scripts"]


def test_ide_snippets_parse_and_need_no_absolute_path() -> None:
    text = (REPO / "docs" / "mcp.md").read_text(encoding="utf-8")
    section = text.split("## Set-up in an IDE (stdio)", 1)[1].split("\n## ", 1)[0]
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", section, flags=re.S)]
    assert len(blocks) == 3  # Claude Desktop, VS Code, Cursor
    for block in blocks:
        (server,) = (block.get("mcpServers") or block["servers"]).values()
        assert server["command"] == "uvx" and server["args"][-1] == "vramwise-mcp"
        assert not any(a.startswith(("/", "~", "$")) or "\\" in a for a in server["args"])
    assert "claude mcp add vramwise" in section and "/path/to" not in section
