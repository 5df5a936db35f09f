"""Fit the decode and prefill constants of each runtime from measured tokens/s, on a named training split.

The formula is agent_tools.speed.decode_features: seconds per decode step = sum of features x constants (fixed
per-token cost by memory class, per-layer cost, inverse bandwidth efficiency by memory class plus an extra per weight
format, attention per layer and cached token, layer-split hops, tensor-parallel all-reduces, MoE expert dispatch).
This script imports that function, so the constants fit exactly what the product evaluates. Non-negative least
squares on relative error (each row divided by its measured step time): constants bounded at zero, bandwidth
efficiency at 100% (format extras may be negative: a kernel can stream a quantized format better than fp16).

Prefill efficiency is the median over prompt-processing rows of measured / (TFLOPS / FLOPs per token), per memory
class; runtimes without such rows keep runtimes.yaml's prefill_efficiency.

The range each result carries (ratio_low / ratio_high) is the 10th-90th percentile of measured / predicted on
training rows predicted by a fit that left their source out (or in-sample when a runtime has one source).

    python -m evals.calibrate_speed            # fit on the training split, print constants and errors
    python -m evals.calibrate_speed --write    # also write agent_tools/data/speed_fit.yaml
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import yaml

from agent_tools import catalog, speed
from evals.speed_data import (
    TRAINING_SOURCES,
    SpeedCase,
    decode_step_target,
    predict,
    prefill_dominated,
    speed_cases,
)

RUNTIMES = ("llama.cpp", "vllm", "transformers")
GENERIC_FROM = ("llama.cpp",)
MIN_ROWS_PER_SOURCE_FOR_HELD_OUT_RANGE = 30


def _prefill_efficiency(cases: Sequence[SpeedCase], runtime: str) -> dict[str, float]:
    per_class: dict[str, list[float]] = defaultdict(list)
    for c in cases:
        x = c.inputs
        if c.kind != "pp" or not x.tflops or not x.flops_per_token:
            continue
        flops = x.flops_per_token + c.prefill_attention_flops
        per_class[x.memory].append(c.measured_tps * flops / (x.tflops * 1e12 * x.tp))
    out = {m: round(statistics.median(v), 3) for m, v in per_class.items()}
    default = catalog.runtimes()[runtime if runtime in catalog.runtimes() else "generic"].prefill_efficiency
    for m in speed.MEMORY_CLASSES:
        out.setdefault(m, default)
    return out


def _fill(coef: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """Constants without training rows take their family's mean (e.g. fixed@unified from fixed@hbm/gddr)."""
    filled = []
    out = dict(coef)
    families = {
        "fixed@": [f"fixed@{m}" for m in speed.MEMORY_CLASSES],
        "bytes@": [f"bytes@{m}" for m in speed.MEMORY_CLASSES],
        "allreduce@": [f"allreduce@{i}" for i in speed.INTERCONNECTS],
    }
    for names in families.values():
        have = [coef[n] for n in names if n in coef]
        for n in names:
            if n not in coef:
                out[n] = round(statistics.mean(have), 4) if have else 0.0
                filled.append(n)
    for n in ("layer", "attention", "hop", "expert"):
        if n not in out:
            out[n] = 0.0
            filled.append(n)
    return out, filled


def nnls(a: np.ndarray, b: np.ndarray, max_iter: int = 500) -> np.ndarray:
    """min ||a x - b|| subject to x >= 0: Lawson & Hanson's active-set method ("Solving Least Squares Problems")."""
    n = a.shape[1]
    x = np.zeros(n)
    free = np.zeros(n, dtype=bool)
    for _ in range(max_iter):
        grad = a.T @ (b - a @ x)
        candidates = ~free & (grad > 1e-12)
        if not candidates.any():
            break
        free[np.argmax(np.where(candidates, grad, -np.inf))] = True
        while True:
            z = np.zeros(n)
            z[free] = np.linalg.lstsq(a[:, free], b, rcond=None)[0]
            if (z[free] > 0).all():
                x = z
                break
            blocked = free & (z <= 0)
            step = np.min(x[blocked] / (x[blocked] - z[blocked]))
            x = x + step * (z - x)
            free &= x > 1e-12
            x[~free] = 0.0
    return x


