#!/usr/bin/env python3
"""Measure real GPU memory (and transformers decode speed) of open LLMs built from their config.json with random
weights: inference through transformers' generate(), full fine-tuning (fp32 master weights, bf16 autocast, fused
AdamW) and LoRA (PEFT, bf16 base). One JSON line per measurement in OUT/results.jsonl, written as it goes.

    python3 measure_gpu.py [--plan measure_gpu_plan.json] --out DIR [--deadline 480] [--scale tiny]
    (tiny: the same architectures shrunk, a CPU smoke test of the script). Needs torch, transformers, peft.
    Write one plan entry per model: {"kind": "infer"|"full"|"lora", "model": id in measure_gpu_configs.json,
    "dtype": "bf16"|"fp32", "points": [[context, batch], ...] or [[seq, batch, gradient_checkpointing], ...]}.
    Tensors a failed job leaves behind stay in the process: subtract (build weights_allocated - params x bytes).

vramwise copy (evals/tools/measure_gpu.py) of ../shared/tools/measure_gpu.py. A plan entry without the keys below
runs exactly as the original. Added, per plan entry:
    "attn": "sdpa"|"eager"       attn_implementation passed to from_config (default: transformers' own choice)
    "optimizer": "adamw_8bit"    bitsandbytes AdamW8bit instead of torch's fused AdamW (needs bitsandbytes)
    "kind": "qlora"              bf16 base whose nn.Linear layers (all but lm_head) become bitsandbytes Linear4bit
                                 (NF4, double quantization, bf16 compute: what from_pretrained with
                                 BitsAndBytesConfig(load_in_4bit, nf4, double_quant, bfloat16) builds), then
                                 peft.prepare_model_for_kbit_training (casts the other weights to fp32), then LoRA
    "lora_targets": "all-linear" PEFT's all-linear instead of the seven q/k/v/o/gate/up/down names (Phi-3's fused
                                 qkv_proj and gate_up_proj)
Every build record also carries allocated_before_build: what earlier jobs left in the process, to subtract.
"""

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:6.1f}s]", *a, flush=True)


def dev():
    return "cuda" if torch.cuda.is_available() else "cpu"


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def mem():
    if not torch.cuda.is_available():
        return {}
    return {
        "allocated": torch.cuda.memory_allocated(),
        "reserved": torch.cuda.memory_reserved(),
        "max_allocated": torch.cuda.max_memory_allocated(),
        "max_reserved": torch.cuda.max_memory_reserved(),
    }


def nvml_used():
    try:
        out = (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used,memory.total", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            .stdout.strip()
            .splitlines()[0]
        )
        used, total = (int(x) for x in out.split(","))
        return {"nvsmi_used_MiB": used, "nvsmi_total_MiB": total}
    except Exception as e:
        return {"nvsmi_error": str(e)[:100]}


def reset():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def shrink(cfg):
    """--scale tiny: the same architecture with tiny dimensions, for a CPU smoke test."""
    c = json.loads(json.dumps(cfg))
    tgt = c.get("text_config", c)
    for k, v in (
        ("hidden_size", 64),
        ("intermediate_size", 128),
        ("moe_intermediate_size", 32),
        ("num_hidden_layers", 2),
        ("num_attention_heads", 4),
        ("num_key_value_heads", 2),
        ("head_dim", 16),
        ("vocab_size", 512),
        ("num_experts", 4),
        ("num_local_experts", 4),
        ("ffn_hidden_size", 128),
        ("num_layers", 2),
    ):
        if k in tgt:
            tgt[k] = v
    tgt.update(pad_token_id=0, bos_token_id=1, eos_token_id=2)
    if "layer_types" in tgt:
        tgt["layer_types"] = tgt["layer_types"][:2]
    if "num_experts_per_tok" in tgt:
        tgt["num_experts_per_tok"] = 2
    if "experts_per_token" in tgt:
        tgt["experts_per_token"] = 2
    if "vision_config" in c:
        vc = c["vision_config"]
        vc.update(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    return c


def build_config(model_id, raw):
    from transformers import AutoConfig

    cfg = dict(raw)
    cfg.pop("quantization_config", None)  # measure the bf16 layout; from_config would not quantize anyway
    cfg.pop("architectures", None)
    mt = cfg.pop("model_type")
    return AutoConfig.for_model(mt, **cfg)


def build_model(config, dtype, attn=None):
    from transformers import AutoModelForCausalLM

    kw = {"attn_implementation": attn} if attn else {}
    try:
        with torch.device(dev()):
            m = AutoModelForCausalLM.from_config(config, dtype=dtype, **kw)
    except TypeError:
        with torch.device(dev()):
            m = AutoModelForCausalLM.from_config(config, torch_dtype=dtype, **kw)
    m = m.to(dev())
    return m


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def is_oom(e):
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


def infer_point(m, vocab, ctx, batch, new_tokens):
    reset()
    base = torch.cuda.memory_allocated() if torch.cuda.is_available() else 0
    ids = torch.randint(0, vocab, (batch, ctx), device=dev())
    t = time.time()
    with torch.inference_mode():
        out = m.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            do_sample=False,
            pad_token_id=0,
        )
    sync()
    r = {"seconds": round(time.time() - t, 3), "generated": int(out.shape[1] - ctx), "base_allocated": base}
    r.update(mem())
    r.update(nvml_used())
    del out, ids
    return r


