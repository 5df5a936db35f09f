"""The help desk's front door: one ASGI guard for every route, and an HTTP protocol that drops slow clients.

`HelpDeskGuard` applies, in order and before any body byte is read: DNS-rebinding protection (the very Host/Origin
rules of the MCP endpoint, from `vramwise.server.transport_security`), the bearer token (compared as bytes, so
non-ASCII tokens work), the JSON content type on `/api/ask`, a per-client rate limit on `/api/ask`, and the
declared body size. Then it reads the body itself, capped and under a deadline, and replays it to the app.
Every response gets a Content-Security-Policy, frame and nosniff headers.

`SlowClientH11Protocol` is uvicorn's h11 protocol with a deadline on the request head: uvicorn's keep-alive timer
only starts after a first response, so a client that trickles header bytes would otherwise hold a connection forever.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HEALTH_PATH = "/healthz"
ASK_PATH = "/api/ask"
MCP_PATH = "/mcp"

REQUEST_HEAD_TIMEOUT_S = 5.0  # the whole request line and headers, from connection (or last response) on
BODY_TIMEOUT_S = 5.0  # the whole body, from the end of the headers on
MAX_HEADER_BYTES = 16 * 1024  # h11's limit on an incomplete request head
MAX_ASK_BODY_BYTES = 64 * 1024  # a 2,000-character question in JSON is at most ~12 KB even fully \u-escaped
MAX_MCP_BODY_BYTES = 4 * 1024 * 1024  # the MCP SDK's own limit on /mcp
MAX_OTHER_BODY_BYTES = 1024  # GET routes carry no body
MAX_RATE_CLIENTS = 4096  # rate-limit buckets kept; the least recently seen client is forgotten first

# The page loads its own script and style only; answers are fetched from this origin; nobody may frame it.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def token_bytes(token: str) -> bytes:
    """The token as the bytes a client sends: UTF-8, with undecodable environment bytes given back unchanged."""
    return token.encode("utf-8", "surrogateescape")


def presented_token(authorization: bytes) -> bytes | None:
    """The secret in an Authorization header, as raw bytes: `Bearer <token>` or `Basic base64(<any user>:<token>)`.

    Basic lets a browser open the page itself (it prompts for the token as the password and then sends it with
    every request of the page); API clients and the page's own fetches send Bearer.
    """
    scheme, _, credential = authorization.strip().partition(b" ")
    credential = credential.strip()
    if scheme.lower() == b"bearer" and credential:
        return credential
    if scheme.lower() == b"basic" and credential:
        try:
            decoded = base64.b64decode(credential, validate=True)
        except (binascii.Error, ValueError):
            return None
        _, colon, password = decoded.partition(b":")
        return password if colon else None
    return None


def token_matches(authorization: bytes, expected: bytes) -> bool:
    presented = presented_token(authorization)
    # compare_digest on bytes: constant time, and any byte sequence (a non-ASCII token's UTF-8) compares exactly
    return presented is not None and hmac.compare_digest(presented, expected)


@dataclass
class RateLimit:
    """A token bucket per client address: `burst` requests at once, refilled at `per_minute`."""

    per_minute: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def retry_after(self, client: str) -> float:
        """0 when the request may go ahead (and is counted); else seconds until it may."""
        now = self.clock()
        level, last = self._buckets.pop(client, (float(self.burst), now))
        level = min(float(self.burst), level + (now - last) * self.per_minute / 60.0)
        wait = 0.0
        if level >= 1.0:
            level -= 1.0
        else:
            wait = (1.0 - level) * 60.0 / self.per_minute
        self._buckets[client] = (level, now)
        while len(self._buckets) > MAX_RATE_CLIENTS:
            self._buckets.popitem(last=False)
        return wait


async def _respond(send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    import json

    payload = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class HelpDeskGuard:
    """ASGI middleware in front of every help-desk route (see the module docstring)."""

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        allowed_hosts: Iterable[str] = (),
        token: str | None = None,
        ask_rate: RateLimit | None = None,
        body_timeout_s: float = BODY_TIMEOUT_S,
    ) -> None:
        from mcp.server.transport_security import TransportSecurityMiddleware

        from vramwise.server import transport_security

        self.app = app
        # The same settings object the MCP endpoint is built with: one definition of which Host/Origin pass.
        self.origin_check = TransportSecurityMiddleware(transport_security(host, allowed_hosts))
        self.token = token_bytes(token) if token else None
        self.ask_rate = ask_rate
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan: the MCP session manager starts here
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        refusal = await self._refusal(scope)
        if refusal is not None:
            status, body, headers = refusal
            await _respond(send_with_headers, status, body, headers)
            return
        if scope["path"] == HEALTH_PATH:
            await self.app(scope, receive, send_with_headers)
            return
        replay = await self._read_body(scope, receive, send_with_headers)
        if replay is not None:
            await self.app(scope, replay, send_with_headers)

    async def _refusal(self, scope: Scope) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]] | None:
        from starlette.requests import Request

        path, method = scope["path"], scope["method"]
        if path == HEALTH_PATH:  # load balancers probe by address; it says nothing but "ok"
            return None
        invalid = await self.origin_check.validate_request(Request(scope), is_post=False)
        if invalid is not None:
            detail = bytes(invalid.body).decode(errors="replace")
            return invalid.status_code, {"error": f"{detail}: this server answers only its own host names"}, []
        headers = dict(scope["headers"])
        if self.token is not None and not token_matches(headers.get(b"authorization", b""), self.token):
            # A browser opening the page gets a Basic prompt (the token is the password); APIs are told Bearer.
            challenge = (
                b'Basic realm="vramwise help desk", charset="UTF-8"'
                if method == "GET" and path == "/"
                else (b'Bearer realm="vramwise"')
            )
            message = "send the header 'Authorization: Bearer <VRAMWISE_TOKEN>'"
            return 401, {"error": "unauthorized", "detail": message}, [(b"www-authenticate", challenge)]
        if path == ASK_PATH and method == "POST":
            content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if content_type != b"application/json":
                shown = content_type.decode("latin-1")[:80] or "none"
                return 415, {"error": f"Content-Type must be application/json (got {shown})"}, []
            if self.ask_rate is not None:
                client = (scope.get("client") or ("unknown", 0))[0]
                wait = self.ask_rate.retry_after(client)
                if wait > 0:
                    seconds = math.ceil(wait)
                    message = f"too many questions from {client}: try again in {seconds} s"
                    return 429, {"error": message}, [(b"retry-after", str(seconds).encode())]
        limit = self._body_limit(path)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return 400, {"error": "Content-Length is not a number"}, [(b"connection", b"close")]
            if size > limit:
                return (
                    413,
                    {"error": f"request body of {size} bytes is over the {limit}-byte limit"},
                    [(b"connection", b"close")],
                )
        return None

    @staticmethod
    def _body_limit(path: str) -> int:
        if path == ASK_PATH:
            return MAX_ASK_BODY_BYTES
        if path == MCP_PATH or path.startswith(MCP_PATH + "/"):
            return MAX_MCP_BODY_BYTES
        return MAX_OTHER_BODY_BYTES

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """The whole body, capped and within the deadline, as a replaying `receive`; None once it has refused."""
        limit = self._body_limit(scope["path"])
        chunks: list[bytes] = []
        size = 0
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(remaining, 0.001))
            except TimeoutError:
                await _respond(
                    send,
                    408,
                    {"error": f"the request body did not arrive within {self.body_timeout_s:g} s"},
                    [(b"connection", b"close")],
                )
                return None
            if message["type"] != "http.request":  # the client went away
                return None
            size += len(message.get("body", b""))
            if size > limit:  # chunked uploads declare no length: count what arrives
                await _respond(
                    send, 413, {"error": f"request body over the {limit}-byte limit"}, [(b"connection", b"close")]
                )
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        return replay


class SlowClientH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head is not complete within a deadline."""

    request_head_timeout_s = REQUEST_HEAD_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.request_head_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a complete request head arrived
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm_head_timer()  # the next request on this keep-alive connection gets the same deadline
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


def uvicorn_limits() -> dict[str, Any]:
    """Keyword arguments for uvicorn.run/Config that bound what one client can hold."""
    return {
        "http": SlowClientH11Protocol,
        "ws": "none",
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "limit_concurrency": 512,
    }
