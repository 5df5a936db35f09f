"""Architecture from a Hugging Face config.json, and the exact tensor inventory (hence parameter counts) it implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from agent_tools.config_fields import (
    MAX_CONTEXT,
    MAX_EXPERTS,
    MAX_HEAD_DIM,
    MAX_HEADS,
    MAX_HIDDEN,
    MAX_INTERMEDIATE,
    MAX_LAYERS,
    MAX_RANK,
    MAX_SHARED_EXPERTS,
    MAX_VOCAB,
    as_int,
    count,
    first,
    optional,
    require,
    show,
)
from agent_tools.errors import ConfigError
from agent_tools.inventory import attention_tensors, inventory, mlp_tensors
from agent_tools.mixers import RecurrentMixer, layer_attention, nemotron_pattern, recurrent_layout
from agent_tools.model_types import (
    CLASS_DEFAULTS,
    FOUR_NORM_TYPES,
    KNOWN_TYPES,
    PLAIN_MLP_TYPES,
    QK_NORM_TYPES,
    QKV_BIAS_TYPES,
    not_an_llm_reason,
    text_config,
)
from agent_tools.tensors import KvLayout, LayerAttention, Tensor
from agent_tools.vision import vision_params

__all__ = [
    "Architecture",
    "KvLayout",
    "LayerAttention",
    "RecurrentMixer",
    "Tensor",
    "not_an_llm_reason",
    "parse_config",
    "text_config",
]


@dataclass(frozen=True)
class Architecture:
    """The fields that decide parameter count and memory, normalized across config.json dialects."""

    model_type: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    intermediate_size: int
    tied_embeddings: bool
    max_position_embeddings: int | None
    gated_mlp: bool = True
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    norms_per_layer: int = 2
    norm_has_bias: bool = False
    qk_norm: bool = False
    attention_sinks: bool = False
    attention_output_gate: bool = False  # Qwen3-Next / Qwen3.5: q_proj also emits a sigmoid gate per head
    # MoE
    num_experts: int = 0
    experts_per_token: int = 0
    moe_intermediate_size: int = 0
    num_shared_experts: int = 0
    shared_expert_intermediate_size: int = 0
    shared_expert_gate: bool = False
    router_bias: bool = False
    expert_bias: bool = False
    score_correction_bias: bool = False
    dense_layers: frozenset[int] = frozenset()
    # MLA
    q_lora_rank: int | None = None
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    # attention layout per layer
    layer_attention: tuple[LayerAttention, ...] = ()
    # hybrid models: layers with a recurrent mixer (alone, or beside attention as in Falcon-H1)
    recurrent: RecurrentMixer | None = None
    recurrent_layers: frozenset[int] = frozenset()
    mlp_free_layers: frozenset[int] = frozenset()  # Nemotron-H: a layer is one block (Mamba-2, attention or MLP)
    # Multi-token-prediction layers the checkpoint stores beside the model (DeepSeek-V3, Qwen3-Next/3.5, MiMo);
    # runtimes load them only for speculative decoding, so they count in `params_checkpoint`, not `params_total`.
    mtp_layers: int = 0
    mtp_dedicated_embeddings: bool = False
    # DeepSeek-V3.2 sparse attention: a lightning indexer per layer (index_n_heads x index_head_dim)
    index_heads: int = 0
    index_head_dim: int = 0
    vision_params: int = 0
    torch_dtype: str | None = None
    notes: tuple[str, ...] = field(default=())
    assumed_fields: tuple[str, ...] = field(default=())  # what a generic-decoder reading of an unknown type assumed

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 1

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def is_hybrid(self) -> bool:
        return self.recurrent is not None and bool(self.recurrent_layers)

    @property
    def gqa_ratio(self) -> int:
        return max(1, self.num_heads // max(1, self.num_kv_heads))

    def is_moe_layer(self, layer: int) -> bool:
        return self.is_moe and layer not in self.dense_layers

    def has_attention(self, layer: int) -> bool:
        return not self.layer_attention or self.layer_attention[layer].kind != "none"

    @cached_property
    def tensors(self) -> tuple[Tensor, ...]:
        return tuple(inventory(self))

    @cached_property
    def params_total(self) -> int:
        return sum(t.elements for t in self.tensors) + self.vision_params

    @cached_property
    def params_active(self) -> int:
        """Parameters touched per token: routed experts count only `experts_per_token` of `num_experts`."""
        if not self.is_moe:
            return self.params_total
        inactive = sum(t.rows * t.cols * (t.count - self.experts_per_token) for t in self.tensors if t.expert)
        return self.params_total - inactive

    @cached_property
    def params_mtp(self) -> int:
        """Parameters of the stored MTP module(s): per layer a 2h -> h projection, three norms and one full-attention
        decoder layer (MoE where the model is), plus, for DeepSeek-V3, its own copies of the embedding and head."""
        if not self.mtp_layers:
            return 0
        h, i = self.hidden_size, self.num_layers
        layer = sum(t.elements for t in attention_tensors(self, i)) + sum(t.elements for t in mlp_tensors(self, i))
        layer += h * self.norms_per_layer
        per = 2 * h * h + 3 * h + layer + (2 * self.vocab_size * h if self.mtp_dedicated_embeddings else 0)
        return self.mtp_layers * per

    @cached_property
    def params_checkpoint(self) -> int:
        """Parameters a checkpoint stores: the model plus any MTP module."""
        return self.params_total + self.params_mtp

    @cached_property
    def params_without_embeddings(self) -> int:
        return sum(t.elements for t in self.tensors if t.name not in ("token_embd", "output"))

    @cached_property
    def kv_layout(self) -> KvLayout:
        full = sliding = latent = recurrent_only = 0
        full_values = 0
        by_window: dict[int, int] = {}
        for i, la in enumerate(self.layer_attention):
            if la.kind == "none":
                recurrent_only += 1
                continue
            values = self.kv_values_per_token(i)
            if la.kind == "sliding" and la.window:
                sliding += 1
                by_window[la.window] = by_window.get(la.window, 0) + values
            else:
                latent += la.kind == "mla"
                full += la.kind == "full"
                full_values += values
        return KvLayout(full_values, by_window, full, sliding, latent, len(self.recurrent_layers))

    def kv_values_per_token(self, layer: int) -> int:
        """Cached K+V values per token in one layer (MLA caches one latent vector + the shared rope key;
        a recurrent-only layer caches none: its state is fixed, see `state_values_per_sequence`)."""
        if not self.has_attention(layer):
            return 0
        if self.is_mla:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return 2 * self.num_kv_heads * self.head_dim

    @cached_property
    def state_values_per_sequence(self) -> int:
        """Recurrent-state values one sequence holds whatever its length (conv window + SSM / delta-rule state,
        summed over recurrent layers). Bytes = values x state element size (vLLM: model dtype by default)."""
        if self.recurrent is None:
            return 0
        return len(self.recurrent_layers) * self.recurrent.state_values

    def state_bytes_per_sequence(self, element_bytes: int = 2) -> int:
        return self.state_values_per_sequence * element_bytes


def parse_config(config: dict[str, Any]) -> Architecture:
    """Normalize a Hugging Face config.json (any common dialect) into an Architecture.

    Raises ConfigError naming the missing or invalid field and its accepted range; never anything else.
    """
    try:
        return _parse_config(config)
    except ConfigError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError) as e:
        raise ConfigError(f"config.json has a malformed field: {show(str(e))}", value=show(str(e))) from None


def _parse_config(config: dict[str, Any]) -> Architecture:
    if not isinstance(config, dict):
        raise ConfigError("config must be a JSON object (a config.json dict)", value=type(config).__name__)
    reason = not_an_llm_reason(config)
    if reason:
        raise ConfigError(f"not an LLM: {reason}", value=str(config.get("model_type", "")), accepted=["text decoder"])
    cfg = text_config(config)
    model_type = str(first(cfg, "model_type", default="unknown")).lower()[:64]
    if model_type == "gemma3" and "text_config" in config:
        model_type = "gemma3_text"
    defaults = CLASS_DEFAULTS.get(model_type)
    if defaults:
        cfg = {**defaults, **{k: v for k, v in cfg.items() if v is not None}}
    notes: list[str] = []
    assumed: list[str] = []

    hidden = require(cfg, "hidden size", "hidden_size", "n_embd", "d_model", "dim", hi=MAX_HIDDEN)
    layers = require(cfg, "number of layers", "num_hidden_layers", "num_layers", "n_layer", "n_layers", hi=MAX_LAYERS)
    heads = require(cfg, "attention heads", "num_attention_heads", "n_head", "num_heads", "n_heads", hi=MAX_HEADS)
    vocab = require(cfg, "vocabulary size", "vocab_size", "padded_vocab_size", hi=MAX_VOCAB)
    if model_type == "chatglm" and cfg.get("padded_vocab_size") is not None:
        vocab = as_int(cfg["padded_vocab_size"], "padded_vocab_size", 1, MAX_VOCAB)

    kv_heads = optional(cfg, "num_key_value_heads", "n_head_kv", "num_kv_heads", lo=1, hi=MAX_HEADS)
    if model_type == "chatglm" or "multi_query_group_num" in cfg:
        kv_heads = (
            optional(cfg, "multi_query_group_num", lo=1, hi=MAX_HEADS) if cfg.get("multi_query_attention") else heads
        )
    if kv_heads is None:
        kv_heads = 1 if cfg.get("multi_query") else heads
        if not cfg.get("multi_query"):
            assumed.append(f"num_key_value_heads = num_attention_heads ({heads}, plain multi-head attention)")
    explicit_head_dim = optional(cfg, "head_dim", "kv_channels", "attention_head_dim", lo=1, hi=MAX_HEAD_DIM)
    if explicit_head_dim is None:
        if hidden % heads:
            raise ConfigError(
                f"config.json hidden_size {hidden:,} is not divisible by num_attention_heads {heads:,} and no head_dim "
                "is given; accepted: a head count that divides hidden_size, or an explicit head_dim",
                value=heads,
                accepted=[str(d) for d in range(1, min(hidden, 512) + 1) if hidden % d == 0][:40],
            )
        head_dim = hidden // heads
        assumed.append(f"head_dim = hidden_size / num_attention_heads = {head_dim}")
    else:
        head_dim = explicit_head_dim

    inter = optional(cfg, "intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim", lo=1, hi=MAX_INTERMEDIATE)
    if model_type == "qwen" and inter:
        inter = max(1, inter // 2)  # Qwen v1 stores the sum of w1 and w2 widths
        notes.append("Qwen (v1) intermediate_size is split across two projections (w1, w2): half each")
    if model_type == "granitemoehybrid" and not count(cfg, "num_local_experts", hi=MAX_EXPERTS):
        # Dense Granite 4 hybrids (h-micro) run only the shared MLP, sized by shared_intermediate_size.
        inter = optional(cfg, "shared_intermediate_size", lo=1, hi=MAX_INTERMEDIATE) or inter
    all_moe_keys = ("num_experts", "num_local_experts", "n_routed_experts")
    if inter is None and any(cfg.get(k) for k in all_moe_keys) and cfg.get("moe_intermediate_size"):
        inter = optional(cfg, "moe_intermediate_size", lo=1, hi=MAX_INTERMEDIATE)  # every layer is MoE: unused
    if inter is None:
        inter = 4 * hidden
        notes.append("intermediate_size not given: assumed 4 x hidden_size")
        assumed.append(f"intermediate_size = 4 x hidden_size = {inter}")

    tied = bool(first(cfg, "tie_word_embeddings", default=model_type.startswith("gemma")))
    if model_type in ("chatglm", "qwen", "baichuan"):
        tied = bool(cfg.get("tie_word_embeddings", False))

    pattern = nemotron_pattern(cfg, layers) if model_type == "nemotron_h" else None

    # MoE keys across dialects.
    n_experts = count(cfg, "num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts", hi=MAX_EXPERTS)
    if n_experts <= 1:
        n_experts = 0
    experts_per_tok = count(cfg, "num_experts_per_tok", "num_experts_per_token", "moe_top_k", hi=MAX_EXPERTS)
    moe_inter = count(cfg, "moe_intermediate_size")
    shared_inter = count(cfg, "shared_expert_intermediate_size", "moe_shared_expert_intermediate_size")
    if model_type == "granitemoehybrid" and n_experts:
        shared_inter = count(cfg, "shared_intermediate_size")
    n_shared = count(cfg, "n_shared_experts", "num_shared_experts", hi=MAX_SHARED_EXPERTS)
    if shared_inter and not n_shared:
        n_shared = 1
    dense_layers: set[int] = set()
    if n_experts:
        if not moe_inter:
            moe_inter = inter  # Mixtral-style: intermediate_size is the expert width
        if model_type in ("mixtral", "gpt_oss", "phimoe") and not cfg.get("moe_intermediate_size"):
            moe_inter = inter
        first_dense = count(cfg, "first_k_dense_replace", hi=MAX_LAYERS)
        dense_layers.update(range(min(first_dense, layers)))
        freq = count(cfg, "moe_layer_freq", "decoder_sparse_step", default=1, hi=MAX_LAYERS) or 1
        if freq > 1:
            dense_layers.update(i for i in range(layers) if (i + 1) % freq != 0)
        if model_type == "jamba":
            period = count(cfg, "expert_layer_period", default=2, hi=MAX_LAYERS) or 1
            offset = count(cfg, "expert_layer_offset", default=1, hi=MAX_LAYERS)
            dense_layers.update(i for i in range(layers) if i % period != offset)
        if pattern is not None:
            dense_layers.update(i for i, c in enumerate(pattern) if c != "E")
        only = cfg.get("mlp_only_layers") or []
        if not isinstance(only, list) or len(only) > MAX_LAYERS:
            raise ConfigError(
                "config.json field 'mlp_only_layers' must be a list of layer indices", value="mlp_only_layers"
            )
        dense_layers.update(as_int(i, "mlp_only_layers", 0, layers - 1) for i in only)
        if experts_per_tok <= 0:
            raise ConfigError(
                "config.json for a MoE model is missing 'num_experts_per_tok'",
                value="num_experts_per_tok",
                accepted=["num_experts_per_tok", "num_experts_per_token", "moe_top_k"],
            )
        if experts_per_tok > n_experts:
            raise ConfigError(
                f"config.json num_experts_per_tok {experts_per_tok} exceeds the {n_experts} experts; "
                f"accepted: 1 to {n_experts}",
                value=experts_per_tok,
                accepted=[f"1 to {n_experts}"],
            )

    kv_lora = count(cfg, "kv_lora_rank", hi=MAX_RANK)
    q_lora = optional(cfg, "q_lora_rank", lo=1, hi=MAX_RANK)
    if kv_lora:
        rope = require(cfg, "MLA rope head dim", "qk_rope_head_dim", hi=MAX_HEAD_DIM)
        nope = require(cfg, "MLA no-rope head dim", "qk_nope_head_dim", hi=MAX_HEAD_DIM)
        v_dim = require(cfg, "MLA value head dim", "v_head_dim", hi=MAX_HEAD_DIM)
        head_dim = nope + rope
    else:
        rope = nope = v_dim = 0
        if kv_heads > heads or heads % kv_heads:
            raise ConfigError(
                f"config.json num_key_value_heads {kv_heads:,} must divide num_attention_heads {heads:,}; "
                f"accepted: {', '.join(str(d) for d in range(1, min(heads, 4096) + 1) if heads % d == 0)[:200]}",
                value=kv_heads,
                accepted=[str(d) for d in range(1, min(heads, 4096) + 1) if heads % d == 0][:40],
            )

    context = optional(cfg, "max_position_embeddings", "seq_length", "n_positions", "max_seq_len", lo=1, hi=MAX_CONTEXT)

    qkv_bias = bool(
        first(cfg, "attention_bias", "qkv_bias", "add_qkv_bias", "bias", default=model_type in QKV_BIAS_TYPES)
    )
    if model_type in QKV_BIAS_TYPES and "attention_bias" not in cfg:
        qkv_bias = True
    o_bias = bool(model_type == "gpt_oss" or (cfg.get("attention_bias") and model_type in ("llama", "gpt_oss")))
    if model_type == "chatglm":
        o_bias = bool(cfg.get("add_bias_linear", False))
    mlp_bias = bool(first(cfg, "mlp_bias", default=False))
    if model_type == "chatglm":
        mlp_bias = bool(cfg.get("add_bias_linear", False))

    recurrent, recurrent_layers, attention_free = recurrent_layout(cfg, model_type, layers, hidden, pattern)
    mtp_layers = count(cfg, "mtp_num_hidden_layers", "num_nextn_predict_layers", hi=16)
    per_layer = layer_attention(cfg, model_type, layers, kv_lora > 0)
    if attention_free:
        per_layer = tuple(LayerAttention("none") if i in attention_free else la for i, la in enumerate(per_layer))

    if model_type not in KNOWN_TYPES:
        assumed[:0] = [
            "a gated MLP (gate, up, down) of intermediate_size in every layer",
            "two norms per layer, no biases",
            "full attention in every layer (no sliding window, no recurrent state)",
            f"{'tied' if tied else 'separate'} input and output embeddings",
        ]
        notes.append(
            f"model_type '{model_type}' is not one vramwise reads field by field: sized as a generic decoder assuming "
            + "; ".join(assumed)
        )

    return Architecture(
        model_type=model_type,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=int(kv_heads),
        head_dim=int(head_dim),
        vocab_size=vocab,
        intermediate_size=int(inter),
        tied_embeddings=tied,
        max_position_embeddings=context,
        gated_mlp=model_type not in PLAIN_MLP_TYPES,
        qkv_bias=qkv_bias,
        o_bias=o_bias,
        mlp_bias=mlp_bias,
        norms_per_layer=4 if model_type in FOUR_NORM_TYPES else (1 if pattern is not None else 2),
        qk_norm=model_type in QK_NORM_TYPES,
        attention_sinks=model_type == "gpt_oss",
        attention_output_gate=model_type == "qwen3_next" or bool(cfg.get("attn_output_gate")),
        num_experts=n_experts,
        experts_per_token=experts_per_tok if n_experts else 0,
        moe_intermediate_size=moe_inter if n_experts else 0,
        num_shared_experts=n_shared if n_experts else 0,
        shared_expert_intermediate_size=(shared_inter or moe_inter) if (n_experts and n_shared) else 0,
        shared_expert_gate=model_type in ("qwen2_moe", "qwen3_next"),
        router_bias=model_type == "gpt_oss",
        expert_bias=model_type == "gpt_oss",
        score_correction_bias=cfg.get("topk_method") == "noaux_tc" or model_type == "nemotron_h",
        dense_layers=frozenset(dense_layers),
        q_lora_rank=q_lora,
        kv_lora_rank=kv_lora,
        qk_rope_head_dim=rope,
        qk_nope_head_dim=nope,
        v_head_dim=v_dim,
        layer_attention=per_layer,
        recurrent=recurrent,
        recurrent_layers=frozenset(recurrent_layers),
        mlp_free_layers=frozenset(i for i, c in enumerate(pattern) if c in "M*") if pattern else frozenset(),
        mtp_layers=mtp_layers,
        mtp_dedicated_embeddings=model_type in ("deepseek_v3", "deepseek_v32", "kimi_k2")
        or bool(cfg.get("mtp_use_dedicated_embeddings")),
        index_heads=count(cfg, "index_n_heads", hi=MAX_HEADS) if model_type == "deepseek_v32" else 0,
        index_head_dim=count(cfg, "index_head_dim", hi=MAX_HEAD_DIM) if model_type == "deepseek_v32" else 0,
        vision_params=vision_params(config, hidden, notes),
        torch_dtype=str(first(cfg, "torch_dtype", "dtype"))[:32] if first(cfg, "torch_dtype", "dtype") else None,
        notes=tuple(notes),
        assumed_fields=tuple(assumed) if model_type not in KNOWN_TYPES else (),
    )
