"""Which mixer each layer runs: full, sliding or latent attention, a recurrent state (Mamba, Mamba-2, gated
deltanet), or both side by side; and the tensors of the recurrent mixers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from agent_tools.config_fields import (
    MAX_CONTEXT,
    MAX_CONV,
    MAX_HEAD_DIM,
    MAX_HEADS,
    MAX_INTERMEDIATE,
    MAX_LAYERS,
    MAX_RANK,
    MAX_STATE,
    as_int,
    count,
    first,
    optional,
    require,
    show,
)
from agent_tools.errors import ConfigError
from agent_tools.tensors import LayerAttention, Tensor


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


def layer_kinds(cfg: dict[str, Any], layers: int) -> list[str] | None:
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


def nemotron_pattern(cfg: dict[str, Any], layers: int) -> str:
    """Nemotron-H's hybrid_override_pattern: one character per layer, M = Mamba-2, * = attention, - = MLP, E = MoE."""
    pattern = cfg.get("hybrid_override_pattern")
    if not isinstance(pattern, str) or len(pattern) != layers or set(pattern) - set("M*-E"):
        raise ConfigError(
            f"config.json field 'hybrid_override_pattern' must be a string of {layers} characters from 'M', '*', '-', "
            f"'E' (got {show(pattern)})",
            value=show(pattern),
            accepted=["M (Mamba-2), * (attention), - (MLP), E (MoE), one per layer"],
        )
    return pattern


def recurrent_layout(
    cfg: dict[str, Any], model_type: str, layers: int, hidden: int, pattern: str | None = None
) -> tuple[RecurrentMixer | None, set[int], set[int]]:
    """(mixer, layers that run it, layers without attention) for hybrid and linear-attention models."""
    kinds = layer_kinds(cfg, layers)
    if model_type in ("qwen3_next", "qwen3_5", "qwen3_5_text", "qwen3_5_moe", "qwen3_5_moe_text") or (
        "linear_num_value_heads" in cfg
    ):
        mixer = RecurrentMixer(
            "gated_deltanet",
            hidden,
            key_heads=require(cfg, "linear key heads", "linear_num_key_heads", hi=MAX_HEADS),
            key_head_dim=require(cfg, "linear key head dim", "linear_key_head_dim", hi=MAX_HEAD_DIM),
            value_heads=require(cfg, "linear value heads", "linear_num_value_heads", hi=MAX_HEADS),
            value_head_dim=require(cfg, "linear value head dim", "linear_value_head_dim", hi=MAX_HEAD_DIM),
            conv_kernel=optional(cfg, "linear_conv_kernel_dim", lo=1, hi=MAX_CONV, default=4) or 4,
        )
        if kinds is not None:
            linear = {i for i, k in enumerate(kinds) if "linear" in k}
        else:
            interval = optional(cfg, "full_attention_interval", lo=1, hi=MAX_LAYERS, default=4) or 4
            linear = {i for i in range(layers) if (i + 1) % interval != 0}
        return mixer, linear, set(linear)
    if model_type == "jamba":
        inner = count(cfg, "mamba_expand", default=2, hi=64) * hidden
        dt_rank = cfg.get("mamba_dt_rank", "auto")
        rank = math.ceil(hidden / 16) if dt_rank in (None, "auto") else as_int(dt_rank, "mamba_dt_rank", 1, MAX_RANK)
        mixer = RecurrentMixer(
            "mamba",
            hidden,
            inner=inner,
            state=optional(cfg, "mamba_d_state", lo=1, hi=MAX_STATE, default=16) or 16,
            dt_rank=rank,
            conv_kernel=optional(cfg, "mamba_d_conv", lo=1, hi=MAX_CONV, default=4) or 4,
            conv_bias=bool(cfg.get("mamba_conv_bias", True)),
            proj_bias=bool(cfg.get("mamba_proj_bias", False)),
            inner_norms=True,
        )
        if kinds is not None:  # a GGUF's per-layer list
            mamba = {i for i, k in enumerate(kinds) if "mamba" in k}
        else:
            period = optional(cfg, "attn_layer_period", lo=1, hi=MAX_LAYERS, default=8) or 8
            offset = count(cfg, "attn_layer_offset", default=4, hi=MAX_LAYERS)
            mamba = {i for i in range(layers) if i % period != offset}
        return mixer, mamba, mamba
    if model_type in ("granitemoehybrid", "falcon_h1", "nemotron_h") or "mamba_d_state" in cfg:
        if model_type == "nemotron_h" and pattern is not None and "M" not in pattern:
            return None, set(), {i for i, c in enumerate(pattern) if c != "*"}
        heads = require(cfg, "Mamba-2 heads", "mamba_n_heads", "mamba_num_heads", hi=MAX_HEADS)
        head_dim = cfg.get("mamba_d_head", cfg.get("mamba_head_dim"))
        d_ssm = optional(cfg, "mamba_d_ssm", lo=1, hi=MAX_INTERMEDIATE)
        if head_dim in (None, "auto"):
            expand = count(cfg, "mamba_expand", "expand", default=2, hi=64)
            head_dim = (d_ssm or expand * hidden) // heads
        head_dim = as_int(head_dim, "mamba_d_head", 1, MAX_HEAD_DIM)
        mixer = RecurrentMixer(
            "mamba2",
            hidden,
            inner=d_ssm or heads * head_dim,
            state=require(cfg, "SSM state size", "mamba_d_state", "ssm_state_size", hi=MAX_STATE),
            heads=heads,
            groups=optional(cfg, "mamba_n_groups", "n_groups", lo=1, hi=MAX_HEADS, default=1) or 1,
            conv_kernel=optional(cfg, "mamba_d_conv", "conv_kernel", lo=1, hi=MAX_CONV, default=4) or 4,
            conv_bias=bool(first(cfg, "mamba_conv_bias", "use_conv_bias", default=True)),
            proj_bias=bool(first(cfg, "mamba_proj_bias", "use_bias", default=False)),
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


def layer_attention(cfg: dict[str, Any], model_type: str, layers: int, mla: bool) -> tuple[LayerAttention, ...]:
    if mla:
        return tuple(LayerAttention("mla") for _ in range(layers))
    window = (
        optional(cfg, "sliding_window", lo=1, hi=MAX_CONTEXT)
        if not isinstance(cfg.get("sliding_window"), bool)
        else None
    )
    layer_types = layer_kinds(cfg, layers)
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
            pattern = optional(cfg, "sliding_window_pattern", lo=1, hi=MAX_LAYERS, default=6) or 6
            return tuple(
                LayerAttention("full") if (i + 1) % pattern == 0 else LayerAttention("sliding", window)
                for i in range(layers)
            )
        if model_type in ("mistral", "mixtral") and window < (
            optional(cfg, "max_position_embeddings", lo=1, hi=MAX_CONTEXT) or 0
        ):
            return tuple(LayerAttention("sliding", window) for _ in range(layers))
        if model_type in ("qwen2", "qwen2_moe") and cfg.get("use_sliding_window"):
            first_full = optional(cfg, "max_window_layers", lo=0, hi=MAX_LAYERS, default=layers)
            return tuple(
                LayerAttention("full") if i < (first_full or 0) else LayerAttention("sliding", window)
                for i in range(layers)
            )
    return tuple(LayerAttention("full") for _ in range(layers))
