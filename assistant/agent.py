"""LangChain adapters: the vramwise tools as StructuredTools (in-process), the MCP server's tools through
`langchain.mcp.MCPAdapter` (for agents that run elsewhere), the knowledge retriever, and an agent built with
`create_agent` whose system prompt makes the model quote calculator numbers and cite note ids.

The chat model comes from configuration (`configured_chat_model`), never from a hard-wired vendor:
  VRAMWISE_CHAT_MODEL     "openai:gpt-4o-mini", "anthropic:claude-...", or the served name with a base URL
  VRAMWISE_CHAT_BASE_URL  an OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server), e.g. http://127.0.0.1:11434/v1
  VRAMWISE_CHAT_API_KEY   the key for that endpoint or provider (local servers: any value)
  VRAMWISE_CHAT_PROVIDER  the LangChain provider when it cannot be read from the model string (default with a
                          base URL: openai, i.e. the OpenAI-compatible protocol)
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import ConfigDict, ValidationError, create_model

from agent_tools.errors import VramwiseError, describe_validation_error
from vramwise.tools import TOOLS, ToolSpec

MODEL_ENV = "VRAMWISE_CHAT_MODEL"
BASE_URL_ENV = "VRAMWISE_CHAT_BASE_URL"
API_KEY_ENV = "VRAMWISE_CHAT_API_KEY"
PROVIDER_ENV = "VRAMWISE_CHAT_PROVIDER"
MCP_URL_ENV = "VRAMWISE_MCP_URL"
SERVER_SCRIPT = Path(__file__).resolve().parent.parent / "server.py"

SYSTEM_PROMPT = """\
You are vramwise, a help desk for GPU-memory questions about open LLMs (will it fit, how much memory, which model
for my GPU, which precision, how many GPUs).

Rules:
1. Every number you state (bytes, GB, GiB, tokens, tokens/s, parameter counts, GPU counts, scores) must be copied
   from a tool result in this conversation. Never do your own arithmetic, unit conversion or estimate; when you
   need a figure you do not have, call a tool again with other arguments.
2. Sizing a named model (memory, fit on a GPU, longest context, speed, fine-tuning) -> estimate_memory.
   "What can I run on my GPU" -> recommend_model. "q4 or fp16", "14B int4 or 7B fp16" -> compare_precision.
   Explaining a term (KV cache, GB vs GiB, MoE, quantization) -> search_knowledge.
3. Units: *_bytes fields are bytes; GB = 10^9 bytes and GiB = 2^30 bytes. Use total_gb / total_gib or the
   verdict text as given, and never label a GiB figure as GB.
4. Cite the knowledge notes your answer rests on by id, written note:<id>: results list them in `sources`
   ("note:kv-cache"), and search_knowledge passages carry `note_id`.
5. If the model or the GPU is missing and the answer depends on it, ask for it instead of guessing
   (e.g. "Which GPU? e.g. RTX 4090, 2x3090, M3 Max 64GB").
6. If a tool returns an error, read it: it names the bad value and the accepted ones; correct the call once.
7. Answer in the language of the question (English or Chinese): the figures, one or two sentences of why, the
   note ids. Keep it short.
"""


# --------------------------------------------------------------------------------------------- in-process


def _args_schema(spec: ToolSpec) -> dict[str, Any]:
    """The request model's fields (minus the hidden ones) as a flat JSON schema; the request validates on call."""
    fields: dict[str, Any] = {
        k: (f.annotation, f) for k, f in spec.request_model.model_fields.items() if k not in spec.hidden_fields
    }
    model = create_model(
        f"{spec.name}_args", __config__=ConfigDict(extra="forbid"), __doc__=spec.request_model.__doc__, **fields
    )
    return model.model_json_schema()


def _as_json_tool(spec: ToolSpec) -> Callable[..., str]:
    def run(**kwargs: Any) -> str:
        try:
            return spec.run(kwargs).model_dump_json()
        except VramwiseError as e:
            raise ToolException(str(e)) from e
        except ValidationError as e:
            raise ToolException(describe_validation_error(e)) from e
        except ValueError as e:
            raise ToolException(str(e)) from e

    return run


def vramwise_tools(*, include_search: bool = True) -> list[BaseTool]:
    """The registry's tools (vramwise.tools.TOOLS) as LangChain StructuredTools, run in this process; each returns
    the result model's JSON. Bad input comes back to the model as an error ToolMessage naming the value and the
    accepted ones.
    """
    # The schema goes in as JSON Schema, not as the pydantic class: LangGraph's ToolNode injects its ToolRuntime
    # into any pydantic-declared parameter named `runtime`, which would clobber estimate_memory's `runtime`
    # ("vllm", "llama.cpp"). The request models still validate every call inside the tool.
    return [
        StructuredTool.from_function(
            func=_as_json_tool(spec),
            name=spec.name,
            description=spec.description,
            args_schema=_args_schema(spec),
            handle_tool_error=True,
        )
        for spec in TOOLS
        if include_search or spec.name != "search_knowledge"
    ]


def knowledge_retriever(**kwargs: Any) -> Any:
    """knowledge.langchain_retriever.VramwiseRetriever(**kwargs) (k=, lang=, store=), imported on use."""
    from knowledge.langchain_retriever import VramwiseRetriever

    return VramwiseRetriever(**kwargs)


# ------------------------------------------------------------------------------------------------- MCP


