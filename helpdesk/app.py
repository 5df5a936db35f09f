"""Help-desk ASGI app: `/` chat page, `POST /api/ask` the assistant, `/api/notes/{id}` a shipped note, `/mcp` the MCP
server, `/healthz`; every route behind `helpdesk.security.HelpDeskGuard`.

The assistant is the LLM agent when a chat model is configured (VRAMWISE_CHAT_MODEL), else the offline one.
Only translation lives here; answers come from `assistant`, numbers from `agent_tools`.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from helpdesk.security import HelpDeskGuard, RateLimit

HERE = Path(__file__).parent
PAGE = HERE / "page.html"
STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
MAX_QUESTION_CHARS = 2000
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
NOTE_LANGS = ("en", "zh")
# With an LLM behind it every question costs the operator money: a colleague asks a few per minute at most.
LLM_ASK_RATE = RateLimit(per_minute=10, burst=5)

Answerer = Callable[[str, str | None], Awaitable[dict[str, Any]]]


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


def agent_tool_calls(messages: list[Any]) -> list[dict[str, Any]]:
    """The agent's tool calls in the offline Answer's shape ({tool, args, ok, error, result}), in call order."""
    from assistant.agent import tool_result

    results: dict[str, dict[str, Any]] = {}
    for message in messages:
        call_id = getattr(message, "tool_call_id", None)
        if call_id is None:
            continue
        status = getattr(message, "status", "success")
        try:
            results[call_id] = {"ok": status != "error", "result": tool_result(message)}
        except (ValueError, TypeError):  # an error text, not JSON
            results[call_id] = {"ok": False, "error": str(message.content)[:500]}
    calls = []
    for message in messages:
        for call in getattr(message, "tool_calls", None) or []:
            outcome = results.get(call.get("id", ""), {"ok": False, "error": "no result"})
            calls.append({"tool": call.get("name", ""), "args": call.get("args", {}), "error": None, **outcome})
    return calls


def default_answerer(sessions: Any = None) -> tuple[Answerer, bool]:
    """The LLM agent when a chat model is configured, else the offline assistant; and whether it is the LLM.
    `sessions` (assistant.conversation.Sessions) keeps each tab's conversation, bounded and expiring."""
    import functools

    offline: Answerer = functools.partial(offline_answerer, sessions=sessions)
    try:
        from assistant.agent import configured_chat_model
    except ImportError:
        return offline, False
    model = configured_chat_model()
    if model is None:
        return offline, False
    from assistant.agent import ask_agent, build_agent

    agent = build_agent(model)

    async def llm_answerer(question: str, session_id: str | None = None) -> dict[str, Any]:
        conversation = sessions.get(session_id) if session_id is not None and sessions is not None else None
        text, messages = await ask_agent(agent, question, conversation)
        return {"assistant": "llm", "text": text, "citations": [], "tool_calls": agent_tool_calls(messages)}

    return llm_answerer, True


def _attach_results(answer: dict[str, Any]) -> None:
    """Give every successful calculator call its result, for the page's bars, gauge and tables.

    Used as is when the answer carries them (`tool_calls[i].result`, or a `results` list beside `tool_calls`).
    Until the offline Answer does, the calculator calls are re-run here from their recorded `args` (the
    calculator is deterministic and answers in milliseconds); search calls are not re-run: citations cover them.
    """
    from vramwise.tools import CALCULATOR_TOOLS

    calculators = {spec.name: spec for spec in CALCULATOR_TOOLS}
    results = answer.get("results")
    for i, call in enumerate(answer.get("tool_calls") or []):
        if not isinstance(call, dict) or call.get("result") is not None:
            continue
        if isinstance(results, list) and i < len(results) and isinstance(results[i], dict):
            call["result"] = results[i]
        elif call.get("ok") and call.get("tool") in calculators:
            try:
                call["result"] = calculators[call["tool"]].run(dict(call.get("args") or {})).model_dump(mode="json")
            except Exception:  # the answer text stands on its own; a table that cannot be redrawn is left out
                call["result"] = None


def _bad_request(message: str) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=400)