def _has_context_sweep(cases: Sequence[SpeedCase]) -> bool:
    """Whether some configuration (source, model, format, GPU) was measured at contexts 4x and 1024+ tokens apart:
    only then does the
    attention-per-cached-token constant separate from the fixed and per-byte ones (between sources it picks up build
    differences instead)."""
    spans: dict[tuple, list[int]] = defaultdict(list)
    for c in cases:
        if c.kind != "pp":
            spans[(c.source, c.request.model, c.request.precision, c.request.gpu, c.request.num_gpus)].append(
                c.inputs.context
            )
    return any(max(v) >= 4 * max(1, min(v)) and max(v) - min(v) >= 1024 for v in spans.values())


@dataclass
class Fit:
    constants: speed.SpeedConstants
    decode_rows: int


def fit_runtime(cases: Sequence[SpeedCase], runtime: str, sources: Iterable[str]) -> Fit:
    """Constants of `runtime` (or of the pooled GENERIC_FROM runtimes for 'generic') fitted on `cases`."""
    mine = [c for c in cases if (c.runtime in GENERIC_FROM if runtime == "generic" else c.runtime == runtime)]
    prefill = _prefill_efficiency(mine, runtime if runtime != "generic" else "generic")
    seed = speed.SpeedConstants(runtime, {}, prefill, 1.0, 1.0)
    rows: list[tuple[dict[str, float], float]] = []
    sweep = _has_context_sweep(mine)
    for c in mine:
        t = None if prefill_dominated(c) else decode_step_target(c, seed)
        if t is not None and t > 0:
            features = speed.decode_features(c.inputs)
            if not sweep:
                features.pop("attention")  # not identifiable: left at 0 (listed in 'filled')
            rows.append((features, t))
    if not rows:
        coef, filled = _fill({})
        return Fit(speed.SpeedConstants(runtime, coef, prefill, 1.0, 1.0, tuple(sorted(sources)), 0, tuple(filled)), 0)
    names = sorted({k for f, _ in rows for k in f})
    a = np.array([[f.get(n, 0.0) / t for n in names] for f, t in rows])
    b = np.ones(len(rows))
    # Efficiency cannot pass 100% of the catalog's peak bandwidth (bytes@ >= 1); format extras may be negative.
    lower = np.array([-0.6 if n.startswith("fmt@") else 1.0 if n.startswith("bytes@") else 0.0 for n in names])
    solution = lower + nnls(a, b - a @ lower)  # x = lower + y, y >= 0
    coef = {n: round(float(v), 4) for n, v in zip(names, solution, strict=True)}
    coef, filled = _fill(coef)
    fmts = [v for k, v in coef.items() if k.startswith("fmt@")]
    default_fmt = round(statistics.mean(fmts), 4) if fmts else 0.0
    constants = speed.SpeedConstants(
        runtime, coef, prefill, 1.0, 1.0, tuple(sorted(sources)), len(rows), tuple(filled), default_fmt
    )
    return Fit(constants, len(rows))


def _ratios(cases: Sequence[SpeedCase], c: speed.SpeedConstants) -> list[float]:
    decode = [case for case in cases if case.kind != "pp" and not prefill_dominated(case)]
    return [case.measured_tps / p for case in decode if (p := predict(case, c)) > 0]


def _quantiles(ratios: list[float]) -> tuple[float, float]:
    if len(ratios) < 5:
        return 0.75, 1.25
    q = np.quantile(ratios, [0.1, 0.9])
    return round(float(q[0]), 3), round(float(q[1]), 3)


