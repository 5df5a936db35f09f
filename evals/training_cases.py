"""Training-memory reference cases for the calibration and the benchmark, each with its measurement basis.

Three kinds of rows, each compared on its own basis (never fitted away):
- allocated: PyTorch tensors only (torch.cuda.max_memory_allocated): our H200 runs
  (evals/data/measured_gpu_h200.json; method and script in its _meta).
- nvidia_smi: what the driver shows for the process (CUDA context, library workspaces and the caching allocator's
  reserve on top of the tensors): the published fine-tuning tables (evals/data/measured_memory.json).
- capacity: the longest sequence that fits a stated memory size (evals/data/training_limits.json): vramwise's
  peak at that length is compared with the memory size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_tools import catalog, training
from agent_tools.architecture import Architecture, parse_config
from agent_tools.errors import VramwiseError
from agent_tools.weights import weight_breakdown

DATA = Path(__file__).parent / "data"
GiB = 2**30
MiB = 2**20
ALL_TARGETS = ["q", "k", "v", "o", "gate", "up", "down"]
GROUP = {"full_finetune": "full", "lora": "lora", "qlora": "qlora"}


@dataclass
class TrainingCase:
    source: str
    row_id: str
    model: str  # catalog id
    group: str  # full | lora | qlora
    basis: str  # allocated | nvidia_smi | capacity
    measured_bytes: int
    kwargs: dict[str, Any] = field(default_factory=dict)  # training.training_peak keyword arguments
    seq_len: int = 0
    batch: int = 1
    weight_format: str | None = None  # the frozen base's format (LoRA/QLoRA)
    length_is_cap: bool = False  # seq_len is only the longest a batch may be (padding to the batch's longest)

    @property
    def label(self) -> str:
        return f"{self.row_id} {self.model} {self.group} seq={self.seq_len} b={self.batch} [{self.basis}]"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def architecture(model: str) -> Architecture:
    return parse_config(catalog.resolve_model(model).config)


def predicted_allocated(case: TrainingCase, **overrides: Any) -> training.TrainingPeak:
    """vramwise's peak PyTorch allocation for a case (overrides replace training_peak keyword arguments)."""
    arch = architecture(case.model)
    kwargs = dict(case.kwargs)
    kwargs.update(overrides)
    mode = {"full": "full_finetune", "lora": "lora", "qlora": "qlora"}[case.group]
    if case.weight_format and mode != "full_finetune":
        fmt = catalog.resolve_format(case.weight_format)
        kwargs["base_weights_bytes"] = weight_breakdown(arch, fmt, catalog.formats_file()).total_bytes
    return training.training_peak(arch, mode, case.seq_len, case.batch, **kwargs)


def h200_cases() -> list[TrainingCase]:
    """Our H200 runs: transformers 5.17 / PEFT 0.21 / torch 2.11, fp32 params + bf16 autocast for full
    fine-tuning, bf16 base + fp32 adapters for LoRA, fused AdamW, peak after the second optimizer step."""
    out = []
    for r in load("measured_gpu_h200.json")["rows"]:
        kind = r.get("kind")
        if kind not in ("full_finetune", "lora", "qlora") or r.get("status") != "ok":
            continue
        pure_bf16 = "pure bf16" in str(r.get("precision", "")) or (
            kind == "full_finetune" and r.get("weights_dtype") == "bf16"
        )
        kwargs: dict[str, Any] = {
            "checkpointing": "layer" if r.get("gradient_checkpointing") else "none",
            "stack": "hf",
            "master_weights": "none" if pure_bf16 else "fp32_params",
            "optimizer": "adamw_8bit" if "8bit" in str(r.get("optimizer", "")).lower() else "adamw",
            "attention": "eager" if r.get("attn_implementation") == "eager" else "sdpa",
        }
        weight_format = None
        if kind != "full_finetune":
            kwargs["lora_rank"] = r.get("lora_rank") or 16
            kwargs["lora_targets"] = ALL_TARGETS
            weight_format = "bf16" if kind == "lora" else "bnb_nf4_dq"
            if kind == "qlora":
                # evals/tools/measure_gpu.py ran prepare_model_for_kbit_training and cast nothing back
                kwargs["kbit_cast"] = "all"
        out.append(
            TrainingCase(
                source="h200_measured",
                row_id=f"h200-{len(out) + 1:03d}",
                model=catalog.resolve_model(r["model"]).id,
                group=GROUP[kind],
                basis="allocated",
                measured_bytes=int(r["peak_allocated_bytes"]),
                kwargs=kwargs,
                seq_len=int(r["seq_len"]),
                batch=int(r.get("batch", 1)),
                weight_format=weight_format,
            )
        )
    return out


