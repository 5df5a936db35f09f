"""server.py as a real process: over stdio as an IDE spawns it, over streamable HTTP (token, Host checks, stateless
replicas), and from LangChain's own MCP adapter."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from conftest import free_port
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parent.parent
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
ESTIMATE_ARGS = {"model": LLAMA_8B, "precision": "bf16", "context_length": 8192}
TOKEN = "test-token-7f3a9c"

pytestmark = pytest.mark.slow


def _server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "VRAMWISE_TOKEN"}
    env.update(
        VRAMWISE_DATA_DIR=str(tmp_path / "data"),  # a fresh knowledge store, never the user's
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        **extra,
    )
    return env


@contextmanager
def running_http_server(tmp_path: Path, *args: str, **env: str) -> Iterator[str]:
    """`python server.py --http --port <free> ARGS` until the block ends; yields the base URL once healthy."""
    port = free_port()
    log = (tmp_path / f"server-{port}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "server.py", "--http", "--port", str(port), *args],
        cwd=REPO,
        env=_server_env(tmp_path, **env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / f"server-{port}.log").read_text()
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the HTTP server did not come up within 30 s"
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Loopback, sessions, no token: how a local agent or help desk runs it."""
    with running_http_server(tmp_path_factory.mktemp("http")) as base:
        yield base


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Stateless with a bearer token: how a replica behind a load balancer runs it."""
    with running_http_server(tmp_path_factory.mktemp("guarded"), "--stateless", VRAMWISE_TOKEN=TOKEN) as base:
        yield base


def _post(base: str, body: dict, **headers: str) -> tuple[int, dict[str, str], bytes]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    default = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    connection.request("POST", "/mcp", body=json.dumps(body), headers={**default, **headers})
    response = connection.getresponse()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    connection.close()
    return result


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}


# ----------------------------------------------------------------------------------------------- stdio


@pytest.mark.anyio
async def test_an_ide_spawns_the_server_over_stdio_and_gets_structured_results(tmp_path):
    params = StdioServerParameters(command=sys.executable, args=["server.py"], cwd=str(REPO), env=_server_env(tmp_path))
    async with Client(params) as client:
        assert client.server_info.name == "vramwise"
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"estimate_memory", "search_knowledge"} <= tools
        result = await client.call_tool("estimate_memory", ESTIMATE_ARGS)
        assert result.structured_content["breakdown"]["kv_cache_bytes"] == 1073741824
        error = await client.call_tool("estimate_memory", {"model": LLAMA_8B, "context_length": -1})
        assert error.is_error
        again = await client.call_tool("estimate_memory", ESTIMATE_ARGS)  # still serving after the bad call
        assert not again.is_error


def test_the_first_answer_arrives_within_a_second_of_spawning(tmp_path):
    script = f"""
import asyncio, sys, time
import jsonschema  # the client validates results with it; its import is the client's cost, not the server's
from mcp import Client, StdioServerParameters

async def main():
    start = time.perf_counter()
    async with Client(StdioServerParameters(command=sys.executable, args=["server.py"])) as client:
        result = await client.call_tool("estimate_memory", {ESTIMATE_ARGS!r})
        elapsed = time.perf_counter() - start  # the answer is in; shutting the server down is not counted
        assert not result.is_error
    return elapsed

asyncio.run(main())  # warm the client once: an IDE's client is long-running, only the server is fresh
print(asyncio.run(main()))
"""
    timings = []
    for _ in range(5):  # best of five: another process on a 2-core box can stall one spawn
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env=_server_env(tmp_path), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        timings.append(round(float(done.stdout), 3))
        if timings[-1] < 1.0:
            return
    cores = os.cpu_count() or 1
    if os.getloadavg()[0] > cores:  # the machine is saturated by others: a wall-clock bound says nothing
        pytest.skip(f"load average {os.getloadavg()[0]:.1f} on {cores} cores; spawn-to-answer {timings} s")
    pytest.fail(f"spawn to first estimate_memory answer took {min(timings)} s at best (bound 1 s): {timings}")


def test_python_dash_m_server_prints_help():
    done = subprocess.run([sys.executable, "-m", "server", "--help"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and "--stateless" in done.stdout and "VRAMWISE_TOKEN" in done.stdout


# ------------------------------------------------------------------------------------------------ HTTP


@pytest.mark.anyio
async def test_a_client_calls_the_http_server(http_server):
    async with Client(f"{http_server}/mcp") as client:
        result = await client.call_tool("estimate_memory", {**ESTIMATE_ARGS, "gpu": "RTX 4090"})
        assert result.structured_content["fit"]["fits"] is True
        notes = await client.read_resource("vramwise://notes/gb-vs-gib")
        assert "GiB" in notes.contents[0].text


@pytest.fixture(scope="module")
def knowledge_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A data dir whose store holds the small fixture notes, so the server's first search only loads the query
    encoder (a fresh store would first embed every shipped note, ~30 s on two cores)."""
    tmp_path = tmp_path_factory.mktemp("knowledge")
    env = _server_env(tmp_path)
    # the shipped notes too (their vectors ship precomputed, ~1 s): a filled store answers hybrid from the first call
    for folder in ([str(REPO / "tests" / "fixtures" / "notes")], []):
        command = [sys.executable, "-m", "knowledge.cli", "ingest", *folder, "--json"]
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    return env


