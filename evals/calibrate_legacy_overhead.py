"""Fit the per-GPU memory llama.cpp CUDA builds of Dec 2023 lost outside their tensors, from weight loads that ran out
of memory (evals/data/llama_cpp_2023_load_ooms.json).

    python -m evals.calibrate_legacy_overhead [--write]

Training split: the single-GPU load-time OOM logs of the XiongjieDai notebooks (builds 1671-1691). Each log says how
far the load got: llama.cpp printed one progress dot per whole percent of the file before cudaMalloc'ing each tensor,
so the tensor that failed started between dots% and (dots+1)% of the file. With the tensors before it on the GPU,
the GPU's overhead (CUDA context, cuBLAS, allocation rounding: everything but tensor bytes) lies in
(total - on_gpu - failing tensor, total - on_gpu]. Held out: every fit/OOM outcome of evals/bench_fit.py (the loads
here are among its OOMs, each short by more than 0.5 GiB at any overhead in the fitted range, so the verdicts carry
nothing of the fit).

The fitted value is the largest overhead no log contradicts as an understatement: the smallest per-GPU lower bound.
Every GPU measured lost at least this much, so a verdict using it never calls a run out of memory for an overhead
some card did not have.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from agent_tools import catalog
from agent_tools.resolve import catalog_architecture
from agent_tools.weights import tensor_bytes
from evals.speed_data import _format, _model_id

DATA = Path(__file__).parent / "data"
DEFAULTS = Path(catalog.__file__).parent / "data" / "defaults.yaml"
KEY = "llama_cpp_2023_cuda_overhead_bytes"
MiB = 2**20
# GGUF file order of these LLaMA files (the llama_model_loader tensor dump in the source's Mac notebooks)
LAYER_ORDER = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_down", "ffn_up")


@dataclass(frozen=True)
class Bound:
    gpu: str
    label: str
    low: int  # overhead > low
    high: int  # overhead <= high
    file_bytes: int
    logged_bytes: int


def file_tensors(model: str, precision: str) -> list[tuple[str, int]]:
    """(name, bytes) in file order; 1-D tensors are F32 in every GGUF."""
    arch = catalog_architecture(model)
    sized = tensor_bytes(arch, catalog.resolve_format(precision), catalog.formats_file())
    by_layer: dict[int | None, dict[str, int]] = defaultdict(dict)
    for tensor, _label, size in sized:
        by_layer[tensor.layer][tensor.name] = tensor.elements * 4 if tensor.rows == 1 else size
    top = by_layer[None]
    out = [("token_embd", top["token_embd"]), ("output_norm", top["norm"]), ("output", top["output"])]
    for layer in range(arch.num_layers):
        t = by_layer[layer]
        out += [(name, t[name]) for name in LAYER_ORDER]
        out += [("attn_norm", t["norm"] // 2), ("ffn_norm", t["norm"] // 2)]
    return out


def bound(row: dict) -> Bound:
    model, _ = _model_id(row["model"])
    precision = _format(row["weight_format"])
    assert model and precision, row
    tensors = file_tensors(model, precision)
    total_file = sum(size for _name, size in tensors)
    total = row["gpu_total_MiB_nvidia_smi"] * MiB
    dots = row["progress_dots"]
    lows, highs = [], []
    done = on_gpu = 0
    for name, size in tensors:
        if 100 * done // total_file == dots and name != "token_embd":
            lows.append(total - on_gpu - size)
            highs.append(total - on_gpu)
        done += size
        on_gpu += 0 if name == "token_embd" else size  # the input embeddings stay in system memory
    logged = int((row["logged_vram_used_MiB"] + row["logged_system_memory_MiB"]) * MiB)
    label = f"{row['model']} {row['weight_format']} ({row['notebook']}, {dots} dots)"
    return Bound(row["gpu"], label, min(lows), max(highs), total_file, logged)


def fit() -> tuple[int, dict[str, tuple[int, int]], list[Bound]]:
    rows = json.loads((DATA / "llama_cpp_2023_load_ooms.json").read_text(encoding="utf-8"))["rows"]
    bounds = [bound(r) for r in rows]
    per_gpu: dict[str, tuple[int, int]] = {}
    for b in bounds:
        low, high = per_gpu.get(b.gpu, (0, 2**62))
        per_gpu[b.gpu] = (max(low, b.low), min(high, b.high))
    value = -(-min(low for low, _high in per_gpu.values()) // MiB) * MiB  # strictly above the bound, whole MiB
    return value, per_gpu, bounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"store the value as {KEY} in defaults.yaml")
    args = parser.parse_args(argv)
    value, per_gpu, bounds = fit()
    for b in bounds:
        off = 100 * (b.file_bytes - b.logged_bytes) / b.logged_bytes
        print(f"  {b.gpu:32s} ({b.low / MiB:6.0f}, {b.high / MiB:6.0f}] MiB  file {off:+.2f}% vs log  {b.label}")
    print("per GPU (intersection of its logs):")
    for gpu, (low, high) in sorted(per_gpu.items()):
        note = "" if low < high else "  (logs disagree: a GPU loses more than tensor bytes per allocation)"
        print(f"  {gpu:32s} ({low / MiB:6.0f}, {high / MiB:6.0f}] MiB{note}")
    print(f"fitted {KEY}: {value} ({value / MiB:.0f} MiB), the smallest per-GPU lower bound")
    if args.write:
        text = DEFAULTS.read_text(encoding="utf-8")
        text, n = re.subn(rf"({KEY}:\n  value: )\d+", rf"\g<1>{value}", text)
        if n != 1:
            print(f"{KEY} not found in {DEFAULTS}", file=sys.stderr)
            return 1
        DEFAULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
