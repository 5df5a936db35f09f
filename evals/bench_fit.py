"""Fit verdicts against published fit/OOM outcomes, through the product's own verdict (estimate_memory(...).fit).

    python -m evals.bench_fit [--verbose]

Outcomes: XiongjieDai/GPU-Benchmarks-on-LLM-Inference README tables (llama.cpp, Dec 2023 builds, -c 512, no flash
attention): each (model, format, GPU, GPU count) either ran on the GPUs or ran out of memory (OOM, or the notebook
fell back to the CPU). The requests say what those builds did: row split across GPUs (the only multi-GPU mode before
January 2024) and the 2023 CUDA build (cuBLAS prompt matmuls through a pool that kept its buffers).
None of these outcomes was used to set a constant: the runtime's margins come from llama.cpp and PyTorch sources, the
256 MiB under the Metal working set from a notebook log that is not among these rows, and the 2023 builds' per-GPU
overhead (evals/calibrate_legacy_overhead.py) from where single-GPU weight loads stopped, loads whose outcomes are OOM
at any overhead. A GPU missing from the catalog counts as "no verdict", reported separately.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from agent_tools.errors import VramwiseError
from agent_tools.estimate import estimate_memory
from evals.speed_data import DATA, _format, _gpu_name, _model_id


@dataclass
class Outcome:
    label: str
    fields: dict[str, Any]
    ran: bool


def outcomes() -> list[Outcome]:
    rows = json.loads((DATA / "throughput.json").read_text(encoding="utf-8"))["rows"]
    grouped: dict[tuple[str, str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["source_id"] != "xd_readme_llama12" or r.get("status") not in ("ok", "OOM", "ok_cpu_fallback"):
            continue
        key = (r["model"], r["weight_format"], r.get("gpu_canonical") or r["gpu"], r.get("n_gpus") or 1)
        grouped[key].append(r)
    out = []
    for (model, fmt, gpu, n), group in sorted(grouped.items()):
        model_id, _ = _model_id(model)
        precision = _format(fmt)
        if model_id is None or precision is None:
            continue
        ran = any(r["status"] == "ok" for r in group)
        row_split = n > 1 and any(str(r.get("split_mode", "")).startswith("row") for r in group)
        fields = {
            "model": model_id,
            "precision": precision,
            "gpu": _gpu_name(gpu),
            "num_gpus": n,
            "runtime": "llama.cpp",
            "context_length": max(r.get("context_len") or 512 for r in group),
            "flash_attention": False,
            # Dec 2023 builds: row split was the only multi-GPU mode, and prompts went through the legacy CUDA pool
            "split_mode": "row" if row_split else None,
            "legacy_cuda_build": True,
        }
        out.append(Outcome(f"{model} {fmt} on {n} x {gpu}", fields, ran))
    return out


def bench(verbose: bool = False) -> dict[str, Any]:
    agree = rows = ooms = caught = tight = tight_agree = unresolved = 0
    misses: list[str] = []
    for case in outcomes():
        try:
            fit = estimate_memory(**case.fields).fit
        except VramwiseError as err:
            unresolved += 1
            if verbose:
                misses.append(f"no verdict: {case.label}: {err}")
            continue
        assert fit is not None
        predicted = fit.level != "does_not_fit"
        rows += 1
        agree += predicted == case.ran
        if not case.ran:
            ooms += 1
            caught += not predicted
        if abs(fit.headroom_bytes) < fit.margin_bytes:
            tight += 1
            tight_agree += predicted == case.ran
        if predicted != case.ran:
            misses.append(
                f"{case.label}: predicted {fit.level} (headroom {fit.headroom_bytes / 2**30:+.2f} GiB), "
                f"measured {'ran' if case.ran else 'OOM'}"
            )
    return {
        "outcomes": rows,
        "agreement_pct": round(100 * agree / rows, 2) if rows else None,
        "ooms": ooms,
        "ooms_caught": caught,
        "tight_cases": tight,
        "tight_agreement_pct": round(100 * tight_agree / tight, 2) if tight else None,
        "no_verdict": unresolved,
        "misses": misses,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    r = bench(args.verbose)
    print(
        f"fit vs published outcomes (llama.cpp, XiongjieDai README): {r['agreement_pct']}% agree on {r['outcomes']} "
        f"outcomes; OOMs caught {r['ooms_caught']}/{r['ooms']}; tight cases {r['tight_cases']} "
        f"({r['tight_agreement_pct']}% agree); no verdict (GPU not in catalog) {r['no_verdict']}"
    )
    for line in r["misses"]:
        print("  ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
