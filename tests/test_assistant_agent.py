"""assistant.agent: the typed tools as LangChain tools, the MCP loader, and create_agent driven by a scripted
chat model through real tool calls (no LLM, deterministic)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import Field

from agent_tools.advice import compare_precision, recommend_model
from agent_tools.estimate import estimate_memory
from assistant.agent import (
    SYSTEM_PROMPT,
    build_agent,
    chat_model_settings,
    configured_chat_model,
    mcp_tools,
    tool_result,
    vramwise_tools,
)

REPO = Path(__file__).parent.parent
ESTIMATE_ARGS = {"model": "llama3.1:8b", "precision": "q4_k_m", "gpu": "RTX 4090", "context_length": 8192}


class ScriptedChatModel(FakeMessagesListChatModel):
    """Replays `responses` in order and records what the agent sent it. create_agent needs bind_tools."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def tool_call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


def scripted(final: str = "Llama 3.1 8B at Q4_K_M fits (note:kv-cache).") -> ScriptedChatModel:
    return ScriptedChatModel(
        responses=[
            tool_call("estimate_memory", {**ESTIMATE_ARGS, "runtime": "llama.cpp"}, "call_1"),
            tool_call("estimate_memory", {"model": "llama 9b"}, "call_2"),  # unknown name -> error to read
            AIMessage(content=final),
        ],
    )


def _run(model: ScriptedChatModel) -> list[BaseMessage]:
    agent = build_agent(model)
    return agent.invoke({"messages": [HumanMessage("will llama 3.1 8b fit on my 4090 at q4 with 8k context?")]})[
        "messages"
    ]


def test_the_four_tools_take_the_request_fields_as_arguments():
    tools = {t.name: t for t in vramwise_tools()}
    assert set(tools) == {"estimate_memory", "recommend_model", "compare_precision", "search_knowledge"}
    estimate = tools["estimate_memory"].args
    assert {"model", "precision", "gpu", "num_gpus", "context_length", "runtime", "mode"} <= set(estimate)
    assert "gguf" not in estimate and "full_prompt_logits" not in estimate
    assert {"gpu", "vram_gb", "task", "concurrent_users"} <= set(tools["recommend_model"].args)
    assert {"model", "precisions", "gpu"} <= set(tools["compare_precision"].args)
    assert set(tools["search_knowledge"].args) == {"query", "k", "lang"}
    assert "search_knowledge" not in {t.name for t in vramwise_tools(include_search=False)}


def test_a_tool_returns_the_result_models_json():
    tools = {t.name: t for t in vramwise_tools(include_search=False)}
    got = json.loads(tools["estimate_memory"].invoke(ESTIMATE_ARGS))
    assert got == json.loads(estimate_memory(**ESTIMATE_ARGS).model_dump_json())
    got = json.loads(tools["recommend_model"].invoke({"gpu": "RTX 4090", "top_k": 2}))
    assert got == json.loads(recommend_model(gpu="RTX 4090", top_k=2).model_dump_json())
    got = json.loads(tools["compare_precision"].invoke({"model": "qwen2.5:7b", "precisions": ["bf16", "q4_k_m"]}))
    assert (
        got["rows"][1]["total_bytes"]
        == compare_precision(model="qwen2.5:7b", precisions=["bf16", "q4_k_m"]).rows[1].total_bytes
    )


def test_the_scripted_agent_calls_the_real_calculator_and_reads_its_errors():
    messages = _run(scripted())
    kinds = [type(m).__name__ for m in messages]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage", "ToolMessage", "AIMessage"]
    ok, error = messages[2], messages[4]
    assert isinstance(ok, ToolMessage) and ok.status == "success" and ok.tool_call_id == "call_1"
    # the ToolMessage carries the calculator's own JSON: 32 layers x 8 KV heads x 128 x 2 (K,V) x 2 bytes
    expected = estimate_memory(**ESTIMATE_ARGS, runtime="llama.cpp")
    assert tool_result(ok) == json.loads(expected.model_dump_json())
    assert tool_result(ok)["kv_cache_bytes_per_token"] == 131072
    assert tool_result(ok)["runtime"] == "llama.cpp"  # not clobbered by LangGraph's ToolRuntime injection
    assert isinstance(error, ToolMessage) and error.status == "error"
    assert "unknown model 'llama 9b'" in str(error.content)
    assert messages[-1].content == "Llama 3.1 8B at Q4_K_M fits (note:kv-cache)."


