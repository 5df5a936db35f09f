"""vramwise as an MCP server: the calculator and the knowledge base as tools, the catalogs and notes as resources.

This module only translates between MCP and the typed functions in `agent_tools` and `knowledge`:
`build_server()` registers them, `main(argv)` picks the transport (stdio by default, `--http` for streamable HTTP).
"""

from __future__ import annotations

import argparse
import hmac
import inspect
import ipaddress
import json
import logging
import os
import re
import sys
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, get_args

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from agent_tools import listing
from agent_tools.errors import VramwiseError, describe_validation_error
from agent_tools.ranking import Task
from agent_tools.units import parse_tokens
from vramwise.tools import ESTIMATE_INTERNAL_FIELDS, MAX_QUERY_CHARS, TOOLS, ToolSpec  # noqa: F401  (re-exported)

SERVER_NAME = "vramwise"
TOKEN_ENV = "VRAMWISE_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
MAX_ERROR_CHARS = 2000  # a 1 MB bad value must not come back as a 1 MB error message


READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False, destructive_hint=False)

NOTE_LANGS = ("en", "zh")
_NOTE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")

INSTRUCTIONS = """\
vramwise answers GPU-memory questions about open LLMs with exact, sourced numbers.
- estimate_memory: one model (name, config.json or parameter count) -> bytes for weights, KV cache, activations,
  overhead (and training states), whether it fits a GPU, the largest context/batch that fits, decode speed.
- recommend_model: a GPU (or memory size) and a task -> ranked models and formats that fit, with reasons.
- compare_precision: one model in several formats (bf16, fp8, int8, q4_k_m, ...) -> size, fit, speed, quality cost.
- search_knowledge: explanations (KV cache, GB vs GiB, quantization quality, MoE) to quote, in English or Chinese.
Units: every *_bytes field is bytes; GB = 10^9 bytes, GiB = 2^30 bytes (nvidia-smi's "MiB" and most "24 GB" cards
are binary). Catalogs: resources vramwise://catalog/models, vramwise://catalog/gpus, vramwise://catalog/formats.
Notes: vramwise://notes/{note_id} and vramwise://notes/{note_id}/{lang}; results cite them as 'note:<id>'.
"""

# ------------------------------------------------------------------------------------------- errors


def _clip(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} ...[{len(text) - limit} characters cut]... {text[-half:]}"


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}...{text[-12:]} ({len(text)} chars)"


_CLI_LIST_HINT = re.compile(r"run `vramwise (models|gpus|formats)` to list them")


def domain_error_message(error: VramwiseError) -> str:
    """The calculator's message (bad value, closest matches), with MCP resources in place of CLI commands."""
    message = _CLI_LIST_HINT.sub(r"the list is the resource vramwise://catalog/\1", str(error))
    accepted = [str(a) for a in error.accepted]
    if accepted and len(accepted) <= 12 and not any(a in message for a in accepted[:3]):
        message += f"; accepted: {', '.join(accepted)}"
    return _clip(message)


def validation_error_message(error: ValidationError) -> str:
    """One line naming each bad argument, what is wrong (pydantic names the accepted values) and what was given."""
    return _clip("invalid arguments: " + describe_validation_error(error))


# ----------------------------------------------------------------------------------- flat tool schemas


