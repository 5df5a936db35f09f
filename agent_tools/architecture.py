"""Architecture from a Hugging Face config.json, and the exact tensor inventory (hence parameter counts) it implies."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from agent_tools.errors import ConfigError

# Physical ranges a config field may take. The largest published LLMs sit far inside them (DeepSeek-V3: 61 layers,
# hidden 7168, 256 experts; Llama 4: 202,048 vocab, 10M context), and they bound the work of one request: every
# per-layer loop below runs at most MAX_LAYERS times.
MAX_LAYERS = 1024
MAX_HIDDEN = 1 << 17
MAX_HEADS = 4096
MAX_HEAD_DIM = 4096
MAX_INTERMEDIATE = 1 << 20
MAX_VOCAB = 1 << 22
MAX_CONTEXT = 1 << 24
MAX_EXPERTS = 4096
MAX_RANK = 1 << 16
MAX_STATE = 1 << 12
MAX_CONV = 64
MAX_SHARED_EXPERTS = 64

# model_types whose MLP is a plain two-matrix (non-gated) FFN; everything else uses a gated MLP (SwiGLU/GeGLU).
PLAIN_MLP_TYPES = {
    "gpt2", "gpt_neox", "gptj", "falcon", "phi", "starcoder2", "bloom", "opt", "gpt_bigcode", "nemotron_h",
}  # fmt: skip
# model_types with four norms per block (pre/post attention and pre/post feed-forward).
FOUR_NORM_TYPES = {"gemma2", "gemma3", "gemma3_text", "olmo2"}
# model_types with per-head RMSNorm on q and k.
QK_NORM_TYPES = {
    "qwen3_vl_text",
    "qwen3_vl_moe_text",
    "qwen3",
    "qwen3_moe",
    "qwen3_next",
    "qwen3_5_text",
    "qwen3_5_moe_text",
    "gemma3",
    "gemma3_text",
    "olmo2",
}
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
    kind: str  # "full" | "sliding" | "mla" | "none" (a recurrent layer: no KV cache)
    window: int | None = None


@dataclass(frozen=True)
class KvLayout:
    """Cached values per token, grouped: full/MLA layers cache every token, sliding layers up to a window."""

    full_values: int
    sliding_values: dict[int, int]
    full_layers: int
    sliding_layers: int
    latent_layers: int
    recurrent_layers: int = 0


@dataclass(frozen=True)
class RecurrentMixer:
    """A sequence mixer with a fixed-size state per sequence instead of a KV cache that grows with the context.

    kind: "gated_deltanet" (Qwen3-Next linear attention), "mamba" (Mamba-1, Jamba), "mamba2" (Granite 4 hybrid,
    Falcon-H1, Nemotron-H). Fields follow each model's config names, normalized.
    """

    kind: str
    hidden_size: int
    # gated deltanet
    key_heads: int = 0
    key_head_dim: int = 0
    value_heads: int = 0
    value_head_dim: int = 0
    # mamba / mamba2
    inner: int = 0  # d_inner (channels the SSM runs over)
    state: int = 0  # d_state
    heads: int = 0  # mamba2 heads (d_inner = heads * head_dim)
    groups: int = 1
    dt_rank: int = 0  # mamba-1 only
    conv_kernel: int = 4
    conv_bias: bool = True
    proj_bias: bool = False
    gated_norm: bool = True  # mamba2 / deltanet output RMSNorm
    inner_norms: bool = False  # Jamba's dt/B/C layernorms

    @property
    def conv_channels(self) -> int:
        if self.kind == "gated_deltanet":
            return 2 * self.key_heads * self.key_head_dim + self.value_heads * self.value_head_dim
        if self.kind == "mamba2":
            return self.inner + 2 * self.groups * self.state
        return self.inner

    @property
    def state_values(self) -> int:
        """Values held per sequence per layer: the convolution window (kernel - 1 past inputs) plus the SSM /
        delta-rule state. vLLM allocates exactly these (mamba_utils: conv (kernel-1) x channels, temporal state)."""
        conv = self.conv_channels * (self.conv_kernel - 1)
        if self.kind == "gated_deltanet":
            return conv + self.value_heads * self.key_head_dim * self.value_head_dim
        if self.kind == "mamba2":
            return conv + self.inner * self.state
        return conv + self.inner * self.state

    def tensors(self, layer: int) -> list[Tensor]:
        h, i = self.hidden_size, layer
        ch = self.conv_channels
        t: list[Tensor] = []
        if self.kind == "gated_deltanet":
            key_dim = self.key_heads * self.key_head_dim
            value_dim = self.value_heads * self.value_head_dim
            t.append(Tensor("ssm_in", i, 2 * key_dim + 2 * value_dim, h))  # in_proj_qkvz
            t.append(Tensor("ssm_ba", i, 2 * self.value_heads, h))  # in_proj_ba
            t.append(Tensor("ssm_conv1d", i, ch, self.conv_kernel))
            t.append(Tensor("norm", i, 1, 2 * self.value_heads + self.value_head_dim))  # dt_bias, A_log, norm
            t.append(Tensor("ssm_out", i, h, value_dim))
            return t
        if self.kind == "mamba2":
            in_rows = 2 * self.inner + 2 * self.groups * self.state + self.heads
            t.append(Tensor("ssm_in", i, in_rows, h))
            t.append(Tensor("ssm_conv1d", i, ch, self.conv_kernel))
            small = 3 * self.heads + (ch if self.conv_bias else 0) + (self.inner if self.gated_norm else 0)
            small += (in_rows + h) if self.proj_bias else 0
            t.append(Tensor("norm", i, 1, small))  # dt_bias, A_log, D, conv bias, gated norm, projection biases
            t.append(Tensor("ssm_out", i, h, self.inner))
            return t
        # Mamba-1
        t.append(Tensor("ssm_in", i, 2 * self.inner, h))
        t.append(Tensor("ssm_conv1d", i, ch, self.conv_kernel))
        t.append(Tensor("ssm_x", i, self.dt_rank + 2 * self.state, self.inner))
        t.append(Tensor("ssm_dt", i, self.inner, self.dt_rank))
        t.append(Tensor("ssm_a", i, self.inner, self.state))
        small = self.inner + self.inner + (ch if self.conv_bias else 0)  # D, dt_proj bias, conv bias
        small += (2 * self.inner + h) if self.proj_bias else 0
        small += (self.dt_rank + 2 * self.state) if self.inner_norms else 0
        t.append(Tensor("norm", i, 1, small))
        t.append(Tensor("ssm_out", i, h, self.inner))
        return t


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
    def params_mtp(self) -> int:
        """Parameters of the stored MTP module(s): per layer a 2h -> h projection, three norms and one full-attention
        decoder layer (MoE where the model is), plus, for DeepSeek-V3, its own copies of the embedding and head."""
        if not self.mtp_layers:
            return 0
        h, i = self.hidden_size, self.num_layers
        layer = sum(t.elements for t in _attention_tensors(self, i)) + sum(t.elements for t in _mlp_tensors(self, i))
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


def _get(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in cfg and cfg[key] is not None:
            return cfg[key]
    return default


def _as_int(value: Any, key: str, lo: int, hi: int) -> int:
    """A config number as an int in [lo, hi]; ConfigError names the field, the value and the accepted range.

    Numbers must be JSON numbers: strings ("8"), booleans, NaN, infinities (1e999 parses to inf) and fractions are
    refused. An integral float (4096.0) is accepted as the integer it spells.
    """
    accepted = f"an integer from {lo:,} to {hi:,}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"config.json field '{key}' must be {accepted} (got {_show(value)})",
            value=_show(value),
            accepted=[accepted],
        )
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ConfigError(
                f"config.json field '{key}' must be {accepted} (got {value!r})", value=repr(value), accepted=[accepted]
            )
        value = int(value)
    if not lo <= value <= hi:
        raise ConfigError(
            f"config.json field '{key}' must be {accepted} (got {value:,})", value=value, accepted=[accepted]
        )
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _require(cfg: dict[str, Any], name: str, *keys: str, hi: int, lo: int = 1) -> int:
    for key in keys:
        if cfg.get(key) is not None:
            return _as_int(cfg[key], key, lo, hi)
    raise ConfigError(
        f"config.json is missing '{keys[0]}' ({name}); accepted keys: {', '.join(keys)}",
        value=keys[0],
        accepted=list(keys),
    )


def _optional(cfg: dict[str, Any], *keys: str, hi: int, lo: int = 0, default: int | None = None) -> int | None:
    """An optional integer field (first key present wins), range-checked like a required one."""
    for key in keys:
        if cfg.get(key) is not None:
            return _as_int(cfg[key], key, lo, hi)
    return default


def _count(cfg: dict[str, Any], *keys: str, default: int = 0, hi: int = MAX_INTERMEDIATE) -> int:
    """An optional non-negative integer field (first key present wins)."""
    value = _optional(cfg, *keys, hi=hi, lo=0, default=default)
    return 0 if value is None else value


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

# model_types whose layout this module reads field by field; any other type is sized as a generic decoder and the
# result lists what that reading assumed.
KNOWN_TYPES = {
    "llama", "mistral", "mixtral", "qwen", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "qwen3_next", "gemma",
    "gemma2", "gemma3", "gemma3_text", "phi3", "phi", "phimoe", "deepseek_v2", "deepseek_v3", "gpt_oss", "chatglm",
    "glm", "glm4", "baichuan", "yi", "olmo", "olmo2", "gpt2", "gpt_neox", "gptj", "falcon", "starcoder2", "bloom",
    "opt", "gpt_bigcode", "jamba", "falcon_h1", "granitemoehybrid", "granite", "nemotron_h", "qwen2_vl",
    "qwen2_5_vl", "llava", "mistral3", "smollm3", "cohere", "cohere2", "internlm2", "minicpm", "exaone", "mimo",
    "qwen3_vl", "qwen3_vl_text", "qwen3_vl_moe", "qwen3_vl_moe_text", "qwen3_5", "qwen3_5_text", "qwen3_5_moe",
    "qwen3_5_moe_text", "deepseek_v32", "kimi_k2",
}  # fmt: skip

# Configs that describe something other than a text decoder: refused with a clear reason rather than mis-sized.
NOT_LLM_TYPES = {
    "clip", "clip_vision_model", "siglip", "siglip_vision_model", "vit", "dinov2", "sam", "detr", "yolos",
    "whisper", "wav2vec2", "hubert", "speecht5", "bert", "roberta", "xlm-roberta", "distilbert", "deberta-v2",
    "convnext", "swin", "resnet", "unet", "vae", "stable-diffusion", "musicgen", "encodec",
}  # fmt: skip


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


# Encoder-decoder models: language models, but not the decoder-only kind this calculator sizes.
ENCODER_DECODER_TYPES = {"t5", "mt5", "umt5", "bart", "mbart", "pegasus", "marian", "longt5", "switch_transformers"}


def not_an_llm_reason(config: dict[str, Any]) -> str | None:
    """Why a config is not a decoder-only LLM this calculator sizes (a diffusion pipeline, an image, audio or text
    encoder, an encoder-decoder), or None."""
    if "_class_name" in config or "_diffusers_version" in config:
        return f"a diffusers component ({_show(config.get('_class_name', 'pipeline'))}), not a language model"
    model_type = str(config.get("model_type", "")).lower()[:64]
    if model_type in NOT_LLM_TYPES:
        return f"model_type '{model_type}' is an encoder (vision, audio or text embeddings), not a text decoder"
    if model_type in ENCODER_DECODER_TYPES or config.get("is_encoder_decoder") is True:
        return f"model_type '{model_type}' is an encoder-decoder model; vramwise sizes decoder-only LLMs"
    return None


def parse_config(config: dict[str, Any]) -> Architecture:
    """Normalize a Hugging Face config.json (any common dialect) into an Architecture.

    Raises ConfigError naming the missing or invalid field and its accepted range; never anything else.
    """
    try:
        return _parse_config(config)
    except ConfigError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError) as e:
        raise ConfigError(f"config.json has a malformed field: {_show(str(e))}", value=_show(str(e))) from None


def _parse_config(config: dict[str, Any]) -> Architecture:
    if not isinstance(config, dict):
        raise ConfigError("config must be a JSON object (a config.json dict)", value=type(config).__name__)
    reason = not_an_llm_reason(config)
    if reason:
        raise ConfigError(f"not an LLM: {reason}", value=str(config.get("model_type", "")), accepted=["text decoder"])
    cfg = text_config(config)
    model_type = str(_get(cfg, "model_type", default="unknown")).lower()[:64]
    if model_type == "gemma3" and "text_config" in config:
        model_type = "gemma3_text"
    defaults = CLASS_DEFAULTS.get(model_type)
    if defaults:
        cfg = {**defaults, **{k: v for k, v in cfg.items() if v is not None}}
    notes: list[str] = []
    assumed: list[str] = []

    hidden = _require(cfg, "hidden size", "hidden_size", "n_embd", "d_model", "dim", hi=MAX_HIDDEN)
    layers = _require(cfg, "number of layers", "num_hidden_layers", "num_layers", "n_layer", "n_layers", hi=MAX_LAYERS)
    heads = _require(cfg, "attention heads", "num_attention_heads", "n_head", "num_heads", "n_heads", hi=MAX_HEADS)
    vocab = _require(cfg, "vocabulary size", "vocab_size", "padded_vocab_size", hi=MAX_VOCAB)
    if model_type == "chatglm" and cfg.get("padded_vocab_size") is not None:
        vocab = _as_int(cfg["padded_vocab_size"], "padded_vocab_size", 1, MAX_VOCAB)

    kv_heads = _optional(cfg, "num_key_value_heads", "n_head_kv", "num_kv_heads", lo=1, hi=MAX_HEADS)
    if model_type == "chatglm" or "multi_query_group_num" in cfg:
        kv_heads = (
            _optional(cfg, "multi_query_group_num", lo=1, hi=MAX_HEADS) if cfg.get("multi_query_attention") else heads
        )
    if kv_heads is None:
        kv_heads = 1 if cfg.get("multi_query") else heads
        if not cfg.get("multi_query"):
            assumed.append(f"num_key_value_heads = num_attention_heads ({heads}, plain multi-head attention)")
    explicit_head_dim = _optional(cfg, "head_dim", "kv_channels", "attention_head_dim", lo=1, hi=MAX_HEAD_DIM)
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

    inter = _optional(cfg, "intermediate_size", "ffn_hidden_size", "n_inner", "ffn_dim", lo=1, hi=MAX_INTERMEDIATE)
    if model_type == "qwen" and inter:
        inter = max(1, inter // 2)  # Qwen v1 stores the sum of w1 and w2 widths
        notes.append("Qwen (v1) intermediate_size is split across two projections (w1, w2): half each")
    if model_type == "granitemoehybrid" and not _count(cfg, "num_local_experts", hi=MAX_EXPERTS):
        # Dense Granite 4 hybrids (h-micro) run only the shared MLP, sized by shared_intermediate_size.
        inter = _optional(cfg, "shared_intermediate_size", lo=1, hi=MAX_INTERMEDIATE) or inter
    all_moe_keys = ("num_experts", "num_local_experts", "n_routed_experts")
    if inter is None and any(cfg.get(k) for k in all_moe_keys) and cfg.get("moe_intermediate_size"):
        inter = _optional(cfg, "moe_intermediate_size", lo=1, hi=MAX_INTERMEDIATE)  # every layer is MoE: unused
    if inter is None:
        inter = 4 * hidden
        notes.append("intermediate_size not given: assumed 4 x hidden_size")
        assumed.append(f"intermediate_size = 4 x hidden_size = {inter}")

    tied = bool(_get(cfg, "tie_word_embeddings", default=model_type.startswith("gemma")))
    if model_type in ("chatglm", "qwen", "baichuan"):
        tied = bool(cfg.get("tie_word_embeddings", False))

    pattern = _nemotron_pattern(cfg, layers) if model_type == "nemotron_h" else None

    # MoE keys across dialects.
    n_experts = _count(cfg, "num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts", hi=MAX_EXPERTS)
    if n_experts <= 1:
        n_experts = 0
    experts_per_tok = _count(cfg, "num_experts_per_tok", "num_experts_per_token", "moe_top_k", hi=MAX_EXPERTS)
    moe_inter = _count(cfg, "moe_intermediate_size")
    shared_inter = _count(cfg, "shared_expert_intermediate_size", "moe_shared_expert_intermediate_size")
    if model_type == "granitemoehybrid" and n_experts:
        shared_inter = _count(cfg, "shared_intermediate_size")
    n_shared = _count(cfg, "n_shared_experts", "num_shared_experts", hi=MAX_SHARED_EXPERTS)
    if shared_inter and not n_shared:
        n_shared = 1
    dense_layers: set[int] = set()
    if n_experts:
        if not moe_inter:
            moe_inter = inter  # Mixtral-style: intermediate_size is the expert width
        if model_type in ("mixtral", "gpt_oss", "phimoe") and not cfg.get("moe_intermediate_size"):
            moe_inter = inter
        first_dense = _count(cfg, "first_k_dense_replace", hi=MAX_LAYERS)
        dense_layers.update(range(min(first_dense, layers)))
        freq = _count(cfg, "moe_layer_freq", "decoder_sparse_step", default=1, hi=MAX_LAYERS) or 1
        if freq > 1:
            dense_layers.update(i for i in range(layers) if (i + 1) % freq != 0)
        if model_type == "jamba":
            period = _count(cfg, "expert_layer_period", default=2, hi=MAX_LAYERS) or 1
            offset = _count(cfg, "expert_layer_offset", default=1, hi=MAX_LAYERS)
            dense_layers.update(i for i in range(layers) if i % period != offset)
        if pattern is not None:
            dense_layers.update(i for i, c in enumerate(pattern) if c != "E")
        only = cfg.get("mlp_only_layers") or []
        if not isinstance(only, list) or len(only) > MAX_LAYERS:
            raise ConfigError(
                "config.json field 'mlp_only_layers' must be a list of layer indices", value="mlp_only_layers"
            )
        dense_layers.update(_as_int(i, "mlp_only_layers", 0, layers - 1) for i in only)
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

    kv_lora = _count(cfg, "kv_lora_rank", hi=MAX_RANK)
    q_lora = _optional(cfg, "q_lora_rank", lo=1, hi=MAX_RANK)
    if kv_lora:
        rope = _require(cfg, "MLA rope head dim", "qk_rope_head_dim", hi=MAX_HEAD_DIM)
        nope = _require(cfg, "MLA no-rope head dim", "qk_nope_head_dim", hi=MAX_HEAD_DIM)
        v_dim = _require(cfg, "MLA value head dim", "v_head_dim", hi=MAX_HEAD_DIM)
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

    context = _optional(
        cfg, "max_position_embeddings", "seq_length", "n_positions", "max_seq_len", lo=1, hi=MAX_CONTEXT
    )

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

    recurrent, recurrent_layers, attention_free = _recurrent(cfg, model_type, layers, hidden, pattern)
    mtp_layers = _count(cfg, "mtp_num_hidden_layers", "num_nextn_predict_layers", hi=16)
    layer_attention = _layer_attention(cfg, model_type, layers, kv_lora > 0)
    if attention_free:
        layer_attention = tuple(
            LayerAttention("none") if i in attention_free else la for i, la in enumerate(layer_attention)
        )

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
        layer_attention=layer_attention,
        recurrent=recurrent,
        recurrent_layers=frozenset(recurrent_layers),
        mlp_free_layers=frozenset(i for i, c in enumerate(pattern) if c in "M*") if pattern else frozenset(),
        mtp_layers=mtp_layers,
        mtp_dedicated_embeddings=model_type in ("deepseek_v3", "deepseek_v32", "kimi_k2")
        or bool(cfg.get("mtp_use_dedicated_embeddings")),
        index_heads=_count(cfg, "index_n_heads", hi=MAX_HEADS) if model_type == "deepseek_v32" else 0,
        index_head_dim=_count(cfg, "index_head_dim", hi=MAX_HEAD_DIM) if model_type == "deepseek_v32" else 0,
        vision_params=_vision_params(config, hidden, notes),
        torch_dtype=str(_get(cfg, "torch_dtype", "dtype"))[:32] if _get(cfg, "torch_dtype", "dtype") else None,
        notes=tuple(notes),
        assumed_fields=tuple(assumed) if model_type not in KNOWN_TYPES else (),
    )


def _layer_kinds(cfg: dict[str, Any], layers: int) -> list[str] | None:
    """`layer_types` as lower-case strings, when it lists exactly one entry per layer."""
    kinds = cfg.get("layer_types")
    if not isinstance(kinds, list):
        return None
    if len(kinds) != layers:
        raise ConfigError(
            f"config.json field 'layer_types' lists {len(kinds):,} layers but num_hidden_layers is {layers:,}",
            value=len(kinds),
            accepted=[f"a list of {layers} layer types"],
        )
    return [str(k).lower()[:32] for k in kinds]


def _nemotron_pattern(cfg: dict[str, Any], layers: int) -> str:
    """Nemotron-H's hybrid_override_pattern: one character per layer, M = Mamba-2, * = attention, - = MLP, E = MoE."""
    pattern = cfg.get("hybrid_override_pattern")
    if not isinstance(pattern, str) or len(pattern) != layers or set(pattern) - set("M*-E"):
        raise ConfigError(
            f"config.json field 'hybrid_override_pattern' must be a string of {layers} characters from 'M', '*', '-', "
            f"'E' (got {_show(pattern)})",
            value=_show(pattern),
            accepted=["M (Mamba-2), * (attention), - (MLP), E (MoE), one per layer"],
        )
    return pattern


