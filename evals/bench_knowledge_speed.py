"""Knowledge-base speed: first answer on a fresh install (empty store), ingest of the shipped notes, first query
in a fresh process, warm query latency.

Every figure comes from fresh Python processes run the way a user runs vramwise, against a temporary
store. Targets (2 CPU cores): ingest < 30 s, first query < 5 s including the model load, warm p50 < 50 ms.
Exits 1 when a target is missed.

    .venv/bin/python evals/bench_knowledge_speed.py [--runs 3] [--warm-queries 40]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_INGEST_S = 30.0
TARGET_FIRST_QUERY_S = 5.0
TARGET_WARM_P50_MS = 50.0

QUERIES = [
    "How much VRAM does Qwen2.5-14B need at 32k context?",
    "我的4090跑32k上下文的14B模型，KV缓存占多少？",
    "why is bf16 safer than fp16 for training",
    "MoE 模型的总参数和激活参数有什么区别",
    "does a 70B model fit on two 24 GB cards at 4 bit",
    "显卡写着24G，为什么系统里显示不到24GB",
    "tokens per second memory bandwidth decode",
    "全量微调 7B 模型要多少显存",
]

_INGEST = """
import json, time
t0 = time.perf_counter()
from knowledge.ingest import ingest
from knowledge.store import open_store
report = ingest(None, open_store(), progress=False)
print(json.dumps({"ingest_s": time.perf_counter() - t0, "files": report.files_ingested,
                  "chunks": report.chunks_total}))
"""

_FRESH_INSTALL = """
import json, sys, time
t0 = time.perf_counter()
from knowledge.search import search
result = search(sys.argv[1])
print(json.dumps({"in_process_s": time.perf_counter() - t0, "mode": result.mode, "found": result.found}))
"""

_FIRST_QUERY = """
import json, sys, time
t0 = time.perf_counter()
from knowledge.search import search_knowledge
result = search_knowledge(sys.argv[1])
print(json.dumps({"in_process_s": time.perf_counter() - t0, "top": result.passages[0].note_id}))
"""

_WARM = """
import json, statistics, sys, time
from knowledge.search import search_knowledge
queries = json.loads(sys.argv[1]); n = int(sys.argv[2])
for q in queries:  # warm-up: model, BM25 indexes for both languages, jieba
    search_knowledge(q)
times = []
for i in range(n):
    t = time.perf_counter(); search_knowledge(queries[i % len(queries)]); times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({"p50_ms": 1000 * statistics.median(times), "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))],
                  "max_ms": 1000 * times[-1], "n": n}))
"""


def _run(code: str, env: dict[str, str], *args: str) -> tuple[float, dict]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=REPO, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{out.stderr[-3000:]}")
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per first-query measurement")
    parser.add_argument("--warm-queries", type=int, default=40)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="vramwise-speed-") as tmp:
        env = {
            **os.environ,
            "VRAMWISE_DATA_DIR": tmp,
            "HF_HUB_OFFLINE": "1",
            "ANONYMIZED_TELEMETRY": "False",
            "PYTHONPATH": str(REPO),
        }
        env.pop("VRAMWISE_CHROMA_URL", None)
        with tempfile.TemporaryDirectory(prefix="vramwise-fresh-") as fresh:
            fresh_wall, fresh_result = _run(_FRESH_INSTALL, {**env, "VRAMWISE_DATA_DIR": fresh}, QUERIES[1])
        ingest_wall, ingest = _run(_INGEST, env)

        first: dict[str, list[float]] = {"en": [], "zh": []}
        for _ in range(args.runs):
            for lang, query in (("en", QUERIES[0]), ("zh", QUERIES[1])):
                wall, _result = _run(_FIRST_QUERY, env, query)
                first[lang].append(wall)
        _, warm = _run(_WARM, env, json.dumps(QUERIES), str(args.warm_queries))

    cores = os.cpu_count()
    first_median = {lang: statistics.median(times) for lang, times in first.items()}
    worst_first = max(first_median.values())
    print(f"machine: {cores} CPU cores, Python {sys.version.split()[0]}")
    print(
        f"first answer on a fresh install (empty store, {fresh_result['mode']}): {fresh_wall:.2f} s wall "
        f"- target < {TARGET_FIRST_QUERY_S:.0f} s"
    )
    print(
        f"ingest of the shipped notes ({ingest['files']} files, {ingest['chunks']} chunks): "
        f"{ingest_wall:.1f} s wall for a fresh process ({ingest['ingest_s']:.1f} s after interpreter start) "
        f"- target < {TARGET_INGEST_S:.0f} s"
    )
    for lang, times in first.items():
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(
            f"first query in a fresh process, {lang}: median {first_median[lang]:.2f} s (runs: {runs}) "
            f"- target < {TARGET_FIRST_QUERY_S:.0f} s"
        )
    print(
        f"warm query latency over {warm['n']} queries (en+zh mix): p50 {warm['p50_ms']:.1f} ms, "
        f"p95 {warm['p95_ms']:.1f} ms, max {warm['max_ms']:.1f} ms - target p50 < {TARGET_WARM_P50_MS:.0f} ms"
    )
    misses = []
    if fresh_wall >= TARGET_FIRST_QUERY_S:
        misses.append("fresh install")
    if ingest_wall >= TARGET_INGEST_S:
        misses.append("ingest")
    if worst_first >= TARGET_FIRST_QUERY_S:
        misses.append("first query")
    if warm["p50_ms"] >= TARGET_WARM_P50_MS:
        misses.append("warm p50")
    print("PASS" if not misses else f"MISS: {', '.join(misses)}")
    return 0 if not misses else 1


if __name__ == "__main__":
    sys.exit(main())
