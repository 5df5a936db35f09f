"""No config may crash the calculator: random and hostile configs end in a ConfigError or a positive, finite result."""

from __future__ import annotations

import math
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent_tools.architecture import parse_config
from agent_tools.errors import ConfigError

FIELDS = [
    "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
    "intermediate_size", "vocab_size", "max_position_embeddings", "num_experts", "num_local_experts",
    "num_experts_per_tok", "moe_intermediate_size", "shared_expert_intermediate_size", "n_shared_experts",
    "first_k_dense_replace", "moe_layer_freq", "decoder_sparse_step", "mlp_only_layers", "kv_lora_rank",
    "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "sliding_window", "layer_types",
    "sliding_window_pattern", "max_window_layers", "use_sliding_window", "tie_word_embeddings",
    "linear_num_key_heads", "linear_key_head_dim", "linear_num_value_heads", "linear_value_head_dim",
    "linear_conv_kernel_dim", "full_attention_interval", "attn_layer_period", "attn_layer_offset",
    "expert_layer_period", "expert_layer_offset", "mamba_d_state", "mamba_d_conv", "mamba_expand", "mamba_dt_rank",
    "mamba_n_heads", "mamba_d_head", "mamba_n_groups", "mamba_d_ssm", "shared_intermediate_size", "vision_config",
    "text_config", "multi_query_group_num", "padded_vocab_size", "_class_name",
]  # fmt: skip
MODEL_TYPES = [
    "llama",
    "qwen3_next",
    "jamba",
    "falcon_h1",
    "granitemoehybrid",
    "gemma3",
    "gemma2",
    "mistral",
    "qwen2",
    "deepseek_v3",
    "chatglm",
    "qwen",
    "mixtral",
    "gpt_oss",
    "whatever",
    "siglip_vision_model",
]

hostile_numbers = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from([0, 1, 2, 3, 7, 8, 64, 128, 1024, 4096, 10**9, 2**63, -1, 2**31]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=6),
    st.none(),
    st.lists(st.integers(min_value=-3, max_value=70), max_size=70),
    st.lists(
        st.sampled_from(["full_attention", "linear_attention", "sliding_attention", "mamba", "attention"]), max_size=70
    ),
)
values = st.one_of(
    hostile_numbers, st.sampled_from(MODEL_TYPES), st.dictionaries(st.sampled_from(FIELDS), hostile_numbers, max_size=8)
)

# A plausible base so that fuzzed fields reach deep code paths instead of failing on the first missing field.
BASE = {
    "hidden_size": 256,
    "num_hidden_layers": 8,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "intermediate_size": 512,
    "vocab_size": 1000,
}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.booleans(),
    model_type=st.sampled_from(MODEL_TYPES),
    fields=st.dictionaries(st.sampled_from(FIELDS), values, max_size=12),
)
def test_any_config_gives_a_clean_error_or_a_positive_finite_architecture(
    base: bool, model_type: str, fields: dict
) -> None:
    config = {**(BASE if base else {}), "model_type": model_type, **fields}
    started = time.perf_counter()
    try:
        a = parse_config(config)
        totals = (a.params_total, a.params_active, a.kv_layout.full_values, a.state_values_per_sequence)
    except ConfigError as e:
        message = str(e)
        assert message and "\n" not in message and len(message) < 600
    else:
        assert a.params_total > 0 and a.params_active > 0
        assert all(isinstance(t, int) and t >= 0 for t in totals)
        assert a.num_layers <= 1024 and math.isfinite(float(a.params_total))
        assert a.head_dim > 0 and a.num_kv_heads > 0 and a.vocab_size > 0
        assert sum(a.kv_values_per_token(i) for i in range(a.num_layers)) >= 0
    # bounded work: even the largest accepted config parses in well under a second on one core
    assert time.perf_counter() - started < 2.0
