"""Accuracy benchmark: vramwise against published measurements, with the naive rule alongside.

Reference data (evals/data/*.json, each row with its source): parameter counts from model cards and safetensors
indexes, real checkpoint and GGUF file sizes, measured GPU memory (transformers, llama.cpp buffer logs, fine-tuning
tables) with OOM outcomes, and measured decode tokens/s. Prints error per source (MAPE, median, worst), fit-verdict
agreement, and exits non-zero when a target is missed.

    python -m evals.bench_accuracy [--json] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_tools import catalog
from agent_tools import speed as speed_mod
from agent_tools.errors import VramwiseError
from agent_tools.estimate import EstimateRequest, estimate_memory
from evals import calibrate_speed
from evals.speed_data import _format, _model_id, predict, prefill_dominated, skipped_rows, speed_cases

DATA = Path(__file__).parent / "data"
GiB = 2**30
MiB = 2**20

# The Qwen and THUDM/Baichuan tables print "GB" from PyTorch's memory counters, which are binary: Qwen2-7B's bf16
# weights alone are 15.23e9 bytes, more than the 14.92 "GB" published at input length 1, so "GB" there is GiB.
UNIT_BYTES = {"MiB": MiB, "GiB": GiB, "GB": GiB, "G": GiB}

# transformers versions before 4.45 computed fp32 logits for every prompt position; these sources say which
# version they ran (source entries in measured_memory.json: Transformers 4.38-4.40, Qwen remote code 2023).
# Not ChatGLM2: its remote code's prepare_inputs_for_generation passes return_last_logit=True and
# ChatGLMForConditionalGeneration.forward keeps hidden_states[-1:] before output_layer (THUDM/chatglm2-6b
# modeling_chatglm.py), so its prefill computes one position's logits.
FULL_PROMPT_LOGITS_SOURCES = {"qwen2_speed_benchmark", "qwen15_hf_infer", "qwen1_readme"}
# Remote-code models of 2023 (Qwen v1, ChatGLM2) return a new tuple of past key/values each step while the caller
# still holds the old one, so the cache peaks at twice its size. transformers' own generate() did the same before 4.42
# (4.38.2 sample(): model_kwargs keeps the previous tuple while DynamicCache.from_legacy_cache + torch.cat builds the
# next; 4.42.0 passes one DynamicCache instead): the Qwen2 benchmark ran 4.38.2, the Qwen1.5 one was published
# 2024-03-31, before 4.42 existed.
LEGACY_KV_SOURCES = {"qwen1_readme", "chatglm2_readme", "qwen2_speed_benchmark", "qwen15_hf_infer"}
# Qwen2-architecture models under transformers < 4.45 (modeling_qwen2.py 4.38.2: a Qwen2RotaryEmbedding with
# cos_cached/sin_cached buffers of max_position_embeddings x head_dim in every attention layer).
ROPE_TABLE_SOURCES = {"qwen2_speed_benchmark", "qwen15_hf_infer"}
# Sources whose figure is the device memory a run needs, CUDA context included, not an allocator counter: ChatGLM2's
# table heads its columns "minimum GPU memory" (README.md: "编码 2048 长度的最小显存" / "生成 8192 长度的最小显存")
# and states it as a card size ("使用 6GB 显存的显卡进行 INT4 量化的推理时 ... 能够生成至少 8192 个字符").
DEVICE_TOTAL_SOURCES = {"chatglm2_readme"}


@dataclass
class Stats:
    errors: list[float] = field(default_factory=list)
    naive_errors: list[float] = field(default_factory=list)
    worst: tuple[float, str] = (0.0, "")

    def add(self, err: float, label: str, naive: float | None = None) -> None:
        self.errors.append(err)
        if naive is not None:
            self.naive_errors.append(naive)
        if abs(err) > abs(self.worst[0]):
            self.worst = (err, label)

    def summary(self) -> dict[str, Any]:
        if not self.errors:
            return {"n": 0}
        ape = [abs(e) for e in self.errors]
        out = {
            "n": len(ape),
            "mape_pct": round(100 * statistics.mean(ape), 2),
            "median_ape_pct": round(100 * statistics.median(ape), 2),
            "worst_pct": round(100 * self.worst[0], 2),
            "worst_case": self.worst[1],
        }
        if self.naive_errors:
            out["naive_mape_pct"] = round(100 * statistics.mean(abs(e) for e in self.naive_errors), 2)
        return out


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _naive(params: int, precision: str) -> float:
    """The rule of thumb: params x bytes per parameter x 1.2 (EleutherAI Transformer Math 101)."""
    bits = {"bf16": 16, "fp16": 16, "fp32": 32, "gptq_int8": 8, "bnb_int8": 8, "q8_0": 8}.get(precision, 4)
    return params * bits / 8 * 1.2


# ------------------------------------------------------------------------------------------------ sections


def bench_params() -> tuple[Stats, Stats, list[str]]:
    """(exact published counts, rounded headline counts, misses of the exact ones beyond 0.5%).

    A count is exact when it is not a round number (not a multiple of 10^7): safetensors totals, papers' tables.
    Headline figures ("70B", "32.5B") are names, reported separately for information.
    """
    exact, rounded = Stats(), Stats()
    misses = []
    for m in catalog.list_models():
        if not m.params_published:
            continue
        got = estimate_memory(EstimateRequest(model=m.id)).model.params_total
        published = m.params_published.total
        err = (got - published) / published
        if published % 10_000_000:
            exact.add(err, m.id)
            if abs(err) > 0.005:
                misses.append(f"{m.id}: {got:,} vs published {published:,} ({100 * err:+.2f}%)")
        else:
            rounded.add(err, m.id)
    return exact, rounded, misses


def bench_file_sizes() -> tuple[Stats, list[str]]:
    stats = Stats()
    misses = []
    data = _load("checkpoint_sizes.json")
    rows: list[tuple[str, str, float]] = []
    for r in data["safetensors_index_total_size"]:
        rows.append(
            (r["model"].split(" ")[0], "bf16" if "bf" in r["dtype"] else "fp16", r["metadata_total_size_bytes"])
        )
    for r in data["single_file_safetensors"]:
        rows.append((r["model"].split("(")[0].split(" ")[0], "bf16", r["size_bytes"]))
    for g in data["gguf"]:
        unit = str(g.get("unit", ""))
        if g.get("repo", "").startswith("Qwen/Qwen2-7B-Instruct-GGUF"):
            # The official README lists 5.07 "GB" for q5_k_m: 5.33 bits/weight in decimal GB, below Q5_K's own
            # 5.5-bit block size, so the figure must be GiB (5.44 GB).
            unit = "GiB"
        scale = 1 if unit.startswith("bytes") else (1e9 if unit.startswith("GB") else GiB if "GiB" in unit else None)
        if scale is None:
            continue
        for quant, size in g["sizes"].items():
            rows.append((g["model"].split(" ")[0], quant, size * scale))
    for model, quant, real in rows:
        model_id, _ = _model_id(model.replace("Meta-Llama-3.1", "Llama-3.1"))
        if model_id is None:
            continue
        try:
            precision = catalog.resolve_format(quant).id
        except VramwiseError:
            continue
        got = estimate_memory(model=model_id, precision=precision).breakdown.weights_bytes
        err = (got - real) / real
        label = f"{model_id} {precision}"
        stats.add(err, label)
        if abs(err) > 0.03:
            misses.append(f"{label}: {got / 1e9:.3f} GB vs file {real / 1e9:.3f} GB ({100 * err:+.2f}%)")
    return stats, misses


@dataclass
class MemCase:
    source: str
    label: str
    request: EstimateRequest
    measured_bytes: int | None
    status: str
    includes_context: bool
    gpu_total_bytes: int | None = None


def memory_cases() -> list[MemCase]:
    data = _load("measured_memory.json")
    cases = []
    for r in data["rows"]:
        if r["status"] not in ("ok", "OOM"):
            continue
        model_id, implied = _model_id(r["model"])
        precision = _format(r.get("weight_format")) or _format(implied)
        if model_id is None or precision is None:
            continue
        task = r.get("task")
        source = r["source_id"]
        n_gpus = r.get("n_gpus") or 1
        batch = r.get("batch_size") or 1
        fields: dict[str, Any] = {"model": model_id, "precision": precision, "batch_size": batch, "num_gpus": n_gpus}
        if task == "inference":
            if source == "xd_notebook_logs":
                ctx = r.get("context_len") or 512
                fields.update(runtime="llama.cpp", context_length=ctx, flash_attention=False)
                # the LLaMA 1/2 notebooks ran Dec 2023 builds: row split across GPUs, the 2023 CUDA pool and context
                fields.update(legacy_cuda_build=True, split_mode="row" if n_gpus > 1 else None)
            elif source in ("baichuan2_readme",) or (r.get("input_len") is None and r.get("output_len") is None):
                continue  # "after loading, context not stated": not a sizing case
            else:
                prompt = r.get("input_len") or 1
                ctx = prompt + (r.get("output_len") or 0)
                fields.update(runtime="transformers", context_length=ctx, prompt_length=prompt)
                fields["full_prompt_logits"] = source in FULL_PROMPT_LOGITS_SOURCES
                fields["legacy_kv_cache"] = source in LEGACY_KV_SOURCES
                fields["legacy_rope_tables"] = source in ROPE_TABLE_SOURCES
                if "int8" in str(r.get("kv_cache_dtype", "")):
                    fields["kv_cache_precision"] = "q8_0"
        elif task == "finetune":
            method = str(r.get("method", "")).lower()
            seq = r.get("seq_len") or (r.get("input_len") or 0) + (r.get("output_len") or 0)
            if not seq:
                continue
            if "q-lora" in method or "qlora" in method:
                mode = "qlora"
                fields["precision"] = "gptq_int4" if precision.startswith("gptq") else "bnb_nf4"
            elif "lora" in method:
                mode = "lora"
            elif "full" in method or "sft" in method:
                mode = "full_finetune"
            else:
                continue
            zero = 3 if "zero-3" in method or "zero3" in method else (2 if n_gpus > 1 else 0)
            fields.update(mode=mode, context_length=seq, runtime="transformers", zero_stage=zero, lora_rank=64)
            if mode != "full_finetune":
                fields["lora_targets"] = ["q", "k", "v", "o", "gate", "up", "down"]
                fields["train_embeddings"] = "(emb)" in method
        else:
            continue
        gpu = r.get("gpu")
        gpu_total = None
        if r["status"] == "OOM" or source == "xd_notebook_logs":
            smi = r.get("gpu_total_MiB_nvidia_smi")
            if smi:
                gpu_total = int(smi[0]) * MiB
            elif r.get("apple_recommendedMaxWorkingSetSize"):
                # llama.cpp prints the Metal working-set limit as "21845.34 MB", meaning MiB
                value = re.match(r"[\d.]+", str(r["apple_recommendedMaxWorkingSetSize"]))
                gpu_total = int(float(value.group(0)) * MiB) if value else None
            elif gpu:
                try:
                    g = catalog.resolve_gpu(gpu)
                    gpu_total = int(g.memory_bytes * (g.gpu_usable_fraction or 1))
                except VramwiseError:
                    gpu_total = None
        measured = None
        if r["status"] == "ok" and r.get("memory_value") is not None:
            basis = str(r.get("memory_basis", ""))
            unit = "MiB" if basis.startswith("MiB") else r.get("memory_unit_published", "GB").strip()
            measured = int(float(r["memory_value"]) * UNIT_BYTES.get(unit, GiB))
            if "per gpu" in str(r.get("memory_metric", "")).lower():
                measured *= n_gpus
        try:
            req = EstimateRequest(**fields)
        except ValueError:
            continue
        label = (
            f"{r['id']} {r['model']} {precision} {fields.get('mode', 'inference')} ctx={fields.get('context_length')}"
        )
        label += f" b={batch} x{n_gpus}"
        cases.append(
            MemCase(
                source,
                label,
                req,
                measured,
                r["status"],
                includes_context=source in DEVICE_TOTAL_SOURCES,
                gpu_total_bytes=gpu_total,
            )
        )
    return cases


def _measured_comparable(case: MemCase) -> int:
    """vramwise's figure for what the source measured: allocator/buffer totals exclude the CUDA context."""
    result = estimate_memory(case.request)
    b = result.breakdown
    return result.total_bytes - (0 if case.includes_context else b.overhead_bytes)


