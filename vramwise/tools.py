"""The one registry of vramwise's tools: name, title, description, request and result models, and the call.

The MCP server, the LangChain tools, the eval runner and the tests iterate `TOOLS`; nothing else lists the tools
or describes them. Each description is written once, here, for a model that reads it to decide what to call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent_tools.advice import CompareRequest, CompareResult, RecommendRequest, RecommendResult
from agent_tools.estimate import EstimateRequest, EstimateResult
from agent_tools.older_stacks import OlderStackFlags

# Real questions are a few hundred characters; retrieval time grows with query length (a 2,400-character query
# took 6 s on two cores), so longer input is refused before it reaches the knowledge stack.
MAX_QUERY_CHARS = 1000


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    request_model: type[BaseModel]
    call: Callable[[Any], BaseModel]  # takes a validated request_model instance
    result_model: type[BaseModel] | None  # the output schema; None: a free-form JSON object
    hidden_fields: frozenset[str] = frozenset()  # request fields adapters do not publish
    read_only: bool = True

    def run(self, arguments: dict[str, Any]) -> BaseModel:
        """Validate the arguments and call the tool. Raises VramwiseError or pydantic's ValidationError."""
        return self.call(self.request_model(**arguments))


class SearchRequest(BaseModel):
    """A knowledge-base question."""

    model_config = ConfigDict(extra="forbid")

    query: Annotated[
        str,
        Field(min_length=1, max_length=MAX_QUERY_CHARS, description="a question or keywords, in English or Chinese"),
    ]
    k: Annotated[int, Field(ge=1, le=20, description="how many passages to return, 1-20")] = 4
    lang: Annotated[
        Literal["en", "zh"] | None,
        Field(description="'en' or 'zh' to prefer passages in that language; null detects it"),
    ] = None


def _estimate(req: EstimateRequest) -> EstimateResult:
    from agent_tools.estimate import estimate_memory

    return estimate_memory(req)


def _recommend(req: RecommendRequest) -> RecommendResult:
    from agent_tools.advice import recommend_model

    return recommend_model(req)


def _compare(req: CompareRequest) -> CompareResult:
    from agent_tools.advice import compare_precision

    return compare_precision(req)


def _search(req: SearchRequest) -> BaseModel:
    # Imported on use so that start-up (and every calculator call) never pays for the knowledge stack.
    from knowledge.search import search_knowledge, validate_search_args

    query, k, lang = validate_search_args(req.query, req.k, req.lang)
    return search_knowledge(query, k, lang)


ESTIMATE_DESCRIPTION = """\
Size one LLM on a GPU: exact bytes for weights, KV cache, activations and runtime overhead (plus gradients,
optimizer states and adapters for full_finetune / lora / qlora), whether it fits `gpu` (or `vram_gb`), the largest
context and batch that fit, and estimated decode/prefill tokens per second.

Call it when the user names a model (or pastes a config.json, or gives a parameter count) and asks how much memory
it needs, whether it fits a card, how long a context fits, or how fast it decodes. For "which model should I run on
my GPU" call recommend_model; for "q4 or fp16 of this model" call compare_precision; for concepts call
search_knowledge.

Give exactly one of model, config or params_b. Names are forgiving ('llama3.1 8b', 'RTX 4090', 'q4_k_m'); an
unknown name returns an error with the closest matches (full lists: vramwise://catalog/models, /gpus, /formats).
Units: *_bytes are bytes; total_gb = bytes / 10^9; total_gib = bytes / 2^30; the vram_gb input is in GiB.

Example: {"model": "meta-llama/Llama-3.1-8B-Instruct", "precision": "bf16", "context_length": 8192,
"gpu": "RTX 4090"} -> breakdown.kv_cache_bytes = 1073741824 (32 layers x 8 KV heads x 128 dims x 2 (K and V)
x 2 bytes = 131072 bytes per token, x 8192 tokens = 1 GiB), kv_cache_bytes_per_token = 131072, plus fit.fits,
fit.headroom_bytes, fit.verdict and speed.decode_tokens_per_s. `assumptions` and `sources` say how each term was
computed; cite them (`sources` lists the notes as note:<id>)."""

