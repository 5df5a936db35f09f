"""Held-out GPU check of agent_tools.training.training_peak (rows in evals/data/h200_training_check.json).

Builds random-weight models from config dimensions on the GPU and prints one JSON line per job with the peak
PyTorch allocation over two optimizer steps. Needs torch, transformers and peft on a CUDA machine:

    python evals/h200_training_check.py
"""

import gc
import json

import torch
from transformers import AutoConfig, AutoModelForCausalLM

QWEN25_15B = dict(
    model_type="qwen2",
    hidden_size=1536,
    intermediate_size=8960,
    num_hidden_layers=28,
    num_attention_heads=12,
    num_key_value_heads=2,
    vocab_size=151936,
    tie_word_embeddings=True,
)
LLAMA32_1B = dict(
    model_type="llama",
    hidden_size=2048,
    intermediate_size=8192,
    num_hidden_layers=16,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=64,
    vocab_size=128256,
    tie_word_embeddings=True,
)
# (config, kind, batch, seq, gradient checkpointing); kind: full32 (fp32 + autocast), bf16 (pure), lora
JOBS = [
    ("q", "full32", 2, 4096, 1),
    ("q", "bf16", 2, 4096, 1),
    ("q", "bf16", 1, 2048, 0),
    ("l", "lora", 2, 2048, 0),
    ("l", "lora", 4, 4096, 1),
    ("l", "full32", 1, 4096, 0),
    ("l", "bf16", 4, 2048, 1),
]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def run(arch, kind, batch, seq, ckpt):
    cfg = dict(QWEN25_15B if arch == "q" else LLAMA32_1B)
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32 if kind == "full32" else torch.bfloat16)
    if kind == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=TARGETS, task_type="CAUSAL_LM")
        )
    model.train()
    model.config.use_cache = False
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if kind == "lora":
            model.enable_input_require_grads()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    ids = torch.randint(0, 32000, (batch, seq), device="cuda")
    for _ in range(2):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=kind != "bf16"):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    del model, opt, loss, ids
    gc.collect()
    torch.cuda.empty_cache()
    return peak


if __name__ == "__main__":
    for job in JOBS:
        print(json.dumps({"job": job, "peak": run(*job)}), flush=True)
