"""Fit the decode-speed constants of each runtime profile from measured tokens/s (evals/data/throughput.json).

Model: seconds per token = bytes read per token / (bandwidth x efficiency) + layers x per-layer overhead
+ layers x cached tokens x attention cost (kernel time that grows with context beyond the bytes it reads).
Least squares on single-device rows; prints the constants that agent_tools/data/runtimes.yaml records.

    python -m evals.calibrate_speed
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from agent_tools import catalog
from agent_tools.estimate import catalog_architecture, estimate_memory, quick_estimate
from evals.bench_accuracy import speed_cases

DATA = Path(__file__).parent / "data"


def rows_by_runtime(multi_gpu: bool = False) -> dict[str, list[tuple[float, float, int, float, str, int]]]:
    """runtime -> [(bytes per token, bandwidth bytes/s, layers, measured decode tokens/s)].

    Single-device rows; for end-to-end rows (prefill included) the modelled prefill time is taken off first.
    """
    out: dict[str, list[tuple[float, float, int, float, str, int]]] = defaultdict(list)
    for case in speed_cases():
        if (case.request.num_gpus != 1) != multi_gpu or case.prefill_only:
            continue
        result = estimate_memory(case.request)
        assert result.speed is not None and case.request.gpu is not None
        if result.model.is_moe:
            continue  # per-expert dispatch cost is a separate term (moe_expert_overhead_us)
        gpu = catalog.resolve_gpu(case.request.gpu)
        decode_tps = case.measured_tps
        if not case.decode_only:
            total = case.generated_tokens / case.measured_tps
            prefill = case.prompt_tokens / result.speed.prefill_tokens_per_s if result.speed.prefill_tokens_per_s else 0
            if total - prefill <= 0:
                continue
            decode_tps = case.generated_tokens / (total - prefill)
        out[case.request.runtime].append(
            (
                result.speed.bytes_read_per_token,
                gpu.bandwidth_gb_s * 1e9,
                result.model.layers,
                decode_tps,
                case.request.precision,
                case.request.context_length,
            )
        )
    return out


def fit(rows: list[tuple[float, float, int, float, str, int]]) -> tuple[dict[str, float], float, float]:
    """Per-format efficiency, per-layer overhead and per layer-token attention cost (seconds), relative error."""
    formats = sorted({r[4] for r in rows})
    a = np.array(
        [[b / bw if f == fmt else 0.0 for fmt in formats] + [layers, layers * ctx] for b, bw, layers, _, f, ctx in rows]
    )
    t = np.array([1 / r[3] for r in rows])
    w = 1 / t  # relative error weighting
    coef, *_ = np.linalg.lstsq(a * w[:, None], t * w, rcond=None)
    effs = {fmt: 1 / c for fmt, c in zip(formats, coef[:-2], strict=True)}
    return effs, max(0.0, float(coef[-2])), max(0.0, float(coef[-1]))


def main() -> int:
    for runtime, rows in sorted(rows_by_runtime().items()):
        eff, per_layer, per_token = fit(rows)
        errs = []
        for b, bw, layers, tps, f, ctx in rows:
            pred = 1 / (b / (bw * eff[f]) + layers * per_layer + layers * ctx * per_token)
            errs.append(abs(pred - tps) / tps)
        within = sum(e <= 0.25 for e in errs)
        effs = ", ".join(f"{k}: {v:.3f}" for k, v in eff.items())
        print(
            f"{runtime:12s} rows={len(rows):4d} per_layer_overhead_us={1e6 * per_layer:.1f} "
            f"attention_ns_per_layer_token={1e9 * per_token:.3f} "
            f"median_err={100 * float(np.median(errs)):.1f}% within25={within}/{len(rows)}\n    efficiency {{{effs}}}"
        )
    # Multi-GPU layer split (llama.cpp): extra seconds per layer over the single-GPU prediction.
    extra = []
    for case in speed_cases():
        if case.request.num_gpus == 1 or case.prefill_only or case.request.runtime != "llama.cpp":
            continue
        # as if one GPU held the whole model (quick_estimate never switches to CPU offload)
        single = quick_estimate(case.request.model_copy(update={"num_gpus": 1}))
        assert single.decode_tokens_per_s
        layers = catalog_architecture(case.request.model or "").num_layers
        n = case.request.num_gpus
        extra.append((1 / case.measured_tps - 1 / single.decode_tokens_per_s) / layers / (n - 1) ** 0.5)
    if extra:
        median_us = 1e6 * float(np.median(extra))
        print(f"llama.cpp multi-GPU sync per layer / sqrt(GPUs - 1): {median_us:.1f} us (median of {len(extra)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