def decode_speed(m, vocab, prompt=512, new=64):
    ids = torch.randint(0, vocab, (1, prompt), device=dev())
    am = torch.ones_like(ids)
    kw = dict(do_sample=False, pad_token_id=0)
    with torch.inference_mode():
        m.generate(input_ids=ids[:, :32], attention_mask=am[:, :32], max_new_tokens=4, min_new_tokens=4, **kw)
        sync()
        t = time.time()
        m.generate(input_ids=ids, attention_mask=am, max_new_tokens=1, min_new_tokens=1, **kw)
        sync()
        t1 = time.time() - t
        t = time.time()
        m.generate(input_ids=ids, attention_mask=am, max_new_tokens=new + 1, min_new_tokens=new + 1, **kw)
        sync()
        t2 = time.time() - t
    return {
        "prompt": prompt,
        "new_tokens": new,
        "prefill_s": round(t1, 4),
        "total_s": round(t2, 4),
        "decode_tokens_per_s": round(new / max(t2 - t1, 1e-6), 2),
    }


def quantize_linear_4bit(m, skip=("lm_head",)):
    """Swap every nn.Linear except `skip` for a bitsandbytes NF4 Linear4bit (double quantization, bf16 compute);
    the bf16 weight is quantized when the new module moves to the device, as in a 4-bit from_pretrained."""
    import bitsandbytes as bnb

    swapped = 0
    for _, parent in list(m.named_modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not torch.nn.Linear or name in skip:
                continue
            q = bnb.nn.Linear4bit(
                child.in_features,
                child.out_features,
                bias=child.bias is not None,
                compute_dtype=torch.bfloat16,
                compress_statistics=True,
                quant_type="nf4",
                device="meta",
            )
            q.weight = bnb.nn.Params4bit(
                child.weight.data, requires_grad=False, compress_statistics=True, quant_type="nf4", module=q
            )
            if child.bias is not None:
                q.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
            setattr(parent, name, q.to(dev()))
            del child
            swapped += 1
    m.is_loaded_in_4bit = True  # what a 4-bit from_pretrained sets; prepare_model_for_kbit_training reads it
    return swapped


def make_optimizer(opt_params, name):
    if name == "adamw_8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(opt_params, lr=1e-5), f"bitsandbytes AdamW8bit {bnb.__version__}"
    fused = torch.cuda.is_available()
    return torch.optim.AdamW(opt_params, lr=1e-5, fused=fused), f"torch AdamW fused={fused}"


def train_point(m, vocab, seq, batch, steps=2, optimizer="adamw_torch_fused"):
    opt_params = [p for p in m.parameters() if p.requires_grad]
    opt, opt_name = make_optimizer(opt_params, optimizer)
    reset()
    base = torch.cuda.memory_allocated() if torch.cuda.is_available() else 0
    ids = torch.randint(0, vocab, (batch, seq), device=dev())
    t = time.time()
    step_peaks = []
    for _ in range(steps):
        with torch.autocast(device_type=dev(), dtype=torch.bfloat16):
            loss = m(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        step_peaks.append(mem().get("max_allocated"))
    r = {
        "seconds": round(time.time() - t, 3),
        "base_allocated": base,
        "step_peaks": step_peaks,
        "trainable_params": sum(p.numel() for p in opt_params),
        "optimizer": opt_name,
        "loss": float(loss.detach().float().cpu()),
    }
    r.update(mem())
    r.update(nvml_used())
    del opt, loss, ids
    return r


def emit(fh, rec):
    fh.write(json.dumps(rec) + "\n")
    fh.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", default=os.path.join(HERE, "measure_gpu_plan.json"))
    ap.add_argument("--configs", default=os.path.join(HERE, "measure_gpu_configs.json"))
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/gpu-out"))
    ap.add_argument("--deadline", type=float, default=480.0, help="start no new job after this many seconds")
    ap.add_argument("--scale", choices=["full", "tiny"], default="full")
    ap.add_argument("--only", default=None, help="comma list of job indices")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    with open(a.plan) as f:
        plan = json.load(f)
    with open(a.configs) as f:
        configs = json.load(f)
    fh = open(os.path.join(a.out, "results.jsonl"), "a")  # noqa: SIM115 - open for the whole run, flushed per row
    import transformers

    env = {
        "kind": "env",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": sys.version.split()[0],
        "device": dev(),
    }
    try:
        import peft

        env["peft"] = peft.__version__
    except Exception as e:
        env["peft"] = f"missing: {e}"
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(gpu=p.name, total_memory=p.total_memory, free_total=torch.cuda.mem_get_info())
        env.update(nvml_used())
        # CUDA context + cuBLAS handle: what the driver holds beyond PyTorch's own pool
        x = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
        (x @ x).sum().item()
        sync()
        env.update({"after_init": mem(), "after_init_nvsmi": nvml_used(), "mem_get_info": torch.cuda.mem_get_info()})
        del x
    emit(fh, env)
    log("env", json.dumps(env))
    dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}
    only = {int(i) for i in a.only.split(",")} if a.only else None
    for ji, job in enumerate(plan):
        if only is not None and ji not in only:
            continue
        if time.time() - T0 > a.deadline:
            emit(fh, {"kind": "skipped", "job": ji, "model": job["model"], "why": "deadline"})
            log("deadline: skip", ji, job["model"], job["kind"])
            continue
        mid = job["model"]
        raw = configs[mid]
        if a.scale == "tiny":
            raw = shrink(raw)
        m = None
        try:
            reset()
            before = mem().get("allocated")
            config = build_config(mid, raw)
            tb = time.time()
            m = build_model(config, dtypes[job.get("dtype", "bf16")], job.get("attn"))
            sync()
            built = {
                "kind": "build",
                "job": ji,
                "model": mid,
                "dtype": job.get("dtype", "bf16"),
                "params": n_params(m),
                "weights_allocated": mem().get("allocated"),
                "allocated_before_build": before,
                "build_s": round(time.time() - tb, 2),
                "class": type(m).__name__,
                "attn_implementation": getattr(m.config, "_attn_implementation", None),
            }
            if job["kind"] == "qlora":
                built["linear4bit_swapped"] = quantize_linear_4bit(m)
                reset()
                built["weights_allocated_4bit"] = mem().get("allocated")
            emit(fh, built)
            log("built", mid, built["params"], built["weights_allocated"], built["build_s"], "s")
            vocab = (
                getattr(config, "vocab_size", None)
                or getattr(config.get_text_config(), "vocab_size", None)
                or getattr(config, "padded_vocab_size", 32000)
            )
            vocab = min(vocab, 32000)
            if job["kind"] == "infer":
                m.eval()
                if job.get("speed", True):
                    try:
                        s = decode_speed(m, vocab) if a.scale == "full" else decode_speed(m, vocab, 16, 4)
                        emit(
                            fh,
                            {
                                "kind": "speed",
                                "job": ji,
                                "model": mid,
                                "dtype": job.get("dtype", "bf16"),
                                "batch": 1,
                                **s,
                            },
                        )
                        log("speed", mid, s["decode_tokens_per_s"], "tok/s")
                    except Exception as e:
                        emit(fh, {"kind": "speed", "job": ji, "model": mid, "error": repr(e)[:300]})
                        log("speed error", mid, repr(e)[:200])
                for ctx, batch in job["points"]:
                    if time.time() - T0 > a.deadline:
                        break
                    if a.scale == "tiny":
                        ctx, batch = min(ctx, 64), min(batch, 2)
                    rec = {
                        "kind": "infer",
                        "job": ji,
                        "model": mid,
                        "dtype": job.get("dtype", "bf16"),
                        "attn_implementation": getattr(m.config, "_attn_implementation", None),
                        "context": ctx,
                        "batch": batch,
                        "new_tokens": job.get("new_tokens", 8),
                    }
                    try:
                        rec.update(status="ok", **infer_point(m, vocab, ctx, batch, job.get("new_tokens", 8)))
                    except Exception as e:
                        rec.update(status="OOM" if is_oom(e) else "error", error=repr(e)[:300], **mem())
                    emit(fh, rec)
                    log("infer", mid, ctx, batch, rec["status"], rec.get("max_allocated"))
                    reset()
            else:
                if job["kind"] in ("lora", "qlora"):
                    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

                    if job["kind"] == "qlora":
                        m = prepare_model_for_kbit_training(
                            m, use_gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False}
                        )
                    targets = job.get("lora_targets") or [
                        "q_proj",
                        "k_proj",
                        "v_proj",
                        "o_proj",
                        "gate_proj",
                        "up_proj",
                        "down_proj",
                    ]
                    lc = LoraConfig(
                        r=job.get("rank", 16),
                        lora_alpha=2 * job.get("rank", 16),
                        lora_dropout=0.0,
                        target_modules=targets,
                        task_type="CAUSAL_LM",
                    )
                    m = get_peft_model(m, lc)
                    reset()
                    emit(
                        fh,
                        {
                            "kind": "adapters",
                            "job": ji,
                            "model": mid,
                            "allocated": mem().get("allocated"),
                            "trainable_params": sum(p.numel() for p in m.parameters() if p.requires_grad),
                        },
                    )
                m.train()
                if hasattr(m, "config"):
                    with contextlib.suppress(Exception):
                        m.config.use_cache = False
                for seq, batch, gck in job["points"]:
                    if time.time() - T0 > a.deadline:
                        break
                    if a.scale == "tiny":
                        seq, batch = min(seq, 64), min(batch, 2)
                    if gck:
                        m.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
                        if job["kind"] in ("lora", "qlora"):
                            m.enable_input_require_grads()
                    else:
                        m.gradient_checkpointing_disable()
                    rec = {
                        "kind": job["kind"],
                        "job": ji,
                        "model": mid,
                        "dtype": job.get("dtype", "bf16"),
                        "seq": seq,
                        "batch": batch,
                        "gradient_checkpointing": bool(gck),
                        "rank": job.get("rank", 16) if job["kind"] in ("lora", "qlora") else None,
                        "lora_targets": job.get("lora_targets"),
                        "attn_implementation": getattr(getattr(m, "config", None), "_attn_implementation", None),
                        "autocast": "bf16",
                    }
                    try:
                        rec.update(
                            status="ok",
                            **train_point(m, vocab, seq, batch, optimizer=job.get("optimizer", "adamw_torch_fused")),
                        )
                    except Exception as e:
                        rec.update(
                            status="OOM" if is_oom(e) else "error",
                            error=repr(e)[:300],
                            tb=traceback.format_exc()[-600:],
                            **mem(),
                        )
                    emit(fh, rec)
                    log(
                        job["kind"],
                        mid,
                        seq,
                        batch,
                        gck,
                        rec["status"],
                        rec.get("max_allocated"),
                        rec.get("error", "")[:120],
                    )
                    for p in m.parameters():
                        p.grad = None
                    reset()
        except Exception as e:
            emit(
                fh,
                {
                    "kind": "job_error",
                    "job": ji,
                    "model": mid,
                    "error": repr(e)[:400],
                    "tb": traceback.format_exc()[-1200:],
                },
            )
            log("job error", mid, repr(e)[:300])
        finally:
            del m
            reset()
    log("done")


if __name__ == "__main__":
    main()