def bench_memory(verbose: bool) -> tuple[dict[str, Stats], dict[str, Stats], list[str], dict[str, Any]]:
    inference: dict[str, Stats] = defaultdict(Stats)
    training: dict[str, Stats] = defaultdict(Stats)
    lines = []
    fit_rows = agree = 0
    ooms = caught = 0
    fit_misses = []
    for case in memory_cases():
        try:
            result = estimate_memory(case.request)
        except VramwiseError as e:
            lines.append(f"skip {case.label}: {e}")
            continue
        ours = result.total_bytes - (0 if case.includes_context else result.breakdown.overhead_bytes)
        if case.measured_bytes:
            err = (ours - case.measured_bytes) / case.measured_bytes
            params = result.model.params_total
            naive = (_naive(params, case.request.precision) - case.measured_bytes) / case.measured_bytes
            target = inference if case.request.mode == "inference" else training
            target[case.source].add(err, case.label, naive)
            if verbose:
                lines.append(f"{100 * err:+7.2f}%  naive {100 * naive:+7.2f}%  {case.label}")
        if case.gpu_total_bytes and case.request.mode == "inference" and case.request.num_gpus == 1:
            # Fit: the model's buffers plus the runtime's context must fit the device's total.
            needed = result.total_bytes
            rt = catalog.resolve_runtime(case.request.runtime)
            predicted_fit = needed <= case.gpu_total_bytes * (1 - rt.allocator_reserve_fraction)
            actual_fit = case.status == "ok"
            fit_rows += 1
            agree += predicted_fit == actual_fit
            if not actual_fit:
                ooms += 1
                caught += not predicted_fit
            if predicted_fit != actual_fit:
                fit_misses.append(
                    f"{case.label}: predicted {'fit' if predicted_fit else 'OOM'} ({needed / GiB:.2f} GiB of "
                    f"{case.gpu_total_bytes / GiB:.2f} GiB), measured {case.status}"
                )
    fit = {
        "rows": fit_rows,
        "agreement_pct": round(100 * agree / fit_rows, 2) if fit_rows else None,
        "ooms": ooms,
        "ooms_caught": caught,
        "misses": fit_misses,
    }
    return inference, training, lines, fit