def fit_all(
    cases: Sequence[SpeedCase], sources: Iterable[str], with_range: bool = True
) -> dict[str, speed.SpeedConstants]:
    """Constants per runtime fitted on the cases of `sources`; ranges from held-out-source residuals."""
    sources = tuple(sorted(set(sources)))
    train = [c for c in cases if c.source in sources]
    out: dict[str, speed.SpeedConstants] = {}
    for runtime in RUNTIMES:
        fit = fit_runtime(train, runtime, {c.source for c in train if _belongs(c, runtime)})
        lo, hi = 1.0, 1.0
        if with_range:
            lo, hi = _range(train, runtime, fit.constants)
        k = fit.constants
        out[runtime] = speed.SpeedConstants(
            runtime,
            k.coefficients,
            k.prefill_efficiency,
            lo,
            hi,
            k.trained_on,
            k.rows,
            k.filled,
            k.default_format_coefficient,
        )
    _share_interconnect(out)
    # The generic runtime is timed like llama.cpp, the runtime with the widest hardware coverage in the data.
    out["generic"] = replace(out["llama.cpp"], runtime="generic")
    return out


def _share_interconnect(consts: dict[str, speed.SpeedConstants]) -> None:
    """A runtime without tensor-parallel rows borrows the all-reduce cost fitted for the runtimes that have them:
    the hand-off over PCIe/NVLink is the hardware's, a better guess than none."""
    names = [f"allreduce@{i}" for i in speed.INTERCONNECTS]
    fitted = [k.coefficients[n] for k in consts.values() for n in names if n not in k.filled]
    if not fitted:
        return
    value = round(statistics.mean(fitted), 4)
    for rt, k in consts.items():
        if all(n in k.filled for n in names):
            filled = tuple(f for f in k.filled if f not in names) + tuple(f"{n} (from other runtimes)" for n in names)
            consts[rt] = replace(k, coefficients={**k.coefficients, **dict.fromkeys(names, value)}, filled=filled)


def _belongs(c: SpeedCase, runtime: str) -> bool:
    return c.runtime in GENERIC_FROM if runtime == "generic" else c.runtime == runtime


def _range(train: Sequence[SpeedCase], runtime: str, in_sample: speed.SpeedConstants) -> tuple[float, float]:
    mine = [c for c in train if _belongs(c, runtime)]
    counts: dict[str, int] = defaultdict(int)
    for c in mine:
        counts[c.source] += 1
    big = [s for s, n in counts.items() if n >= MIN_ROWS_PER_SOURCE_FOR_HELD_OUT_RANGE]
    if len(big) < 2:
        return _quantiles(_ratios(mine, in_sample))
    ratios: list[float] = []
    for s in big:
        others = [c for c in mine if c.source != s]
        c_out = fit_runtime(others, runtime, {o.source for o in others}).constants
        ratios += _ratios([c for c in mine if c.source == s], c_out)
    return _quantiles(ratios)


def leave_one_source_out(cases: Sequence[SpeedCase]) -> dict[str, list[tuple[SpeedCase, float]]]:
    """Source -> [(case, prediction by constants fitted on every other source)]."""
    out: dict[str, list[tuple[SpeedCase, float]]] = {}
    for s in sorted({c.source for c in cases}):
        others = {c.source for c in cases if c.source != s}
        consts = fit_all(cases, others, with_range=False)
        out[s] = [(c, predict(c, consts[c.runtime])) for c in cases if c.source == s]
    return out