class _StrictArguments(BaseModel):
    """Base of the argument models: unknown arguments are an error the model can read, not silently dropped."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, strict=True)


def _flat_parameter(name: str, field: FieldInfo) -> inspect.Parameter:
    """A keyword parameter with the request field's type, constraints, description and default."""
    extra = {"description": field.description} if field.description else {}
    annotation = Annotated[(field.annotation, *field.metadata, Field(**extra))]  # type: ignore[valid-type]
    default = field.get_default(call_default_factory=True) if not field.is_required() else inspect.Parameter.empty
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def flat_tool(spec: ToolSpec) -> Tool:
    """An MCP tool whose top-level arguments are the spec's request fields (minus its hidden ones).

    The request model stays the one source of truth for names, types, bounds and descriptions; the result model
    is the output schema. Every failure becomes a ToolError whose message says what went wrong.
    """
    fields = {name: f for name, f in spec.request_model.model_fields.items() if name not in spec.hidden_fields}
    result_type: Any = spec.result_model or CallToolResult

    def call(**arguments: Any) -> Any:
        try:
            result = spec.run(arguments)
        except VramwiseError as e:
            raise ToolError(domain_error_message(e)) from e
        except ValidationError as e:  # the request model's own checks, e.g. "exactly one of model, config, params_b"
            raise ToolError(validation_error_message(e)) from e
        except ValueError as e:  # argument checks of the knowledge stack
            raise ToolError(_clip(str(e))) from e
        except Exception as e:  # a store that is down, a broken install: say what failed, never a bare error
            raise ToolError(_clip(f"{spec.name} failed: {type(e).__name__}: {e}")) from e
        if spec.result_model is None:
            payload = result.model_dump(mode="json")
            return CallToolResult(
                content=[TextContent(type="text", text=json.dumps(payload, ensure_ascii=False))],
                structured_content=payload,
            )
        return result

    call.__name__ = spec.name
    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [_flat_parameter(name, f) for name, f in fields.items()], return_annotation=result_type
    )
    annotations = READ_ONLY if spec.read_only else None
    tool = Tool.from_function(
        call, name=spec.name, title=spec.title, description=spec.description, annotations=annotations
    )
    return _forbid_unknown_arguments(tool)


