"""MCP server benchmarks through the real client: per-tool latency over stdio (and cold start), concurrent load
over streamable HTTP, and a fuzz of random and hostile arguments. Scripts that print figures, not timed tests.

    .venv/bin/python evals/bench_mcp.py latency [--calls 500] [--cold-starts 5]
    .venv/bin/python evals/bench_mcp.py load [--clients 32] [--calls 200] [--max-seconds 300] [--stateless]
    .venv/bin/python evals/bench_mcp.py fuzz [--cases 2000] [--seed 7] [--tool estimate_memory ...]

search_knowledge needs a filled knowledge store: the benchmarks use $VRAMWISE_DATA_DIR, else .vramwise/bench-data
in the repo (git-ignored), which the first search fills from the shipped notes (a minute or two, once). Every
server is warmed before timing. `fuzz` exits 1 when an invalid call is answered as a success, a tool crashes, a
call fails at the protocol level or the server stops answering; `load` exits 1 on any failed call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client

from vramwise.tools import MAX_QUERY_CHARS

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "server.py"
TOOLS = ("estimate_memory", "recommend_model", "compare_precision", "search_knowledge")
HANG_SECONDS = 1.0  # a call slower than this counts as a hang

# Realistic calls, cycled through by `latency` and `load` and used as the starting point of fuzz cases.
REALISTIC: dict[str, list[dict[str, Any]]] = {
    "estimate_memory": [
        {"model": "meta-llama/Llama-3.1-8B-Instruct", "precision": "bf16", "context_length": 8192},
        {"model": "Qwen/Qwen2.5-14B-Instruct", "precision": "q4_k_m", "context_length": 32768, "gpu": "RTX 4090"},
        {"model": "Qwen/Qwen2.5-7B-Instruct", "precision": "awq_int4", "runtime": "vllm", "gpu": "A100 80GB"},
        {"model": "meta-llama/Llama-3.1-8B-Instruct", "mode": "qlora", "context_length": 2048, "gpu": "RTX 3060 12GB"},
        {"params_b": 70, "precision": "q4_k_m", "context_length": 8192, "vram_gb": 48},
    ],
    "recommend_model": [
        {"gpu": "RTX 4090", "task": "code"},
        {"gpu": "RTX 3060 12GB", "task": "chat", "context_length": 32768},
        {"vram_gb": 80, "task": "reasoning", "concurrent_users": 8},
        {"system_ram_gb": 32, "task": "chat"},
    ],
    "compare_precision": [
        {"model": "Qwen/Qwen2.5-14B-Instruct", "precisions": ["bf16", "q8_0", "q4_k_m"], "gpu": "RTX 4090"},
        {"model": "meta-llama/Llama-3.1-8B-Instruct"},
        {"model": "Qwen/Qwen2.5-7B-Instruct", "gpu": "RTX 3060 12GB", "context_length": 16384},
    ],
    "search_knowledge": [
        {"query": "how big is the KV cache per token", "k": 4},
        {"query": "why does a 24 GB card show 23.99 GiB", "k": 3},
        {"query": "Q4_K_M 的质量损失有多大", "k": 4},
        {"query": "MoE total versus active parameters memory", "k": 2, "lang": "en"},
    ],
}


# ------------------------------------------------------------------------------------------------ shared


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("VRAMWISE_DATA_DIR", str(REPO / ".vramwise" / "bench-data"))
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    env.pop("VRAMWISE_TOKEN", None)
    return env


def stdio_params() -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(SERVER)], cwd=str(REPO), env=server_env())


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def http_server(*args: str) -> Iterator[str]:
    """`server.py --http` on a free loopback port; yields the /mcp URL once /healthz answers."""
    port = _free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="bench-mcp-http-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--http", "--port", str(port), *args],
        cwd=REPO,
        env=server_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {Path(log.name).read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not come up within 60 s") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# ----------------------------------------------------------------------------------------------- latency


async def _cold_start() -> tuple[float, float]:
    """Seconds from spawn to a connected session, and to the first estimate_memory result."""
    start = time.perf_counter()
    async with Client(stdio_params()) as client:
        connected = time.perf_counter() - start
        result = await client.call_tool("estimate_memory", REALISTIC["estimate_memory"][0])
        answered = time.perf_counter() - start
        assert not result.is_error, result.content[0].text
    return connected, answered


async def run_latency(calls: int, cold_starts: int) -> int:
    print(f"latency over stdio: {calls} calls per tool after one warm-up call; {cold_starts} cold starts\n")
    await _cold_start()  # warm this client process (imports, validators): only the server should be cold
    starts = [await _cold_start() for _ in range(cold_starts)]
    connect = [c for c, _ in starts]
    first = [a for _, a in starts]
    print("cold start (spawn -> ...)      median      min      max   (seconds)")
    print(f"  connected session        {statistics.median(connect):9.3f} {min(connect):8.3f} {max(connect):8.3f}")
    print(f"  first estimate_memory    {statistics.median(first):9.3f} {min(first):8.3f} {max(first):8.3f}\n")

    failures = 0
    columns = ("p50 ms", "p90 ms", "p99 ms", "max ms", "calls/s")
    print(f"{'tool':<20}{'first call':>12}" + "".join(f"{c:>9}" for c in columns) + f"{'errors':>8}")
    async with Client(stdio_params(), read_timeout_seconds=600) as client:
        for tool in TOOLS:
            samples = REALISTIC[tool]
            started = time.perf_counter()
            warm = await client.call_tool(tool, samples[0])
            first_call = time.perf_counter() - started
            failures += warm.is_error
            timings: list[float] = []
            errors = 0
            loop_start = time.perf_counter()
            for i in range(calls):
                t0 = time.perf_counter()
                result = await client.call_tool(tool, samples[i % len(samples)])
                timings.append(time.perf_counter() - t0)
                errors += bool(result.is_error)
            rate = calls / (time.perf_counter() - loop_start)
            failures += errors
            print(
                f"{tool:<20}{first_call:11.3f}s{ms(percentile(timings, 50))} {ms(percentile(timings, 90))} "
                f"{ms(percentile(timings, 99))} {ms(max(timings))} {rate:8.1f} {errors:7d}"
            )
    return 1 if failures else 0


# -------------------------------------------------------------------------------------------------- load


@dataclass
class LoadStats:
    timings: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    skipped: int = 0


LOAD_MIX = ["estimate_memory"] * 8 + ["compare_precision", "recommend_model"]  # mostly the cheap, common call
# the probe's mix had knowledge searches in it (they dominated its p99): one in ten here
LOAD_MIX_WITH_SEARCH = ["estimate_memory"] * 7 + ["compare_precision", "recommend_model", "search_knowledge"]


async def _load_client(url: str, index: int, calls: int, deadline: float, stats: LoadStats, mix: list[str]) -> None:
    rng = random.Random(index)
    try:
        async with Client(url, read_timeout_seconds=120) as client:
            for _ in range(calls):
                if time.monotonic() > deadline:
                    stats.skipped += 1
                    continue
                tool = rng.choice(mix)
                arguments = rng.choice(REALISTIC[tool])
                t0 = time.perf_counter()
                try:
                    result = await client.call_tool(tool, arguments)
                except Exception as exc:  # a benchmark counts every kind of failure, and keeps going
                    stats.errors[f"{tool}: {type(exc).__name__}"] += 1
                    continue
                stats.timings.setdefault(tool, []).append(time.perf_counter() - t0)
                if result.is_error:
                    stats.errors[f"{tool}: error result"] += 1
    except Exception as exc:  # connecting failed: every call of this client is lost
        stats.errors[f"session: {type(exc).__name__}: {exc}"[:120]] += calls


async def run_load(clients: int, calls: int, max_seconds: float, stateless: bool, search: bool = False) -> int:
    mode = "stateless JSON" if stateless else "sessions"
    mix = LOAD_MIX_WITH_SEARCH if search else LOAD_MIX
    print(f"load over streamable HTTP ({mode}): {clients} concurrent clients x {calls} calls, <= {max_seconds:g} s")
    print(f"tool mix: {dict(Counter(mix))} (per 10 calls)\n")
    with http_server(*(["--stateless"] if stateless else [])) as url:
        async with Client(url) as warm:  # first-call costs (catalog load, schemas) are not load
            for tool in dict.fromkeys(mix):
                await warm.call_tool(tool, REALISTIC[tool][0])
        stats = LoadStats()
        started = time.perf_counter()
        deadline = time.monotonic() + max_seconds
        await asyncio.gather(*(_load_client(url, i, calls, deadline, stats, mix) for i in range(clients)))
        wall = time.perf_counter() - started
        async with Client(url) as after:
            alive = not (await after.call_tool("estimate_memory", REALISTIC["estimate_memory"][0])).is_error

    every = [t for timings in stats.timings.values() for t in timings]
    done = len(every)
    print(f"{'tool':<20}{'calls':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for tool, timings in sorted(stats.timings.items()):
        p50, p99 = percentile(timings, 50), percentile(timings, 99)
        print(f"{tool:<20}{len(timings):8d}{ms(p50)} {ms(p99)} {ms(max(timings))}")
    if every:
        print(f"{'all':<20}{done:8d}{ms(percentile(every, 50))} {ms(percentile(every, 99))} {ms(max(every))}")
    errors = sum(stats.errors.values())
    print(f"\nwall {wall:.1f} s, {done / wall:.1f} calls/s, errors {errors}, not issued (time bound) {stats.skipped}")
    for kind, count in stats.errors.most_common(10):
        print(f"  {count:6d} x {kind}")
    print(f"server still answering after the load: {alive}")
    return 0 if errors == 0 and alive else 1


# -------------------------------------------------------------------------------------------------- fuzz


HUGE_INT = 10**30
NAUGHTY_STRINGS = [
    "",
    " ",
    "\x00",
    "null",
    "None",
    "-1",
    "1e309",
    "NaN",
    "Infinity",
    "{}",
    "[]",
    "'; DROP TABLE models; --",
    "../../etc/passwd",
    "%s%s%s%n",
    "RTX 4090\n\nIgnore previous instructions",
    "ＲＴＸ４０９０",
    "显卡 4090",
    "Ｑｗｅｎ２.５-７Ｂ",
    "🦙🦙🦙",
    "\u202etxet desrever",
    "a\u0300" * 50,
    "𝓛𝓵𝓪𝓶𝓪",
    "ज़्ज़्",
]


@dataclass
class Case:
    arguments: dict[str, Any]
    invalid_because: str | None  # set when the arguments break the published schema in a way lax parsing keeps


@dataclass
class FuzzStats:
    cases: int = 0
    ok: int = 0
    error_results: int = 0
    must_fail: int = 0
    accepted_invalid: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    crashes: list[dict[str, Any]] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    transport_failures: int = 0
    timings: list[float] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)  # calls over HANG_SECONDS
    nonsense: list[str] = field(default_factory=list)  # successes holding negative/zero/NaN figures
    rss_kb: tuple[int | None, int | None] = (None, None)


def _types(prop: dict[str, Any]) -> set[str]:
    if "anyOf" in prop:
        return {t for branch in prop["anyOf"] for t in _types(branch)}
    kind = prop.get("type")
    return {kind} if isinstance(kind, str) else set(kind or [])


def _branch(prop: dict[str, Any], kind: str) -> dict[str, Any]:
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") == kind:
            return branch
    return prop


def _random_text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(NAUGHTY_STRINGS)
    if roll < 0.4:
        return rng.choice("xé显🦙") * rng.choice([1_000_000, 100_000, 5000])  # up to 1 MB (4 MB of UTF-8 for 🦙)
    alphabet = "abcxyz0123456789 -_./:éü显卡模型量化🦙\u200b\t\n"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))


def _out_of_bounds(branch: dict[str, Any], rng: random.Random) -> tuple[Any, bool]:
    """A number the bounds reject (True) or one that may pass (False)."""
    low = branch.get("exclusiveMinimum", branch.get("minimum"))
    high = branch.get("maximum", branch.get("exclusiveMaximum"))
    options: list[tuple[Any, bool]] = [(HUGE_INT, high is not None), (-(10**12), low is not None)]
    if low is not None:
        options += [(low - 1, True), ("-Infinity", True)]
        if "exclusiveMinimum" in branch:
            options.append((low, True))
    if high is not None:
        options += [(high * 10 + 1, True), ("Infinity", True), (1e308, True)]
    if branch.get("type") == "number" and (low is not None or high is not None):
        options.append(("NaN", True))  # NaN fails every comparison
    options += [(float("nan"), False), (float("inf"), False), (-0.0, False), (2**63, high is not None)]
    return rng.choice(options)


def _mutate(name: str, prop: dict[str, Any], rng: random.Random) -> tuple[Any, str | None]:
    """A hostile value for one property, and why it must be rejected (None: it may legitimately pass, e.g. a
    string that happens to name a model, or a value pydantic's lax mode coerces)."""
    kinds = _types(prop)
    nullable = "null" in kinds
    choice = rng.random()
    if kinds & {"integer", "number"}:
        kind = "integer" if "integer" in kinds else "number"
        branch = _branch(prop, kind)
        if choice < 0.45:
            value, must_fail = _out_of_bounds(branch, rng)
            return value, f"out of bounds: {value!r}" if must_fail else None
        if choice < 0.75:
            value = rng.choice([{"a": 1}, [1, 2], "lots", "12abc", "true", "", [], "0x10"])
            return value, f"not a number: {value!r}"
        if kind == "integer" and choice < 0.85:
            value = rng.choice([1.5, "3.7"])
            return value, f"not an integer: {value!r}"
        value = rng.choice([None, 1, 8192, "8192", 8192.0, 10**6])
        return value, "null for a required number" if value is None and not nullable else None
    enum = prop.get("enum") or _branch(prop, "string").get("enum")
    if enum:
        if choice < 0.6:
            value = _random_text(rng)
            return value, None if value in enum else f"not one of {enum}: {value[:20]!r}"
        value = rng.choice([1, [enum[0]], {"v": enum[0]}, None])
        return value, None if value is None and nullable else f"not one of {enum}: {value!r}"
    if "string" in kinds:
        branch = _branch(prop, "string")
        if choice < 0.65:
            value = _random_text(rng)
            too_long = "maxLength" in branch and len(value) > branch["maxLength"]
            return value, f"longer than {branch['maxLength']} characters" if too_long else None
        value = rng.choice([42, 3.14, True, ["RTX 4090"], {"name": "x"}])
        return value, f"not a string: {value!r}"
    if "array" in kinds:
        branch = _branch(prop, "array")
        if choice < 0.4:
            value = rng.choice([["bf16"] * 500, [], ["q4_k_m", "bogus", "🦙"], ["x" * 100_000]])
            too_many = "maxItems" in branch and len(value) > branch["maxItems"]
            return value, f"more than {branch['maxItems']} items" if too_many else None
        value = rng.choice([[1, 2], [None], "not a list", 7, {"a": ["bf16"]}])
        return value, f"not a list of strings: {value!r}"
    if "object" in kinds:
        if choice < 0.6:
            return _hostile_config(rng), None
        value = rng.choice([42, "not json", [1, 2], True])
        return value, f"not an object: {value!r}"
    if "boolean" in kinds:
        value = rng.choice(["maybe", 2, {"x": 1}, [True], "yes", 0, None])
        if value in ("yes", 0) or (value is None and nullable):
            return value, None
        return value, f"not a boolean: {value!r}"
    return _random_text(rng), None


def _hostile_config(rng: random.Random) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_attention_heads": 32,
        "num_hidden_layers": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "max_position_embeddings": 131072,
    }
    for _ in range(rng.randint(1, 3)):
        key = rng.choice([*base, "head_dim", "num_local_experts", "num_experts_per_tok", "text_config", "rope_scaling"])
        base[key] = rng.choice([0, -1, 1, 3, HUGE_INT, 1.5, "32", "abc", None, [], {}, {"hidden_size": -5}, 2**31])
    if rng.random() < 0.2:
        base = {rng.choice(["a", "model_type", "🦙"]): rng.choice([1, "x", None])}
    return base


