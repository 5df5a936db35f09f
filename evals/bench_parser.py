"""Parse time of the longest accepted question and name (issue 13: linear-time parsing, target < 5 ms each).

    python -m evals.bench_parser [--repeat N]

Questions: MAX_QUESTION_CHARS (2,000) characters built to stress each part of assistant.understand (long runs of
spaces, digits, separators, family words, GPU numbers, format-like tokens, unknown words for the typo fixer,
Chinese). Names: MAX_NAME_CHARS (200) characters through the catalog resolvers (model, GPU, format, runtime), which
refuse them with a did-you-mean. Each figure is the median of --repeat runs after one warm-up run (caches filled).
Exit status 0 when every input parses under the target, else 1.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from agent_tools import catalog
from agent_tools.errors import VramwiseError
from agent_tools.units import MAX_NAME_CHARS
from assistant.understand import MAX_QUESTION_CHARS, parse

TARGET_MS = 5.0


def _fill(unit: str, length: int, head: str = "") -> str:
    text = head + unit * (length // max(1, len(unit)) + 1)
    return text[:length]


def adversarial_questions(length: int = MAX_QUESTION_CHARS) -> dict[str, str]:
    """Inputs of exactly `length` characters, each aimed at one kind of backtracking or per-token work."""
    real = "Will Qwen2.5 14B at q4_k_m fit on two RTX 3090s with 32k context for 8 users? "
    return {
        "real question repeated": _fill(real, length),
        "spaces after a number": _fill(" ", length - 1, "8") + "x",
        "spaces after 'context'": _fill(" ", length - 1, "context ") + "x",
        "spaces after 'batch'": _fill(" ", length - 1, "batch ") + "x",
        "spaces after 显存": _fill(" ", length - 1, "显存") + "x",
        "one long digit run": _fill("1", length - 1) + "亿",
        "digits and dots": _fill("1.", length),
        "separators after a family": _fill("-_ :", length - 1, "qwen") + "!",
        "family words": _fill("qwen llama ", length),
        "GPU numbers": _fill("4090 3090 a100 ", length),
        "GPU line words": _fill("rtx gtx tesla ", length),
        "sizes": _fill("7b 14b 70b ", length),
        "format-like tokens": _fill("q4_k_z fp6 int3 ", length),
        "unknown words (typo fixer)": " ".join(f"wxyq{i:05d}" for i in range(length // 10 + 1))[:length],
        "hyphenated names": _fill("abc-def-ghi-", length),
        "repo-like ids": _fill("org/name-1.2-x ", length),
        "chinese": _fill("千问七十亿模型在两张显卡上上下文三万二能跑吗", length),
        "emoji and symbols": _fill("🙂🚀%$#@", length),
    }


def adversarial_names(length: int = MAX_NAME_CHARS) -> dict[str, str]:
    return {
        "spaces after a number": "1" + " " * (length - 2) + "x",
        "core count spaces": "8" + " " * (length - 6) + " core",
        "digits": "9" * length,
        "separators": _fill("-_ .", length),
        "letters": _fill("rtxqwen", length),
    }


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: catalog indexes and pattern caches are built once per process
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


RESOLVERS: tuple[Callable[[str], object], ...] = (
    catalog.resolve_model,
    catalog.resolve_gpu,
    catalog.resolve_format,
    catalog.resolve_runtime,
)


def _resolve(resolver: Callable[[str], object], name: str) -> None:
    with contextlib.suppress(VramwiseError):  # refused with a did-you-mean: that search is what is timed
        resolver(name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.bench_parser", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per input (default 7; the median is shown)")
    args = parser.parse_args(argv)
    worst = 0.0
    print(f"questions of {MAX_QUESTION_CHARS:,} characters (assistant.understand.parse), target < {TARGET_MS} ms:")
    for label, question in adversarial_questions().items():
        assert len(question) == MAX_QUESTION_CHARS, label
        ms = _median_ms(lambda q=question: parse(q), args.repeat)
        worst = max(worst, ms)
        print(f"  {ms:7.2f} ms  {label}")
    print(f"names of {MAX_NAME_CHARS} characters (each catalog resolver; refused with a did-you-mean):")
    for label, name in adversarial_names().items():
        for resolver in RESOLVERS:
            ms = _median_ms(lambda n=name, r=resolver: _resolve(r, n), args.repeat)
            worst = max(worst, ms)
            print(f"  {ms:7.2f} ms  {resolver.__name__}: {label}")
    verdict = "PASS" if worst < TARGET_MS else "FAIL"
    print(f"{verdict}: slowest {worst:.2f} ms (target < {TARGET_MS} ms)")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