def h200_check_cases() -> list[TrainingCase]:
    """Held-out H200 check rows (evals/data/h200_training_check.json) once their peaks have been measured."""
    out = []
    kinds = {"full32": ("full", "fp32_params"), "bf16": ("full", "none"), "lora": ("lora", "none")}
    for i, r in enumerate(load("h200_training_check.json")["rows"]):
        if r.get("measured_peak_bytes") is None:
            continue
        group, master = kinds[r["kind"]]
        kwargs: dict[str, Any] = {"checkpointing": "layer" if r["ckpt"] else "none", "master_weights": master}
        if group == "lora":
            kwargs.update(lora_rank=16, lora_targets=ALL_TARGETS)
        out.append(
            TrainingCase(
                source="h200_check",
                row_id=f"h200chk-{i + 1:03d}",
                model=r["model"],
                group=group,
                basis="allocated",
                measured_bytes=int(r["measured_peak_bytes"]),
                kwargs=kwargs,
                seq_len=int(r["seq"]),
                batch=int(r["batch"]),
                weight_format="bf16" if group == "lora" else None,
            )
        )
    return out


def published_cases() -> list[TrainingCase]:
    """Published single-GPU fine-tuning tables (measured_memory.json) that name the model, method and length."""
    out = []
    for r in load("measured_memory.json")["rows"]:
        if r.get("task") != "finetune" or r.get("status") != "ok" or r.get("memory_value") is None:
            continue
        try:
            model = catalog.resolve_model(r["model"]).id
        except VramwiseError:
            continue  # not in the catalog (Qwen-14B, Qwen-72B)
        method = str(r.get("method", "")).lower()
        seq = r.get("seq_len") or (r.get("input_len") or 0) + (r.get("output_len") or 0)
        n_gpus = r.get("n_gpus") or 1
        if not seq or "p-tuning" in method:
            continue
        basis_text = str(r.get("memory_basis", ""))
        unit = MiB if basis_text.startswith("MiB") else GiB  # the Qwen tables print binary "GB" (bench_accuracy)
        measured = int(float(r["memory_value"]) * unit)
        if "per gpu" not in str(r.get("memory_metric", "")).lower():
            measured //= n_gpus  # totals over GPUs -> per GPU (evenly split by data parallelism)
        # Qwen v1's remote code (2023) shifts a contiguous copy of the logits; under the Trainer's bf16 autocast the
        # cross-entropy runs in fp32, which the "hf" count (12 bytes per logit in backward) covers.
        kwargs: dict[str, Any] = {"grad_accumulation": r.get("grad_accum") or 1, "stack": "hf"}
        weight_format = None
        if "q-lora" in method or "qlora" in method:
            group = "qlora"
            # Qwen's Q-LoRA trains on its GPTQ Int4 chat models; PEFT leaves a GPTQ model's other weights alone
            weight_format = "gptq_int4"
            # finetune_qlora_single_gpu.sh: --fp16 with DeepSpeed ZeRO-2, no autocast: half-precision cross-entropy
            kwargs.update(
                lora_rank=64, lora_targets=ALL_TARGETS, kbit_cast="none", loss_path=training.HALF_PRECISION_LOSS
            )
        elif "lora" in method:
            group = "lora"
            weight_format = "bf16"
            rank = 8 if "r=8" in method else 64  # Qwen finetune.py lora_r=64; ChatGLM3 lora.yaml r=8
            kwargs.update(lora_rank=rank, lora_targets=ALL_TARGETS, train_embeddings="(emb)" in method)
            if "zero3" in method or "zero-3" in method:
                kwargs.update(zero_stage=3, num_gpus=n_gpus)
        elif "full" in method or "sft" in method:
            group = "full"
            # DeepSpeed (bf16 parameters, fp32 master in the optimizer), the stage as the row's source ran it
            zero = 3 if ("zero-3" in method or "zero3" in method) else 2
            if r["source_id"] == "qwen1_readme":
                # Qwen v1 (QwenLM/Qwen): full-parameter training on several GPUs is finetune/finetune_ds.sh, which
                # passes --deepspeed finetune/ds_config_zero3.json ("we use DeepSpeed ZeRO 3 in this script",
                # README). The single-GPU row has no published script ("We do not provide single-GPU training
                # script"): finetune.py's single-GPU DeepSpeed path ("This serves for single-gpu qlora") is
                # launched with ds_config_zero2.json, and the finetune.py of the commit that added the row
                # (e8e1596) cannot load a model under ZeRO-3 (device_map="auto"; QwenLM/Qwen issue 725, PR 833).
                zero = 3 if n_gpus > 1 else 2
                # accelerate turns autocast off under DeepSpeed and Qwen v1's remote code casts itself to bf16,
                # then takes the cross-entropy of a shifted contiguous copy of its bf16 logits
                kwargs["loss_path"] = training.HALF_PRECISION_LOSS
            kwargs.update(master_weights="optimizer", zero_stage=zero, num_gpus=n_gpus)
        else:
            continue
        if n_gpus > 1 and kwargs.get("zero_stage") is None:
            continue  # multi-node LoRA data parallel: per-GPU split not stated
        kwargs["checkpointing"] = "layer"
        # ChatGLM3's finetune_hf.py pads each batch to its longest sample (DataCollatorForSeq2Seq(padding='longest'),
        # THUDM/ChatGLM3 finetune_demo/finetune_hf.py): 256 + 512 is a cap, not the length trained on.
        length_is_cap = r["source_id"] == "chatglm3_finetune_readme"
        out.append(
            TrainingCase(
                source=r["source_id"],
                row_id=r["id"],
                model=model,
                group=group,
                basis="nvidia_smi",
                measured_bytes=measured,
                kwargs=kwargs,
                seq_len=int(seq),
                batch=int(r.get("batch_size") or 1),
                weight_format=weight_format,
                length_is_cap=length_is_cap,
            )
        )
    return out