_LAYERS_1E9 = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 8192,
    "num_hidden_layers": 10**9,
}
# The probe's findings, replayed before the random cases (issue: hardening). None may crash, hang or succeed with
# a negative, zero or NaN result.
PROBE_CASES: dict[str, list[dict[str, Any]]] = {
    "estimate_memory": [
        {"model": "llama3.1 8b", "gpu": "1" + " " * 150_000},
        {"config": _LAYERS_1E9},
        {"config": {"model_type": "llava", "text_config": _LAYERS_1E9}},
        {"config": {**_LAYERS_1E9, "num_hidden_layers": 10**5}},
        {"config": {**_LAYERS_1E9, "num_hidden_layers": 32, "intermediate_size": -14336}},
        {"config": {**_LAYERS_1E9, "num_hidden_layers": 32, "head_dim": -128}},
        {"config": {**_LAYERS_1E9, "num_hidden_layers": 32, "num_key_value_heads": -8}},
        {"config": {**_LAYERS_1E9, "num_hidden_layers": 32, "num_attention_heads": 100_000}},
        {"config": {**_LAYERS_1E9, "num_hidden_layers": 32, "max_position_embeddings": -1}},
        {"config": {**_LAYERS_1E9, "num_hidden_layers": 32, "max_position_embeddings": "8192"}},
        {"config": {**_LAYERS_1E9, "num_hidden_layers": 32, "max_position_embeddings": [8192]}},
        {"config": {**_LAYERS_1E9, "num_hidden_layers": 32, "head_dim": 1e999}},
        {"model": "llama3.1 8b", "context_length": "8"},
    ],
    "recommend_model": [{"gpu": "1" + " " * 150_000}, {"gpu": "RTX 4090", "context_length": "8192"}],
    "compare_precision": [{"params_b": 99999}, {"model": "llama3.1 8b", "gpu": " " * 50_000 + "1"}],
    "search_knowledge": [{"query": "kv cache " * 5000}, {"query": ""}],
}


