"""Memory components in integer bytes: KV cache, activations / compute buffers, training states.

Pure functions over an Architecture; no catalog lookups here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agent_tools.architecture import Architecture
from agent_tools.schemas import KvFormatEntry, RuntimeProfile

BF16 = 2
FP32 = 4

# Activation stash per token per layer for training, in elements (bf16), with FlashAttention and a gated MLP:
# norm input + normed input (2h), q, k, v (q_dim + 2 kv_dim), attention output (q_dim), residual + normed
# input of the MLP (2h), gate, silu(gate), up and their product (4 x intermediate). Korthikanti et al. 2022
# (arXiv:2205.05198) Table 2 counts 34*s*b*h for a 4h GeLU MLP with dropout and materialised scores; FlashAttention
# drops the 5*a*s^2*b scores term and there is no dropout in current LLMs.


@dataclass(frozen=True)
class KvCache:
    bytes: int
    bytes_per_token: int  # averaged over layers at this context (sliding layers cap at their window)
    full_layers: int
    sliding_layers: int
    latent_layers: int


def kv_cache(
    arch: Architecture,
    context: int,
    batch: int,
    fmt: KvFormatEntry,
    *,
    layer_fraction: float = 1.0,
    kv_head_shards: int = 1,
    sliding_extra_tokens: int = 0,
) -> KvCache:
    """KV bytes for `batch` sequences of `context` tokens.

    Full-attention layers cache every token; sliding-window layers cache min(context, window + extra) tokens;
    MLA layers cache one latent vector (kv_lora_rank + rope dim) per token. `kv_head_shards` divides KV heads
    across tensor-parallel ranks (at least one head per rank; MLA's single latent is replicated).
    `layer_fraction` keeps the share of layers held on this device (llama.cpp partial offload).
    """
    layout = arch.kv_layout
    shard = 1.0
    if kv_head_shards > 1 and not arch.is_mla:
        shard = max(1, arch.num_kv_heads // kv_head_shards) / arch.num_kv_heads
    values = layout.full_values * context
    for window, window_values in layout.sliding_values.items():
        values += window_values * min(context, window + sliding_extra_tokens)
    raw = int(values * shard * layer_fraction) * batch
    size = -(-raw // fmt.block_elements) * fmt.block_bytes  # block formats round up per block
    per_token = size // max(1, context * batch)
    return KvCache(size, per_token, layout.full_layers, layout.sliding_layers, layout.latent_layers)


def kv_bytes_per_token_full(arch: Architecture, fmt: KvFormatEntry) -> int:
    """KV bytes one token adds when every layer caches it (the familiar per-token figure)."""
    values = sum(arch.kv_values_per_token(i) for i in range(arch.num_layers))
    return values * fmt.block_bytes // fmt.block_elements


def _mlp_width(arch: Architecture) -> int:
    """Widest per-token MLP intermediate in any layer (MoE: top-k experts plus shared experts)."""
    dense = arch.intermediate_size if (not arch.is_moe or arch.dense_layers) else 0
    moe = 0
    if arch.is_moe:
        moe = arch.experts_per_token * arch.moe_intermediate_size
        moe += arch.num_shared_experts * arch.shared_expert_intermediate_size
    return max(dense, moe)


def _q_dim(arch: Architecture) -> int:
    if arch.is_mla:
        return arch.num_heads * (arch.qk_nope_head_dim + arch.qk_rope_head_dim)
    return arch.num_heads * arch.head_dim


def _kv_dim(arch: Architecture) -> int:
    if arch.is_mla:
        return arch.num_heads * (arch.qk_nope_head_dim + arch.v_head_dim) // 2
    return arch.num_kv_heads * arch.head_dim


def forward_transient_bytes(
    arch: Architecture, tokens: int, *, flash_attention: bool, logits_tokens: int
) -> tuple[int, int]:
    """Peak transient memory of one inference forward pass over `tokens` tokens (bf16 activations):
    (inside a decoder layer, at the output head).

    The largest live set inside a layer is the residual stream, its normalised copy and either q/k/v plus the
    attention output or the MLP's gate/up/product (gated MLP). Without FlashAttention the score matrix
    (heads x tokens x tokens, fp32 softmax) is materialised. Logits are fp32 for `logits_tokens` positions.
    """
    h = arch.hidden_size
    attention = _q_dim(arch) + 2 * _kv_dim(arch) + _q_dim(arch)
    mlp = (3 if arch.gated_mlp else 2) * _mlp_width(arch)
    per_token = BF16 * (2 * h + max(attention, mlp))
    scores = 0 if flash_attention else arch.num_heads * tokens * tokens * FP32
    layer_peak = tokens * per_token + scores
    # The logits come after the last layer has freed its intermediates: bf16 logits plus their fp32 copy.
    logits_peak = logits_tokens * arch.vocab_size * (FP32 + BF16) + tokens * BF16 * h
    return layer_peak, logits_peak


def llama_cpp_compute_buffer(arch: Architecture, context: int, n_ubatch: int, *, flash_attention: bool) -> int:
    """llama.cpp's per-device compute buffer: the graph for one micro-batch of n_ubatch tokens.

    Without flash attention the KQ matrix (heads x n_ctx x n_ubatch, fp32) dominates; with it the
    worst-case output logits (vocab x n_ubatch, fp32) usually do. Plus f32 hidden/MLP intermediates.
    """
    ub = min(n_ubatch, max(1, context))
    hidden = ub * (arch.hidden_size + _mlp_width(arch)) * FP32
    kq = 0 if flash_attention else arch.num_heads * context * ub * FP32
    logits = arch.vocab_size * ub * FP32
    return max(kq + hidden, logits + hidden // 4)


@dataclass(frozen=True)
class TrainingStates:
    gradients_bytes: int
    optimizer_bytes: int
    adapter_bytes: int
    trainable_params: int
    master_weights_in_optimizer: bool


# Optimizer state bytes per trainable parameter (mixed precision keeps an fp32 master copy in the optimizer).
_OPTIMIZER_BYTES = {"adamw": 12, "adamw_8bit": 6, "sgd": 8}
_OPTIMIZER_BYTES_FP32_PARAMS = {"adamw": 8, "adamw_8bit": 2, "sgd": 4}

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


def training_states(
    arch: Architecture,
    mode: str,
    optimizer: str,
    lora_rank: int,
    lora_targets: list[str],
    train_embeddings: bool = False,
) -> TrainingStates:
    if mode == "full_finetune":
        p = arch.params_total
        return TrainingStates(
            gradients_bytes=BF16 * p,
            optimizer_bytes=_OPTIMIZER_BYTES[optimizer] * p,
            adapter_bytes=0,
            trainable_params=p,
            master_weights_in_optimizer=True,
        )
    p = lora_params(arch, lora_rank, lora_targets)
    if train_embeddings:
        # PEFT modules_to_save: trainable copies of the embedding and output matrices, trained like adapters
        p += sum(t.elements for t in arch.tensors if t.name in ("token_embd", "output"))
    # PEFT keeps adapter weights in fp32 by default (autocast_adapter_dtype=True): weights, grads, states fp32.
    return TrainingStates(
        gradients_bytes=FP32 * p,
        optimizer_bytes=_OPTIMIZER_BYTES_FP32_PARAMS[optimizer] * p,
        adapter_bytes=FP32 * p,
        trainable_params=p,
        master_weights_in_optimizer=False,
    )


def training_activations(
    arch: Architecture, seq_len: int, batch: int, *, gradient_checkpointing: bool, lora_rank: int = 0
) -> int:
    """Activation memory for one training step (bf16, FlashAttention, no dropout).

    Per token per layer: 2 bytes x (5h + 2 q_dim + 2 kv_dim + 4 x MLP width); with gradient checkpointing only
    each layer's input (2h bytes per token) is kept, plus one layer's full stash during recomputation. The
    loss adds vocab x tokens x 18 bytes (Unsloth's Hugging Face + FA2 QLoRA context limits fit this).
    """
    h = arch.hidden_size
    tokens = seq_len * batch
    per_layer_token = BF16 * (5 * h + 2 * _q_dim(arch) + 2 * _kv_dim(arch) + 4 * _mlp_width(arch))
    if lora_rank:
        per_layer_token += BF16 * 7 * lora_rank  # adapter intermediates x @ A per targeted matrix
    if gradient_checkpointing:
        stash = arch.num_layers * tokens * BF16 * h + tokens * per_layer_token
    else:
        stash = arch.num_layers * tokens * per_layer_token
    # bf16 logits (2) + fp32 copy (4) + fp32 log-softmax kept for backward (4), and in backward its fp32 gradient,
    # the fp32 logits gradient and its bf16 cast (4 + 2 + 2): the Hugging Face loss path peaks near 18 bytes.
    logits = tokens * arch.vocab_size * 18
    return stash + logits


def runtime_overhead(runtime: RuntimeProfile) -> int:
    return runtime.context_bytes + runtime.cuda_graph_bytes


# ------------------------------------------------------------------------------------------ training peak
# The functions above keep the estimator's historical training figures; the ones below count the tensors that
# exist at each moment of a training step on today's stacks and take the largest moment. Byte counts per token
# and per layer were read off the tensors autograd saves in transformers 5.x (evals/derive_training_terms.py);
# evals/calibrate_training.py and evals/bench_training.py check them on measured peaks.

TrainingStack = Literal["hf", "hf_legacy", "unsloth"]
MasterWeights = Literal["fp32_params", "optimizer", "none"]
Checkpointing = Literal["none", "layer", "offload"]

TRAINING_STACKS: tuple[str, ...] = ("hf", "hf_legacy", "unsloth")
MASTER_WEIGHTS: tuple[str, ...] = ("fp32_params", "optimizer", "none")
CHECKPOINTING: tuple[str, ...] = ("none", "layer", "offload")


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

# Optimizer state bytes per trainable parameter, by the dtype the states are kept in (torch keeps AdamW states in
# the parameter's dtype; bitsandbytes 8-bit Adam keeps two 1-byte states plus block-wise absmax scales).
_STATE_BYTES = {
    "fp32": {"adamw": 8, "adamw_8bit": 2, "sgd": 4},
    "bf16": {"adamw": 4, "adamw_8bit": 2, "sgd": 2},
}


@dataclass(frozen=True)
class TrainingPeak:
    """Bytes live at the peak moment of a training step (PyTorch tensors only: no CUDA context, no cache)."""

    phase: str  # forward_end | loss_backward | layer_recompute | end_of_backward
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

    Counted from the tensors autograd saves in transformers 5.x decoder layers: each RMSNorm keeps its fp32
    upcast input, the normalised value and the scaled output (8h bytes); attention keeps q, k, v, the output
    and the softmax statistics (4q + 4kv); a gated MLP keeps gate, activation, up and their product (8I); q/k
    norms (Qwen3, Gemma 3) add 6(q + kv). With an fp32 residual stream (fp32 parameters under autocast, or a
    QLoRA model whose norms were cast to fp32) every linear layer saves its own bf16 cast of the input (2h
    each). PEFT LoRA adds the o_proj input copy, one h-wide copy and the rank-r intermediates.
    """
    h = arch.hidden_size
    q, kv = _q_dim(arch), _kv_dim(arch)
    per = arch.norms_per_layer * 8 * h + 4 * q + 4 * kv + 4 * arch.num_heads
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
    fp32_non_quantized: bool | None = None,
    zero_stage: int = 0,
    num_gpus: int = 1,
    loss_path: LossPath | None = None,
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
    unless grad_accumulation > 1 keeps them alive through the next forward. fp32_non_quantized: QLoRA with
    PEFT's prepare_model_for_kbit_training casts embeddings, output matrix and norms to fp32 (default for a
    bitsandbytes base on the Hugging Face stack; GPTQ bases are left alone, so pass False for them).
    zero_stage over num_gpus (DeepSpeed, per GPU): 1 partitions optimizer states, 2 also the gradients (with an
    fp32 master, bf16 and fp32 gradients: DeepSpeed's own estimator, 2P + 18P/N), 3 also the weights.
    loss_path overrides the stack's loss-path bytes (a calibrated value).
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
        if arch.tied_embeddings:
            embed_params += arch.vocab_size * arch.hidden_size  # modules_to_save copies both ends separately
        weights = base_weights_bytes if base_weights_bytes is not None else BF16 * p
        # PEFT's prepare_model_for_kbit_training (the Hugging Face QLoRA recipe) casts every parameter that is
        # not 4-bit (embeddings, output matrix, norms) to fp32; Unsloth keeps them bf16.
        if fp32_non_quantized is None:
            fp32_non_quantized = mode == "qlora" and stack != "unsloth"
        fp32_residual = fp32_non_quantized
        if fp32_residual:
            weights += (FP32 - BF16) * (embed_params + sum(t.elements for t in arch.tensors if t.rows <= 1))
            head_cast = BF16 * v * h
        adapters = a_bytes * trainable
        grads = a_bytes * trainable
        states = _STATE_BYTES["fp32" if a_bytes == FP32 else "bf16"][optimizer] * trainable
        if train_embeddings:
            # PEFT modules_to_save deep-copies the embedding and output layers in the base dtype (bf16) and
            # trains the copies: copy, gradient and bf16 optimizer states.
            adapters += BF16 * embed_params
            grads += BF16 * embed_params
            states += _STATE_BYTES["bf16"][optimizer] * embed_params
            trainable += embed_params
        layer = training_layer_bytes_per_token(
            arch, fp32_residual=fp32_residual, lora_rank=lora_rank, lora_targets=len(targets)
        )

    n = max(1, num_gpus)
    if zero_stage >= 1:
        states = -(-states // n)
    if zero_stage >= 2:
        if mode == "full_finetune" and master_weights == "optimizer":
            grads += FP32 * trainable  # DeepSpeed's fp32 gradient partition beside the bf16 gradients
        grads = -(-grads // n)
    if zero_stage >= 3:
        weights = -(-weights // n)
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
            0,
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
            0,
            trainable,
        ),
        TrainingPeak("end_of_backward", weights, grads, states, adapters, 0, 0, tied_grad_copy, trainable),
    ]
    if checkpointing != "none":
        # backward of one layer: its inputs' stash is still there, the layer's own saved set is rebuilt
        phases.append(
            TrainingPeak(
                "layer_recompute", weights, grads, states, adapters, saved, 0, tokens * layer + dequant, trainable
            )
        )
    return max(phases, key=lambda t: t.total_bytes)


def _has_final_softcap(arch: Architecture) -> bool:
    """Gemma 2's final logit soft-capping keeps one more bf16 copy of the logits (tanh's output)."""
    return arch.model_type in ("gemma2",)
