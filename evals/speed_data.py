"""Measured tokens/s rows (evals/data/throughput.json) turned into speed cases with the product's decode inputs.

Shared by the calibration (evals/calibrate_speed.py) and the accuracy benchmark, so both see the same rows, the
same inputs and the same prediction path (agent_tools.speed).

Each case is one published number of one of four kinds:
  tg      decode rate (llama-bench tgN, mlx/Ollama eval rate)
  e2e     generated tokens / (prefill + decode) time (Qwen2/2.5 speed benchmarks, transformers and vLLM)
  e2e_pc  (prompt + generated tokens) / time, the Qwen3 benchmark's definition
  pp      prompt processing rate
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from agent_tools import catalog, sizing, speed
from agent_tools.errors import VramwiseError
from agent_tools.estimate import EstimateRequest
from agent_tools.plan import make_plan

DATA = Path(__file__).parent / "data"

# The calibration set the product shipped with before 2026-12-04; the sources added since are held out of the fit.
TRAINING_SOURCES = (
    "xd_readme_llama12",
    "qwen2_speed_benchmark",
    "qwen15_hf_infer",
    "qwen1_readme",
    "chatglm2_readme",
    "llamacpp_discussions_secondary",
)

# Weight formats as the sources name them -> vramwise precision ids.
FORMAT_MAP = {
    "bf16": "bf16",
    "fp16": "fp16",
    "f16": "fp16",
    "bf16/fp16": "bf16",
    "fp16/bf16": "bf16",
    "fp8": "fp8",
    "q4_0": "q4_0",
    "q4_k_m": "q4_k_m",
    "q8_0": "q8_0",
    "gptq-int4": "gptq_int4",
    "gptq-int8": "gptq_int8",
    "awq": "awq_int4",
    "int4": "gptq_int4",
    "int8": "gptq_int8",
    "4bits": "bnb_nf4",
    "8bits": "bnb_int8",
}

Kind = Literal["tg", "e2e", "e2e_pc", "pp"]


def prefill_dominated(case: SpeedCase) -> bool:
    """(prompt + generated)/time rows whose prompt outnumbers the generated tokens measure prefill more than decode."""
    return case.kind == "e2e_pc" and case.prompt_tokens > case.generated_tokens


@dataclass(frozen=True)
class SpeedCase:
    source: str
    row_id: str
    label: str
    runtime: str
    request: EstimateRequest
    measured_tps: float
    kind: Kind
    prompt_tokens: int
    generated_tokens: int
    inputs: speed.DecodeInputs  # at the mean decode context (prompt + generated / 2)
    prefill_attention_flops: float  # per prompt token, for the prefill rate

    @property
    def decode_only(self) -> bool:
        return self.kind == "tg"

    @property
    def prefill_only(self) -> bool:
        return self.kind == "pp"


def _format(raw: str | None) -> str | None:
    if not raw:
        return None
    return FORMAT_MAP.get(raw.split(" (")[0].strip().lower())


def _model_id(name: str) -> tuple[str | None, str | None]:
    """Catalog id for a measured model name, and a weight format implied by the name (e.g. '-GPTQ-Int4')."""
    implied = None
    m = re.search(r"-(GPTQ-Int4|GPTQ-Int8|AWQ|Int4|Int8)$", name, re.I)
    if m:
        implied = m.group(1)
        name = name[: m.start()]
    try:
        return catalog.resolve_model(name).id, implied
    except VramwiseError:
        return None, implied


def _gpu_name(raw: str | None) -> str | None:
    """Source GPU labels carry notes in parentheses ('A100 80GB (PCIe vs SXM not stated by source)')."""
    if not raw:
        return None
    cores = re.search(r"\((\d+-core)[^)]*\)", raw)
    text = re.sub(r"\([^)]*\)", "", raw).strip()
    return f"{text} {cores.group(1)}" if cores and "Apple" in raw else text


def _runtime(framework: str) -> str | None:
    f = framework.lower()
    if "llama" in f or "ollama" in f:
        return "llama.cpp"  # Ollama runs llama.cpp underneath
    if "vllm" in f or "sglang" in f:
        return "vllm"  # SGLang is sized and timed with vLLM's constants until it has its own row
    if "transformers" in f:
        return "transformers"
    return None  # MLX and others: no runtime profile yet


def _kind(r: dict) -> Kind | None:
    test = str(r.get("test", ""))
    if test.startswith("pp"):
        # only prompt lengths that are stated (llama-bench ppN); "pp (prompt eval)" of a short unstated prompt is not
        return "pp" if re.match(r"pp\s*\d+", test) else None
    if r.get("decode_only"):
        return "tg"
    return "e2e_pc" if r.get("speed_counts_prompt_tokens") else "e2e"


@cache
def _build() -> tuple[tuple[SpeedCase, ...], tuple[tuple[str, int], ...]]:
    data = json.loads((DATA / "throughput.json").read_text(encoding="utf-8"))
    cases: list[SpeedCase] = []
    skipped: Counter[str] = Counter()
    for r in data["rows"]:
        if r.get("status", "ok") != "ok" or not r.get("tokens_per_s"):
            skipped["not a measured ok row (OOM / not run)"] += 1
            continue
        framework = str(r.get("framework", ""))
        if "CPU only" in framework or "throughput" in str(r.get("metric", "")) or r.get("benchmark"):
            skipped["CPU-only run or many-request throughput run"] += 1
            continue
        if r.get("source_says_unoptimized"):
            skipped["configuration its source calls unoptimized"] += 1
            continue
        if r.get("host_is_low_power"):
            skipped["GPU on a single-board / low-power host (its CPU adds per-token cost)"] += 1
            continue
        runtime = _runtime(framework)
        if runtime is None:
            skipped[f"no runtime profile for {framework!r}"] += 1
            continue
        model_id, implied = _model_id(r["model"])
        precision = _format(r.get("weight_format")) or _format(implied)
        gpu_name = _gpu_name(r.get("gpu_canonical") or r.get("gpu"))
        if model_id is None:
            skipped["model not in the catalog"] += 1
            continue
        if precision is None:
            skipped["weight format not stated or not mapped"] += 1
            continue
        try:
            catalog.resolve_gpu(gpu_name or "")
        except VramwiseError:
            skipped["GPU not in the catalog"] += 1
            continue
        kind = _kind(r)
        if kind is None:
            skipped["prompt-processing row without a stated prompt length"] += 1
            continue
        prompt = r.get("prompt_len") or r.get("input_len") or 0
        generated = r.get("gen_len") or r.get("output_len") or 128
        if kind == "pp":
            prompt = prompt or int(re.sub(r"\D", "", str(r.get("test"))) or 512)
            generated = 0
        context = max(1, prompt + generated // 2)
        n_ctx = r.get("context_len")
        if n_ctx and kind != "pp" and prompt + generated > n_ctx:
            # llama.cpp context shift: once n_ctx fills, half is dropped, so the cache stays between n_ctx/2 and n_ctx
            context = min(context, 3 * n_ctx // 4)
        n_gpus = r.get("n_gpus") or 1
        # llama.cpp row split (builds before Jan 2024): every matrix split across the GPUs, a sync per layer, which
        # the speed model times with the tensor-parallel terms
        row_split = str(r.get("split_mode", "")).startswith("row") and n_gpus > 1
        try:
            req = EstimateRequest(
                model=model_id,
                precision=precision,
                gpu=gpu_name,
                num_gpus=n_gpus,
                runtime=runtime,
                context_length=context,
                batch_size=r.get("batch_size") or 1,
                split_mode="row" if row_split else None,
            )
            plan = make_plan(req, [], [])
        except (VramwiseError, ValueError):
            skipped["request rejected (e.g. tensor parallel size does not divide the heads)"] += 1
            continue
        kv = sizing.kv_bytes_per_sequence(plan, context)
        inputs = speed.inputs_from_plan(plan, context, req.batch_size, kv)
        if inputs is None:
            skipped["GPU without bandwidth"] += 1
            continue
        label = f"{r['id']} {r['model']} {precision} {gpu_name} x{n_gpus} {runtime} {kind} in={prompt} out={generated}"
        cases.append(
            SpeedCase(
                r["source_id"],
                r["id"],
                label,
                runtime,
                req,
                float(r["tokens_per_s"]),
                kind,
                prompt,
                generated,
                inputs,
                speed.attention_flops_per_token(plan, max(1, prompt)),
            )
        )
    return tuple(cases), tuple(sorted(skipped.items()))


def speed_cases() -> list[SpeedCase]:
    return list(_build()[0])


def skipped_rows() -> dict[str, int]:
    return dict(_build()[1])


def prefill_seconds(case: SpeedCase, c: speed.SpeedConstants) -> float:
    rate = speed.prefill_tokens_per_s(case.inputs, c, case.prefill_attention_flops)
    return case.prompt_tokens / rate if rate else 0.0


def predict(case: SpeedCase, c: speed.SpeedConstants) -> float:
    """The published quantity as the formula predicts it with constants `c`."""
    if case.kind == "pp":
        return speed.prefill_tokens_per_s(case.inputs, c, case.prefill_attention_flops)
    step = speed.decode_seconds(case.inputs, c)
    if case.kind == "tg":
        return 1 / step
    total = prefill_seconds(case, c) + case.generated_tokens * step
    counted = case.generated_tokens + (case.prompt_tokens if case.kind == "e2e_pc" else 0)
    return counted / total


def decode_step_target(case: SpeedCase, c: speed.SpeedConstants) -> float | None:
    """Measured seconds per decode step, with the modelled prefill taken off end-to-end rows (None: prefill-only)."""
    if case.kind == "pp":
        return None
    if case.kind == "tg":
        return 1 / case.measured_tps
    counted = case.generated_tokens + (case.prompt_tokens if case.kind == "e2e_pc" else 0)
    decode_total = counted / case.measured_tps - prefill_seconds(case, c)
    return decode_total / case.generated_tokens if decode_total > 0 else None