def _recurrent(
    cfg: dict[str, Any], model_type: str, layers: int, hidden: int, pattern: str | None = None
) -> tuple[RecurrentMixer | None, set[int], set[int]]:
    """(mixer, layers that run it, layers without attention) for hybrid and linear-attention models."""
    kinds = _layer_kinds(cfg, layers)
    if model_type in ("qwen3_next", "qwen3_5", "qwen3_5_text", "qwen3_5_moe", "qwen3_5_moe_text") or (
        "linear_num_value_heads" in cfg
    ):
        mixer = RecurrentMixer(
            "gated_deltanet",
            hidden,
            key_heads=_require(cfg, "linear key heads", "linear_num_key_heads", hi=MAX_HEADS),
            key_head_dim=_require(cfg, "linear key head dim", "linear_key_head_dim", hi=MAX_HEAD_DIM),
            value_heads=_require(cfg, "linear value heads", "linear_num_value_heads", hi=MAX_HEADS),
            value_head_dim=_require(cfg, "linear value head dim", "linear_value_head_dim", hi=MAX_HEAD_DIM),
            conv_kernel=_optional(cfg, "linear_conv_kernel_dim", lo=1, hi=MAX_CONV, default=4) or 4,
        )
        if kinds is not None:
            linear = {i for i, k in enumerate(kinds) if "linear" in k}
        else:
            interval = _optional(cfg, "full_attention_interval", lo=1, hi=MAX_LAYERS, default=4) or 4
            linear = {i for i in range(layers) if (i + 1) % interval != 0}
        return mixer, linear, set(linear)
    if model_type == "jamba":
        inner = _count(cfg, "mamba_expand", default=2, hi=64) * hidden
        dt_rank = cfg.get("mamba_dt_rank", "auto")
        rank = math.ceil(hidden / 16) if dt_rank in (None, "auto") else _as_int(dt_rank, "mamba_dt_rank", 1, MAX_RANK)
        mixer = RecurrentMixer(
            "mamba",
            hidden,
            inner=inner,
            state=_optional(cfg, "mamba_d_state", lo=1, hi=MAX_STATE, default=16) or 16,
            dt_rank=rank,
            conv_kernel=_optional(cfg, "mamba_d_conv", lo=1, hi=MAX_CONV, default=4) or 4,
            conv_bias=bool(cfg.get("mamba_conv_bias", True)),
            proj_bias=bool(cfg.get("mamba_proj_bias", False)),
            inner_norms=True,
        )
        period = _optional(cfg, "attn_layer_period", lo=1, hi=MAX_LAYERS, default=8) or 8
        offset = _count(cfg, "attn_layer_offset", default=4, hi=MAX_LAYERS)
        mamba = {i for i in range(layers) if i % period != offset}
        return mixer, mamba, mamba
    if model_type in ("granitemoehybrid", "falcon_h1", "nemotron_h") or "mamba_d_state" in cfg:
        if model_type == "nemotron_h" and pattern is not None and "M" not in pattern:
            return None, set(), {i for i, c in enumerate(pattern) if c != "*"}
        heads = _require(cfg, "Mamba-2 heads", "mamba_n_heads", "mamba_num_heads", hi=MAX_HEADS)
        head_dim = cfg.get("mamba_d_head", cfg.get("mamba_head_dim"))
        d_ssm = _optional(cfg, "mamba_d_ssm", lo=1, hi=MAX_INTERMEDIATE)
        if head_dim in (None, "auto"):
            expand = _count(cfg, "mamba_expand", "expand", default=2, hi=64)
            head_dim = (d_ssm or expand * hidden) // heads
        head_dim = _as_int(head_dim, "mamba_d_head", 1, MAX_HEAD_DIM)
        mixer = RecurrentMixer(
            "mamba2",
            hidden,
            inner=d_ssm or heads * head_dim,
            state=_require(cfg, "SSM state size", "mamba_d_state", "ssm_state_size", hi=MAX_STATE),
            heads=heads,
            groups=_optional(cfg, "mamba_n_groups", "n_groups", lo=1, hi=MAX_HEADS, default=1) or 1,
            conv_kernel=_optional(cfg, "mamba_d_conv", "conv_kernel", lo=1, hi=MAX_CONV, default=4) or 4,
            conv_bias=bool(_get(cfg, "mamba_conv_bias", "use_conv_bias", default=True)),
            proj_bias=bool(_get(cfg, "mamba_proj_bias", "use_bias", default=False)),
            gated_norm=bool(cfg.get("mamba_rms_norm", True)) if model_type == "falcon_h1" else True,
        )
        if model_type == "falcon_h1":
            return mixer, set(range(layers)), set()  # attention and Mamba-2 side by side in every layer
        if pattern is not None:
            return mixer, {i for i, c in enumerate(pattern) if c == "M"}, {i for i, c in enumerate(pattern) if c != "*"}
        if kinds is None:
            raise ConfigError(
                f"config.json of a {model_type} hybrid needs 'layer_types' (one 'mamba'/'attention' per layer)",
                value="layer_types",
                accepted=["layer_types"],
            )
        mamba = {i for i, k in enumerate(kinds) if "mamba" in k}
        return mixer, mamba, mamba
    return None, set(), set()


