"""Build evals/data/measured_gpu_h200.json: the shared H200 rows plus the rows of our own runs of measure_gpu.py.

    python -m evals.tools.measured_gpu_rows [--shared ../shared/reference/measured_gpu_h200.json]

Reads the raw JSON lines that measure_gpu.py wrote on the device (evals/tools/runs/h200_2026-12-04/) and turns them
into rows of the shared schema. The peak of a point is torch.cuda.max_memory_allocated() over its two optimizer
steps (or its generate() call); when a job started with tensors an earlier job had left in the process, the row
comes from the second call, which ran each such job alone in a fresh process, and the first call's figure minus
the leftover is kept beside it as a check of that subtraction.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RUN_DIR = HERE / "runs" / "h200_2026-12-04"
DATA_FILE = HERE.parent / "data" / "measured_gpu_h200.json"
SHARED_DEFAULT = HERE.parents[1].parent / "shared" / "reference" / "measured_gpu_h200.json"

CALL1 = "h200-2026-12-04-call1"
CALL2 = "h200-2026-12-04-call2"
SHARED_RUN = "shared-reference"
# Below this a leftover is the allocator's own bookkeeping noise, not a tensor an earlier job kept.
LEFTOVER_TOLERANCE = 1 << 20
DEFAULT_TARGETS = "q,k,v,o,gate,up,down"
KIND_NAMES = {"full": "full_finetune", "lora": "lora", "qlora": "qlora", "infer": "inference"}

Record = dict[str, Any]


def read_jsonl(path: Path) -> list[Record]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def split_processes(records: list[Record]) -> list[list[Record]]:
    """Each measure_gpu.py process starts with one 'env' record; a file may hold several processes."""
    processes: list[list[Record]] = []
    for rec in records:
        if rec["kind"] == "env":
            processes.append([])
        processes[-1].append(rec)
    return processes


def job_leftovers(process: list[Record]) -> dict[int, int]:
    """Bytes an earlier job left allocated when each job was built. The first job is clean by definition; later
    jobs are compared with the cleanest later build, since the first backward pass adds a cuBLAS workspace that
    stays for the life of the process."""
    before = {r["job"]: r["allocated_before_build"] for r in process if r["kind"] == "build"}
    jobs = sorted(before)
    if not jobs:
        return {}
    leftovers = {jobs[0]: 0}
    if len(jobs) > 1:
        baseline = min(before[j] for j in jobs[1:])
        leftovers.update({j: before[j] - baseline for j in jobs[1:]})
    return leftovers


def _optimizer(rec: Record) -> str:
    name = rec.get("optimizer", "")
    if name.startswith("bitsandbytes AdamW8bit"):
        return f"bitsandbytes.optim.AdamW8bit ({name.split()[-1]}), lr 1e-5, 2 steps"
    return "torch.optim.AdamW(fused=True), lr 1e-5, 2 steps"


def point_key(rec: Record) -> tuple[Any, ...]:
    return (
        rec["model"],
        rec["kind"],
        rec.get("dtype"),
        rec.get("optimizer"),
        rec.get("seq") or rec.get("context"),
        rec["batch"],
        rec.get("gradient_checkpointing"),
        rec.get("attn_implementation"),
        rec.get("rank"),
    )


def to_row(rec: Record, build: Record, adapters: Record | None, leftover: int, run: str) -> Record:
    kind = KIND_NAMES[rec["kind"]]
    row: Record = {"model": rec["model"], "kind": kind}
    if kind == "qlora":
        row["weights_dtype"] = "nf4"
    else:
        row["weights_dtype"] = rec["dtype"]
    row.update(params=build["params"], batch=rec["batch"], status=rec["status"])
    if kind == "inference":
        row.update(prompt_tokens=rec["context"], new_tokens=rec["new_tokens"])
    else:
        row.update(
            seq_len=rec["seq"],
            gradient_checkpointing=rec["gradient_checkpointing"],
            autocast="bf16",
            optimizer=_optimizer(rec),
        )
    row["attn_implementation"] = rec["attn_implementation"]
    if kind == "full_finetune":
        row["precision"] = (
            "fp32 master weights, bf16 autocast"
            if rec["dtype"] == "fp32"
            else "pure bf16: bf16 weights, gradients and optimizer states, bf16 autocast"
        )
    if kind in ("lora", "qlora"):
        rank = rec["rank"]
        row.update(
            lora_rank=rank,
            lora_alpha=2 * rank,
            lora_targets=rec.get("lora_targets") or DEFAULT_TARGETS,
            lora_dropout=0.0,
        )
    if kind == "qlora":
        row["quantization"] = (
            "bitsandbytes Linear4bit NF4, double quantization, bf16 compute, every nn.Linear but "
            "lm_head; then peft.prepare_model_for_kbit_training (other weights cast to fp32)"
        )
        row["linear_layers_4bit"] = build["linear4bit_swapped"]
    if kind != "inference":
        row["trainable_params"] = rec["trainable_params"]
        if adapters is not None:
            row["adapter_params"] = adapters["trainable_params"]
    if rec["status"] == "ok":
        row["peak_allocated_bytes"] = rec["max_allocated"] - leftover
        row["allocated_before_first_step_bytes"] = rec["base_allocated"] - leftover
        if rec.get("step_peaks"):
            row["step_peak_allocated_bytes"] = [p - leftover for p in rec["step_peaks"]]
    else:
        row["error"] = rec.get("error", "")[:200]
    row["run"] = run
    return row


def rows_of_run(records: list[Record], run: str) -> list[tuple[tuple[Any, ...], Record, int]]:
    """(point key, row, leftover) per point; leftover > 0 marks a row whose peak still held an earlier job's
    tensors, which the row's bytes already have subtracted."""
    out: list[tuple[tuple[Any, ...], Record, int]] = []
    for process in split_processes(records):
        leftovers = job_leftovers(process)
        builds = {r["job"]: r for r in process if r["kind"] == "build"}
        adapters = {r["job"]: r for r in process if r["kind"] == "adapters"}
        points = [r for r in process if r["kind"] in KIND_NAMES]
        first_base = {}
        for rec in points:
            first_base.setdefault(rec["job"], rec.get("base_allocated"))
        for rec in points:
            job = rec["job"]
            leftover = leftovers[job] if leftovers[job] > LEFTOVER_TOLERANCE else 0
            # resting memory that dropped by about the leftover since the job's first point: freed by then
            if leftover and rec["base_allocated"] <= first_base[job] - leftover // 2:
                leftover = 0
            out.append((point_key(rec), to_row(rec, builds[job], adapters.get(job), leftover, run), leftover))
    return out


