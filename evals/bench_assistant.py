"""Offline assistant speed: `vramwise ask` in a fresh process, and warm answers in one process.

Cold: `vramwise ask QUESTION` run as a user runs it (a new Python process each time), for one question of each
intent. Warm: every eval case question answered once to warm up (catalogs, the embedding model, BM25 indexes),
then again, timed, in the same process, as `vramwise chat` and the help desk run. Target (issue 6, 2 CPU
cores): every warm answer under 2 s. Exits 1 when it is missed.

    .venv/bin/python evals/bench_assistant.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_WARM_S = 2.0
COLD_QUESTIONS = {
    "estimate": "qwen2.5 14b 32k上下文要多少显存",
    "recommend": "我的4090能跑什么模型",
    "compare": "is 14B int4 better than 7B fp16",
    "concept": "什么是 KV cache",
}


def _cold(question: str) -> float:
    cli = Path(sys.executable).parent / "vramwise"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
    start = time.perf_counter()
    subprocess.run([str(cli), "ask", question], check=True, capture_output=True, env=env, cwd=REPO)
    return time.perf_counter() - start


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    print("cold `vramwise ask` (fresh process, includes Python start-up):")
    for intent, question in COLD_QUESTIONS.items():
        print(f"  {intent:<9} {_cold(question):6.2f} s   {question}")

    sys.path.insert(0, str(REPO))
    from assistant.offline import answer
    from evals.run import load_cases

    questions = [loaded.case.question for loaded in load_cases()]
    for question in questions:  # warm-up pass
        answer(question)
    by_intent: dict[str, list[float]] = defaultdict(list)
    slowest = (0.0, "")
    for question in questions:
        start = time.perf_counter()
        intent = answer(question).intent
        took = time.perf_counter() - start
        by_intent[intent].append(took)
        slowest = max(slowest, (took, question))
    print(f"warm answers, one process, {len(questions)} eval questions:")
    for intent, times in sorted(by_intent.items()):
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(
            f"  {intent:<9} n={len(times):<3} p50 {statistics.median(times) * 1000:7.1f} ms   "
            f"p95 {p95 * 1000:7.1f} ms   max {times[-1] * 1000:7.1f} ms"
        )
    print(f"slowest: {slowest[0] * 1000:.1f} ms - {slowest[1]}  (target < {TARGET_WARM_S:.0f} s)")
    return 0 if slowest[0] < TARGET_WARM_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