@pytest.mark.anyio
async def test_search_knowledge_answers_over_stdio_with_sources(knowledge_env):
    params = StdioServerParameters(command=sys.executable, args=["server.py"], cwd=str(REPO), env=knowledge_env)
    async with Client(params, read_timeout_seconds=120) as client:
        question = "how many bytes per token does the KV cache of Llama 3.1 8B take?"
        result = await client.call_tool("search_knowledge", {"query": question, "k": 3})
        assert not result.is_error, result.content[0].text
        assert result.structured_content["lang"] == "en"
        top = result.structured_content["passages"][0]
        # the fixture note and the shipped one both answer it; which ranks first is the ranking's business
        assert top["note_id"] in {"kv-cache-basics", "kv-cache"} and top["source"] and top["text"]
        chinese = await client.call_tool("search_knowledge", {"query": "KV 缓存每个 token 占多少字节", "k": 2})
        assert chinese.structured_content["lang"] == "zh"
        assert {p["lang"] for p in chinese.structured_content["passages"]} == {"zh"}
        empty = await client.call_tool("search_knowledge", {"query": "   "})
        assert empty.is_error and "non-empty" in empty.content[0].text


def test_a_foreign_host_header_is_refused(http_server):
    status, _, body = _post(http_server, INITIALIZE, Host="evil.example.com")
    assert status == 421 and b"Host" in body


def test_a_foreign_origin_is_refused(http_server):
    status, _, _ = _post(http_server, INITIALIZE, Origin="http://evil.example.com")
    assert status == 403


def test_requests_without_the_token_are_refused(guarded_server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        status, response_headers, _ = _post(guarded_server, INITIALIZE, **headers)
        assert status == 401, headers
        assert response_headers["www-authenticate"].startswith("Bearer")


def test_the_health_check_needs_no_token(guarded_server):
    with urllib.request.urlopen(f"{guarded_server}/healthz", timeout=5) as response:
        assert response.read() == b"ok"


def test_stateless_mode_answers_plain_json_without_a_session(guarded_server):
    status, headers, body = _post(guarded_server, INITIALIZE, Authorization=f"Bearer {TOKEN}")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert "mcp-session-id" not in headers  # any replica can take the next request
    assert json.loads(body)["result"]["serverInfo"]["name"] == "vramwise"


@pytest.mark.anyio
async def test_a_client_with_the_token_calls_the_stateless_server(guarded_server):
    http_client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    async with http_client, Client(streamable_http_client(f"{guarded_server}/mcp", http_client=http_client)) as client:
        result = await client.call_tool("estimate_memory", ESTIMATE_ARGS)
        assert result.structured_content["kv_cache_bytes_per_token"] == 131072


# ------------------------------------------------------------------------------------------- LangChain


@pytest.mark.anyio
async def test_langchain_loads_the_tools_over_one_session_and_invokes_them(http_server):
    from langchain_core._api import LangChainBetaWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LangChainBetaWarning)
        from langchain.mcp import MCPAdapter

    async with MCPAdapter(f"{http_server}/mcp") as adapter:
        tools = {tool.name: tool for tool in await adapter.list_tools()}
        assert {"estimate_memory", "recommend_model", "compare_precision", "search_knowledge"} <= set(tools)
        estimate = tools["estimate_memory"]
        assert "context_length" in estimate.args  # the flat schema reaches the LangChain tool
        call = {"type": "tool_call", "id": "call-1", "name": "estimate_memory", "args": ESTIMATE_ARGS}
        message = await estimate.ainvoke(call)
        assert message.status == "success"
        assert message.artifact["structured_content"]["breakdown"]["kv_cache_bytes"] == 1073741824
        bad = {**call, "id": "call-2", "args": {"model": LLAMA_8B, "gpu": "rtx4080 supr"}}
        error = await estimate.ainvoke(bad)
        assert error.status == "error" and "did you mean" in str(error.content)
