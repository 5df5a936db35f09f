"""Help-desk ASGI app: `/` chat page, `POST /api/ask` the assistant, `/mcp` the MCP server, `/healthz`.

The assistant is the LLM agent when a chat model is configured (VRAMWISE_CHAT_MODEL), else the offline one.
Only translation lives here; answers come from `assistant`, numbers from `agent_tools`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

PAGE = Path(__file__).with_name("page.html")
MAX_QUESTION_CHARS = 2000

Answerer = Callable[..., Awaitable[dict[str, Any]]]  # (question) or (question, session_id=...)


async def offline_answerer(question: str, session_id: str | None = None, sessions: Any = None) -> dict[str, Any]:
    import anyio

    from assistant.offline import answer

    if session_id is not None and sessions is not None:
        # one conversation per browser tab: follow-ups inherit what the tab sized before (assistant.conversation)
        conversation = sessions.get(session_id)
        result = await anyio.to_thread.run_sync(conversation.ask, question)
    else:
        result = await anyio.to_thread.run_sync(answer, question)
    return {"assistant": "offline", **result.model_dump(mode="json")}


def default_answerer(sessions: Any = None) -> Answerer:
    """The LLM agent when a chat model is configured, else the offline assistant; `sessions`
    (assistant.conversation.Sessions) keeps each tab's conversation, bounded and expiring."""
    import functools

    offline = functools.partial(offline_answerer, sessions=sessions)
    try:
        from assistant.agent import configured_chat_model
    except ImportError:
        return offline
    model = configured_chat_model()
    if model is None:
        return offline
    from assistant.agent import ask_agent, build_agent

    agent = build_agent(model)

    async def llm_answerer(question: str, session_id: str | None = None) -> dict[str, Any]:
        conversation = sessions.get(session_id) if session_id is not None and sessions is not None else None
        text = await ask_agent(agent, question, conversation)
        return {"assistant": "llm", "text": text, "citations": [], "tool_calls": []}

    return llm_answerer


def build_app(
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    stateless: bool = False,
    allowed_hosts: tuple[str, ...] = (),
    answerer: Answerer | None = None,
) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Mount, Route

    from vramwise import server

    mcp_app = server.http_app(
        server.build_server(), host=host, token=token, stateless=stateless, allowed_hosts=allowed_hosts
    )
    from assistant.conversation import Sessions

    sessions = Sessions()
    ask = answerer or default_answerer(sessions)

    async def page(_: Request) -> HTMLResponse:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    async def api_ask(request: Request) -> JSONResponse:
        if token is not None and not _authorized(request, token):
            return JSONResponse({"error": "send the header 'Authorization: Bearer <VRAMWISE_TOKEN>'"}, status_code=401)
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            return JSONResponse({"error": 'the body must be JSON: {"question": "..."}'}, status_code=400)
        question = body.get("question") if isinstance(body, dict) else None
        if not isinstance(question, str) or not question.strip():
            return JSONResponse({"error": "give a non-empty 'question' string"}, status_code=400)
        if len(question) > MAX_QUESTION_CHARS:
            return JSONResponse({"error": f"question longer than {MAX_QUESTION_CHARS} characters"}, status_code=400)
        session_id = body.get("session_id")
        if session_id is not None and (not isinstance(session_id, str) or not 0 < len(session_id) <= 100):
            return JSONResponse({"error": "'session_id' must be a string of 1-100 characters"}, status_code=400)
        started = time.perf_counter()
        try:
            answer = await (ask(question.strip(), session_id=session_id) if session_id else ask(question.strip()))
        except Exception as e:  # the help desk must keep answering other colleagues
            return JSONResponse({"error": f"the assistant failed: {type(e).__name__}: {e}"}, status_code=500)
        answer["elapsed_ms"] = round(1000 * (time.perf_counter() - started), 1)
        return JSONResponse(answer)

    # The MCP app owns the session manager's lifespan; run it for the whole help desk.
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette):  # type: ignore[no-untyped-def]
        inner = getattr(getattr(mcp_app, "app", None), "router", None)
        if inner is not None:
            async with inner.lifespan_context(mcp_app.app):
                yield
        else:
            yield

    return Starlette(
        routes=[
            Route("/", page),
            Route("/api/ask", api_ask, methods=["POST"]),
            Mount("/", app=mcp_app),  # /mcp and /healthz
        ],
        lifespan=lifespan,
    )


def _authorized(request: Any, token: str) -> bool:
    import hmac

    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credential.strip().encode(), token.encode())