def limit_cases() -> list[TrainingCase]:
    """Published longest-sequence-that-fits rows; measured_bytes is the stated memory size."""
    out = []
    for r in load("training_limits.json")["rows"]:
        if r.get("max_seq_len") is None:
            continue
        unsloth = r["stack"] == "unsloth"
        kwargs = {
            "stack": "unsloth" if unsloth else "hf_legacy",  # the Hugging Face column dates from December 2024
            "checkpointing": "offload" if unsloth else "layer",
            "lora_rank": r.get("lora_rank", 16),
            "lora_targets": ALL_TARGETS,
        }
        if not unsloth:
            # The hf_legacy loss constant (evals/calibrate_training.py) was fitted with every non-4-bit weight in
            # fp32; Unsloth's README does not publish the script of its Hugging Face column, so the fit's
            # assumption is kept rather than guessed again.
            kwargs["kbit_cast"] = "all"
        out.append(
            TrainingCase(
                source=r["source_id"] + ("_unsloth" if unsloth else "_hf"),
                row_id=r["id"],
                model=catalog.resolve_model(r["model"]).id,
                group=GROUP[r["mode"]],
                basis="capacity",
                measured_bytes=int(r["vram_GiB"] * GiB),
                kwargs=kwargs,
                seq_len=int(r["max_seq_len"]),
                batch=int(r.get("batch_size", 1)),
                weight_format="bnb_nf4_dq",
            )
        )
    return out


def all_cases() -> list[TrainingCase]:
    return h200_cases() + h200_check_cases() + published_cases() + limit_cases()