def test_the_model_gets_the_system_prompt_and_the_tool_results():
    model = scripted()
    _run(model)
    first, second = model.seen[0], model.seen[1]
    assert isinstance(first[0], SystemMessage) and first[0].content == SYSTEM_PROMPT
    assert "never" in SYSTEM_PROMPT.lower() and "note:<id>" in SYSTEM_PROMPT
    assert isinstance(second[-1], ToolMessage) and second[-1].tool_call_id == "call_1"


def test_the_agent_run_is_deterministic():
    def contents(messages: list[BaseMessage]) -> list[str]:
        return [str(m.content) for m in messages]

    assert contents(_run(scripted())) == contents(_run(scripted()))


def test_bad_arguments_come_back_as_an_error_the_model_can_fix():
    tools = {t.name: t for t in vramwise_tools(include_search=False)}
    message = tools["estimate_memory"].invoke(
        {"type": "tool_call", "name": "estimate_memory", "id": "c9", "args": {"model": "qwen2.5:7b", "bogus": 1}}
    )
    assert message.status == "error" and "bogus" in message.content and "Extra inputs" in message.content


# ------------------------------------------------------------------------------------------------- MCP


@pytest.mark.anyio
async def test_the_mcp_servers_tools_drive_the_same_agent_in_process():
    from vramwise import server

    async with mcp_tools(server.build_server()) as tools:
        assert {"estimate_memory", "recommend_model", "compare_precision", "search_knowledge"} <= {
            t.name for t in tools
        }
        agent = build_agent(scripted(), tools)
        out = await agent.ainvoke({"messages": [HumanMessage("will llama 3.1 8b fit on my 4090?")]})
    messages = out["messages"]
    assert [type(m).__name__ for m in messages][2:] == ["ToolMessage", "AIMessage", "ToolMessage", "AIMessage"]
    expected = estimate_memory(**ESTIMATE_ARGS, runtime="llama.cpp")
    assert tool_result(messages[2])["total_bytes"] == expected.total_bytes
    assert messages[4].status == "error" and "llama 9b" in str(messages[4].content)


@pytest.mark.slow
@pytest.mark.anyio
async def test_the_mcp_loader_spawns_server_py_over_stdio():
    if not (REPO / "server.py").exists():
        pytest.skip("server.py is not there yet")
    async with mcp_tools(REPO / "server.py") as tools:
        estimate = next(t for t in tools if t.name == "estimate_memory")
        message = await estimate.ainvoke(
            {"type": "tool_call", "name": "estimate_memory", "id": "s1", "args": ESTIMATE_ARGS}
        )
    assert tool_result(message)["total_bytes"] == estimate_memory(**ESTIMATE_ARGS).total_bytes


# ---------------------------------------------------------------------------------------------- config


def test_no_configuration_means_no_chat_model():
    assert chat_model_settings({}) is None
    assert configured_chat_model({}) is None


def test_a_provider_model_string_passes_through():
    assert chat_model_settings({"VRAMWISE_CHAT_MODEL": "openai:gpt-4o-mini"}) == {"model": "openai:gpt-4o-mini"}
    settings = chat_model_settings({"VRAMWISE_CHAT_MODEL": "anthropic:claude-x", "VRAMWISE_CHAT_API_KEY": "k"})
    assert settings == {"model": "anthropic:claude-x", "api_key": "k"}


def test_a_local_openai_compatible_server_is_reached_by_base_url():
    env = {"VRAMWISE_CHAT_MODEL": "qwen2.5:14b", "VRAMWISE_CHAT_BASE_URL": "http://127.0.0.1:11434/v1"}
    assert chat_model_settings(env) == {
        "model": "qwen2.5:14b",  # Ollama's ':' is part of the served name, not a provider prefix
        "base_url": "http://127.0.0.1:11434/v1",
        "api_key": "EMPTY",
        "model_provider": "openai",
    }


def test_a_base_url_without_a_model_name_is_an_error_that_says_what_to_set():
    with pytest.raises(ValueError, match="VRAMWISE_CHAT_MODEL"):
        chat_model_settings({"VRAMWISE_CHAT_BASE_URL": "http://127.0.0.1:8000/v1"})


def test_a_missing_provider_package_is_named():
    pytest.importorskip("langchain_core")
    try:
        import langchain_openai  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match=r"langchain-openai|langchain_openai"):
            configured_chat_model({"VRAMWISE_CHAT_MODEL": "openai:gpt-4o-mini"})
    else:
        pytest.skip("langchain-openai is installed")


def test_building_an_agent_without_a_model_says_how_to_configure_one(monkeypatch: pytest.MonkeyPatch):
    for name in ("VRAMWISE_CHAT_MODEL", "VRAMWISE_CHAT_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="VRAMWISE_CHAT_MODEL"):
        build_agent()
