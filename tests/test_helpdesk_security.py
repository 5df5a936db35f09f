"""The help desk's front door over a real `vramwise serve` process: Host/Origin and the token on every route, the JSON
content type, body limits answered before the body is read, slow clients dropped, a rate limit, security headers."""

from __future__ import annotations

import base64
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import free_port, wait_for_http

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
# A token with non-ASCII characters: clients send its UTF-8 bytes, the server compares bytes.
TOKEN = "tökén-秘密-7f3a9c"
TOKEN_BYTES = TOKEN.encode()
ROUTES = [
    ("GET", "/"),
    ("GET", "/static/app.js"),
    ("GET", "/static/app.css"),
    ("GET", "/api/notes/kv-cache"),
    ("POST", "/api/ask"),
    ("POST", "/mcp"),
]
ASK_BODY = b'{"question": "llama 3.1 8b at 8k context on a 4090"}'
MCP_BODY = (
    b'{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", '
    b'"capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}'
)


@contextmanager
def serving(tmp_path: Path, *args: str, **env: str) -> Iterator[int]:
    port = free_port()
    log = (tmp_path / f"helpdesk-{port}.log").open("w")
    full_env = {k: v for k, v in os.environ.items() if k not in ("VRAMWISE_TOKEN", "VRAMWISE_CHAT_MODEL")}
    full_env.update(VRAMWISE_DATA_DIR=str(tmp_path / "data"), VRAMWISE_CHAT_BASE_URL="", **env)
    process = subprocess.Popen(
        [sys.executable, "-m", "vramwise.cli", "serve", "--port", str(port), *args],
        cwd=REPO,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with serving(tmp_path_factory.mktemp("token"), VRAMWISE_TOKEN=TOKEN) as port:
        yield port


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with serving(tmp_path_factory.mktemp("open")) as port:
        yield port


def request(
    port: int, method: str, path: str, headers: dict[str, bytes | str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with headers sent as given (bytes stay bytes: a UTF-8 token goes out unchanged)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = {k.lower() for k in (headers or {})}
    conn.putrequest(method, path, skip_host="host" in sent, skip_accept_encoding=True)
    defaults: dict[str, bytes | str] = {}
    if method == "POST" and "content-type" not in sent:
        defaults["Content-Type"] = "application/json"
    if path == "/mcp" and "accept" not in sent:
        defaults["Accept"] = "application/json, text/event-stream"
    for name, value in {**defaults, **(headers or {})}.items():
        conn.putheader(name, value)
    if body is None and method == "POST":
        body = MCP_BODY if path == "/mcp" else ASK_BODY
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def bearer(token: bytes = TOKEN_BYTES) -> dict[str, bytes | str]:
    return {"Authorization": b"Bearer " + token}


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_the_token_and_takes_it_as_utf8_bytes(token_server: int, method: str, path: str) -> None:
    status, headers, _ = request(token_server, method, path)
    assert status == 401 and "www-authenticate" in headers
    assert request(token_server, method, path, bearer(b"wrong-token"))[0] == 401
    assert request(token_server, method, path, bearer(TOKEN_BYTES[:-1]))[0] == 401
    # the token's Latin-1 reading (what a str-based comparison would see) is not the token
    assert request(token_server, method, path, bearer(TOKEN.encode("utf-8").decode("latin-1").encode()))[0] == 401
    status, _, body = request(token_server, method, path, bearer())
    assert status == 200, body[:300]


def test_a_browser_opens_the_page_with_basic_auth_and_the_token_as_password(token_server: int) -> None:
    _, headers, _ = request(token_server, "GET", "/")
    assert headers["www-authenticate"].startswith("Basic ")
    basic = {"Authorization": b"Basic " + base64.b64encode(b"anyone:" + TOKEN_BYTES)}
    assert request(token_server, "GET", "/", basic)[0] == 200
    assert request(token_server, "POST", "/api/ask", basic)[0] == 200
    wrong = {"Authorization": b"Basic " + base64.b64encode(b"anyone:nope")}
    assert request(token_server, "GET", "/", wrong)[0] == 401
    assert request(token_server, "GET", "/healthz")[0] == 200  # probes carry no token


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_foreign_host_or_origin(open_server: int, method: str, path: str) -> None:
    assert request(open_server, method, path, {"Host": "evil.example"})[0] == 421
    assert request(open_server, method, path, {"Host": f"evil.example:{open_server}"})[0] == 421
    assert request(open_server, method, path, {"Origin": "http://evil.example"})[0] == 403
    assert request(open_server, method, path, {"Origin": f"http://127.0.0.1.evil.example:{open_server}"})[0] == 403
    status, _, body = request(open_server, method, path, {"Origin": f"http://localhost:{open_server}"})
    assert status == 200, body[:300]


def test_every_response_carries_csp_frame_and_nosniff_headers(open_server: int) -> None:
    for method, path in [*ROUTES, ("GET", "/nowhere")]:
        for extra in ({}, {"Host": "evil.example"}):
            _, headers, _ = request(open_server, method, path, extra)
            csp = headers.get("content-security-policy", "")
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert headers.get("x-frame-options") == "DENY", (method, path)
            assert headers.get("x-content-type-options") == "nosniff", (method, path)


def test_ask_requires_a_json_content_type(open_server: int) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        status, _, body = request(open_server, "POST", "/api/ask", {"Content-Type": content_type})
        assert status == 415 and b"application/json" in body
    assert request(open_server, "POST", "/api/ask", {"Content-Type": "application/json; charset=utf-8"})[0] == 200


def test_bad_ask_bodies_get_one_clear_line(open_server: int) -> None:
    cases = {
        b"not json": "JSON",
        b"[1, 2]": "object",
        b'{"question": ""}': "question",
        b'{"question": "' + b"x" * 2001 + b'"}': "2000",
        b'{"question": "hi", "session_id": "../etc"}': "session_id",
        b'{"question": "hi", "sesion_id": "abcdefgh"}': "accepted: question, session_id",
        b"\xff\xfe": "JSON",
    }
    for body, expected in cases.items():
        status, _, answer = request(open_server, "POST", "/api/ask", body=body)
        assert status == 400 and expected in answer.decode(), (body[:40], answer)


def test_ask_echoes_the_session_id(open_server: int) -> None:
    body = b'{"question": "llama 3.1 8b on a 4090", "session_id": "tab-0123456789abcdef"}'
    status, _, answer = request(open_server, "POST", "/api/ask", body=body)
    assert status == 200 and b'"session_id":"tab-0123456789abcdef"' in answer


def _raw(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def _read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1") else 0


def test_an_oversized_body_is_refused_before_it_is_sent(open_server: int) -> None:
    for path in ("/api/ask", "/mcp", "/"):
        sock = _raw(open_server)
        method = "GET" if path == "/" else "POST"
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Accept: application/json, text/event-stream\r\nContent-Length: {100 * 1024 * 1024}\r\n\r\n"
        )
        sock.sendall(head.encode())  # not one body byte follows
        started = time.monotonic()
        assert _read_status(sock) == 413, path
        assert time.monotonic() - started < 2
        sock.close()


def test_a_chunked_body_is_capped_as_it_streams(open_server: int) -> None:
    sock = _raw(open_server)
    sock.sendall(
        b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 16384
    status = 0
    try:
        for _ in range(64):  # 1 MiB offered; the limit is 64 KiB
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    except OSError:  # the server answered and closed while we were still sending
        pass
    status = _read_status(sock)
    assert status == 413
    sock.close()


def test_slow_clients_are_dropped_within_seconds_while_others_are_served(open_server: int) -> None:
    # 60 connections that trickle their request head, 20 that stall halfway through a body
    trickling = [_raw(open_server) for _ in range(60)]
    for sock in trickling:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    stalled = [_raw(open_server) for _ in range(20)]
    for sock in stalled:
        sock.sendall(
            b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 200\r\n\r\n{"question": '
        )
    started = time.monotonic()
    closed_at: dict[int, float] = {}
    statuses: dict[int, int] = {}

    def watch(index: int, sock: socket.socket, trickle: bool) -> None:
        sock.settimeout(0.5)
        data = b""
        while time.monotonic() - started < 20:
            if trickle:
                try:
                    sock.sendall(b"X")  # one header byte at a time, as slowloris does
                except OSError:
                    break
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        closed_at[index] = time.monotonic() - started
        if data.startswith(b"HTTP/1.1"):
            statuses[index] = int(data.split(b" ", 2)[1])

    threads = [
        threading.Thread(target=watch, args=(i, s, i < len(trickling))) for i, s in enumerate(trickling + stalled)
    ]
    for thread in threads:
        thread.start()
    # meanwhile a colleague still gets answers
    assert request(open_server, "GET", "/healthz")[0] == 200
    assert request(open_server, "GET", "/")[0] == 200
    for thread in threads:
        thread.join(30)
    assert len(closed_at) == 80
    assert max(closed_at.values()) < 8, sorted(closed_at.values())[-5:]
    assert all(statuses.get(i) == 408 for i in range(60, 80)), statuses
    for sock in trickling + stalled:
        sock.close()


def test_ask_is_rate_limited_per_client(tmp_path: Path) -> None:
    with serving(tmp_path, "--ask-rate", "4") as port:  # a burst of 2, then one question every 15 s
        statuses = [request(port, "POST", "/api/ask")[0] for _ in range(3)]
        assert statuses == [200, 200, 429], statuses
        status, headers, body = request(port, "POST", "/api/ask")
        assert status == 429 and 1 <= int(headers["retry-after"]) <= 15 and b"try again" in body
        assert request(port, "GET", "/")[0] == 200  # only /api/ask is limited
        # a refused request is refused before its body is read or the assistant runs
        assert request(port, "POST", "/api/ask", body=b"not json")[0] == 429


def test_an_llm_answerer_gets_a_rate_limit_by_default() -> None:
    """With a chat model configured (here: an endpoint nobody listens on; nothing is called) the limit is on."""
    pytest.importorskip("langchain_openai")
    from helpdesk.app import LLM_ASK_RATE, build_app, default_answerer

    env = {"VRAMWISE_CHAT_MODEL": "some-model", "VRAMWISE_CHAT_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        _, uses_llm = default_answerer()
        assert uses_llm
        app = build_app()
        assert app.ask_rate is not None and app.ask_rate.per_minute == LLM_ASK_RATE.per_minute
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert build_app().ask_rate is None  # offline answers cost nothing: no limit unless --ask-rate asks for one
