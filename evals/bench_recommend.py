"""recommend_model over the whole GPU catalog: does every candidate fit by the engine, and how fast is it?

For every GPU in the catalog (and two CPU-only RAM sizes), at 4k and 32k tokens, for 1 and 8 concurrent users,
recommend_model(top_k=5) is asked, and each candidate is sized again with estimate_memory at the same model,
precision, runtime, context and concurrency on the same hardware. Targets (issue 3): 100% of candidates fit;
recommend over the full catalog under 50 ms in-process (warm). Exits 1 when a target is missed.

    .venv/bin/python evals/bench_recommend.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent_tools import catalog
from agent_tools.advice import recommend_model
from agent_tools.estimate import estimate_memory

TARGET_MS = 50.0


def main() -> int:
    hardware = [{"gpu": g.id} for g in catalog.list_gpus()] + [{"system_ram_gb": 16}, {"system_ram_gb": 64}]
    recommend_model(gpu="RTX 4090")  # warm: catalogs and parsed architectures
    checked = fitting = asks = empty = 0
    misses: list[str] = []
    timings: list[float] = []
    for hw in hardware:
        for context in (4096, 32768):
            for users in (1, 8):
                start = time.perf_counter()
                r = recommend_model(**hw, context_length=context, concurrent_users=users, top_k=5)
                timings.append((time.perf_counter() - start) * 1000)
                asks += 1
                empty += not r.candidates
                fields: dict = {"gpu": hw["gpu"]} if "gpu" in hw else {}
                if "system_ram_gb" in hw:
                    fields["vram_gb"] = r.hardware.memory_bytes_per_gpu / 2**30
                for c in r.candidates:
                    e = estimate_memory(
                        model=c.model,
                        precision=c.precision,
                        context_length=context,
                        batch_size=users,
                        runtime=r.hardware.runtime,
                        **fields,
                    )
                    checked += 1
                    if e.fit and e.fit.fits:
                        fitting += 1
                    else:
                        misses.append(f"{hw} ctx={context} users={users}: {c.model} {c.precision}")
    timings.sort()
    share = fitting / checked if checked else 0.0
    print(f"{asks} recommendations ({len(hardware)} hardware x 2 contexts x 2 concurrencies), {empty} with no fit")
    print(f"candidates that fit when sized again by estimate_memory: {fitting}/{checked} = {100 * share:.1f}%")
    for miss in misses[:10]:
        print(f"  does not fit: {miss}")
    p50, p95 = statistics.median(timings), timings[int(0.95 * (len(timings) - 1))]
    print(f"recommend_model, warm, full catalog: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {timings[-1]:.1f} ms")
    ok = fitting == checked and p50 < TARGET_MS
    all_fit, fast = fitting == checked, p50 < TARGET_MS
    print(f"targets: 100% fit [{'x' if all_fit else ' '}], p50 < {TARGET_MS:.0f} ms [{'x' if fast else ' '}]")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
