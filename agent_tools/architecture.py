"""Architecture from a Hugging Face config.json, and the exact tensor inventory (hence parameter counts) it implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from agent_tools.errors import ConfigError

# model_types whose MLP is a plain two-matrix (non-gated) FFN; everything else uses a gated MLP (SwiGLU/GeGLU).
PLAIN_MLP_TYPES = {"gpt2", "gpt_neox", "gptj", "falcon", "phi", "starcoder2", "bloom", "opt", "gpt_bigcode"}
# model_types with four norms per block (pre/post attention and pre/post feed-forward).
FOUR_NORM_TYPES = {"gemma2", "gemma3", "gemma3_text", "olmo2"}
# model_types with per-head RMSNorm on q and k.
QK_NORM_TYPES = {"qwen3", "qwen3_moe", "gemma3", "gemma3_text", "olmo2"}
# model_types with bias on q/k/v projections by default.
QKV_BIAS_TYPES = {"qwen2", "qwen2_moe", "qwen", "qwen2_vl"}


@dataclass(frozen=True)
class Tensor:
    """One weight tensor class in one layer (or the model), in llama.cpp naming.

    `cols` is the input dimension (ggml ne[0], the quantization block axis), `rows` the output dimension,
    `count` how many identical copies (experts) exist.
    """

    name: str
    layer: int | None
    rows: int
    cols: int
    count: int = 1
    expert: bool = False  # a routed expert tensor (inactive for most tokens)

    @property
    def elements(self) -> int:
        return self.rows * self.cols * self.count


@dataclass(frozen=True)
class LayerAttention:
    kind: str  # "full" | "sliding" | "mla"
    window: int | None = None


@dataclass(frozen=True)
class KvLayout:
    """Cached values per token, grouped: full/MLA layers cache every token, sliding layers up to a window."""

    full_values: int
    sliding_values: dict[int, int]
    full_layers: int
    sliding_layers: int
    latent_layers: int


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
    vision_params: int = 0
    torch_dtype: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 1

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def gqa_ratio(self) -> int:
        return max(1, self.num_heads // max(1, self.num_kv_heads))

    def is_moe_layer(self, layer: int) -> bool:
        return self.is_moe and layer not in self.dense_layers

    @cached_property
    def tensors(self) -> tuple[Tensor, ...]:
        return tuple(_inventory(self))

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
    def params_without_embeddings(self) -> int:
        return sum(t.elements for t in self.tensors if t.name not in ("token_embd", "output"))

    @cached_property
    def kv_layout(self) -> KvLayout:
        full = sliding = latent = 0
        full_values = 0
        by_window: dict[int, int] = {}
        for i, la in enumerate(self.layer_attention):
            values = self.kv_values_per_token(i)
            if la.kind == "sliding" and la.window:
                sliding += 1
                by_window[la.window] = by_window.get(la.window, 0) + values
            else:
                latent += la.kind == "mla"
                full += la.kind == "full"
                full_values += values
        return KvLayout(full_values, by_window, full, sliding, latent)

    def kv_values_per_token(self, layer: int) -> int:
        """Cached K+V values per token in one layer (MLA caches one latent vector + the shared rope key)."""
        if self.is_mla:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return 2 * self.num_kv_heads * self.head_dim


def _get(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in cfg and cfg[key] is not None:
            return cfg[key]
    return default


def _require(cfg: dict[str, Any], name: str, *keys: str) -> int:
    value = _get(cfg, *keys)
    if value is None:
        raise ConfigError(
            f"config.json is missing '{keys[0]}' ({name}); accepted keys: {', '.join(keys)}",
            value=keys[0],
            accepted=list(keys),
        )
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(
            f"config.json field '{keys[0]}' must be a positive integer (got {value!r})",
            value=value,
            accepted=["positive integer"],
        )
    return value


# transformers fills keys a config.json omits from its config class defaults; sparse published configs rely on it
# (google/gemma-3-4b-it's text_config omits heads, head_dim and vocab). Source: transformers
# models/gemma3/configuration_gemma3.py Gemma3TextConfig.__init__ defaults.
CLASS_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma3_text": {
        "vocab_size": 262_208,
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "max_position_embeddings": 131_072,
        "sliding_window": 4096,
        "sliding_window_pattern": 6,
        "tie_word_embeddings": True,
    },
}


def text_config(config: dict[str, Any]) -> dict[str, Any]:
    """The language-model part of a config (multimodal configs nest it under text_config / llm_config)."""
    for key in ("text_config", "llm_config", "language_config"):
        nested = config.get(key)
        if isinstance(nested, dict) and nested:
            merged = {k: v for k, v in config.items() if k not in (key, "vision_config")}
            merged.update(nested)
            if "model_type" in nested:
                merged["model_type"] = nested["model_type"]
            return merged
    return config


def _count(cfg: dict[str, Any], *keys: str, default: int = 0) -> int:
    """An optional non-negative integer field (first key present wins); ConfigError names a malformed value."""
    value = _get(cfg, *keys, default=default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"config.json field '{keys[0]}' must be a non-negative integer (got {value!r})",
            value=value,
            accepted=["non-negative integer"],
        )
    return value


def parse_config(config: dict[str, Any]) -> Architecture:
    """Normalize a Hugging Face config.json (any common dialect) into an Architecture.

    Raises ConfigError naming the missing or invalid field.
    """
    try:
        return _parse_config(config)
    except ConfigError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as e:  # a value of the wrong type deep in a dialect
        raise ConfigError(f"config.json has a malformed field: {e}", value=str(e)) from None


def _parse_config(config: dict[str, Any]) -> Architecture:
    if not isinstance(config, dict):
        raise ConfigError("config must be a JSON object (a config.json dict)", value=type(config).__name__)
    cfg = text_config(config)
    model_type = str(_get(cfg, "model_type", default="unknown")).lower()
    if model_type == "gemma3" and "text_config" in config:
        model_type = "gemma3_text"
    defaults = CLASS_DEFAULTS.get(model_type)
    if defaults:
        cfg = {**defaults, **{k: v for k, v in cfg.items() if v is not None}}
    notes: list[str] = []

    hidden = _require(cfg, "hidden size", "hidden_size", "n_embd", "d_model", "dim")
    layers = _require(cfg, "number of layers", "num_hidden_layers", "num_layers", "n_layer", "n_layers")
    heads = _require(cfg, "attention heads", "num_attention_heads", "n_head", "num_heads", "n_heads")
    vocab = _require(cfg, "vocabulary size", "vocab_size", "padded_vocab_size")
    if model_type == "chatglm" and cfg.get("padded_vocab_size"):
        vocab = cfg["padded_vocab_size"]

    kv_heads = _get(cfg, "num_key_value_heads", "n_head_kv", "num_kv_heads")
    if model_type == "chatglm" or "multi_query_group_num" in cfg:
        kv_heads = cfg.get("multi_query_group_num") if cfg.get("multi_query_attention") else heads
    if kv_heads is None:
        kv_heads = 1 if cfg.get("multi_query") else heads
    head_dim = _get(cfg, "head_dim", "kv_channels") or hidden // heads

    inter = _get(cfg, "intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim")
    if model_type == "qwen" and inter:
        inter = inter // 2  # Qwen v1 stores the sum of w1 and w2 widths
        notes.append("Qwen (v1) intermediate_size is split across two projections (w1, w2): half each")
    if inter is None:
        inter = 4 * hidden
        notes.append("intermediate_size not given: assumed 4 x hidden_size")

    tied = bool(_get(cfg, "tie_word_embeddings", default=model_type.startswith("gemma")))
    if model_type in ("chatglm", "qwen", "baichuan"):
        tied = bool(cfg.get("tie_word_embeddings", False))

    # MoE keys across dialects.
    n_experts = _count(cfg, "num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
    if n_experts <= 1:
        n_experts = 0
    experts_per_tok = _count(cfg, "num_experts_per_tok", "num_experts_per_token", "moe_top_k")
    moe_inter = _count(cfg, "moe_intermediate_size")
    shared_inter = _count(cfg, "shared_expert_intermediate_size")
    n_shared = _count(cfg, "n_shared_experts", "num_shared_experts")
    if shared_inter and not n_shared:
        n_shared = 1
    dense_layers: set[int] = set()
    if n_experts:
        if not moe_inter:
            moe_inter = inter  # Mixtral-style: intermediate_size is the expert width
        if model_type in ("mixtral", "gpt_oss", "phimoe") and not cfg.get("moe_intermediate_size"):
            moe_inter = inter
        first_dense = _count(cfg, "first_k_dense_replace")
        dense_layers.update(range(min(first_dense, layers)))
        freq = _count(cfg, "moe_layer_freq", "decoder_sparse_step", default=1) or 1
        if freq > 1:
            dense_layers.update(i for i in range(layers) if (i + 1) % freq != 0)
        for i in cfg.get("mlp_only_layers") or []:
            dense_layers.add(int(i))
        if experts_per_tok <= 0:
            raise ConfigError(
                "config.json for a MoE model is missing 'num_experts_per_tok'",
                value="num_experts_per_tok",
                accepted=["num_experts_per_tok", "num_experts_per_token", "moe_top_k"],
            )

    kv_lora = _count(cfg, "kv_lora_rank")
    if kv_lora:
        rope = _require(cfg, "MLA rope head dim", "qk_rope_head_dim")
        nope = _require(cfg, "MLA no-rope head dim", "qk_nope_head_dim")
        v_dim = _require(cfg, "MLA value head dim", "v_head_dim")
        head_dim = nope + rope
    else:
        rope = nope = v_dim = 0

    qkv_bias = bool(
        _get(cfg, "attention_bias", "qkv_bias", "add_qkv_bias", "bias", default=model_type in QKV_BIAS_TYPES)
    )
    if model_type in QKV_BIAS_TYPES and "attention_bias" not in cfg:
        qkv_bias = True
    o_bias = bool(model_type == "gpt_oss" or (cfg.get("attention_bias") and model_type in ("llama", "gpt_oss")))
    if model_type == "chatglm":
        o_bias = bool(cfg.get("add_bias_linear", False))
    mlp_bias = bool(_get(cfg, "mlp_bias", default=False))
    if model_type == "chatglm":
        mlp_bias = bool(cfg.get("add_bias_linear", False))

    layer_attention = _layer_attention(cfg, model_type, layers, kv_lora > 0)
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
        max_position_embeddings=_get(cfg, "max_position_embeddings", "seq_length", "n_positions", "max_seq_len"),
        gated_mlp=model_type not in PLAIN_MLP_TYPES,
        qkv_bias=qkv_bias,
        o_bias=o_bias,
        mlp_bias=mlp_bias,
        norms_per_layer=4 if model_type in FOUR_NORM_TYPES else 2,
        qk_norm=model_type in QK_NORM_TYPES,
        attention_sinks=model_type == "gpt_oss",
        num_experts=n_experts,
        experts_per_token=experts_per_tok if n_experts else 0,
        moe_intermediate_size=moe_inter if n_experts else 0,
        num_shared_experts=n_shared if n_experts else 0,
        shared_expert_intermediate_size=(shared_inter or moe_inter) if (n_experts and n_shared) else 0,
        shared_expert_gate=model_type == "qwen2_moe",
        router_bias=model_type == "gpt_oss",
        expert_bias=model_type == "gpt_oss",
        score_correction_bias=cfg.get("topk_method") == "noaux_tc",
        dense_layers=frozenset(dense_layers),
        q_lora_rank=cfg.get("q_lora_rank"),
        kv_lora_rank=kv_lora,
        qk_rope_head_dim=rope,
        qk_nope_head_dim=nope,
        v_head_dim=v_dim,
        layer_attention=layer_attention,
        vision_params=_vision_params(config, hidden),
        torch_dtype=_get(cfg, "torch_dtype", "dtype"),
        notes=tuple(notes),
    )


def _layer_attention(cfg: dict[str, Any], model_type: str, layers: int, mla: bool) -> tuple[LayerAttention, ...]:
    if mla:
        return tuple(LayerAttention("mla") for _ in range(layers))
    window = cfg.get("sliding_window")
    layer_types = cfg.get("layer_types")
    if isinstance(layer_types, list) and len(layer_types) == layers and window:
        return tuple(
            LayerAttention("sliding", int(window)) if "sliding" in str(t) else LayerAttention("full")
            for t in layer_types
        )
    if window and cfg.get("use_sliding_window") is not False:
        if model_type == "gemma2":
            # Gemma 2 alternates local (sliding) and global layers, starting with a local one.
            return tuple(
                LayerAttention("sliding", int(window)) if i % 2 == 0 else LayerAttention("full") for i in range(layers)
            )
        if model_type in ("gemma3", "gemma3_text"):
            pattern = int(cfg.get("sliding_window_pattern") or 6)
            return tuple(
                LayerAttention("full") if (i + 1) % pattern == 0 else LayerAttention("sliding", int(window))
                for i in range(layers)
            )
        if model_type in ("mistral", "mixtral") and window < (cfg.get("max_position_embeddings") or 0):
            return tuple(LayerAttention("sliding", int(window)) for _ in range(layers))
        if model_type in ("qwen2", "qwen2_moe") and cfg.get("use_sliding_window"):
            first_full = int(cfg.get("max_window_layers") or layers)
            return tuple(
                LayerAttention("full") if i < first_full else LayerAttention("sliding", int(window))
                for i in range(layers)
            )
    return tuple(LayerAttention("full") for _ in range(layers))


def _vision_params(config: dict[str, Any], text_hidden: int) -> int:
    """Parameters of a ViT-style vision tower plus its projector, from vision_config (SigLIP/CLIP layout)."""
    vision = config.get("vision_config")
    if not isinstance(vision, dict):
        return 0
    h = vision.get("hidden_size")
    inter = vision.get("intermediate_size")
    n = vision.get("num_hidden_layers")
    patch = vision.get("patch_size")
    image = vision.get("image_size")
    if not all(isinstance(v, int) and v > 0 for v in (h, inter, n, patch, image)):
        return 0
    channels = vision.get("num_channels", 3)
    per_layer = 4 * (h * h + h) + (h * inter + inter) + (inter * h + h) + 2 * 2 * h
    embeddings = channels * patch * patch * h + h + (image // patch) ** 2 * h
    post_norm = 2 * h
    # Gemma 3 projector: one matrix vision hidden -> text hidden plus an RMSNorm of the vision width.
    projector = h * text_hidden + h
    return n * per_layer + embeddings + post_norm + projector


def _inventory(a: Architecture) -> list[Tensor]:
    """Every weight tensor of the language model, with llama.cpp class names."""
    h = a.hidden_size
    out: list[Tensor] = [Tensor("token_embd", None, a.vocab_size, h)]
    for i in range(a.num_layers):
        out.extend(_attention_tensors(a, i))
        out.extend(_mlp_tensors(a, i))
        out.append(Tensor("norm", i, 1, h * a.norms_per_layer * (2 if a.norm_has_bias else 1)))
    out.append(Tensor("norm", None, 1, h))  # final norm
    if not a.tied_embeddings:
        out.append(Tensor("output", None, a.vocab_size, h))
    return out


def _attention_tensors(a: Architecture, i: int) -> list[Tensor]:
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
        return t
    q_dim = a.num_heads * a.head_dim
    kv_dim = a.num_kv_heads * a.head_dim
    t.append(Tensor("attn_q", i, q_dim, h))
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


def _mlp_tensors(a: Architecture, i: int) -> list[Tensor]:
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
        Tensor("ffn_gate_exps", i, m, h, count=e, expert=True),
        Tensor("ffn_up_exps", i, m, h, count=e, expert=True),
        Tensor("ffn_down_exps", i, h, m, count=e, expert=True),
    ]
    if a.router_bias:
        t.append(Tensor("bias", i, 1, e))
    if a.score_correction_bias:
        t.append(Tensor("bias", i, 1, e))
    if a.expert_bias:
        t.append(Tensor("bias", i, 2 * m + h, 1, count=e, expert=True))
    if a.num_shared_experts:
        s = a.shared_expert_intermediate_size * a.num_shared_experts
        t += [Tensor("ffn_gate_shexp", i, s, h), Tensor("ffn_up_shexp", i, s, h), Tensor("ffn_down_shexp", i, h, s)]
        if a.shared_expert_gate:
            t.append(Tensor("ffn_gate_inp_shexp", i, 1, h))
    return t
