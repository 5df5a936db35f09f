"""Count the bytes a transformers decoder layer saves for backward, per token (the source of
agent_tools.training.training_layer_bytes_per_token).

Builds a small model of the named architecture on the CPU (real layer code, small widths), runs one forward pass
under bf16 autocast with a saved-tensors hook that records every distinct storage autograd keeps, and takes the
difference between 2 and 1 layers. Modes: full (fp32 weights + autocast), lora (bf16 base + PEFT fp32 adapters),
bf16 (pure bf16). Needs transformers and peft (the dev extra); nothing is downloaded.

    python -m evals.count_saved_activations [llama|qwen3] [full|lora|bf16]
"""

from __future__ import annotations

import sys
from typing import Any

import torch

WIDTHS = {"hidden_size": 256, "intermediate_size": 768, "num_attention_heads": 4, "num_key_value_heads": 2}
ARCHS: dict[str, dict[str, Any]] = {
    "llama": {"model_type": "llama", "head_dim": 96, "vocab_size": 1000, "tie_word_embeddings": False},
    "qwen3": {"model_type": "qwen3", "head_dim": 96, "vocab_size": 1000, "tie_word_embeddings": True},
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def saved_activation_bytes(arch: str, mode: str, layers: int, tokens: int = 64) -> int:
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = {**ARCHS[arch], **WIDTHS}
    config = AutoConfig.for_model(cfg.pop("model_type"), num_hidden_layers=layers, **cfg)
    config._attn_implementation = "sdpa"
    model: Any = AutoModelForCausalLM.from_config(config, dtype=torch.float32 if mode == "full" else torch.bfloat16)
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS, task_type="CAUSAL_LM"))
    model.train()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    shapes = {tuple(p.shape) for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        weight_copy = tuple(t.shape) in shapes or tuple(t.shape[::-1]) in shapes  # autocast's weight casts
        if storage.data_ptr() not in params and not weight_copy:
            seen.setdefault(storage.data_ptr(), storage.nbytes())
        return t

    ids = torch.randint(0, 1000, (1, tokens))
    with (
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode != "bf16"),
    ):
        model(input_ids=ids)
    return sum(seen.values())


def main(argv: list[str]) -> int:
    arch = argv[0] if argv else "llama"
    mode = argv[1] if len(argv) > 1 else "bf16"
    per_layer = (saved_activation_bytes(arch, mode, 2) - saved_activation_bytes(arch, mode, 1)) / 64
    print(f"{arch} {mode}: {per_layer:.0f} bytes per token per layer at h=256, q=384, kv=192, I=768")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