def parse_ask_body(raw: bytes) -> tuple[str, str | None] | str:
    """(question, session_id) from an /api/ask body, or the one-line reason it is refused."""
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return 'the body must be JSON: {"question": "...", "session_id": "..."}'
    if not isinstance(body, Mapping):
        return 'the body must be a JSON object: {"question": "..."}'
    unknown = sorted(set(body) - {"question", "session_id"})
    if unknown:
        return f"unknown field {unknown[0]!r}; accepted: question, session_id"
    question = body.get("question")
    if not isinstance(question, str) or not question.strip():
        return "give a non-empty 'question' string"
    if len(question) > MAX_QUESTION_CHARS:
        return f"question of {len(question)} characters is longer than the {MAX_QUESTION_CHARS}-character limit"
    session_id = body.get("session_id")
    if session_id is not None and (not isinstance(session_id, str) or not SESSION_ID.match(session_id)):
        return "session_id must be 8-64 characters of A-Z, a-z, 0-9, '_' or '-'"
    return question.strip(), session_id


def build_app(
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    stateless: bool = False,
    allowed_hosts: tuple[str, ...] = (),
    answerer: Answerer | None = None,
    ask_rate: RateLimit | bool | None = True,
) -> Any:
    """The help desk. ask_rate: True picks LLM_ASK_RATE when the answerer is the LLM (none offline); None: no limit."""
    import anyio
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route

    from vramwise import server

    # token=None: the guard checks the token on every route, /mcp included, as bytes.
    mcp_app = server.http_app(
        server.build_server(), host=host, token=None, stateless=stateless, allowed_hosts=allowed_hosts
    )
    from assistant.conversation import Sessions

    uses_llm = False
    if answerer is None:
        answerer, uses_llm = default_answerer(Sessions())
    ask = answerer
    if ask_rate is True:
        ask_rate = RateLimit(LLM_ASK_RATE.per_minute, LLM_ASK_RATE.burst) if uses_llm else None
    elif ask_rate is False:
        ask_rate = None

    async def page(_: Request) -> Response:
        return FileResponse(PAGE, media_type="text/html; charset=utf-8", headers={"cache-control": "no-cache"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:  # a fixed list: nothing else on disk is reachable
            return JSONResponse({"error": f"no static file {name[:80]!r}"}, status_code=404)
        headers = {"cache-control": "no-cache"}
        return FileResponse(HERE / "static" / name, media_type=STATIC_FILES[name], headers=headers)

    async def note(request: Request) -> Response:
        from knowledge.paths import SHIPPED_NOTES_DIR, shipped_note_ids

        note_id = request.path_params["note_id"].removeprefix("note:")
        lang = request.query_params.get("lang", "en")
        known = shipped_note_ids()
        if note_id not in known:  # only a shipped note's id ever becomes a path
            return JSONResponse({"error": f"unknown note {note_id[:80]!r}"}, status_code=404)
        langs = [code for code in NOTE_LANGS if (SHIPPED_NOTES_DIR / f"{note_id}.{code}.md").is_file()]
        if lang not in langs:
            return JSONResponse(
                {"error": f"note {note_id!r} has no language {lang[:10]!r}; accepted: {', '.join(langs)}"},
                status_code=404,
            )
        markdown = (SHIPPED_NOTES_DIR / f"{note_id}.{lang}.md").read_text(encoding="utf-8")
        return JSONResponse({"id": note_id, "lang": lang, "langs": langs, "markdown": markdown})

    async def api_ask(request: Request) -> Response:
        parsed = parse_ask_body(await request.body())
        if isinstance(parsed, str):
            return _bad_request(parsed)
        question, session_id = parsed
        started = time.perf_counter()
        try:
            answer = await ask(question, session_id)
            await anyio.to_thread.run_sync(_attach_results, answer)
        except Exception as e:  # the help desk must keep answering other colleagues
            return JSONResponse({"error": f"the assistant failed: {type(e).__name__}: {e}"[:500]}, status_code=500)
        answer["session_id"] = session_id
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

    app = Starlette(
        routes=[
            Route("/", page, methods=["GET"]),
            Route("/static/{name}", static, methods=["GET"]),
            Route("/api/ask", api_ask, methods=["POST"]),
            Route("/api/notes/{note_id}", note, methods=["GET"]),
            Mount("/", app=mcp_app),  # /mcp and /healthz
        ],
        lifespan=lifespan,
    )
    return HelpDeskGuard(app, host=host, allowed_hosts=allowed_hosts, token=token, ask_rate=ask_rate)