def _share(errors: list[float], tol: float = 0.25) -> dict[str, Any]:
    n = len(errors)
    ok = sum(abs(e) <= tol for e in errors)
    return {"within_25pct": ok, "rows": n, "share_pct": round(100 * ok / n, 1) if n else None}


def bench_speed(verbose: bool) -> tuple[dict[str, Any], dict[str, Stats], list[str]]:
    """Decode: the shipped constants (fitted on the training split) on training rows (in-sample) and on every other
    source (held out), leave-one-source-out per source, and the peers' roofline for comparison. Prefill per source."""
    cases = speed_cases()
    shipped = speed_mod.fitted_constants()
    train_sources = set(shipped["llama.cpp"].trained_on) | {s for k in shipped.values() for s in k.trained_on}
    decode = [c for c in cases if c.kind != "pp" and not prefill_dominated(c)]
    lines: list[str] = []
    per_source: dict[str, Stats] = defaultdict(Stats)
    in_sample: list[float] = []
    held_out: list[float] = []
    prefill: dict[str, Stats] = defaultdict(Stats)
    for c in cases:
        ours = predict(c, shipped[c.runtime])
        err = (ours - c.measured_tps) / c.measured_tps
        if c.kind == "pp" or prefill_dominated(c):
            if ours > 0:  # GPUs without a catalog TFLOPS figure get no prefill estimate
                prefill[c.source].add(err, c.label)
            continue
        per_source[c.source].add(err, c.label)
        (in_sample if c.source in train_sources else held_out).append(err)
        if verbose:
            lines.append(f"{100 * err:+7.2f}%  {ours:8.1f} vs {c.measured_tps:8.1f}  {c.label}")
    loso = calibrate_speed.leave_one_source_out(decode)
    loso_errors = {s: [p / c.measured_tps - 1 for c, p in v] for s, v in loso.items()}
    roof_fit = calibrate_speed.roofline_baselines(cases, train_sources)
    roof_fit_err = [predict(c, roof_fit[c.runtime]) / c.measured_tps - 1 for c in decode]
    roof_peak = {
        rt: speed_mod.SpeedConstants(
            rt, {f"bytes@{m}": 1.0 for m in speed_mod.MEMORY_CLASSES}, k.prefill_efficiency, 1, 1
        )
        for rt, k in shipped.items()
    }
    roof_peak_err = [predict(c, roof_peak[c.runtime]) / c.measured_tps - 1 for c in decode]
    in_range = sum(
        c.measured_tps / predict(c, shipped[c.runtime]) >= shipped[c.runtime].ratio_low
        and c.measured_tps / predict(c, shipped[c.runtime]) <= shipped[c.runtime].ratio_high
        for c in decode
    )
    report = {
        "training_sources": sorted(train_sources),
        "in_sample": _share(in_sample),
        "held_out_sources": _share(held_out),
        "whole_set": _share(in_sample + held_out),
        "leave_one_source_out": {
            "overall": _share([e for v in loso_errors.values() for e in v]),
            **{s: _share(v) for s, v in loso_errors.items()},
        },
        "roofline_fitted_efficiency_no_fixed_term": _share(roof_fit_err),
        "roofline_peak_bandwidth": _share(roof_peak_err),
        "measured_inside_range_pct": round(100 * in_range / len(decode), 1) if decode else None,
        "per_source": {
            k: {
                **v.summary(),
                "split": "training" if k in train_sources else "held out",
                "share_within_25pct": _share(v.errors)["share_pct"],
            }
            for k, v in sorted(per_source.items())
        },
        "skipped_rows": skipped_rows(),
    }
    return report, prefill, lines


