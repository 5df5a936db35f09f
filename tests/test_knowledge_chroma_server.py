"""The knowledge base against a real `chroma run` server process, reached with HttpClient."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.ingest import ingest
from knowledge.search import search_store
from knowledge.store import KnowledgeStore, open_store

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "notes"


def _chroma_cli() -> str | None:
    beside_python = Path(sys.executable).parent / "chroma"
    return str(beside_python) if beside_python.is_file() else shutil.which("chroma")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `chroma run` server on a free loopback port, stopped after the module."""
    cli = _chroma_cli()
    if cli is None:
        pytest.skip("the chroma CLI is not installed next to this Python")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("wb")
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    process = subprocess.Popen(
        [cli, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"chroma run did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(autouse=True, scope="module")
def onnx_tripwire():
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    def refuse(self, *args, **kwargs):
        raise AssertionError("Chroma's default ONNX embedding function was used")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ONNXMiniLM_L6_V2, "_download_model_if_not_exists", refuse)
        yield


@pytest.fixture(scope="module")
def server_store(chroma_url: str) -> KnowledgeStore:
    store = open_store(url=chroma_url)
    report = ingest([FIXTURES], store, progress=False)
    assert report.files_ingested == 6
    return store


def test_ingest_over_http_is_idempotent(server_store: KnowledgeStore, chroma_url: str):
    assert server_store.location == chroma_url
    again = ingest([FIXTURES], server_store, progress=False)
    assert (again.files_unchanged, again.chunks_added, again.chunks_removed) == (6, 0, 0)


def test_search_over_http_in_both_languages(server_store: KnowledgeStore):
    english = search_store(server_store, "how much memory does the RTX 4090 really have", k=2)
    assert english.passages[0].note_id == "gpu-tiers"
    chinese = search_store(server_store, "量化到四位以后困惑度会变差吗", k=2)
    assert chinese.passages[0].note_id == "quantization-basics"
    assert chinese.passages[0].lang == "zh"


def test_env_var_points_the_default_store_at_the_server(
    server_store: KnowledgeStore, chroma_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("VRAMWISE_CHROMA_URL", chroma_url)
    assert open_store() is server_store


def test_cli_search_with_chroma_url(server_store: KnowledgeStore, chroma_url: str, capsys: pytest.CaptureFixture[str]):
    from knowledge.cli import main

    assert main(["search", "grouped-query attention", "-k", "1", "--chroma-url", chroma_url, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["passages"][0]["note_id"] == "kv-cache-basics"
