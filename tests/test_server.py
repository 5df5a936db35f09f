"""server.py through a real MCP client, in memory: tools, schemas, results, errors, resources and prompts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, MCPError

from agent_tools.estimate import EstimateRequest
from vramwise import server

REPO = Path(__file__).resolve().parent.parent
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
TOOLS = {"estimate_memory", "recommend_model", "compare_precision", "search_knowledge"}
HEAVY_MODULES = ("torch", "chromadb", "sentence_transformers", "transformers", "bm25s", "jieba", "langchain")


@pytest.fixture(scope="module")
def mcp_server():
    return server.build_server()


async def _tools(mcp_server) -> dict[str, Any]:
    async with Client(mcp_server) as client:
        return {t.name: t for t in (await client.list_tools()).tools}


async def _call(mcp_server, tool: str, arguments: dict[str, Any]):
    async with Client(mcp_server) as client:
        return await client.call_tool(tool, arguments)


# ----------------------------------------------------------------------------------------------- tools


@pytest.mark.anyio
async def test_the_four_tools_are_listed_with_titles_and_read_only_annotations(mcp_server):
    tools = await _tools(mcp_server)
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.title and len(tool.description) > 200
        hints = tool.annotations
        assert (hints.read_only_hint, hints.idempotent_hint) == (True, True)
        assert (hints.open_world_hint, hints.destructive_hint) == (False, False)


@pytest.mark.anyio
async def test_descriptions_tell_the_units_and_give_a_worked_example(mcp_server):
    for name, tool in (await _tools(mcp_server)).items():
        assert "Example:" in tool.description, name
        assert "{" in tool.description.split("Example:", 1)[1], name
    estimate = (await _tools(mcp_server))["estimate_memory"].description
    assert "10^9" in estimate and "2^30" in estimate and "1073741824" in estimate


@pytest.mark.anyio
async def test_estimate_schema_is_the_request_model_flattened(mcp_server):
    schema = (await _tools(mcp_server))["estimate_memory"].input_schema
    expected = set(EstimateRequest.model_fields) - server.ESTIMATE_INTERNAL_FIELDS
    assert set(schema["properties"]) == expected
    assert "$defs" not in schema and "$ref" not in json.dumps(schema)  # flat: no nested request object
    assert schema["additionalProperties"] is False
    context = schema["properties"]["context_length"]
    assert context["type"] == "integer" and context["exclusiveMinimum"] == 0
    assert context["description"] == EstimateRequest.model_fields["context_length"].description
    assert set(schema["properties"]["mode"]["enum"]) == {"inference", "full_finetune", "lora", "qlora"}


@pytest.mark.anyio
async def test_the_arguments_a_model_needs_most_are_described(mcp_server):
    key_arguments = {
        "estimate_memory": ("model", "config", "params_b", "precision", "context_length", "batch_size", "gpu"),
        "recommend_model": ("gpu", "vram_gb", "system_ram_gb", "context_length"),
        "compare_precision": ("model", "precisions", "gpu"),
        "search_knowledge": ("query", "k", "lang"),
    }
    tools = await _tools(mcp_server)
    for name, arguments in key_arguments.items():
        properties = tools[name].input_schema["properties"]
        assert all(properties[a].get("description") for a in arguments), name


@pytest.mark.anyio
async def test_every_tool_schema_is_flat_and_closed(mcp_server):
    for name, tool in (await _tools(mcp_server)).items():
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False, name
        assert "$defs" not in schema, name


@pytest.mark.anyio
async def test_calculator_tools_publish_their_result_model_as_output_schema(mcp_server):
    tools = await _tools(mcp_server)
    properties = tools["estimate_memory"].output_schema["properties"]
    assert {"breakdown", "total_bytes", "total_gb", "total_gib", "fit", "speed", "sources"} <= set(properties)
    assert "candidates" in tools["recommend_model"].output_schema["properties"]
    assert "rows" in tools["compare_precision"].output_schema["properties"]


@pytest.mark.anyio
async def test_llama_8b_bf16_at_8k_has_a_one_gib_kv_cache(mcp_server):
    arguments = {"model": LLAMA_8B, "precision": "bf16", "context_length": 8192}
    result = await _call(mcp_server, "estimate_memory", arguments)
    assert not result.is_error
    data = result.structured_content
    # 32 layers x 8 KV heads x 128 dims x 2 (K,V) x 2 bytes = 131072 bytes/token; x 8192 tokens = 2^30 bytes
    assert data["kv_cache_bytes_per_token"] == 131072
    assert data["breakdown"]["kv_cache_bytes"] == 1073741824
    assert data["total_bytes"] == sum(data["breakdown"].values())
    assert json.loads(result.content[0].text) == data  # the text block carries the same JSON


@pytest.mark.anyio
async def test_estimate_with_a_gpu_reports_the_fit(mcp_server):
    args = {"model": LLAMA_8B, "precision": "bf16", "context_length": 8192, "gpu": "RTX 4090"}
    fit = (await _call(mcp_server, "estimate_memory", args)).structured_content["fit"]
    assert fit["fits"] is True
    assert fit["headroom_bytes"] == fit["usable_bytes"] - fit["required_bytes"]


@pytest.mark.anyio
async def test_recommend_and_compare_return_structured_results(mcp_server):
    recommended = await _call(mcp_server, "recommend_model", {"gpu": "RTX 4090", "task": "code"})
    assert not recommended.is_error and recommended.structured_content["candidates"]
    compared = await _call(
        mcp_server, "compare_precision", {"model": "Qwen/Qwen2.5-14B-Instruct", "precisions": ["bf16", "q4_k_m"]}
    )
    rows = {row["precision"]: row for row in compared.structured_content["rows"]}
    assert rows["q4_k_m"]["weights_bytes"] < rows["bf16"]["weights_bytes"]


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"model": LLAMA_8B, "gpu": "rtx4080 supr"}, ["rtx4080 supr", "did you mean", "RTX 4080 SUPER"]),
        ({"model": "llama 3.1 8bx"}, ["llama 3.1 8bx", "did you mean", "vramwise://catalog/models"]),
        ({"model": LLAMA_8B, "precision": "q4_k_x"}, ["q4_k_x", "q4_k_m"]),
        ({"model": LLAMA_8B, "context_length": -5}, ["context_length", "greater than 0", "-5"]),
        ({"model": LLAMA_8B, "context_length": "lots"}, ["context_length", "valid integer", "lots"]),
        ({"model": LLAMA_8B, "mode": "pretrain"}, ["mode", "'inference'", "'qlora'", "pretrain"]),
        ({"model": LLAMA_8B, "contxt_length": 8192}, ["contxt_length", "Extra inputs are not permitted"]),
        ({"model": LLAMA_8B, "params_b": 8}, ["give exactly one of model", "got model, params_b"]),
        ({}, ["give exactly one of model"]),
    ],
)
async def test_bad_input_is_an_error_result_naming_the_value_and_the_fix(mcp_server, arguments, expected):
    result = await _call(mcp_server, "estimate_memory", arguments)
    assert result.is_error and result.structured_content is None
    text = result.content[0].text
    assert all(part in text for part in expected), text


@pytest.mark.anyio
async def test_a_megabyte_of_garbage_gets_a_short_error(mcp_server):
    result = await _call(mcp_server, "estimate_memory", {"model": LLAMA_8B, "gpu": "x" * 1_000_000})
    assert result.is_error and len(result.content[0].text) < 3000


@pytest.mark.anyio
async def test_search_rejects_bad_arguments_before_loading_anything(mcp_server):
    result = await _call(mcp_server, "search_knowledge", {"query": "kv cache", "k": 0})
    assert result.is_error and result.content[0].text == (
        "invalid arguments: k: Input should be greater than or equal to 1 (got 0)"
    )
    result = await _call(mcp_server, "search_knowledge", {"query": "kv cache", "lang": "fr"})
    assert result.is_error and "'fr'" in result.content[0].text
    # a JSON-encoded "null" string is not silently "not given" (the SDK decodes JSON strings for list/dict args)
    result = await _call(mcp_server, "search_knowledge", {"query": "kv cache", "lang": "null"})
    assert result.is_error and "lang" in result.content[0].text and "'null'" in result.content[0].text
    result = await _call(mcp_server, "estimate_memory", {"model": LLAMA_8B, "gpu": "null"})
    assert result.is_error and "'null'" in result.content[0].text


@pytest.mark.anyio
async def test_an_unknown_tool_is_an_error_result_and_the_server_keeps_serving(mcp_server):
    async with Client(mcp_server) as client:
        unknown = await client.call_tool("estimate_vram", {})
        assert unknown.is_error and "Unknown tool" in unknown.content[0].text
        again = await client.call_tool("estimate_memory", {"model": LLAMA_8B})
        assert not again.is_error


def test_domain_errors_point_to_the_mcp_resource_instead_of_the_cli():
    from agent_tools.errors import unknown_name

    error = unknown_name("GPU", "RTX 9999", ["NVIDIA GeForce RTX 4090"], "run `vramwise gpus` to list them")
    message = server.domain_error_message(error)
    assert "vramwise://catalog/gpus" in message and "`vramwise gpus`" not in message


# ------------------------------------------------------------------------------------------- resources


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["models", "gpus", "formats"])
async def test_catalog_resources_are_json_lists(mcp_server, kind):
    async with Client(mcp_server) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert f"vramwise://catalog/{kind}" in listed
        contents = (await client.read_resource(f"vramwise://catalog/{kind}")).contents[0]
    assert contents.mime_type == "application/json"
    rows = json.loads(contents.text)
    assert rows and all("id" in row for row in rows)


@pytest.mark.anyio
async def test_the_gpu_catalog_gives_exact_bytes(mcp_server):
    async with Client(mcp_server) as client:
        rows = json.loads((await client.read_resource("vramwise://catalog/gpus")).contents[0].text)
    rtx_4090 = next(row for row in rows if row["name"] == "NVIDIA GeForce RTX 4090")
    assert rtx_4090["memory_bytes"] == 25757220864  # 24564 MiB as the driver reports it


@pytest.mark.anyio
async def test_notes_are_readable_by_id_and_language(mcp_server):
    async with Client(mcp_server) as client:
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert templates == {"vramwise://notes/{note_id}", "vramwise://notes/{note_id}/{lang}"}
        english = (await client.read_resource("vramwise://notes/kv-cache")).contents[0]
        chinese = (await client.read_resource("vramwise://notes/kv-cache/zh")).contents[0]
        cited = (await client.read_resource("vramwise://notes/note:kv-cache")).contents[0]
        index = json.loads((await client.read_resource("vramwise://notes")).contents[0].text)
    assert english.mime_type == "text/markdown"
    assert english.text.startswith("---\nid: kv-cache\nlang: en\n")
    assert "lang: zh" in chinese.text.split("---", 2)[1]
    assert cited.text == english.text  # results cite notes as 'note:<id>'
    assert {"id": "kv-cache", "langs": ["en", "zh"]}.items() <= next(n for n in index if n["id"] == "kv-cache").items()


@pytest.mark.anyio
@pytest.mark.parametrize(
    "uri",
    ["vramwise://notes/no-such-note", "vramwise://notes/kv-cache/fr", "vramwise://notes/..%2F..%2Fpyproject"],
)
async def test_unknown_notes_are_resource_not_found(mcp_server, uri):
    async with Client(mcp_server) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource(uri)
    assert caught.value.error.code == -32602  # invalid params: not found (SEP-2164), not an internal error


@pytest.mark.anyio
async def test_an_unknown_note_lists_the_known_ones(mcp_server):
    async with Client(mcp_server) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource("vramwise://notes/kv-cach")
    assert "kv-cache" in caught.value.error.message


# --------------------------------------------------------------------------------------------- prompts


@pytest.mark.anyio
async def test_prompts_are_listed_with_described_arguments(mcp_server):
    async with Client(mcp_server) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {"size_a_deployment", "which_model_fits"}
    arguments = {a.name: a for a in prompts["size_a_deployment"].arguments}
    assert arguments["model"].required and arguments["gpu"].required and not arguments["context_length"].required
    assert all(a.description for p in prompts.values() for a in p.arguments)


@pytest.mark.anyio
async def test_size_a_deployment_prompt_names_the_tool_and_the_arguments(mcp_server):
    async with Client(mcp_server) as client:
        prompt = await client.get_prompt(
            "size_a_deployment", {"model": "Qwen/Qwen2.5-14B-Instruct", "gpu": "RTX 4090", "context_length": "32768"}
        )
        fits = await client.get_prompt("which_model_fits", {"gpu": "RTX 3060 12GB"})
    text = prompt.messages[0].content.text
    assert "estimate_memory" in text and "context_length=32768" in text and "'RTX 4090'" in text
    assert "recommend_model" in fits.messages[0].content.text


# ----------------------------------------------------------------------------------------- start-up cost


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_agent_tools_imports_neither_mcp_nor_chromadb():
    loaded = _python(
        "import sys, agent_tools, agent_tools.listing\n"
        "print(','.join(m for m in ('mcp', 'chromadb', 'torch', 'langchain') if m in sys.modules))"
    )
    assert loaded == ""


def test_serving_calculator_calls_and_notes_never_imports_the_knowledge_stack():
    code = f"""