def bench_timing() -> dict[str, float]:
    req = EstimateRequest(
        model="meta-llama/Llama-3.1-8B-Instruct",
        precision="q4_k_m",
        context_length=32768,
        gpu="RTX 4090",
        runtime="llama.cpp",
    )
    estimate_memory(req)
    n = 200
    t0 = time.perf_counter()
    for _ in range(n):
        estimate_memory(req)
    one = (time.perf_counter() - t0) / n
    req_nofit = req.model_copy(update={"gpu": None})
    t0 = time.perf_counter()
    for _ in range(n):
        estimate_memory(req_nofit)
    plain = (time.perf_counter() - t0) / n
    return {"estimate_with_fit_search_ms": round(1000 * one, 3), "estimate_without_gpu_ms": round(1000 * plain, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verbose", "-v", action="store_true")
    args = ap.parse_args(argv)

    params, params_rounded, param_misses = bench_params()
    files, file_misses = bench_file_sizes()
    inference, _, mem_lines, fit = bench_memory(args.verbose)
    from evals.bench_training import run as bench_training

    # training memory on each source's own measurement basis, fitted rows apart from held-out ones
    training_report, _ = bench_training()
    speed, prefill, speed_lines = bench_speed(args.verbose)
    timing = bench_timing()
    from evals.bench_fit import bench as bench_fit_outcomes

    published_fit = bench_fit_outcomes()

    all_inf = Stats()
    for s in inference.values():
        all_inf.errors += s.errors
        all_inf.naive_errors += s.naive_errors
        if abs(s.worst[0]) > abs(all_inf.worst[0]):
            all_inf.worst = s.worst
    report = {
        "params": params.summary(),
        "params_rounded_headline": params_rounded.summary(),
        "file_sizes": files.summary(),
        "inference_memory": {"overall": all_inf.summary(), **{k: v.summary() for k, v in inference.items()}},
        "training_memory": training_report["groups"],
        "training_memory_held_out_by_group": training_report["held_out_by_group"],
        "fit_verdicts": {k: v for k, v in fit.items() if k != "misses"},
        "fit_published_outcomes": {k: v for k, v in published_fit.items() if k != "misses"},
        "decode_speed": speed,
        "prefill_speed": {k: v.summary() for k, v in prefill.items()},
        "timing": timing,
    }
    targets = {
        "params within 0.5%": not param_misses,
        "weights within 3% of files": not file_misses,
        "inference MAPE <= 8% overall": report["inference_memory"]["overall"].get("mape_pct", 100) <= 8,
        # the accuracy issue's bar; two 2023 sources miss it (their methods are unpublished: see the README table)
        "inference MAPE <= 4% on every source": all(v.summary().get("mape_pct", 0) <= 4 for v in inference.values()),
        "fit agreement >= 99%": (fit["agreement_pct"] or 0) >= 99,
        "every OOM caught": fit["ooms"] == fit["ooms_caught"],
        "published fit outcomes >= 99% agree": (published_fit["agreement_pct"] or 0) >= 99,
        "every published OOM caught": published_fit["ooms"] == published_fit["ooms_caught"],
        "decode within 25% on >= 75% of held-out-source rows": (speed["held_out_sources"]["share_pct"] or 0) >= 75,
        "decode within 25% on >= 75% of the whole set": (speed["whole_set"]["share_pct"] or 0) >= 75,
        "one estimate < 1 ms": timing["estimate_without_gpu_ms"] < 1.0,
        "training held-out MAPE <= 8% in every source and group": all(
            ok for name, ok in training_report["targets"].items() if "MAPE" in name
        ),
    }
    report["targets"] = targets
    report["verbose"] = args.verbose
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        misses = (param_misses, file_misses, fit["misses"], published_fit["misses"], mem_lines + speed_lines)
        _print_report(report, *misses)
    return 0 if all(targets.values()) else 1


def _print_report(report: dict[str, Any], *miss_lists: list[str]) -> None:
    def row(name: str, s: dict[str, Any]) -> None:
        if not s.get("n"):
            return
        naive = f"  naive {s['naive_mape_pct']:6.2f}%" if "naive_mape_pct" in s else ""
        print(
            f"  {name:28s} n={s['n']:4d}  MAPE {s['mape_pct']:6.2f}%  median {s['median_ape_pct']:6.2f}%  "
            f"worst {s['worst_pct']:+7.2f}%{naive}"
        )

    print("parameter counts vs published:")
    row("exact published counts", report["params"])
    row("headline (rounded) counts", report["params_rounded_headline"])
    print("weights vs real checkpoint / GGUF files:")
    row("files", report["file_sizes"])
    print("inference memory vs measured (vramwise | naive params x bytes x 1.2):")
    for k, v in report["inference_memory"].items():
        row(k, v)
    print("training memory vs measured (python -m evals.bench_training for the rows; held out | in-sample):")
    for k, v in report["training_memory"].items():
        cells = [
            f"n={s['n']:3d} MAPE {s['mape_pct']:6.2f}%" if s["n"] else "-" for s in (v["held_out"], v["in_sample"])
        ]
        print(f"  {k:40s} {cells[0]:>22s} {cells[1]:>22s}")
    for group, s in report["training_memory_held_out_by_group"].items():
        print(
            f"  held out, all sources, {group:6s} n={s['n']:3d} MAPE {s['mape_pct']:6.2f}%  "
            f"worst {s['worst_pct']:+.2f}%"
        )
    f = report["fit_verdicts"]
    print(f"fit verdicts: {f['agreement_pct']}% agree on {f['rows']} rows; OOMs caught {f['ooms_caught']}/{f['ooms']}")
    p = report["fit_published_outcomes"]
    print(
        f"fit vs published llama.cpp outcomes (held out): {p['agreement_pct']}% agree on {p['outcomes']}; OOMs caught "
        f"{p['ooms_caught']}/{p['ooms']}; tight cases {p['tight_cases']} ({p['tight_agreement_pct']}% agree); "
        f"no verdict {p['no_verdict']}"
    )
    d = report["decode_speed"]

    def share(name: str, s: dict[str, Any]) -> None:
        print(f"  {name:44s} {s['within_25pct']:4d}/{s['rows']:<4d} within 25%  ({s['share_pct']}%)")

    print(f"decode tokens/s (constants fitted on {', '.join(d['training_sources'])}):")
    share("in-sample (training sources)", d["in_sample"])
    share("held-out sources (never in the fit)", d["held_out_sources"])
    share("whole set", d["whole_set"])
    share("leave-one-source-out, overall", d["leave_one_source_out"]["overall"])
    for k, v in d["leave_one_source_out"].items():
        if k != "overall":
            share(f"  LOSO {k}", v)
    share("roofline, fitted efficiency, no fixed term", d["roofline_fitted_efficiency_no_fixed_term"])
    share("roofline at peak bandwidth (LLM-Viewer style)", d["roofline_peak_bandwidth"])
    print(f"  measured value inside the stated low-high range: {d['measured_inside_range_pct']}% of rows")
    print("  per source (shipped constants):")
    for k, v in d["per_source"].items():
        row(f"{k} [{v['split']}] {v['share_within_25pct']}%", v)
    print(f"  rows not benchmarked: {d['skipped_rows']}")
    print("prefill tokens/s and prefill-dominated end-to-end rows (informational):")
    for k, v in report["prefill_speed"].items():
        row(k, v)
    print(f"timing: {report['timing']}")
    print("targets:")
    for name, ok in report["targets"].items():
        print(f"  [{'x' if ok else ' '}] {name}")
    for misses in miss_lists:
        for line in misses if len(misses) < 60 or report.get("verbose") else misses[:60]:
            print("   ", line)


if __name__ == "__main__":
    sys.exit(main())