def roofline_baselines(cases: Sequence[SpeedCase], train_sources: Iterable[str]) -> dict[str, speed.SpeedConstants]:
    """Peers' roofline: bytes / (bandwidth x one efficiency per runtime), no fixed or per-layer term; efficiency
    fitted on the same training split (median measured / roofline-at-100% on decode rows)."""
    train_sources = set(train_sources)
    out = {}
    for runtime in (*RUNTIMES, "generic"):
        mine = [c for c in cases if c.source in train_sources and _belongs(c, runtime)]
        prefill = _prefill_efficiency(mine, runtime)
        seed = speed.SpeedConstants(runtime, {}, prefill, 1.0, 1.0)
        effs = []
        for c in mine:
            t = decode_step_target(c, seed)
            if t:
                effs.append(speed.roofline_seconds(c.inputs) / t)
        eff = statistics.median(effs) if effs else 0.8
        coef = {f"bytes@{m}": round(1 / eff, 4) for m in speed.MEMORY_CLASSES}
        out[runtime] = speed.SpeedConstants(runtime, coef, prefill, 1.0, 1.0, tuple(sorted(train_sources)), len(effs))
    return out


def to_yaml(consts: dict[str, speed.SpeedConstants], split_name: str) -> str:
    body = {
        "training_split": split_name,
        "training_sources": sorted({s for k in consts.values() for s in k.trained_on}),
        "runtimes": {
            rt: {
                "coefficients": dict(sorted(k.coefficients.items())),
                "default_format_coefficient": k.default_format_coefficient,
                "prefill_efficiency": dict(sorted(k.prefill_efficiency.items())),
                "ratio_low": k.ratio_low,
                "ratio_high": k.ratio_high,
                "trained_on": list(k.trained_on),
                "rows": k.rows,
                "filled": list(k.filled),
            }
            for rt, k in consts.items()
        },
    }
    header = (
        "# GENERATED by `python -m evals.calibrate_speed --write`; do not edit by hand.\n"
        "# Decode/prefill constants per runtime for agent_tools/speed.py (its docstring has the formula; units:\n"
        "# fixed/layer/hop/allreduce/expert in microseconds, attention in ns per layer per cached token, bytes/fmt as\n"
        "# inverse bandwidth efficiency). Fitted by least squares on relative error to the measured rows of the\n"
        "# training sources in evals/data/throughput.json; 'filled' lists constants without training rows, set to\n"
        "# their family's mean. ratio_low/high: 10th/90th percentile of measured/predicted on held-out rows.\n"
    )
    return header + yaml.safe_dump(body, sort_keys=False, width=120)


def _print(consts: dict[str, speed.SpeedConstants], cases: Sequence[SpeedCase]) -> None:
    for rt, k in consts.items():
        co = ", ".join(f"{n}={v:g}" for n, v in sorted(k.coefficients.items()))
        print(f"{rt}: {k.rows} decode rows from {', '.join(k.trained_on) or '-'}")
        print(f"    {co}")
        pf = ", ".join(f"{m}={v}" for m, v in k.prefill_efficiency.items())
        filled = ", ".join(k.filled) or "-"
        print(f"    prefill efficiency {pf}; range x{k.ratio_low}-x{k.ratio_high}; filled: {filled}")
    train = [c for c in cases if c.source in {s for k in consts.values() for s in k.trained_on} and c.kind != "pp"]
    errs = [abs(predict(c, consts[c.runtime]) / c.measured_tps - 1) for c in train]
    if errs:
        within = sum(e <= 0.25 for e in errs)
        print(f"in-sample decode/end-to-end rows within 25%: {within}/{len(errs)} ({100 * within / len(errs):.1f}%)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="fit the speed constants (agent_tools/data/speed_fit.yaml)")
    ap.add_argument("--write", action="store_true", help="write agent_tools/data/speed_fit.yaml")
    ap.add_argument(
        "--split",
        choices=("training", "all"),
        default="training",
        help="training: the sources the product shipped with before 2026-12-04 (evals.speed_data.TRAINING_SOURCES); "
        "all: every source",
    )
    args = ap.parse_args(argv)
    cases = speed_cases()
    sources = TRAINING_SOURCES if args.split == "training" else tuple({c.source for c in cases})
    consts = fit_all(cases, sources)
    _print(consts, cases)
    if args.write:
        speed.FIT_FILE.write_text(to_yaml(consts, args.split), encoding="utf-8")
        speed.fitted_constants.cache_clear()
        print(f"wrote {speed.FIT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
