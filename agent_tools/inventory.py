"""Every weight tensor of a decoder, layer by layer, in llama.cpp class names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_tools.tensors import Tensor

if TYPE_CHECKING:
    from agent_tools.architecture import Architecture


def inventory(a: Architecture) -> list[Tensor]:
    """Every weight tensor of the language model, with llama.cpp class names."""
    h = a.hidden_size
    out: list[Tensor] = [Tensor("token_embd", None, a.vocab_size, h)]
    for i in range(a.num_layers):
        if a.has_attention(i):
            out.extend(attention_tensors(a, i))
        if a.recurrent is not None and i in a.recurrent_layers:
            out.extend(a.recurrent.tensors(i))
        if i not in a.mlp_free_layers:
            out.extend(mlp_tensors(a, i))
        out.append(Tensor("norm", i, 1, h * a.norms_per_layer * (2 if a.norm_has_bias else 1)))
    out.append(Tensor("norm", None, 1, h))  # final norm
    if not a.tied_embeddings:
        out.append(Tensor("output", None, a.vocab_size, h))
    return out


def attention_tensors(a: Architecture, i: int) -> list[Tensor]:
    h = a.hidden_size
    t: list[Tensor] = []
    if a.is_mla:
        qk_dim = a.qk_nope_head_dim + a.qk_rope_head_dim
        if a.q_lora_rank:
            t.append(Tensor("attn_q_a", i, a.q_lora_rank, h))
            t.append(Tensor("norm", i, 1, a.q_lora_rank))
            t.append(Tensor("attn_q_b", i, a.num_heads * qk_dim, a.q_lora_rank))
        else:
            t.append(Tensor("attn_q", i, a.num_heads * qk_dim, h))
        t.append(Tensor("attn_kv_a_mqa", i, a.kv_lora_rank + a.qk_rope_head_dim, h))
        t.append(Tensor("norm", i, 1, a.kv_lora_rank))
        t.append(Tensor("attn_kv_b", i, a.num_heads * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank))
        t.append(Tensor("attn_output", i, h, a.num_heads * a.v_head_dim))
        if a.index_heads:
            d = a.index_head_dim
            t.append(Tensor("indexer_q", i, a.index_heads * d, a.q_lora_rank or h))
            t.append(Tensor("indexer_k", i, d, h))
            t.append(Tensor("indexer_w", i, a.index_heads, h))
            t.append(Tensor("norm", i, 1, 2 * d))
        return t
    q_dim = a.num_heads * a.head_dim
    kv_dim = a.num_kv_heads * a.head_dim
    t.append(Tensor("attn_q", i, q_dim * (2 if a.attention_output_gate else 1), h))
    t.append(Tensor("attn_k", i, kv_dim, h))
    t.append(Tensor("attn_v", i, kv_dim, h))
    t.append(Tensor("attn_output", i, h, q_dim))
    if a.qkv_bias:
        t.append(Tensor("bias", i, 1, q_dim + 2 * kv_dim))
    if a.o_bias:
        t.append(Tensor("bias", i, 1, h))
    if a.qk_norm:
        t.append(Tensor("norm", i, 1, 2 * a.head_dim))
    if a.attention_sinks:
        t.append(Tensor("bias", i, 1, a.num_heads))
    return t


def mlp_tensors(a: Architecture, i: int) -> list[Tensor]:
    h = a.hidden_size
    if not a.is_moe_layer(i):
        inter = a.intermediate_size
        t = [Tensor("ffn_up", i, inter, h), Tensor("ffn_down", i, h, inter)]
        if a.gated_mlp:
            t.append(Tensor("ffn_gate", i, inter, h))
        if a.mlp_bias:
            t.append(Tensor("bias", i, 1, inter * (2 if a.gated_mlp else 1) + h))
        return t
    e, m = a.num_experts, a.moe_intermediate_size
    t = [
        Tensor("ffn_gate_inp", i, e, h),
        Tensor("ffn_up_exps", i, m, h, count=e, expert=True),
        Tensor("ffn_down_exps", i, h, m, count=e, expert=True),
    ]
    if a.gated_mlp:
        t.insert(1, Tensor("ffn_gate_exps", i, m, h, count=e, expert=True))
    if a.router_bias:
        t.append(Tensor("bias", i, 1, e))
    if a.score_correction_bias:
        t.append(Tensor("bias", i, 1, e))
    if a.expert_bias:
        t.append(Tensor("bias", i, 2 * m + h, 1, count=e, expert=True))
    if a.num_shared_experts:
        s = a.shared_expert_intermediate_size * a.num_shared_experts
        t += [Tensor("ffn_up_shexp", i, s, h), Tensor("ffn_down_shexp", i, h, s)]
        if a.gated_mlp:
            t.append(Tensor("ffn_gate_shexp", i, s, h))
        if a.shared_expert_gate:
            t.append(Tensor("ffn_gate_inp_shexp", i, 1, h))
    return t
