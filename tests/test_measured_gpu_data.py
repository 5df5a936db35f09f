"""The measured H200 memory rows (evals/data/measured_gpu_h200.json): complete, physically possible, and exactly
what the committed raw device output gives when rebuilt."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent_tools.architecture import parse_config
from evals.tools import measured_gpu_rows

REPO = Path(__file__).resolve().parent.parent
DATA = json.loads((REPO / "evals" / "data" / "measured_gpu_h200.json").read_text(encoding="utf-8"))
CONFIGS = json.loads((REPO / "evals" / "tools" / "measure_gpu_configs.json").read_text(encoding="utf-8"))
ROWS = DATA["rows"]
H200_TOTAL_BYTES = 150_109_880_320  # torch.cuda.get_device_properties(0).total_memory on the machine measured
TRAINING_KINDS = {"full_finetune", "lora", "qlora"}


def _missing(row: dict, fields: tuple[str, ...]) -> list[str]:
    return [f for f in fields if f not in row or row[f] is None]


def test_every_row_has_the_fields_its_kind_needs() -> None:
    problems = []
    for i, row in enumerate(ROWS):
        need: tuple[str, ...] = ("model", "kind", "batch", "status", "params", "weights_dtype", "run")
        if row.get("kind") in TRAINING_KINDS:
            need += ("seq_len", "gradient_checkpointing", "optimizer")
        elif row.get("kind") == "inference":
            need += ("prompt_tokens", "new_tokens")
        else:
            problems.append(f"row {i}: kind {row.get('kind')!r}")
        if row.get("kind") in ("lora", "qlora"):
            need += ("lora_rank", "lora_alpha", "lora_targets")
        need += ("peak_allocated_bytes",) if row.get("status") == "ok" else ("error",)
        problems += [f"row {i} ({row.get('model')}): no {f}" for f in _missing(row, need)]
        if row.get("status") not in ("ok", "OOM"):
            problems.append(f"row {i}: status {row.get('status')!r}")
        if row.get("run") not in DATA["_meta"]["runs"]:
            problems.append(f"row {i}: run {row.get('run')!r} is not described in _meta.runs")
    assert not problems, problems
    assert len(ROWS) >= 70


def test_meta_names_environment_method_and_source() -> None:
    meta = DATA["_meta"]
    assert {"torch", "transformers", "peft", "bitsandbytes"} <= set(meta["environment"])
    assert meta["source"] == "measured for this project, 2026-12-04"
    assert len(meta["method"]) >= 6 and meta["config_sources"]


def test_sizes_are_positive_integers_and_fit_the_card() -> None:
    for row in ROWS:
        assert isinstance(row["batch"], int) and row["batch"] >= 1, row
        assert isinstance(row["params"], int) and row["params"] > 0, row
        for field in ("seq_len", "prompt_tokens", "new_tokens"):
            if field in row:
                assert isinstance(row[field], int) and row[field] > 0, row
        if row["status"] == "ok":
            assert isinstance(row["peak_allocated_bytes"], int), row
            assert 0 < row["peak_allocated_bytes"] <= H200_TOTAL_BYTES, row


def test_params_equal_the_count_of_the_config_the_model_was_built_from() -> None:
    # params came from transformers on the device; parse_config counts the same config.json by arithmetic
    wrong = {
        (r["model"], r["params"], parse_config(CONFIGS[r["model"]]).params_total)
        for r in ROWS
        if parse_config(CONFIGS[r["model"]]).params_total != r["params"]
    }
    assert not wrong, wrong


def _state_bytes_per_param(row: dict) -> float:
    """Bytes per parameter that must be resident at the peak of a training step, whatever the activations."""
    if row["kind"] == "full_finetune":
        weight = 4 if row["weights_dtype"] == "fp32" else 2
        optimizer = 2 if "AdamW8bit" in row["optimizer"] else 2 * weight  # two moments
        return weight + weight + optimizer  # weights + gradients + moments
    if row["kind"] == "lora":
        return 2  # bf16 base weights
    return 0.5  # 4-bit base weights


def test_training_peaks_hold_at_least_the_weights_gradients_and_optimizer_state() -> None:
    low = [
        (r["model"], r["kind"], r["peak_allocated_bytes"], r["params"] * _state_bytes_per_param(r))
        for r in ROWS
        if r["kind"] in TRAINING_KINDS
        and r["status"] == "ok"
        and r["peak_allocated_bytes"] < r["params"] * _state_bytes_per_param(r)
    ]
    assert not low, low


def test_no_point_is_measured_twice() -> None:
    option_fields = (
        "model",
        "kind",
        "weights_dtype",
        "optimizer",
        "seq_len",
        "prompt_tokens",
        "batch",
        "gradient_checkpointing",
        "attn_implementation",
        "lora_rank",
        "lora_targets",
    )
    keys = [tuple(str(r.get(f)) for f in option_fields) for r in ROWS]
    assert len(keys) == len(set(keys)), [k for k in keys if keys.count(k) > 1]


def test_paired_options_change_memory_the_way_their_physics_says() -> None:
    def peak(model: str, kind: str, **options: object) -> int:
        (row,) = [
            r
            for r in ROWS
            if r["model"] == model and r["kind"] == kind and all(r.get(k) == v for k, v in options.items())
        ]
        return int(row["peak_allocated_bytes"])

    llama1b = "meta-llama/Llama-3.2-1B-Instruct"
    point = {"seq_len": 2048, "batch": 4, "gradient_checkpointing": True, "attn_implementation": "sdpa"}
    saved = peak(llama1b, "full_finetune", weights_dtype="fp32", **point) - peak(
        llama1b, "full_finetune", weights_dtype="bf16", **point
    )
    # resident all step long: weights 4 -> 2 bytes and the two AdamW moments 8 -> 4 bytes per parameter
    # (gradients may already be freed at the peak, so they are not counted)
    assert saved >= (2 + 4) * parse_config(CONFIGS[llama1b]).params_total
    # without checkpointing, eager attention saves each layer's bf16 seq x seq probabilities for backward
    qwen15 = "Qwen/Qwen2.5-1.5B-Instruct"
    eager = peak(qwen15, "lora", attn_implementation="eager", gradient_checkpointing=False)
    sdpa = peak(qwen15, "lora", attn_implementation="sdpa", gradient_checkpointing=False)
    cfg = CONFIGS[qwen15]
    assert eager - sdpa >= cfg["num_hidden_layers"] * cfg["num_attention_heads"] * 4096**2 * 2
    # 4-bit base weights: QLoRA below LoRA at the same point
    llama8b = "meta-llama/Llama-3.1-8B-Instruct"
    assert peak(llama8b, "qlora", seq_len=2048, batch=2) < peak(llama8b, "lora", seq_len=2048, batch=2)


def test_fresh_process_rows_agree_with_the_leftover_subtraction() -> None:
    checks = DATA["_meta"]["leftover_subtraction_check"]
    assert checks
    for c in checks:
        # what separates them is PyTorch's second cuBLAS workspace (32 MiB + 2 MiB), not the gigabytes subtracted
        assert abs(c["fresh_process_peak_bytes"] - c["first_call_peak_minus_leftover_bytes"]) < 40 * 2**20, c


def test_rebuilding_from_the_raw_device_output_gives_the_committed_rows() -> None:
    run_dir = measured_gpu_rows.RUN_DIR
    shared = {
        "rows": [{k: v for k, v in r.items() if k != "run"} for r in ROWS if r["run"] == measured_gpu_rows.SHARED_RUN]
    }
    call1 = measured_gpu_rows.read_jsonl(run_dir / "call1_bnb.jsonl") + measured_gpu_rows.read_jsonl(
        run_dir / "call1_more.jsonl"
    )
    call2 = measured_gpu_rows.read_jsonl(run_dir / "call2_fresh_processes.jsonl")
    rebuilt = measured_gpu_rows.combine(shared, call1, call2)
    assert rebuilt["rows"] == ROWS
    assert rebuilt["_meta"]["leftover_subtraction_check"] == DATA["_meta"]["leftover_subtraction_check"]


def test_a_job_left_with_an_earlier_jobs_tensors_needs_a_fresh_process_twin() -> None:
    call1 = measured_gpu_rows.read_jsonl(measured_gpu_rows.RUN_DIR / "call1_bnb.jsonl") + measured_gpu_rows.read_jsonl(
        measured_gpu_rows.RUN_DIR / "call1_more.jsonl"
    )
    with pytest.raises(ValueError, match="no fresh-process measurement"):
        measured_gpu_rows.combine({"rows": []}, call1, [])


@pytest.mark.slow
def test_the_measuring_script_runs_a_tiny_full_finetune_on_cpu(tmp_path: Path) -> None:
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
        pytest.skip("needs torch and transformers (the rag and dev extras)")
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            [
                {
                    "kind": "full",
                    "model": "Qwen/Qwen2.5-0.5B-Instruct",
                    "dtype": "fp32",
                    "attn": "eager",
                    "points": [[2048, 2, 1]],
                }
            ]
        ),
        encoding="utf-8",
    )
    script = REPO / "evals" / "tools" / "measure_gpu.py"
    done = subprocess.run(
        [sys.executable, str(script), "--plan", str(plan), "--out", str(tmp_path / "out"), "--scale", "tiny"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    records = measured_gpu_rows.read_jsonl(tmp_path / "out" / "results.jsonl")
    assert [r["kind"] for r in records] == ["env", "build", "full"]
    build, point = records[1], records[2]
    assert build["attn_implementation"] == "eager" and build["allocated_before_build"] is None  # no CUDA here
    assert point["status"] == "ok" and point["seq"] == 64 and point["batch"] == 2  # tiny caps seq and batch
    assert point["trainable_params"] == build["params"] > 0