def combine(shared: Record, call1: list[Record], call2: list[Record]) -> Record:
    """Shared rows, then call 1's clean rows, then call 2's (each job alone in a fresh process). A call-1 row whose
    peak held an earlier job's tensors is replaced by its call-2 twin, which keeps the call-1 figure as a check."""
    fresh = rows_of_run(call2, CALL2)
    if any(leftover for _, _, leftover in fresh):
        raise ValueError("the fresh-process call has leftovers")
    fresh_by_key = {key: row for key, row, _ in fresh}
    if len(fresh_by_key) != len(fresh):
        raise ValueError("the fresh-process call measured one point twice")
    rows: list[Record] = []
    checks: list[Record] = []
    for key, row, leftover in rows_of_run(call1, CALL1):
        if not leftover:
            rows.append(row)
            continue
        if key not in fresh_by_key:
            raise ValueError(f"no fresh-process measurement for {key}")
        twin = fresh_by_key[key]
        twin["first_call_peak_minus_leftover_bytes"] = row["peak_allocated_bytes"]
        checks.append(
            {
                "model": twin["model"],
                "kind": twin["kind"],
                "point": list(key[4:7]),
                "leftover_bytes": leftover,
                "fresh_process_peak_bytes": twin["peak_allocated_bytes"],
                "first_call_peak_minus_leftover_bytes": row["peak_allocated_bytes"],
            }
        )
    shared_rows = [{**r, "run": SHARED_RUN} for r in shared["rows"]]
    return {"_meta": {"leftover_subtraction_check": checks}, "rows": shared_rows + rows + [r for _, r, _ in fresh]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=SHARED_DEFAULT)
    ap.add_argument(
        "--meta",
        type=Path,
        default=RUN_DIR / "meta.json",
        help="the _meta of the combined file (environment, method, runs)",
    )
    ap.add_argument("--out", type=Path, default=DATA_FILE)
    a = ap.parse_args()
    if a.shared.exists():
        shared = json.loads(a.shared.read_text(encoding="utf-8"))
    else:  # no ../shared beside this checkout: the shared rows already copied into the data file
        shared = {
            "rows": [
                {k: v for k, v in r.items() if k != "run"}
                for r in json.loads(a.out.read_text(encoding="utf-8"))["rows"]
                if r["run"] == SHARED_RUN
            ]
        }
    call1 = read_jsonl(RUN_DIR / "call1_bnb.jsonl") + read_jsonl(RUN_DIR / "call1_more.jsonl")
    call2 = read_jsonl(RUN_DIR / "call2_fresh_processes.jsonl")
    combined = combine(shared, call1, call2)
    combined["_meta"] = json.loads(a.meta.read_text(encoding="utf-8")) | combined["_meta"]
    a.out.write_text(json.dumps(combined, indent=1) + "\n", encoding="utf-8")
    print(f"{a.out}: {len(combined['rows'])} rows")


if __name__ == "__main__":
    main()
