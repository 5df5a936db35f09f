"""Training memory: the tensors live at each moment of a training step, and the largest moment.

Counts weights, gradients, optimizer states, saved activations (with or without checkpointing), the loss path's
buffers over tokens x vocabulary and the transients of each moment, for today's stacks (Hugging Face transformers
+ PEFT, its 2024 predecessor, Unsloth). Byte counts per token and layer were read off the tensors autograd saves in
transformers 5.x; evals/calibrate_training.py and evals/bench_training.py check them against measured peaks.
Pure functions over an Architecture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agent_tools.architecture import Architecture
from agent_tools.memory import BF16, FP32, _kv_dim, _mlp_width, _q_dim

LORA_TARGETS = {
    "q": "attn_q",
    "k": "attn_k",
    "v": "attn_v",
    "o": "attn_output",
    "gate": "ffn_gate",
    "up": "ffn_up",
    "down": "ffn_down",
}


def lora_params(arch: Architecture, rank: int, targets: list[str]) -> int:
    """Adapter parameters: r x (in + out) per targeted matrix per layer (experts are not targeted)."""
    classes = {LORA_TARGETS[t] for t in targets}
    if arch.is_mla and classes & {"attn_q", "attn_k", "attn_v"}:
        classes |= {"attn_q_a", "attn_q_b", "attn_kv_a_mqa", "attn_kv_b"}
    if classes & {"ffn_gate", "ffn_up", "ffn_down"}:
        classes |= {f"{c}_shexp" for c in classes if c.startswith("ffn_")}
    return sum(rank * (t.rows + t.cols) * t.count for t in arch.tensors if t.name in classes and not t.expert)


TrainingStack = Literal["hf", "hf_legacy", "unsloth"]
MasterWeights = Literal["fp32_params", "optimizer", "none"]
Checkpointing = Literal["none", "layer", "offload"]

TRAINING_STACKS: tuple[str, ...] = ("hf", "hf_legacy", "unsloth")
MASTER_WEIGHTS: tuple[str, ...] = ("fp32_params", "optimizer", "none")
CHECKPOINTING: tuple[str, ...] = ("none", "layer", "offload")
# What a QLoRA recipe casts to fp32 among the weights bitsandbytes left in bf16 (it quantizes every nn.Linear but
# lm_head; embeddings and norms are not Linear):
#   all   - PEFT's prepare_model_for_kbit_training alone: embeddings, output matrix, norms and biases.
#   norms - the QLoRA reference script (artidoro/qlora qlora.py get_accelerate_model): after
#           prepare_model_for_kbit_training it casts norms to fp32 and lm_head and embed_tokens back to bf16 (biases
#           stay fp32); TRL's SFTTrainer of 2024 did the same (peft_module_casting_to_bf16).
#   none  - nothing cast: Unsloth, GPTQ bases under PEFT, and TRL's SFTTrainer today (it no longer calls
#           prepare_model_for_kbit_training).
KBIT_CASTS: tuple[str, ...] = ("all", "norms", "none")


@dataclass(frozen=True)
class LossPath:
    """Bytes per (token x vocabulary entry) the loss holds at the end of the forward pass and at its backward."""

    forward: float
    backward: float
    why: str


LOSS_PATHS: dict[str, LossPath] = {
    # transformers >= 4.46 ForCausalLMLoss (loss/loss_utils.py): the model returns bf16 logits for every position
    # (logits_to_keep=0), the loss upcasts them (logits.float()) and cross_entropy keeps its fp32 log-softmax.
    # Forward end: bf16 logits 2 + fp32 copy 4 + log-softmax 4. Backward of log-softmax: the saved log-softmax 4 +
    # the nll gradient 4 + the logits gradient 4 (the bf16 logits were dropped with the model output).
    "hf": LossPath(10.0, 12.0, "bf16 logits upcast to fp32 inside the loss (transformers >= 4.46)"),
    # The Hugging Face stack of 2024 (transformers <= 4.47): fp32 logits plus a shifted contiguous fp32 copy
    # (4 + 4) and the log-softmax (4) at the forward end. Its backward figure is fitted, not counted:
    # evals/calibrate_training.py on Unsloth's published Hugging Face + FA2 limits for Llama 3.1 8B (held out:
    # Llama 3.3 70B); it exceeds the count of 12 by about the fp32 logits (4) the returned output still held.
    "hf_legacy": LossPath(12.0, 16.5, "fp32 logits and a shifted fp32 copy (transformers <= 4.47, 2024)"),
    # Unsloth fuses the output projection with the loss (Apple's Cut Cross-Entropy): logits are never stored whole.
    "unsloth": LossPath(0.0, 0.0, "fused linear cross-entropy (Cut Cross-Entropy): logits never materialised"),
}

# Cross-entropy in half precision without autocast (DeepSpeed fp16, 2023 remote-code models such as Qwen v1, which
# shift a contiguous copy of the logits): logits 2 + shifted copy 2 + log-softmax 2 at the forward end; in backward
# log-softmax 2 + its gradient 2 + the shifted gradient 2.
HALF_PRECISION_LOSS = LossPath(6.0, 6.0, "half-precision cross-entropy, no fp32 upcast (DeepSpeed fp16)")

# DeepSpeed ZeRO-3 steps the optimizer one sub-group of its partition at a time (zero_optimization.sub_group_size,
# default 1e9 elements, also what QwenLM/Qwen's finetune/ds_config_zero3.json sets): stage3.py
# _prepare_fp32_grad_for_sub_group flattens that sub-group's bf16 gradients and casts the copy to fp32.
ZERO3_SUB_GROUP = 10**9

# Optimizer state bytes per trainable parameter, by the dtype the states are kept in (torch keeps AdamW states in
# the parameter's dtype; bitsandbytes 8-bit Adam keeps two 1-byte states plus block-wise absmax scales).
_STATE_BYTES = {
    "fp32": {"adamw": 8, "adamw_8bit": 2, "sgd": 4},
    "bf16": {"adamw": 4, "adamw_8bit": 2, "sgd": 2},
}


@dataclass(frozen=True)
class TrainingPeak:
    """Bytes live at the peak moment of a training step (PyTorch tensors only: no CUDA context, no cache)."""

    phase: str  # forward_end | loss_backward | layer_recompute | layer_backward | end_of_backward | optimizer_step
    weights_bytes: int  # model parameters as stored (base weights; full fine-tuning: the trained parameters)
    gradients_bytes: int
    optimizer_bytes: int  # optimizer states, plus a separate fp32 master copy where the optimizer keeps one
    adapter_bytes: int  # LoRA adapter weights
    activations_bytes: int  # saved activations (checkpointed inputs or every layer's stash) and weight casts
    logits_bytes: int  # loss-path buffers over tokens x vocabulary
    transient_bytes: int  # what one moment adds: a recomputed layer, a dequantised weight, a gradient copy
    trainable_params: int

    @property
    def total_bytes(self) -> int:
        return (
            self.weights_bytes
            + self.gradients_bytes
            + self.optimizer_bytes
            + self.adapter_bytes
            + self.activations_bytes
            + self.logits_bytes
            + self.transient_bytes
        )


def _linear_input_casts(arch: Architecture) -> int:
    """Distinct linear layers that read each normalised hidden state (q, k, v; gate and up, or fc1)."""
    return 3 + (2 if arch.gated_mlp else 1)


def training_layer_bytes_per_token(
    arch: Architecture,
    *,
    fp32_residual: bool,
    lora_rank: int = 0,
    lora_targets: int = 0,
) -> int:
    """Bytes one decoder layer saves for backward per token (bf16 compute, FlashAttention/SDPA, no dropout).

    Counted from the tensors autograd saves in transformers 5.x decoder layers (evals/count_saved_activations.py
    reproduces the count): each RMSNorm keeps its fp32 upcast input, the normalised value, the scaled output and
    its fp32 reciprocal RMS (8h + 4 bytes); attention keeps q, k, v, the output
    and the softmax statistics (4q + 4kv); a gated MLP keeps gate, activation, up and their product (8I); q/k
    norms (Qwen3, Gemma 3) add 6(q + kv). With an fp32 residual stream (fp32 parameters under autocast, or a
    QLoRA model whose norms were cast to fp32) every linear layer saves its own bf16 cast of the input (2h
    each). PEFT LoRA adds the o_proj input copy, one h-wide copy and the rank-r intermediates.
    """
    h = arch.hidden_size
    q, kv = _q_dim(arch), _kv_dim(arch)
    per = arch.norms_per_layer * (8 * h + 4) + 4 * q + 4 * kv + 4 * arch.num_heads
    per += (8 if arch.gated_mlp else 4) * _mlp_width(arch)
    if arch.qk_norm:
        per += 6 * (q + kv)
    if fp32_residual:
        per += 2 * h * _linear_input_casts(arch)
    if lora_rank:
        per += 2 * (h + q) + 2 * lora_rank * lora_targets
    return per


def _matmul_params(arch: Architecture) -> int:
    """Parameters that go through a matmul (autocast casts each once per forward): all but embeddings and norms,
    with a tied output matrix counted once for the output projection."""
    p = sum(t.elements for t in arch.tensors if t.name != "token_embd" and t.cols > 1 and t.rows > 1)
    if arch.tied_embeddings:
        p += arch.vocab_size * arch.hidden_size
    return p


def training_peak(
    arch: Architecture,
    mode: str,
    seq_len: int,
    batch: int,
    *,
    base_weights_bytes: int | None = None,
    optimizer: str = "adamw",
    lora_rank: int = 16,
    lora_targets: list[str] | None = None,
    train_embeddings: bool = False,
    checkpointing: str = "layer",
    stack: str = "hf",
    master_weights: str = "fp32_params",
    adapter_dtype: str = "fp32",
    grad_accumulation: int = 1,
    kbit_cast: str | None = None,
    zero_stage: int = 0,
    num_gpus: int = 1,
    loss_path: LossPath | None = None,
    attention: str = "sdpa",
) -> TrainingPeak:
    """Peak PyTorch-allocated bytes of one training step after the optimizer's first step.

    mode: full_finetune | lora | qlora. base_weights_bytes: the frozen base as stored (LoRA/QLoRA; from the
    weight format); full fine-tuning derives its weights from master_weights:
      fp32_params - fp32 parameters under bf16 autocast (torch AMP, HF Trainer with bf16=True on an fp32 model):
                    weights 4P, gradients 4P, states in fp32; autocast caches a bf16 copy of every matmul
                    weight during the forward pass and the residual stream stays fp32.
      optimizer   - bf16 parameters and gradients, the optimizer holds an fp32 master copy (DeepSpeed, Megatron).
      none        - pure bf16: parameters, gradients and optimizer states all bf16.
    checkpointing: none | layer (each decoder layer's input kept, the layer recomputed in backward) | offload
    (Unsloth's: the layer inputs go to CPU RAM). Gradients are freed between steps (zero_grad(set_to_none=True))
    unless grad_accumulation > 1 keeps them alive through the next forward. kbit_cast: which weights that
    bitsandbytes left in bf16 a QLoRA recipe casts to fp32 (KBIT_CASTS). Default: "norms" for a bitsandbytes
    base on the Hugging Face stacks, "none" for Unsloth; GPTQ bases are left alone, so pass "none" for them.
    zero_stage over num_gpus (DeepSpeed, per GPU): 1 partitions optimizer states, 2 also the gradients, 3 also the
    weights. With an fp32 master the gradients stay bf16; the optimizer step adds their fp32 copy (ZeRO-1/2: the
    whole partition; ZeRO-3: one sub-group of at most 1e9), and ZeRO-3 over N > 1 GPUs gathers each module's
    weights whole while it runs (DeepSpeed's estimator: 4 bytes x the largest layer).
    loss_path overrides the stack's loss-path bytes (a calibrated value). attention: sdpa (FlashAttention-style
    kernels, nothing quadratic kept) or eager (transformers' eager_attention_forward keeps the fp32 softmax and its
    bf16 cast, 6 bytes per head x query x key, in every layer; backward of one layer adds its fp32 gradients).
    """
    if stack not in LOSS_PATHS:
        raise ValueError(f"stack {stack!r}; accepted: {', '.join(TRAINING_STACKS)}")
    if master_weights not in MASTER_WEIGHTS:
        raise ValueError(f"master_weights {master_weights!r}; accepted: {', '.join(MASTER_WEIGHTS)}")
    if checkpointing not in CHECKPOINTING:
        raise ValueError(f"checkpointing {checkpointing!r}; accepted: {', '.join(CHECKPOINTING)}")
    targets = list(lora_targets or LORA_TARGETS)
    h, v = arch.hidden_size, arch.vocab_size
    tokens = seq_len * batch
    p = arch.params_total
    head_cast = 0  # bf16 copy of an fp32 output matrix, saved for the output projection's backward
    cast_cache = 0  # autocast's bf16 copies of fp32 weights, alive until the forward pass ends
    tied_grad_copy = 0  # a tied embedding's second gradient, added into the output projection's

    if mode == "full_finetune":
        trainable = p
        if master_weights == "fp32_params":
            weights, grads = FP32 * p, FP32 * p
            states = _STATE_BYTES["fp32"][optimizer] * p
            cast_cache = BF16 * _matmul_params(arch)
            head_cast = BF16 * v * h
            fp32_residual = True
            tied_grad_copy = FP32 * v * h if arch.tied_embeddings else 0
        elif master_weights == "optimizer":
            weights, grads = BF16 * p, BF16 * p
            states = (FP32 + _STATE_BYTES["fp32"][optimizer]) * p
            fp32_residual = False
            tied_grad_copy = BF16 * v * h if arch.tied_embeddings else 0
        else:
            weights, grads = BF16 * p, BF16 * p
            states = _STATE_BYTES["bf16"][optimizer] * p
            fp32_residual = False
            tied_grad_copy = BF16 * v * h if arch.tied_embeddings else 0
        adapters = 0
        layer = training_layer_bytes_per_token(arch, fp32_residual=fp32_residual)
    else:
        trainable = lora_params(arch, lora_rank, targets)
        a_bytes = FP32 if adapter_dtype == "fp32" else BF16
        embed_params = sum(t.elements for t in arch.tensors if t.name in ("token_embd", "output"))
        # modules_to_save copies both ends, also when they share one matrix
        saved_copies = embed_params + (arch.vocab_size * arch.hidden_size if arch.tied_embeddings else 0)
        weights = base_weights_bytes if base_weights_bytes is not None else BF16 * p
        if kbit_cast is None:
            kbit_cast = "norms" if mode == "qlora" and stack != "unsloth" else "none"
        if kbit_cast not in KBIT_CASTS:
            raise ValueError(f"kbit_cast {kbit_cast!r}; accepted: {', '.join(KBIT_CASTS)}")
        # fp32 norm weights promote the norms' outputs, and with them the residual stream, to fp32
        fp32_residual = kbit_cast != "none"
        if fp32_residual:
            weights += (FP32 - BF16) * sum(t.elements for t in arch.tensors if t.rows <= 1)
        if kbit_cast == "all":
            weights += (FP32 - BF16) * embed_params
            head_cast = BF16 * v * h
        adapters = a_bytes * trainable
        grads = a_bytes * trainable
        states = _STATE_BYTES["fp32" if a_bytes == FP32 else "bf16"][optimizer] * trainable
        if train_embeddings:
            # PEFT modules_to_save deep-copies the embedding and output layers in the base dtype (bf16) and
            # trains the copies: copy, gradient and bf16 optimizer states.
            adapters += BF16 * saved_copies
            grads += BF16 * saved_copies
            states += _STATE_BYTES["bf16"][optimizer] * saved_copies
            trainable += saved_copies
        layer = training_layer_bytes_per_token(
            arch, fp32_residual=fp32_residual, lora_rank=lora_rank, lora_targets=len(targets)
        )

    n = max(1, num_gpus)
    fp32_master = mode == "full_finetune" and master_weights == "optimizer"
    step_transient = 0  # what the optimizer step adds to weights, gradients and states
    gathered_fwd = gathered_bwd = 0  # ZeRO-3 over N > 1 GPUs: a module's whole weights (backward: and gradient)
    if zero_stage >= 1:
        states = -(-states // n)
        if fp32_master:
            # DeepSpeed keeps no fp32 gradients between steps: the step flattens this GPU's bf16 gradients and
            # casts the copy to fp32 (2 + 4 bytes each, both alive at the cast), the whole partition at once for
            # ZeRO-1/2 (stage_1_and_2.py), one optimizer sub-group of it for ZeRO-3 (stage3.py)
            partition = -(-trainable // n)
            step_transient = (BF16 + FP32) * (partition if zero_stage < 3 else min(ZERO3_SUB_GROUP, partition))
    if zero_stage >= 2:
        grads = -(-grads // n)
    if zero_stage >= 3:
        weights = -(-weights // n)
        if n > 1:
            # DeepSpeed's ZeRO-3 estimator: 4 bytes x the largest layer (its gathered bf16 weights and gradient;
            # frozen LoRA bases gather weights only). One GPU needs no gather: partition_parameters.py hands the
            # partition itself to the module.
            gathered_fwd = BF16 * max(t.rows * t.cols for t in arch.tensors)
            gathered_bwd = gathered_fwd * (2 if mode == "full_finetune" else 1)
    score_backward = 0
    if attention == "eager":
        layer += 6 * arch.num_heads * seq_len  # per token: heads x keys x (fp32 softmax 4 + bf16 probabilities 2)
        score_backward = 8 * arch.num_heads * seq_len  # the probabilities' gradient, fp32 and its softmax backward
    res = FP32 if fp32_residual else BF16
    # The final norm's saved tensors and the output projection's input.
    head = tokens * h * (2 * res + BF16)
    if checkpointing == "none":
        saved = arch.num_layers * tokens * layer
    elif checkpointing == "layer":
        saved = (arch.num_layers + 1) * tokens * h * res
    else:  # offload: the inputs live in CPU RAM; the one being recomputed and the next one prefetched stay
        saved = 2 * tokens * h * res
    loss = loss_path or LOSS_PATHS[stack]
    softcap = 2.0 if _has_final_softcap(arch) and stack != "unsloth" else 0.0
    live_grads = grads if grad_accumulation > 1 else 0
    dequant = 0
    if mode == "qlora":
        # bitsandbytes dequantises one weight at a time to bf16 for the matmul
        dequant = BF16 * max(t.rows * t.cols for t in arch.tensors if t.name not in ("token_embd", "output"))

    phases = [
        TrainingPeak(
            "forward_end",
            weights,
            live_grads,
            states,
            adapters,
            saved + head + cast_cache,
            int(tokens * v * (loss.forward + softcap)),
            gathered_fwd,
            trainable,
        ),
        TrainingPeak(
            "loss_backward",
            weights,
            live_grads,
            states,
            adapters,
            saved + head + head_cast,
            int(tokens * v * (loss.backward + softcap)),
            gathered_bwd,
            trainable,
        ),
        TrainingPeak("end_of_backward", weights, grads, states, adapters, 0, 0, tied_grad_copy, trainable),
    ]
    if step_transient:
        phases.append(TrainingPeak("optimizer_step", weights, grads, states, adapters, 0, 0, step_transient, trainable))
    if checkpointing == "none" and score_backward:
        # backward of the last layer: every layer's stash is still there, plus the attention scores' gradients
        phases.append(
            TrainingPeak(
                "layer_backward",
                weights,
                live_grads,
                states,
                adapters,
                saved + head,
                0,
                tokens * score_backward + gathered_bwd,
                trainable,
            )
        )
    if checkpointing != "none":
        # backward of one layer: its inputs' stash is still there, the layer's own saved set is rebuilt
        phases.append(
            TrainingPeak(
                "layer_recompute",
                weights,
                grads,
                states,
                adapters,
                saved,
                0,
                tokens * (layer + score_backward) + dequant + gathered_bwd,
                trainable,
            )
        )
    return max(phases, key=lambda t: t.total_bytes)


def _has_final_softcap(arch: Architecture) -> bool:
    """Gemma 2's final logit soft-capping keeps one more bf16 copy of the logits (tanh's output)."""
    return arch.model_type in ("gemma2",)
