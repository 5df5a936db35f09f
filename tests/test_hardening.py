"""Hostile input at every boundary: one clear line naming the value, never a traceback, a hang or a silent reply."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, MCPError
from pydantic import ValidationError

from agent_tools.estimate import EstimateRequest, estimate_memory
from agent_tools.recommend import RecommendRequest
from vramwise.server import build_server

REPO = Path(__file__).resolve().parent.parent


def test_a_huge_gpu_name_is_refused_by_length_before_any_parsing():
    with pytest.raises(ValidationError) as err:
        RecommendRequest(gpu="1" + " " * 150_000)
    assert "at most 200 characters" in str(err.value)


def test_numbers_must_be_numbers():
    with pytest.raises(ValidationError):
        EstimateRequest(model="llama3.1 8b", context_length="8")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        EstimateRequest(model="llama3.1 8b", batch_size=True)


def _vramwise(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vramwise.cli", *args], capture_output=True, text=True, timeout=60, cwd=REPO
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("estimate", "llama3.1-8b", "--context", "inf"), "finite number of tokens"),
        (("estimate", "llama3.1-8b", "--context", "lots"), "number of tokens such as"),
        (("estimate", "--config", ""), "--config needs a path"),
        (("estimate", "--config", "/dev/zero"), "larger than 4 MiB"),
        (("estimate", "llama3.1-8b", "--vram-gb", "-1"), "--vram-gb"),
        (("estimate", "llama3.1-8b", "--contxt", "5"), "unrecognized arguments: --contxt"),
    ],
)
def test_cli_errors_are_one_line_in_cli_terms_with_exit_2(args, says):
    run = _vramwise(*args)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in run.stderr


def test_a_deeply_nested_config_is_one_line(tmp_path):
    deep = tmp_path / "config.json"
    deep.write_text('{"a":' * 50_000 + "1" + "}" * 50_000)
    run = _vramwise("estimate", "--config", str(deep))
    assert run.returncode == 2 and "nested too deeply" in run.stderr and "Traceback" not in run.stderr


def test_stdio_answers_a_malformed_line_with_a_json_rpc_error_and_keeps_serving():
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    stdin = "not json\n" + json.dumps({"hello": 1}) + "\n" + json.dumps(init) + "\n"
    run = subprocess.run(
        [sys.executable, "-m", "vramwise.server"], input=stdin, capture_output=True, text=True, timeout=60, cwd=REPO
    )
    replies = [json.loads(line) for line in run.stdout.splitlines()]
    assert replies[0] == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
    assert replies[1]["error"]["code"] == -32600 and replies[1]["id"] is None
    assert replies[2]["id"] == 1 and replies[2]["result"]["serverInfo"]["name"] == "vramwise"


@pytest.mark.anyio
async def test_prompt_arguments_that_are_not_numbers_are_named_not_an_internal_error():
    async with Client(build_server()) as client:
        with pytest.raises(MCPError) as err:
            await client.get_prompt("size_a_deployment", {"model": "x", "gpu": "y", "context_length": "abc"})
        assert "context_length" in str(err.value) and "Internal" not in str(err.value)
        with pytest.raises(MCPError) as err:
            await client.get_prompt("which_model_fits", {"gpu": "RTX 4090", "task": "zzz"})
        assert "accepted: chat" in str(err.value)
        ok = await client.get_prompt("size_a_deployment", {"model": "x", "gpu": "y", "context_length": "32k"})
        assert "32768 tokens" in ok.messages[0].content.text


def test_a_negative_or_zero_request_is_refused_not_answered():
    for bad in ({"context_length": 0}, {"batch_size": -1}, {"vram_gb": 0}):
        with pytest.raises(ValidationError):
            estimate_memory(model="llama3.1 8b", **bad)
