"""Memory components in integer bytes: KV cache, activations / compute buffers (training: agent_tools/training.py).

Pure functions over an Architecture; no catalog lookups here.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def runtime_overhead(runtime: RuntimeProfile) -> int:
    return runtime.context_bytes + runtime.cuda_graph_bytes


class _LegacyCudaPool:
    """llama.cpp's CUDA buffer pool before January 2024 (ggml-cuda.cu ggml_cuda_pool_malloc/free, legacy pool): a
    request takes the smallest free buffer at least its size, else cudaMalloc's a new one of 1.05 x the request
    rounded up to 256 bytes; buffers return to the pool when their op ends and are never freed."""

    def __init__(self) -> None:
        self.free: list[int] = []
        self.held = 0

    def run(self, op: tuple[int, ...]) -> bool:
        """One op's requests, held together until the op ends; True when the pool grew."""
        taken, grew = [], False
        for size in op:
            fits = [b for b in self.free if b >= size]
            if fits:
                buf = min(fits)
                self.free.remove(buf)
            else:
                buf = -(-int(1.05 * size) // 256) * 256
                self.held += buf
                grew = True
            taken.append(buf)
        self.free += taken
        return grew


def legacy_cuda_pool_bytes(blocks: list[tuple[tuple[tuple[int, ...], ...], int]]) -> int:
    """Bytes the legacy pool holds after a forward pass given as (ops of a block, times it repeats) in graph order.

    Every buffer is back in the pool between ops, so a block that allocates nothing leaves the pool as it found it
    and its remaining repeats allocate nothing either."""
    pool = _LegacyCudaPool()
    for ops, repeats in blocks:
        for _ in range(repeats):
            grew = [pool.run(op) for op in ops]
            if not any(grew):
                break
    return pool.held