def _stdio_transport(script: Path) -> Any:
    from fastmcp.client.transports import PythonStdioTransport

    env = dict(os.environ)
    for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("ANONYMIZED_TELEMETRY", "False")):
        env.setdefault(key, value)
    return PythonStdioTransport(script_path=script, env=env, cwd=str(script.parent))


@asynccontextmanager
async def mcp_tools(target: Any = None) -> AsyncIterator[list[BaseTool]]:
    """The vramwise MCP server's tools as LangChain tools, over one connection kept open for the block.

    target: an http(s) URL of a running server (`python server.py --http`, e.g. http://127.0.0.1:8765/mcp), a
    Path to server.py (spawned over stdio with this interpreter), or an in-process MCPServer (tests). None: the
    URL in $VRAMWISE_MCP_URL, else this checkout's server.py over stdio. The tools are async-only: run the agent
    with `await agent.ainvoke(...)`.
    """
    from langchain_core._api import LangChainBetaWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LangChainBetaWarning)
        from langchain.mcp import MCPAdapter

    if target is None:
        target = os.environ.get(MCP_URL_ENV, "").strip() or SERVER_SCRIPT
    if isinstance(target, Path):
        target = _stdio_transport(target)
    async with MCPAdapter(target) as adapter:
        yield await adapter.list_tools()


# ------------------------------------------------------------------------------------------ chat model


def chat_model_settings(env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """Keyword arguments for `init_chat_model` from the VRAMWISE_CHAT_* variables; None when none is set."""
    env = os.environ if env is None else env
    model = env.get(MODEL_ENV, "").strip()
    base_url = env.get(BASE_URL_ENV, "").strip()
    api_key = env.get(API_KEY_ENV, "").strip()
    provider = env.get(PROVIDER_ENV, "").strip()
    if not model and not base_url:
        return None
    if not model:
        raise ValueError(
            f"{BASE_URL_ENV} is set but {MODEL_ENV} is not: set it to the model name the server serves, "
            "e.g. 'qwen2.5:14b' (Ollama) or 'Qwen/Qwen2.5-14B-Instruct' (vLLM)"
        )
    settings: dict[str, Any] = {"model": model}
    if base_url:
        # An OpenAI-compatible endpoint: the model string is the served name (it may contain ':', as Ollama's do).
        provider = provider or "openai"
        settings["model"] = model.removeprefix(f"{provider}:")
        settings["base_url"] = base_url
        settings["api_key"] = api_key or "EMPTY"  # local servers ignore the key but the client requires one
    elif api_key:
        settings["api_key"] = api_key
    if provider:
        settings["model_provider"] = provider
    return settings


def configured_chat_model(env: Mapping[str, str] | None = None) -> Any:
    """The chat model the environment configures (see the module docstring), or None when nothing is set.

    Raises ImportError naming the LangChain integration package to install (e.g. langchain-openai).
    """
    settings = chat_model_settings(env)
    if settings is None:
        return None
    from langchain.chat_models import init_chat_model

    return init_chat_model(**settings)


# ----------------------------------------------------------------------------------------------- agent


def build_agent(
    model: Any = None,
    tools: list[BaseTool] | None = None,
    *,
    system_prompt: str = SYSTEM_PROMPT,
    checkpointer: Any = None,
) -> Any:
    """A LangChain agent (create_agent) over the vramwise tools.

    model: a chat model or a "provider:model" string; None: configured_chat_model(). tools: default the in-process
    tools (vramwise_tools()); pass the list from `mcp_tools()` to go through the MCP server instead.
    """
    from langchain.agents import create_agent

    if model is None:
        model = configured_chat_model()
    if model is None:
        raise RuntimeError(
            f"no chat model configured: set {MODEL_ENV} (e.g. 'openai:gpt-4o-mini'), or {BASE_URL_ENV} and "
            f"{MODEL_ENV} for a local OpenAI-compatible server; without an LLM use `vramwise ask`"
        )
    return create_agent(model, vramwise_tools() if tools is None else tools, system_prompt=system_prompt,
                        checkpointer=checkpointer)  # fmt: skip


async def ask_agent(agent: Any, question: str, conversation: Any = None) -> tuple[str, list[Any]]:
    """The agent's reply to `question` and the messages of this turn (tool calls and results); with an
    assistant.conversation.Conversation, the earlier turns go with it (bounded history) and the conversation's
    state is updated, so follow-ups ("and at 32k context?") resolve."""
    history = list(conversation.history) if conversation is not None else []
    out = await agent.ainvoke({"messages": [*history, {"role": "user", "content": question}]})
    messages = list(out["messages"])
    reply = str(messages[-1].content)
    if conversation is not None:
        conversation.remember_exchange(question, reply)
    return reply, messages[len(history) :]


def tool_result(message: Any) -> dict[str, Any]:
    """The JSON result carried by a ToolMessage from either tool set (in-process text or MCP structured content)."""
    artifact = getattr(message, "artifact", None)
    structured = getattr(artifact, "structured_content", None)
    if structured is None and isinstance(artifact, Mapping):
        structured = artifact.get("structured_content")
    if isinstance(structured, Mapping):
        return dict(structured)
    content = message.content
    if isinstance(content, list):
        content = "".join(part.get("text", "") if isinstance(part, Mapping) else str(part) for part in content)
    return json.loads(content)


__all__ = [
    "SYSTEM_PROMPT",
    "ask_agent",
    "build_agent",
    "chat_model_settings",
    "configured_chat_model",
    "knowledge_retriever",
    "mcp_tools",
    "tool_result",
    "vramwise_tools",
]
