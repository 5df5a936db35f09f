"""MCP start-up benchmark: spawn the stdio server, send initialize + one estimate_memory call, time the answer.

    python -m evals.bench_startup [--runs 5] [--command vramwise-mcp]

Prints the median and each run's seconds from spawn to (a) the initialize reply and (b) the estimate_memory result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
CALL = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {
        "name": "estimate_memory",
        "arguments": {"model": "llama3.1-8b", "gpu": "RTX 4090", "context_length": 8192},
    },
}


def one_run(command: list[str]) -> tuple[float, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdin and proc.stdout
    proc.stdin.write((json.dumps(INIT) + "\n").encode())
    proc.stdin.flush()
    json.loads(proc.stdout.readline())
    t_init = time.perf_counter() - start
    for message in (INITIALIZED, CALL):
        proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()
    reply = json.loads(proc.stdout.readline())
    t_call = time.perf_counter() - start
    proc.stdin.close()
    proc.wait(timeout=10)
    content = reply["result"]["structuredContent"]
    assert content["kv_cache_bytes_per_token"] == 131072, content
    return t_init, t_call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--command", default=None, help="server command (default: vramwise-mcp next to this python)")
    args = parser.parse_args(argv)
    default = Path(sys.executable).with_name("vramwise-mcp")
    command = (args.command or (str(default) if default.exists() else shutil.which("vramwise-mcp") or "")).split()
    one_run(command)  # warm the OS file cache; not counted
    runs = [one_run(command) for _ in range(args.runs)]
    init = statistics.median(r[0] for r in runs)
    call = statistics.median(r[1] for r in runs)
    print(f"MCP stdio start-up ({' '.join(command)}), median of {args.runs}:")
    print(f"  spawn -> initialize reply      {init:.3f} s   runs: {', '.join(f'{r[0]:.3f}' for r in runs)}")
    print(f"  spawn -> estimate_memory result {call:.3f} s   runs: {', '.join(f'{r[1]:.3f}' for r in runs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
