"""The light install as a user gets it: build the wheel, run `uvx --from <wheel> vramwise-mcp` with a fresh uv cache,
and call estimate_memory over stdio with the real MCP client (issue 13's distribution target), then
search_knowledge (hybrid over the shipped notes' vectors: the light install carries the query encoder).

    python -m evals.bench_wheel

Prints the wheel size, the time from spawn (uv resolving and installing the light dependencies from the package
index) to the first result, and the same with uv's cache warm. Needs the package index (not the Hugging Face Hub).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


async def first_result(uvx: str, wheel: Path, cache: Path) -> tuple[float, int]:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "UV_CACHE_DIR": str(cache)}
    params = StdioServerParameters(command=uvx, args=["--from", str(wheel), "vramwise-mcp"], env=env)
    started = time.perf_counter()
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        result = await session.call_tool(
            "estimate_memory", {"model": "Qwen2.5-14B", "context_length": 32768, "gpu": "RTX 4090"}
        )
        if result.is_error or not result.structured_content:
            raise SystemExit(f"estimate_memory failed: {result.content}")
        elapsed = time.perf_counter() - started
        search = await session.call_tool("search_knowledge", {"query": "how big is the KV cache per token"})
        if search.is_error or not search.structured_content:
            raise SystemExit(f"search_knowledge failed: {search.content}")
        print(f"  search_knowledge mode on this install: {search.structured_content['mode']}")
        return elapsed, int(result.structured_content["total_bytes"])


def main() -> int:
    uvx = shutil.which("uvx") or str(Path(sys.executable).parent / "uvx")
    with tempfile.TemporaryDirectory(prefix="vramwise-wheel-") as tmp:
        out = Path(tmp) / "dist"
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
            check=True, capture_output=True,
        )  # fmt: skip
        wheel = next(out.glob("*.whl"))
        print(f"wheel {wheel.name}: {wheel.stat().st_size:,} bytes ({wheel.stat().st_size / 2**20:.2f} MiB)")
        cache = Path(tmp) / "uv-cache"
        cold, total = asyncio.run(first_result(uvx, wheel, cache))
        print(f"uvx --from wheel vramwise-mcp, fresh uv cache: first estimate_memory result in {cold:.1f} s")
        warm, _ = asyncio.run(first_result(uvx, wheel, cache))
        print(f"same, uv cache warm: {warm:.1f} s; estimate total_bytes {total:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