class _ReadableTool(Tool):
    """A tool whose argument errors read like the calculator's: one line naming each bad argument and its value.

    The SDK would otherwise answer a schema violation with pydantic's multi-line dump.
    """

    async def run(self, arguments: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().run(arguments, *args, **kwargs)
        except ToolError as e:
            # The SDK raises argument-schema violations straight from pydantic; our own errors arrive as ToolErrors.
            if isinstance(e.__cause__, ValidationError):
                raise ToolError(validation_error_message(e.__cause__)) from e.__cause__
            raise


class _NoNullStrings(FuncMetadata):
    """The SDK decodes JSON-encoded string arguments (clients that send `"[1, 2]"` for a list); a decoded string
    "null" would silently become "not given", so it stays a string and fails validation with its value named."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        parsed = super().pre_parse_json(data)
        return {k: data[k] if v is None and isinstance(data[k], str) else v for k, v in parsed.items()}


def _forbid_unknown_arguments(tool: Tool) -> Tool:
    # The SDK's argument models ignore unknown keys; a misspelt `contxt_length` would then silently use the default.
    base = tool.fn_metadata.arg_model
    strict = type(base.__name__, (base, _StrictArguments), {"__module__": __name__})
    tool.fn_metadata = _NoNullStrings.model_construct(**dict(tool.fn_metadata))
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)
    return _ReadableTool.model_construct(**{name: getattr(tool, name) for name in Tool.model_fields})


# ------------------------------------------------------------------------------------------ resources


def _json(rows: list[Any]) -> str:
    return TypeAdapter(list[Any]).dump_json(rows, indent=1).decode()


def catalog_models() -> str:
    """Every catalog model: id, parameters, layers, max context, KV bytes per token, bf16/q4_k_m weight bytes."""
    return _json(listing.list_model_rows(include_legacy=True))


def catalog_gpus() -> str:
    """Every catalog GPU: memory in bytes (and GiB), usable bytes, bandwidth in GB/s, FP16 TFLOPS, aliases."""
    return _json(listing.list_gpu_rows())


def catalog_formats() -> str:
    """Every weight format: id, kind, nominal bits per weight, runtimes that load it, aliases."""
    return _json(listing.list_format_rows())


def _notes_dir() -> Any:
    from knowledge.paths import SHIPPED_NOTES_DIR  # a path constant only: no retrieval stack

    return SHIPPED_NOTES_DIR


def _note_ids() -> list[str]:
    from knowledge.paths import shipped_note_ids

    return shipped_note_ids()


def read_note(note_id: str, lang: str = "en") -> str:
    """A note's Markdown with its front matter (title, tags, sources)."""
    note_id = note_id.strip().removeprefix("note:")
    if lang not in NOTE_LANGS:
        raise ResourceNotFoundError(f"unknown note language {lang!r}; accepted: {', '.join(NOTE_LANGS)}")
    path = _notes_dir() / f"{note_id}.{lang}.md"
    if not _NOTE_ID.match(note_id) or not path.is_file():
        known = _note_ids()
        raise ResourceNotFoundError(f"unknown note {_short_repr(note_id)}; accepted: {', '.join(known)}")
    return path.read_text(encoding="utf-8")


def read_english_note(note_id: str) -> str:
    """A note's English Markdown with its front matter (title, tags, sources)."""
    return read_note(note_id, "en")


def note_index() -> str:
    """Every shipped note: id, languages and title, from the notes' front matter."""
    rows = []
    for note_id in _note_ids():
        langs = [lang for lang in NOTE_LANGS if (_notes_dir() / f"{note_id}.{lang}.md").is_file()]
        title = _front_matter_value(read_note(note_id, langs[0]), "title") if langs else ""
        rows.append({"id": note_id, "langs": langs, "title": title, "uri": f"vramwise://notes/{note_id}"})
    return json.dumps(rows, ensure_ascii=False, indent=1)


def _front_matter_value(markdown: str, key: str) -> str:
    match = re.search(rf"^{key}:\s*(.+)$", markdown.split("\n---", 1)[0], flags=re.MULTILINE)
    return match.group(1).strip().strip('"') if match else ""


# -------------------------------------------------------------------------------------------- prompts


def _invalid_prompt_argument(message: str) -> Exception:
    from mcp import MCPError
    from mcp.types import INVALID_PARAMS

    return MCPError(code=INVALID_PARAMS, message=_clip(message))


def size_a_deployment(
    model: Annotated[str, Field(description="model name or HF id, e.g. 'Qwen/Qwen2.5-14B-Instruct'")],
    gpu: Annotated[str, Field(description="GPU name, e.g. 'RTX 4090'")],
    context_length: Annotated[str, Field(description="tokens per sequence, e.g. 32768 or 32k")] = "8192",
) -> list[UserMessage]:
    """Ask the assistant to size a model on a GPU with estimate_memory and explain the breakdown."""
    # Prompt arguments arrive as strings (MCP spec); a bad one is the client's error, named, not a server error.
    try:
        tokens = parse_tokens(str(context_length))
    except ValueError as e:
        raise _invalid_prompt_argument(f"context_length: {e}; use e.g. 8192, 32k") from e
    context_length = str(tokens)
    return [
        UserMessage(
            f"How much GPU memory does {model} need on a {gpu} at {context_length} tokens of context?\n"
            f"Call estimate_memory with model={model!r}, gpu={gpu!r}, context_length={context_length}. "
            "Report the total and each term of the breakdown in GB (10^9 bytes) and GiB (2^30 bytes), whether it "
            "fits and with how much headroom, the largest context that fits, and the decode speed. If it does not "
            "fit, call compare_precision for smaller formats. Quote the assumptions and cite the sources."
        )
    ]


def which_model_fits(
    gpu: Annotated[str, Field(description="GPU name, e.g. 'RTX 4090', 'M3 Max 64GB'")],
    task: Annotated[str, Field(description="chat, code, reasoning, rag, long_context, multilingual or edge")] = "chat",
) -> list[UserMessage]:
    """Ask the assistant which models fit a GPU for a task, using recommend_model."""
    tasks = get_args(Task)
    if task not in tasks:
        raise _invalid_prompt_argument(f"task: unknown task {_short_repr(task)}; accepted: {', '.join(tasks)}")
    return [
        UserMessage(
            f"Which open LLM should I run on a {gpu} for {task}?\n"
            f"Call recommend_model with gpu={gpu!r} and task={task!r}. Present the top candidates with their "
            "format, memory in GB, headroom, decode speed and the benchmark behind each rank; mention the near "
            "misses in `rejected`. Use search_knowledge to explain any trade-off you mention, and cite sources."
        )
    ]


# --------------------------------------------------------------------------------------------- server


def _version() -> str:
    try:
        return version("vramwise")
    except PackageNotFoundError:
        return "0.0.0"


def build_server() -> MCPServer:
    """The vramwise MCP server with its tools, resources and prompts registered (no transport started)."""
    tools = [flat_tool(spec) for spec in TOOLS]
    server = MCPServer(
        SERVER_NAME,
        title="vramwise: GPU memory for open LLMs",
        version=_version(),
        instructions=INSTRUCTIONS,
        tools=tools,
        log_level="WARNING",  # domain errors are the model's to read, not the operator's
    )
    for kind, reader in (("models", catalog_models), ("gpus", catalog_gpus), ("formats", catalog_formats)):
        server.resource(
            f"vramwise://catalog/{kind}", name=f"catalog-{kind}", title=f"{kind} catalog", mime_type="application/json"
        )(reader)
    server.resource("vramwise://notes", name="notes", title="Knowledge-base notes", mime_type="application/json")(
        note_index
    )
    server.resource("vramwise://notes/{note_id}", name="note", title="Note (English)", mime_type="text/markdown")(
        read_english_note
    )
    server.resource(
        "vramwise://notes/{note_id}/{lang}", name="note-lang", title="Note in a language", mime_type="text/markdown"
    )(read_note)
    server.prompt(title="Size a deployment")(size_a_deployment)
    server.prompt(title="Which model fits my GPU?")(which_model_fits)
    return server


# ----------------------------------------------------------------------------------------------- HTTP


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def transport_security(host: str, extra_hosts: Iterable[str] = ()) -> Any:
    """DNS-rebinding protection: Host and Origin must name the bound host, localhost or an allowed name."""
    from mcp.server.transport_security import TransportSecuritySettings

    names = ["127.0.0.1", "localhost", "[::1]"]
    bound = f"[{host.strip('[]')}]" if ":" in host.strip("[]") else host
    for name in (bound, *extra_hosts):
        if name not in names and name not in ("0.0.0.0", "[::]"):
            names.append(name)
    hosts = [f"{n}:*" for n in names] + names
    origins = [f"{scheme}://{n}{port}" for n in names for scheme in ("http", "https") for port in (":*", "")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


class BearerTokenMiddleware:
    """ASGI middleware: every HTTP request but the health check must carry `Authorization: Bearer <token>`."""

    def __init__(self, app: Any, token: str | None) -> None:
        self.app = app
        self.token = token.encode() if token else None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan events start the session manager
            await self.app(scope, receive, send)
            return
        from starlette.responses import JSONResponse, PlainTextResponse

        if scope["path"] == HEALTH_PATH:
            await PlainTextResponse("ok")(scope, receive, send)
            return
        if self.token is not None:
            headers = dict(scope["headers"])
            scheme, _, credential = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip().encode(), self.token):
                body = {"error": "unauthorized", "detail": "send the header 'Authorization: Bearer <VRAMWISE_TOKEN>'"}
                response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": 'Bearer realm="vramwise"'})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_app(
    server: MCPServer,
    *,
    host: str = DEFAULT_HOST,
    token: str | None = None,
    stateless: bool = False,
    allowed_hosts: Iterable[str] = (),
) -> Any:
    """The streamable-HTTP ASGI app at /mcp, behind the token check; stateless answers plain JSON."""
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        json_response=stateless,
        stateless_http=stateless,
        transport_security=transport_security(host, allowed_hosts),
        host=host,
    )
    return BearerTokenMiddleware(app, token)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="vramwise-mcp",
        description="vramwise MCP server: stdio by default, streamable HTTP with --http.",
        epilog=f"Binding a non-loopback host needs a bearer token in ${TOKEN_ENV}; when set, it is always checked.",
    )
    parser.add_argument("--http", action="store_true", help=f"serve streamable HTTP at http://HOST:PORT{MCP_PATH}")
    parser.add_argument("--host", default=None, help=f"interface to bind (default {DEFAULT_HOST}; --http only)")
    parser.add_argument("--port", type=int, default=None, help=f"TCP port (default {DEFAULT_PORT}; --http only)")
    parser.add_argument(
        "--stateless",
        action="store_true",
        help="no sessions, JSON responses: any replica behind a load balancer can answer any request (--http only)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another Host/Origin name clients use, e.g. the load balancer's DNS name (repeatable; --http only)",
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    http_only = [f"--{n.replace('_', '-')}" for n in ("host", "port") if getattr(args, n) is not None]
    http_only += ["--stateless"] * args.stateless + ["--allow-host"] * bool(args.allow_host)
    if http_only and not args.http:
        parser.error(f"{', '.join(http_only)} only apply with --http")
    return args


async def serve_stdio(server: MCPServer) -> None:
    """MCP over stdio, as MCPServer.run() does, except that a line that is not a JSON-RPC message gets an error reply
    (-32700 parse error, -32600 invalid request; id null) instead of silence, as the HTTP transport answers."""
    import anyio
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage
    from mcp.types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError

    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        send, receive = anyio.create_memory_object_stream[Any](0)

        async def forward_valid_messages() -> None:
            async with send:
                async for item in read_stream:
                    if not isinstance(item, Exception):
                        await send.send(item)
                        continue
                    kinds = {e.get("type") for e in item.errors()} if isinstance(item, ValidationError) else set()
                    code, what = (
                        (PARSE_ERROR, "Parse error")
                        if "json_invalid" in kinds
                        else (INVALID_REQUEST, "Invalid request: not a JSON-RPC 2.0 message")
                    )
                    error = JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=code, message=what))
                    await write_stream.send(SessionMessage(error))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(forward_valid_messages)
            await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())