def _layer_attention(cfg: dict[str, Any], model_type: str, layers: int, mla: bool) -> tuple[LayerAttention, ...]:
    if mla:
        return tuple(LayerAttention("mla") for _ in range(layers))
    window = (
        _optional(cfg, "sliding_window", lo=1, hi=MAX_CONTEXT)
        if not isinstance(cfg.get("sliding_window"), bool)
        else None
    )
    layer_types = _layer_kinds(cfg, layers)
    if layer_types is not None and window:
        return tuple(
            LayerAttention("sliding", window) if "sliding" in t else LayerAttention("full") for t in layer_types
        )
    if window and cfg.get("use_sliding_window") is not False:
        if model_type == "gemma2":
            # Gemma 2 alternates local (sliding) and global layers, starting with a local one.
            return tuple(
                LayerAttention("sliding", window) if i % 2 == 0 else LayerAttention("full") for i in range(layers)
            )
        if model_type in ("gemma3", "gemma3_text"):
            pattern = _optional(cfg, "sliding_window_pattern", lo=1, hi=MAX_LAYERS, default=6) or 6
            return tuple(
                LayerAttention("full") if (i + 1) % pattern == 0 else LayerAttention("sliding", window)
                for i in range(layers)
            )
        if model_type in ("mistral", "mixtral") and window < (
            _optional(cfg, "max_position_embeddings", lo=1, hi=MAX_CONTEXT) or 0
        ):
            return tuple(LayerAttention("sliding", window) for _ in range(layers))
        if model_type in ("qwen2", "qwen2_moe") and cfg.get("use_sliding_window"):
            first_full = _optional(cfg, "max_window_layers", lo=0, hi=MAX_LAYERS, default=layers)
            return tuple(
                LayerAttention("full") if i < (first_full or 0) else LayerAttention("sliding", window)
                for i in range(layers)
            )
    return tuple(LayerAttention("full") for _ in range(layers))