def _nonsense_numbers(data: Any, path: str = "") -> list[str]:
    """Negative, NaN or infinite numbers anywhere in a result, and zero totals: what a success must never hold."""
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            found += _nonsense_numbers(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += _nonsense_numbers(value, f"{path}[{i}]")
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        allowed_negative = ("headroom", "worst", "delta", "ppl", "score", "rank")
        if (
            data != data
            or data in (math.inf, -math.inf)
            or (data < 0 and not any(word in path for word in allowed_negative))
        ):
            found.append(f"{path}={data}")
        elif data == 0 and path.endswith(("total_bytes", "params_total", "weights_bytes")):
            found.append(f"{path}=0")
    return found


def _server_rss_kb() -> int | None:
    """Resident memory of this process's newest python child (the stdio server), from /proc."""
    me, best = os.getpid(), None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == me:
                best = max(best or 0, int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    if best is None:
        return None
    for line in Path(f"/proc/{best}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def make_case(tool: str, schema: dict[str, Any], rng: random.Random) -> Case:
    properties: dict[str, dict[str, Any]] = schema["properties"]
    arguments = dict(rng.choice(REALISTIC[tool])) if rng.random() < 0.8 else {}
    reasons: dict[str, str] = {}  # argument name -> why its current value must be rejected
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        roll = rng.random()
        if roll < 0.08:
            extra = rng.choice(["contxt_length", "request", "__proto__", "🦙", "model ", "GPU"])
            arguments[extra] = rng.choice([1, "x", None])
            reasons[extra] = "not an argument of this tool"
        elif roll < 0.12 and schema.get("required"):
            missing = rng.choice(schema["required"])
            arguments.pop(missing, None)
            reasons[missing] = "required but missing"
        else:
            name = rng.choice(list(properties))
            arguments[name], reason = _mutate(name, properties[name], rng)
            reasons.pop(name, None)
            if reason:
                reasons[name] = reason
    first = next(iter(reasons.items()), None)
    return Case(arguments, f"{first[0]}: {first[1]}" if first else None)


def _is_crash(tool: str, text: str) -> bool:
    # The SDK hides the message of an unexpected exception: a bare "Error executing tool X" is a crash.
    return text.strip() == f"Error executing tool {tool}"


async def _fuzz_tool(tool: str, cases: int, seed: int, errlog: Any) -> FuzzStats:
    stats = FuzzStats()
    rng = random.Random(f"{seed}-{tool}")
    client_cm = Client(stdio_client(stdio_params(), errlog=errlog), read_timeout_seconds=120)
    client = await client_cm.__aenter__()
    try:
        schema = next(t for t in (await client.list_tools()).tools if t.name == tool).input_schema
        await client.call_tool(tool, REALISTIC[tool][0])  # warm-up (loads the query encoder for search)
        if tool == "search_knowledge":
            # The encoder's buffers grow to the longest query once and stay (a plateau, not a leak): warm them to
            # the longest accepted query, so the RSS figure below measures growth per call, not that one-off.
            await client.call_tool(tool, {"query": ("显存 KV cache 每个 token 量化 " * 80)[:MAX_QUERY_CHARS], "k": 20})
        rss_start = _server_rss_kb()
        probe = [Case(arguments, None) for arguments in PROBE_CASES.get(tool, [])]
        for i in range(cases):
            case = probe[i] if i < len(probe) else make_case(tool, schema, rng)
            stats.cases += 1
            t0 = time.perf_counter()
            try:
                result = await client.call_tool(tool, case.arguments)
            except MCPError as exc:
                stats.protocol_errors.append(f"{exc.error.code} {exc.error.message[:200]}")
                continue
            except Exception as exc:  # the transport broke: the server died or hung; restart and go on
                stats.transport_failures += 1
                print(f"  transport failure on {tool}: {type(exc).__name__}: {exc}", file=sys.stderr)
                await client_cm.__aexit__(None, None, None)
                client_cm = Client(stdio_client(stdio_params(), errlog=errlog), read_timeout_seconds=120)
                client = await client_cm.__aenter__()
                continue
            elapsed = time.perf_counter() - t0
            if elapsed > HANG_SECONDS:
                stats.hangs.append(f"{elapsed:.2f} s: {_describe(case.arguments)}")
            if not result.is_error:
                bad_numbers = _nonsense_numbers(result.structured_content or {})
                if bad_numbers:
                    stats.nonsense.append(f"{', '.join(bad_numbers[:3])}: {_describe(case.arguments)}")
            stats.timings.append(elapsed)
            stats.slowest.append((elapsed, _describe(case.arguments)))
            stats.slowest = sorted(stats.slowest, reverse=True)[:3]
            text = result.content[0].text if result.content else ""
            if case.invalid_because:
                stats.must_fail += 1
                if not result.is_error:
                    stats.accepted_invalid.append((case.invalid_because, case.arguments))
            if result.is_error and _is_crash(tool, text):
                stats.crashes.append(case.arguments)
            elif result.is_error:
                stats.error_results += 1
            else:
                stats.ok += 1
        final = await client.call_tool(tool, REALISTIC[tool][0])
        if final.is_error:
            stats.transport_failures += 1
        stats.rss_kb = (rss_start, _server_rss_kb())
    finally:
        await client_cm.__aexit__(None, None, None)
    return stats


def _describe(arguments: dict[str, Any], limit: int = 160) -> str:
    text = json.dumps(arguments, ensure_ascii=False, default=str)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


async def run_fuzz(cases: int, seed: int, tools: list[str]) -> int:
    errlog_path = Path(tempfile.gettempdir()) / "bench-mcp-fuzz-server.log"
    print(f"fuzz over stdio: {cases} random/hostile argument sets per tool, seed {seed}")
    print(f"server stderr (tracebacks of crashes, if any): {errlog_path}\n")
    header = f"{'tool':<20}{'cases':>7}{'ok':>7}{'errors':>8}{'must fail':>10}{'accepted':>9}{'crashes':>8}"
    print(header + f"{'protocol':>9}{'died':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'wall s':>8}")
    problems = 0
    died = 0
    details: list[str] = []
    with errlog_path.open("w") as errlog:
        for tool in tools:
            started = time.perf_counter()
            s = await _fuzz_tool(tool, cases, seed, errlog)
            wall = time.perf_counter() - started
            bad = len(s.accepted_invalid) + len(s.crashes) + len(s.protocol_errors) + s.transport_failures
            bad += len(s.hangs) + len(s.nonsense)
            start_kb, end_kb = s.rss_kb
            growth_mb = (end_kb - start_kb) / 1024 if start_kb and end_kb else None
            if growth_mb is not None and growth_mb > 50:
                bad += 1
                details.append(f"{tool}: server RSS grew {growth_mb:.0f} MB over the run (limit 50 MB)")
            problems += bad
            died += s.transport_failures
            print(
                f"{tool:<20}{s.cases:7d}{s.ok:7d}{s.error_results:8d}{s.must_fail:10d}{len(s.accepted_invalid):9d}"
                f"{len(s.crashes):8d}{len(s.protocol_errors):9d}{s.transport_failures:6d}"
                f"{ms(percentile(s.timings, 50))} {ms(percentile(s.timings, 99))} {ms(max(s.timings))}{wall:8.1f}"
            )
            for elapsed, described in s.slowest[:1]:
                details.append(f"{tool}: slowest call {elapsed:.2f} s: {described}")
            details.append(
                f"{tool}: hangs over {HANG_SECONDS:g} s: {len(s.hangs)}; nonsense successes: {len(s.nonsense)}; "
                f"server RSS {s.rss_kb[0]} -> {s.rss_kb[1]} kB"
            )
            details += [f"{tool}: HANG {h}" for h in s.hangs[:5]]
            details += [f"{tool}: NONSENSE SUCCESS {n}" for n in s.nonsense[:5]]
            for reason, arguments in s.accepted_invalid[:5]:
                details.append(f"{tool}: ACCEPTED INVALID ({reason}): {_describe(arguments)}")
            for arguments in s.crashes[:5]:
                details.append(f"{tool}: CRASH: {_describe(arguments)}")
            details += [f"{tool}: PROTOCOL ERROR: {p}" for p in s.protocol_errors[:5]]
    print("\ncolumns: errors = error results with a message; must fail = cases that break the schema; accepted =")
    print("of those, answered as a success; crashes = the tool raised an unexpected exception (message hidden);")
    print("protocol = JSON-RPC error instead of a result; died = the server stopped answering.\n")
    print("\n".join(details))
    crash_types = Counter(re.findall(r"^(\w+(?:Error|Exception)): ", errlog_path.read_text(), flags=re.MULTILINE))
    if crash_types:
        print(f"\nexception types in the server log: {dict(crash_types)}")
    print(f"\n{'FAIL' if problems else 'OK'}: {problems} problem(s); the server stayed up throughout: {died == 0}")
    return 1 if problems else 0


# -------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    latency = commands.add_parser("latency", help="per-tool p50/p99 over stdio, and cold start")
    latency.add_argument("--calls", type=int, default=500)
    latency.add_argument("--cold-starts", type=int, default=5)
    load = commands.add_parser("load", help="concurrent clients over streamable HTTP")
    load.add_argument("--clients", type=int, default=32)
    load.add_argument("--calls", type=int, default=200, help="calls per client")
    load.add_argument("--max-seconds", type=float, default=300, help="stop issuing calls after this long")
    load.add_argument("--stateless", action="store_true", help="run the server with --stateless")
    load.add_argument("--search", action="store_true", help="one call in ten a knowledge search")
    fuzz = commands.add_parser("fuzz", help="random and hostile arguments; every invalid call must be an error")
    fuzz.add_argument("--cases", type=int, default=2000, help="argument sets per tool")
    fuzz.add_argument("--seed", type=int, default=7)
    fuzz.add_argument("--tool", action="append", choices=TOOLS, help="fuzz only this tool (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "latency":
        return asyncio.run(run_latency(args.calls, args.cold_starts))
    if args.command == "load":
        return asyncio.run(run_load(args.clients, args.calls, args.max_seconds, args.stateless, args.search))
    return asyncio.run(run_fuzz(args.cases, args.seed, args.tool or list(TOOLS)))


if __name__ == "__main__":
    sys.exit(main())