def main(argv: list[str] | None = None) -> int:
    """Run the server: stdio by default, streamable HTTP with --http. Returns the exit status."""
    args = _parse_args(argv)
    server = build_server()
    # Libraries loaded by the first search (bm25s) set their own loggers to DEBUG; the handlers decide what is shown.
    for handler in logging.getLogger().handlers:
        handler.setLevel(args.log_level.upper())
    if not args.http:
        import anyio

        anyio.run(serve_stdio, server)
        return 0

    host = args.host or DEFAULT_HOST
    port = DEFAULT_PORT if args.port is None else args.port
    token = os.environ.get(TOKEN_ENV, "").strip() or None
    if not is_loopback(host) and token is None:
        print(
            f"refusing to bind {host}: a non-loopback address needs a bearer token. Set {TOKEN_ENV} to a long random "
            f"secret (e.g. `export {TOKEN_ENV}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')`) "
            f"and send it as 'Authorization: Bearer <token>', or bind {DEFAULT_HOST}.",
            file=sys.stderr,
        )
        return 2
    import uvicorn

    app = http_app(server, host=host, token=token, stateless=args.stateless, allowed_hosts=args.allow_host)
    mode = "stateless, JSON responses" if args.stateless else "sessions"
    auth = "bearer token required" if token else "no token (loopback only)"
    print(f"vramwise MCP server at http://{host}:{port}{MCP_PATH} ({mode}; {auth})", file=sys.stderr, flush=True)
    if host in ("0.0.0.0", "::", "[::]") and not args.allow_host:
        print(
            "note: Host headers other than localhost are refused (DNS-rebinding protection); name the addresses "
            "clients use with --allow-host",
            file=sys.stderr,
            flush=True,
        )
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level=args.log_level, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
