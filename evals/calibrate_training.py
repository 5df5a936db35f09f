"""Fit the few training-memory constants that counting tensors cannot give, each on a named training split.

Everything else in training.training_peak is counted (weights, gradients, optimizer states, saved activations,
loss-path buffers); the H200 rows need no fitted constant. Fitted here, with the rows left out reported:

1. nvidia_smi basis (published tables read from nvidia-smi or the allocator's reserve): measured = context +
   (1 + reserve) x PyTorch-allocated peak. Split: the Qwen-1.8B rows of the Qwen v1 fine-tuning table; held out:
   Qwen-7B and ChatGLM3 rows.
2. hf_legacy loss path, bytes per logit in backward (the Hugging Face stack of 2024). Split: Unsloth's published
   Hugging Face + FA2 limits for Llama 3.1 8B; held out: Llama 3.3 70B.
3. A check, not used by the estimator: the "hf" loss path's backward bytes per logit fitted on half of the H200
   rows (split by model) next to the counted 12, with the other half's error under each.

Writes evals/data/training_calibration.json (read by evals/bench_training.py).

    python -m evals.calibrate_training [--check]   (--check: exit 1 if the file differs from a fresh fit)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable, Iterable

from agent_tools import training
from evals.training_cases import (
    DATA,
    GiB,
    TrainingCase,
    h200_cases,
    limit_cases,
    predicted_allocated,
    published_cases,
)

OUT = DATA / "training_calibration.json"

# Named splits: which rows each constant is fitted on.
NVSMI_TRAIN_MODELS = {"Qwen/Qwen-1_8B-Chat"}
LEGACY_TRAIN_MODELS = {"meta-llama/Llama-3.1-8B-Instruct"}
H200_TRAIN_MODELS = {
    "Qwen/Qwen2.5-3B-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
    "Qwen/Qwen2.5-32B-Instruct",
    "Qwen/Qwen3-0.6B",
}


def _mape(errors: Iterable[float]) -> float | None:
    e = [abs(x) for x in errors]
    return round(100 * statistics.mean(e), 2) if e else None


def _grid(lo: float, hi: float, step: float) -> list[float]:
    return [round(lo + i * step, 6) for i in range(round((hi - lo) / step) + 1)]


def nvidia_smi_bytes(allocated: int, context_bytes: float, reserve: float) -> int:
    return int(context_bytes + (1 + reserve) * allocated)


def fit_nvidia_smi_basis() -> dict:
    cases = [c for c in published_cases() if c.basis == "nvidia_smi"]
    alloc = {c.row_id: predicted_allocated(c).total_bytes for c in cases}
    train = [c for c in cases if c.model in NVSMI_TRAIN_MODELS]
    # rows whose length is only a cap (padding to the batch's longest) are bounds, not sizing cases
    test = [c for c in cases if c.model not in NVSMI_TRAIN_MODELS and not c.length_is_cap]

    def errors(rows: list[TrainingCase], ctx: float, reserve: float) -> list[float]:
        return [nvidia_smi_bytes(alloc[c.row_id], ctx, reserve) / c.measured_bytes - 1 for c in rows]

    best = min(
        ((ctx, r) for ctx in _grid(0.0, 4.0, 0.05) for r in _grid(0.0, 0.5, 0.005)),
        key=lambda p: statistics.mean(abs(e) for e in errors(train, p[0] * GiB, p[1])),
    )
    ctx, reserve = best[0] * GiB, best[1]
    return {
        "context_bytes": int(ctx),
        "reserve_fraction": reserve,
        "formula": "nvidia-smi bytes = context_bytes + (1 + reserve_fraction) x PyTorch-allocated peak",
        "train_split": f"published_cases() rows of {sorted(NVSMI_TRAIN_MODELS)} (n={len(train)})",
        "held_out": f"the other published fine-tuning rows (n={len(test)})",
        "train_mape_pct": _mape(errors(train, ctx, reserve)),
        "held_out_mape_pct": _mape(errors(test, ctx, reserve)),
    }


def _fit_loss_backward(
    train: list[TrainingCase], test: list[TrainingCase], measured: Callable[[TrainingCase], int], forward: float
) -> tuple[float, float | None, float | None]:
    def errors(rows: list[TrainingCase], backward: float) -> list[float]:
        path = training.LossPath(forward, backward, "fit")
        return [predicted_allocated(c, loss_path=path).total_bytes / measured(c) - 1 for c in rows]

    best = min(_grid(6.0, 24.0, 0.1), key=lambda b: statistics.mean(abs(e) for e in errors(train, b)))
    return best, _mape(errors(train, best)), _mape(errors(test, best))


def fit_legacy_loss() -> dict:
    rows = [c for c in limit_cases() if c.kwargs.get("stack") == "hf_legacy"]
    train = [c for c in rows if c.model in LEGACY_TRAIN_MODELS]
    test = [c for c in rows if c.model not in LEGACY_TRAIN_MODELS]
    forward = training.LOSS_PATHS["hf_legacy"].forward
    best, train_mape, test_mape = _fit_loss_backward(train, test, lambda c: c.measured_bytes, forward)
    return {
        "backward_bytes_per_logit": best,
        "forward_bytes_per_logit": forward,
        "train_split": f"training_limits.json HF + FA2 rows of {sorted(LEGACY_TRAIN_MODELS)} (n={len(train)})",
        "held_out": f"the other Hugging Face + FA2 rows (n={len(test)})",
        "train_mape_pct": train_mape,
        "held_out_mape_pct": test_mape,
    }


def check_hf_loss() -> dict:
    rows = h200_cases()
    train = [c for c in rows if c.model in H200_TRAIN_MODELS]
    test = [c for c in rows if c.model not in H200_TRAIN_MODELS]
    counted = training.LOSS_PATHS["hf"]
    best, train_mape, test_mape = _fit_loss_backward(train, test, lambda c: c.measured_bytes, counted.forward)
    test_counted = _mape(predicted_allocated(c).total_bytes / c.measured_bytes - 1 for c in test)
    return {
        "fitted_backward_bytes_per_logit": best,
        "counted_backward_bytes_per_logit": counted.backward,
        "train_split": f"H200 rows of {sorted(H200_TRAIN_MODELS)} (n={len(train)})",
        "held_out": f"H200 rows of the other models (n={len(test)})",
        "train_mape_pct_fitted": train_mape,
        "held_out_mape_pct_fitted": test_mape,
        "held_out_mape_pct_counted": test_counted,
        "used_by_estimator": "counted",
    }


def calibrate() -> dict:
    return {
        "what": "training-memory constants fitted by evals/calibrate_training.py on the named splits",
        "nvidia_smi_basis": fit_nvidia_smi_basis(),
        "hf_legacy_loss": fit_legacy_loss(),
        "hf_loss_check": check_hf_loss(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the stored constants differ from a fresh fit")
    args = ap.parse_args(argv)
    result = calibrate()
    text = json.dumps(result, indent=1, ensure_ascii=False) + "\n"
    if args.check:
        same = OUT.exists() and json.loads(OUT.read_text(encoding="utf-8")) == result
        print("training_calibration.json is current" if same else "training_calibration.json is stale: rerun")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
