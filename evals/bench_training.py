"""Training-memory benchmark: training.training_peak against measured peaks, per source and group (full, LoRA,
QLoRA), rows inside a fitted constant's training split (in-sample) apart from rows left out of every fit.

Each source is compared on its own measurement basis (evals/training_cases.py): PyTorch allocations for our H200
runs, nvidia-smi for the published tables (context and allocator reserve from evals/data/training_calibration.json),
the stated memory size for published fit limits. The H200 rows use no fitted constant at all: all held out.
estimate_memory, given each H200 row's options through its request, is shown beside them (the wiring check).

    python -m evals.bench_training [--json] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from typing import Any

from agent_tools.errors import VramwiseError
from agent_tools.estimate import EstimateRequest, estimate_memory
from evals.calibrate_training import (
    LEGACY_TRAIN_MODELS,
    NVSMI_TRAIN_MODELS,
    nvidia_smi_bytes,
)
from evals.calibrate_training import (
    OUT as CALIBRATION,
)
from evals.training_cases import GiB, TrainingCase, all_cases, predicted_allocated

TARGET_MAPE_PCT = 8.0


def in_sample(case: TrainingCase) -> bool:
    """Whether a fitted constant that this row's prediction uses was fitted on this row."""
    if case.basis == "nvidia_smi":
        return case.model in NVSMI_TRAIN_MODELS
    if case.kwargs.get("stack") == "hf_legacy":
        return case.model in LEGACY_TRAIN_MODELS
    return False


def predicted_on_basis(case: TrainingCase, calibration: dict[str, Any]) -> int:
    allocated = predicted_allocated(case).total_bytes
    if case.basis == "nvidia_smi":
        basis = calibration["nvidia_smi_basis"]
        return nvidia_smi_bytes(allocated, basis["context_bytes"], basis["reserve_fraction"])
    return allocated


def request_estimate(case: TrainingCase) -> int | None:
    """estimate_memory's figure for the row's options given through the request (PyTorch tensors: the runtime's
    CUDA-context overhead taken off): checks the wiring from EstimateRequest to training_peak."""
    mode = {"full": "full_finetune", "lora": "lora", "qlora": "qlora"}[case.group]
    kw = case.kwargs
    try:
        req = EstimateRequest(
            model=case.model,
            mode=mode,
            precision="bnb_nf4_dq" if mode == "qlora" else "bf16",
            context_length=case.seq_len,
            batch_size=case.batch,
            runtime="transformers",
            gradient_checkpointing=kw.get("checkpointing") != "none",
            lora_rank=kw.get("lora_rank", 16),
            master_weights=kw.get("master_weights", "optimizer"),
            optimizer=kw.get("optimizer", "adamw"),
            stack=kw.get("stack", "hf"),
            flash_attention=False if kw.get("attention") == "eager" else None,
        )
        result = estimate_memory(req)
    except (VramwiseError, ValueError):
        return None
    return result.total_bytes - result.breakdown.overhead_bytes


def _summary(errors: list[float]) -> dict[str, Any]:
    if not errors:
        return {"n": 0}
    ape = [abs(e) for e in errors]
    worst = max(errors, key=abs)
    return {"n": len(ape), "mape_pct": round(100 * statistics.mean(ape), 2), "worst_pct": round(100 * worst, 2)}


def run(verbose: bool = False) -> tuple[dict[str, Any], list[str]]:
    calibration = json.loads(CALIBRATION.read_text(encoding="utf-8"))
    held: dict[tuple[str, str], list[float]] = defaultdict(list)
    fitted: dict[tuple[str, str], list[float]] = defaultdict(list)
    via_request: dict[tuple[str, str], list[float]] = defaultdict(list)
    lines = []
    bounds = []
    for case in all_cases():
        predicted = predicted_on_basis(case, calibration)
        err = predicted / case.measured_bytes - 1
        if case.length_is_cap:
            # the run trained on at most seq_len tokens: the estimate at the cap must not fall below the measurement
            bounds.append({"case": case.label, "predicted_over_measured": round(1 + err, 3), "ok": err >= 0})
            continue
        key = (case.source, case.group)
        (fitted if in_sample(case) else held)[key].append(err)
        old = request_estimate(case) if case.source == "h200_measured" else None
        if old is not None:
            via_request[key].append(old / case.measured_bytes - 1)
        if verbose:
            tag = "in-sample" if in_sample(case) else "held-out "
            lines.append(
                f"{100 * err:+7.2f}%  {tag}  measured {case.measured_bytes / GiB:7.2f} GiB  "
                f"predicted {predicted / GiB:7.2f} GiB  {case.label}"
            )
    keys = sorted(set(held) | set(fitted))
    groups = {
        f"{source}/{group}": {
            "held_out": _summary(held[(source, group)]),
            "in_sample": _summary(fitted[(source, group)]),
            **(
                {"estimate_memory_request": _summary(via_request[(source, group)])}
                if via_request.get((source, group))
                else {}
            ),
        }
        for source, group in keys
    }
    by_group: dict[str, list[float]] = defaultdict(list)
    for (_source, group), errs in held.items():
        by_group[group].extend(errs)
    report = {
        "groups": groups,
        "held_out_by_group": {g: _summary(e) for g, e in sorted(by_group.items())},
        "upper_bound_rows": bounds,
        "calibration": {k: v for k, v in calibration.items() if k != "what"},
    }
    report["targets"] = {
        f"{name} held-out MAPE <= {TARGET_MAPE_PCT:g}%": v["held_out"].get("mape_pct", 0) <= TARGET_MAPE_PCT
        for name, v in groups.items()
        if v["held_out"]["n"]
    }
    report["targets"].update({f"upper bound holds: {b['case']}": b["ok"] for b in bounds})
    return report, lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args(argv)
    report, lines = run(args.verbose)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for line in lines:
            print(line)
        print(f"{'source/group':44s} {'held-out':>22s} {'in-sample':>22s} {'estimate_memory request':>22s}")
        for name, v in report["groups"].items():

            def cell(s: dict[str, Any]) -> str:
                return f"n={s['n']:3d} MAPE {s['mape_pct']:6.2f}%" if s["n"] else "-"

            print(
                f"{name:44s} {cell(v['held_out']):>22s} {cell(v['in_sample']):>22s} "
                f"{cell(v.get('estimate_memory_request', {'n': 0})):>22s}"
            )
        for group, s in report["held_out_by_group"].items():
            print(
                f"held out, all sources, {group:6s} n={s['n']:3d} MAPE {s['mape_pct']:6.2f}%  "
                f"worst {s['worst_pct']:+.2f}%"
            )
        for b in report["upper_bound_rows"]:
            verdict = "ok  " if b["ok"] else "LOW "
            print(f"{verdict} length is a cap: predicted/measured {b['predicted_over_measured']:.3f}  {b['case']}")
        for name, ok in report["targets"].items():
            print(f"{'ok  ' if ok else 'MISS'} {name}")
    return 0 if all(report["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