def _vision_params(config: dict[str, Any], text_hidden: int, notes: list[str]) -> int:
    """Parameters of the vision tower plus its projector, from vision_config.

    SigLIP/CLIP layout (image_size given: learned position embedding per patch) is counted exactly for Gemma 3;
    other towers (Qwen-VL style: depth, patch merger) are counted as a ViT of the same width, depth and MLP, and
    the result says so.
    """
    vision = config.get("vision_config")
    if not isinstance(vision, dict):
        return 0

    def field_(*keys: str, hi: int = MAX_INTERMEDIATE) -> int | None:
        try:
            return _optional(vision, *keys, lo=1, hi=hi)
        except ConfigError as e:
            raise ConfigError(f"vision_config: {e}", value=e.value, accepted=e.accepted) from None

    h = field_("hidden_size", "embed_dim", "width", hi=MAX_HIDDEN)
    inter = field_("intermediate_size", "mlp_dim")
    n = field_("num_hidden_layers", "depth", "num_layers", hi=MAX_LAYERS)
    patch = field_("patch_size", hi=1024)
    image = field_("image_size", hi=1 << 15)
    if h is None or n is None or patch is None:
        return 0
    if inter is None:
        inter = 4 * h
    channels = field_("num_channels", "in_channels", "in_chans", hi=16) or 3
    if image is not None:
        per_layer = 4 * (h * h + h) + (h * inter + inter) + (inter * h + h) + 2 * 2 * h
        embeddings = channels * patch * patch * h + h + (image // patch) ** 2 * h
        post_norm = 2 * h
        # Gemma 3 projector: one matrix vision hidden -> text hidden plus an RMSNorm of the vision width.
        projector = h * text_hidden + h
        return n * per_layer + embeddings + post_norm + projector
    temporal = field_("temporal_patch_size", hi=16) or 1
    merge = field_("spatial_merge_size", hi=16) or 1
    out = field_("out_hidden_size", hi=MAX_HIDDEN) or text_hidden
    merged = h * merge * merge
    qwen3 = "num_position_embeddings" in vision or "deepstack_visual_indexes" in vision
    if qwen3 or str(vision.get("model_type", "")).startswith("qwen2"):
        # Qwen2.5-VL: RMSNorms, gated SiLU MLP, bias-free Conv3d patch embedding, RMSNorm + 2-layer merger.
        # Qwen3-VL / Qwen3.5: LayerNorms (weight + bias), GELU MLP, Conv3d with bias, learned position embedding,
        # LayerNorm + 2-layer merger, and one more merger (LayerNorm over the merged width) per deepstack layer.
        # Source: transformers models/qwen2_5_vl and models/qwen3_vl modeling files.
        norm = 2 * h if qwen3 else h
        mlp = 2 * h * inter + inter + h if qwen3 else 3 * h * inter + 2 * inter + h
        per_layer = 2 * norm + (3 * h * h + 3 * h) + (h * h + h) + mlp
        embeddings = channels * temporal * patch * patch * h + (h if qwen3 else 0)
        positions = field_("num_position_embeddings", hi=1 << 20) or 0
        embeddings += positions * h
        two_layer = merged * merged + merged + merged * out + out
        projector = norm + two_layer
        deepstack = vision.get("deepstack_visual_indexes") or []
        if not isinstance(deepstack, list) or len(deepstack) > MAX_LAYERS:
            raise ConfigError(
                "vision_config.deepstack_visual_indexes must be a list of layer indices", value="deepstack"
            )
        projector += len(deepstack) * (2 * merged + two_layer)
        return n * per_layer + embeddings + projector
    gated = str(vision.get("hidden_act", "")).lower() == "silu"
    mlp = (3 if gated else 2) * h * inter + (2 * inter if gated else inter) + h
    per_layer = 3 * h * h + 3 * h + h * h + h + mlp + 2 * h
    embeddings = channels * temporal * patch * patch * h
    projector = h + merged * merged + merged + merged * out + out
    notes.append(
        f"vision tower sized as a {n}-layer ViT of width {h} (MLP {inter}) with a {merge}x{merge} patch merger "
        "from vision_config; the checkpoint's own tensor list, when read, is exact"
    )
    return n * per_layer + embeddings + projector


def _inventory(a: Architecture) -> list[Tensor]:
    """Every weight tensor of the language model, with llama.cpp class names."""
    h = a.hidden_size
    out: list[Tensor] = [Tensor("token_embd", None, a.vocab_size, h)]
    for i in range(a.num_layers):
        if a.has_attention(i):
            out.extend(_attention_tensors(a, i))
        if a.recurrent is not None and i in a.recurrent_layers:
            out.extend(a.recurrent.tensors(i))
        if i not in a.mlp_free_layers:
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