import asyncio, sys
from mcp import Client
from vramwise import server

async def main():
    async with Client(server.build_server()) as client:
        result = await client.call_tool("estimate_memory", {{"model": "{LLAMA_8B}", "gpu": "RTX 4090"}})
        assert not result.is_error
        await client.call_tool("search_knowledge", {{"query": "", "k": 3}})  # invalid: answered without loading
        await client.read_resource("vramwise://catalog/models")
        await client.read_resource("vramwise://notes/kv-cache")

asyncio.run(main())
print(",".join(m for m in {HEAVY_MODULES!r} if m in sys.modules))
"""
    assert _python(code) == ""


# ------------------------------------------------------------------------------------------------- CLI


def test_binding_a_public_address_without_a_token_is_refused(monkeypatch, capsys):
    monkeypatch.delenv(server.TOKEN_ENV, raising=False)
    assert server.main(["--http", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert server.TOKEN_ENV in capsys.readouterr().err


def test_http_options_without_http_are_an_error(capsys):
    with pytest.raises(SystemExit):
        server.main(["--port", "9000"])
    assert "only apply with --http" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("10.0.0.5", False)],
)
def test_loopback_hosts_are_recognised(host, loopback):
    assert server.is_loopback(host) is loopback


def test_dns_rebinding_protection_allows_only_the_bound_host_and_localhost():
    settings = server.transport_security("10.0.0.5", ["mcp.example.com"])
    assert settings.enable_dns_rebinding_protection
    assert {"10.0.0.5:*", "localhost:*", "mcp.example.com", "mcp.example.com:*"} <= set(settings.allowed_hosts)
    assert "https://mcp.example.com" in settings.allowed_origins
    assert not any("evil" in h or h.startswith("0.0.0.0") for h in settings.allowed_hosts)


# ------------------------------------------------------------------------------------------------ docs


@pytest.mark.anyio
async def test_docs_name_every_tool_resource_prompt_and_option(mcp_server):
    docs = (REPO / "docs" / "mcp.md").read_text(encoding="utf-8")
    async with Client(mcp_server) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        names += [str(r.uri) for r in (await client.list_resources()).resources]
        names += [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        names += [p.name for p in (await client.list_prompts()).prompts]
    options = ["--http", "--host", "--port", "--stateless", "--allow-host", server.TOKEN_ENV, server.HEALTH_PATH]
    missing = [name for name in names + options if name not in docs]
    assert not missing, f"docs/mcp.md does not mention {missing}"