RECOMMEND_DESCRIPTION = """\
Rank the catalog models (each in its best weight format) that fit the user's hardware at the asked context length
and number of concurrent users, best first, by published benchmark scores for the task minus the published quality
cost of the format. Every candidate carries its memory in bytes, headroom, decode speed, the benchmark it was ranked
by, and a one-line reason; `rejected` lists near misses with what they need.

Call it for "which model fits / should I run on my RTX 4090 / 24 GB / MacBook" questions. Describe the hardware with
`gpu` (a name), or `vram_gb` (GiB) for a card not in the catalog, or only `system_ram_gb` for CPU-only.
To size one named model call estimate_memory instead.
Units: *_bytes are bytes (GB = 10^9, GiB = 2^30); vram_gb and system_ram_gb inputs are GiB.

Example: {"gpu": "RTX 4090", "task": "code", "context_length": 16384} -> candidates[0].model, .precision,
.total_bytes, .headroom_bytes, .decode_tokens_per_s, .reason."""

COMPARE_DESCRIPTION = """\
Compare one model across weight formats (bf16, fp8, int8, q8_0, q6_k, q5_k_m, q4_k_m, awq_int4, ...): bits per
weight, weight and total bytes, fit on `gpu`, decode speed, and the published quality impact of each format; plus
other catalog models of about the same size (e.g. a 14B at 4-bit against a 7B at 16-bit) and a verdict.

Call it for "is int4 worth it", "q4_k_m or q8_0", "14B int4 or 7B fp16" questions. Give exactly one of model,
config or params_b; `precisions` picks the formats (default: a ladder from bf16 down to 2-bit).
Units: *_bytes are bytes (GB = 10^9, GiB = 2^30).

Example: {"model": "Qwen/Qwen2.5-14B-Instruct", "precisions": ["bf16", "q8_0", "q4_k_m"], "gpu": "RTX 4090"}
-> rows[i].total_bytes, .fits, .quality_impact.level, equal_size_alternatives, verdict."""

SEARCH_DESCRIPTION = """\
Search vramwise's bilingual knowledge base (English and Chinese notes on LLM memory: weights, KV cache, activations,
GB vs GiB, fp16/bf16/fp8 and quantization quality, MoE total vs active parameters, multi-GPU and offload, speed and
memory bandwidth) and return the best passages with their note id, heading and source URL, to quote in an answer.

Call it to explain a concept or back a number with a source; call estimate_memory, recommend_model or
compare_precision for the numbers themselves. Each passage's note is readable in full at vramwise://notes/{note_id}.

Example: {"query": "why does the KV cache grow with context length", "k": 3} or {"query": "显存 GB 和 GiB 的区别"}
-> passages[i].note_id, .heading, .text, .source, .lang."""

# Request fields the adapters leave out: `gguf` is a parsed local file (the CLI reads it), and the older-stack flags
# model old transformers and llama.cpp builds that only the calibration scripts need.
ESTIMATE_INTERNAL_FIELDS = frozenset({"gguf", *OlderStackFlags.model_fields})

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "estimate_memory",
        "Estimate GPU memory of an LLM",
        ESTIMATE_DESCRIPTION,
        EstimateRequest,
        _estimate,
        EstimateResult,
        ESTIMATE_INTERNAL_FIELDS,
    ),
    ToolSpec(
        "recommend_model",
        "Recommend models that fit a GPU",
        RECOMMEND_DESCRIPTION,
        RecommendRequest,
        _recommend,
        RecommendResult,
    ),
    ToolSpec(
        "compare_precision",
        "Compare weight formats of one model",
        COMPARE_DESCRIPTION,
        CompareRequest,
        _compare,
        CompareResult,
    ),
    ToolSpec(
        "search_knowledge", "Search the LLM-memory knowledge base", SEARCH_DESCRIPTION, SearchRequest, _search, None
    ),
)

CALCULATOR_TOOLS = tuple(t for t in TOOLS if t.result_model is not None)


def tool(name: str) -> ToolSpec:
    for spec in TOOLS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown tool {name!r}; accepted: {', '.join(t.name for t in TOOLS)}")
