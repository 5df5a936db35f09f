"""Parameter counts from config.json dialects: golden counts with the arithmetic, and transformers as an oracle."""

from __future__ import annotations

import os

import pytest

from agent_tools import catalog
from agent_tools.architecture import parse_config
from agent_tools.errors import ConfigError
from agent_tools.estimate import catalog_architecture

LLAMA_31_8B = {
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
    "max_position_embeddings": 131072,
}


def test_llama_31_8b_count_matches_the_per_tensor_arithmetic() -> None:
    a = parse_config(LLAMA_31_8B)
    embed = 128256 * 4096  # token_embd, and the same again for the untied lm_head
    attention = 4096 * 4096 + 2 * 4096 * 1024 + 4096 * 4096  # q, k, v (8 KV heads x 128), o
    mlp = 3 * 4096 * 14336  # gate, up, down
    norms = 2 * 4096
    expected = 2 * embed + 32 * (attention + mlp + norms) + 4096
    assert expected == 8_030_261_248  # the safetensors index total of Llama-3.1-8B / 2 bytes
    assert a.params_total == expected
    assert a.params_active == expected


def test_tied_embeddings_are_counted_once() -> None:
    untied = parse_config(LLAMA_31_8B).params_total
    tied = parse_config({**LLAMA_31_8B, "tie_word_embeddings": True}).params_total
    assert untied - tied == 128256 * 4096


def test_explicit_head_dim_wins_over_hidden_over_heads() -> None:
    # Qwen3-8B: 32 heads x head_dim 128 = 4096 = hidden; Qwen3-0.6B: 16 heads x 128 = 2048 != hidden 1024
    a = catalog_architecture("Qwen/Qwen3-0.6B")
    assert a.head_dim == 128 and a.hidden_size == 1024
    assert a.kv_values_per_token(0) == 2 * 8 * 128


def test_llama_attention_bias_adds_q_k_v_and_o_biases() -> None:
    # transformers' LlamaAttention puts bias on q, k, v and o_proj when attention_bias is set
    cfg = {**LLAMA_31_8B, "attention_bias": True}
    assert parse_config(cfg).params_total - parse_config(LLAMA_31_8B).params_total == 32 * (4096 + 2 * 1024 + 4096)


def test_qwen2_has_qkv_bias_without_o_bias() -> None:
    a = catalog_architecture("Qwen/Qwen2.5-7B-Instruct")
    assert a.qkv_bias and not a.o_bias


def test_mixtral_active_params_count_two_of_eight_experts() -> None:
    a = catalog_architecture("mistralai/Mixtral-8x7B-Instruct-v0.1")
    expert = 3 * 4096 * 14336
    assert a.params_total == 46_702_792_704
    assert a.params_total - a.params_active == 32 * 6 * expert  # 6 idle experts per layer
    assert round(a.params_active / 1e9, 1) == 12.9  # Mistral's published "12.9B active"


def test_deepseek_v3_mla_and_moe_count() -> None:
    a = catalog_architecture("deepseek-ai/DeepSeek-V3")
    assert a.is_mla and a.is_moe
    assert a.params_total == 671_026_404_352  # 671B published; transformers' own count agrees
    assert a.dense_layers == frozenset({0, 1, 2})  # first_k_dense_replace = 3
    assert 36e9 < a.params_active < 38e9  # "37B activated"
    assert a.kv_values_per_token(10) == 512 + 64  # one latent + the shared rope key


def test_glm_dialect_uses_its_own_keys() -> None:
    a = catalog_architecture("THUDM/glm-4-9b-chat")
    # 40 layers x (qkv 4096 x (4096 + 2 x 2 x 128) + bias + o 4096^2 + MLP 3 x 4096 x 13696 + norms)
    per_layer = 4096 * 4608 + 4608 + 4096 * 4096 + 3 * 4096 * 13696 + 2 * 4096
    assert a.num_kv_heads == 2
    assert a.params_total == 2 * 151552 * 4096 + 40 * per_layer + 4096


def test_qwen_v1_intermediate_size_is_split_across_two_projections() -> None:
    a = catalog_architecture("Qwen/Qwen-7B-Chat")
    assert a.intermediate_size == 11008  # config says 22016


def test_missing_field_is_named() -> None:
    cfg = {k: v for k, v in LLAMA_31_8B.items() if k != "num_hidden_layers"}
    with pytest.raises(ConfigError, match="num_hidden_layers"):
        parse_config(cfg)


def test_non_integer_field_is_rejected_with_its_value() -> None:
    with pytest.raises(ConfigError, match="'many'"):
        parse_config({**LLAMA_31_8B, "num_attention_heads": "many"})


def test_nested_text_config_is_read() -> None:
    a = catalog_architecture("google/gemma-3-27b-it")
    assert a.num_layers == 62 and a.kv_layout.sliding_layers == 52 and a.kv_layout.full_layers == 10
    assert a.vision_params > 0


SUPPORTED_BY_TRANSFORMERS = None


def _transformers_count(config: dict) -> int | None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    try:
        conf = AutoConfig.for_model(**config)
    except ValueError:
        return None  # remote-code model types (chatglm, qwen v1, baichuan) are not in transformers
    with torch.device("meta"):
        try:
            model = AutoModelForCausalLM.from_config(conf)
        except ValueError:
            model = AutoModelForImageTextToText.from_config(conf)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("model_id", [m.id for m in catalog.list_models()])
def test_count_equals_transformers_meta_model(model_id: str) -> None:
    expected = _transformers_count(dict(catalog.resolve_model(model_id).config))
    if expected is None:
        pytest.skip("model_type needs remote code; counted by the golden tests above")
    assert catalog_architecture(model_id).params_total == expected


# --- Hybrid / linear-attention models: recurrent state instead of a growing KV cache --------------------------------

# Qwen/Qwen3-Coder-Next config.json (qwen3_next, the Qwen3-Next-80B-A3B layout): fields as published.
QWEN3_NEXT = {
    "model_type": "qwen3_next",
    "hidden_size": 2048,
    "num_hidden_layers": 48,
    "vocab_size": 151936,
    "head_dim": 256,
    "num_attention_heads": 16,
    "num_key_value_heads": 2,
    "intermediate_size": 5120,
    "num_experts": 512,
    "num_experts_per_tok": 10,
    "moe_intermediate_size": 512,
    "shared_expert_intermediate_size": 512,
    "linear_num_key_heads": 16,
    "linear_key_head_dim": 128,
    "linear_num_value_heads": 32,
    "linear_value_head_dim": 128,
    "linear_conv_kernel_dim": 4,
    "full_attention_interval": 4,
    "decoder_sparse_step": 1,
    "tie_word_embeddings": False,
}

# ai21labs/AI21-Jamba-1.5-Mini config.json (same layout as Jamba-v0.1).
JAMBA = {
    "model_type": "jamba",
    "attn_layer_offset": 4,
    "attn_layer_period": 8,
    "expert_layer_offset": 1,
    "expert_layer_period": 2,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "mamba_conv_bias": True,
    "mamba_d_conv": 4,
    "mamba_d_state": 16,
    "mamba_dt_rank": 256,
    "mamba_expand": 2,
    "mamba_proj_bias": False,
    "max_position_embeddings": 262144,
    "num_attention_heads": 32,
    "num_experts": 16,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "vocab_size": 65536,
    "tie_word_embeddings": False,
}


def test_qwen3_next_gated_deltanet_count_equals_the_published_tensor_total() -> None:
    # Hugging Face's safetensors total for Qwen3-Coder-Next without the MTP module: 79,674,391,296 parameters,
    # 3,874,929,408 active (10 routed + 1 shared expert of 512 per token).
    a = parse_config(QWEN3_NEXT)
    assert a.params_total == 79_674_391_296
    assert a.params_active == 3_874_929_408


def test_qwen3_next_caches_kv_only_in_every_fourth_layer_and_holds_a_fixed_state() -> None:
    a = parse_config(QWEN3_NEXT)
    layout = a.kv_layout
    assert (layout.full_layers, layout.recurrent_layers) == (12, 36)
    assert layout.full_values == 12 * 2 * 2 * 256
    conv = (2 * 16 * 128 + 32 * 128) * (4 - 1)
    delta_rule = 32 * 128 * 128
    assert a.state_values_per_sequence == 36 * (conv + delta_rule)
    assert a.kv_values_per_token(0) == 0 and a.kv_values_per_token(3) == 2 * 2 * 256


def test_jamba_places_attention_at_offset_four_of_eight_and_experts_on_odd_layers() -> None:
    a = parse_config(JAMBA)
    attention = [i for i in range(32) if a.has_attention(i)]
    assert attention == [4, 12, 20, 28]
    assert sorted(i for i in range(32) if a.is_moe_layer(i)) == list(range(1, 32, 2))
    # The Hub's safetensors total for ai21labs/AI21-Jamba-Mini-1.5 is 51,570,323,328 (AI21: "52B total, 12B active")
    assert a.params_total == 51_570_323_328
    assert 11.5e9 < a.params_active < 12.5e9
    d_inner = 2 * 4096
    assert a.state_values_per_sequence == 28 * (d_inner * 3 + d_inner * 16)


def test_granite_4_h_tiny_count_equals_the_hub_total() -> None:
    import json
    from pathlib import Path

    path = Path(__file__).parent.parent / "evals" / "data" / "hub_configs" / "ibm-granite--granite-4.0-h-tiny.json"
    a = parse_config(json.loads(path.read_text()))
    assert a.params_total == 6_939_037_248  # the Hub's safetensors total for ibm-granite/granite-4.0-h-tiny
    assert (a.kv_layout.full_layers, a.kv_layout.recurrent_layers) == (4, 36)


def test_granite_hybrid_reads_layer_types_and_mamba2_state() -> None:
    cfg = {
        "model_type": "granitemoehybrid",
        "hidden_size": 512,
        "intermediate_size": 1024,
        "layer_types": ["mamba", "mamba", "mamba", "attention"] * 2,
        "mamba_d_conv": 4,
        "mamba_d_head": 128,
        "mamba_d_state": 128,
        "mamba_expand": 2,
        "mamba_n_groups": 1,
        "mamba_n_heads": 8,
        "num_attention_heads": 8,
        "num_key_value_heads": 8,
        "num_experts_per_tok": 2,
        "num_hidden_layers": 8,
        "num_local_experts": 8,
        "shared_intermediate_size": 512,
        "tie_word_embeddings": True,
        "vocab_size": 49152,
    }
    a = parse_config(cfg)
    assert a.kv_layout.full_layers == 2 and a.kv_layout.recurrent_layers == 6
    d_inner, conv = 8 * 128, 8 * 128 + 2 * 128
    assert a.state_values_per_sequence == 6 * (conv * 3 + d_inner * 128)
    assert a.shared_expert_intermediate_size == 512 and a.moe_intermediate_size == 1024


def test_falcon_h1_runs_attention_and_mamba2_side_by_side_in_every_layer() -> None:
    cfg = {
        "model_type": "falcon_h1",
        "hidden_size": 3072,
        "intermediate_size": 12288,
        "num_hidden_layers": 44,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "head_dim": 128,
        "vocab_size": 130049,
        "mamba_d_conv": 4,
        "mamba_d_head": 128,
        "mamba_d_ssm": 3072,
        "mamba_d_state": 256,
        "mamba_expand": 2,
        "mamba_n_groups": 1,
        "mamba_n_heads": 24,
    }
    a = parse_config(cfg)
    assert a.kv_layout.full_layers == 44 and len(a.recurrent_layers) == 44
    assert a.state_values_per_sequence == 44 * ((3072 + 2 * 256) * 3 + 3072 * 256)


def test_unknown_model_type_is_sized_as_a_generic_decoder_with_every_assumption_named() -> None:
    a = parse_config(
        {
            "model_type": "brandnew",
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "vocab_size": 100,
        }
    )
    note = " ".join(a.notes)
    assert "brandnew" in note and "generic decoder" in note
    for assumed in ("gated MLP", "two norms", "full attention", "num_key_value_heads", "head_dim", "intermediate_size"):
        assert assumed in note
    assert a.params_total > 0


@pytest.mark.parametrize(
    "config",
    [
        {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.30.0", "in_channels": 4},
        {"model_type": "siglip_vision_model", "hidden_size": 1152, "num_hidden_layers": 27, "num_attention_heads": 16},
        {"model_type": "whisper", "d_model": 1280, "encoder_layers": 32, "vocab_size": 51866},
    ],
)
def test_a_config_that_is_not_an_llm_is_refused_as_such(config: dict) -> None:
    with pytest.raises(ConfigError, match="not an LLM"):
        parse_config(config)


# --- Validation at the boundary ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("num_hidden_layers", 10**9, "num_hidden_layers' must be an integer from 1 to 1,024"),
        ("num_hidden_layers", "8", "num_hidden_layers' must be an integer from 1 to 1,024 \\(got '8'\\)"),
        ("num_hidden_layers", True, "num_hidden_layers"),
        ("hidden_size", float("nan"), "hidden_size' must be an integer"),
        ("hidden_size", float("inf"), "hidden_size"),
        ("intermediate_size", -5, "intermediate_size' must be an integer from 1"),
        ("head_dim", 1e999, "head_dim"),
        ("num_key_value_heads", -8, "num_key_value_heads"),
        ("num_key_value_heads", 7, "must divide num_attention_heads 32"),
        ("max_position_embeddings", -1, "max_position_embeddings' must be an integer from 1 to 16,777,216"),
        ("max_position_embeddings", [4096], "max_position_embeddings"),
        ("vocab_size", 1 << 23, "vocab_size' must be an integer from 1 to 4,194,304"),
        ("num_attention_heads", 100_000, "num_attention_heads"),
    ],
)
def test_out_of_range_or_non_numeric_fields_are_refused_naming_the_field_and_range(
    field: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({**LLAMA_31_8B, field: value})


def test_nested_text_config_is_validated_too() -> None:
    with pytest.raises(ConfigError, match="num_hidden_layers"):
        parse_config({"model_type": "llava", "text_config": {**LLAMA_31_8B, "num_hidden_layers": 10**9}})


def test_hidden_not_divisible_by_heads_needs_an_explicit_head_dim() -> None:
    with pytest.raises(ConfigError, match="not divisible by num_attention_heads 7"):
        parse_config({**LLAMA_31_8B, "num_attention_heads": 7, "num_key_value_heads": 7})
    assert (
        parse_config({**LLAMA_31_8B, "num_attention_heads": 7, "num_key_value_heads": 7, "head_dim": 128}).head_dim
        == 128
    )


def test_integral_floats_are_numbers_but_fractions_are_not() -> None:
    assert parse_config({**LLAMA_31_8B, "num_hidden_layers": 32.0}).num_layers == 32
    with pytest.raises(ConfigError, match="num_hidden_layers"):
        parse_config({**LLAMA_31_8B, "num_hidden_layers": 32.5})


@pytest.mark.parametrize(
    "config",
    [
        {"model_type": "clip", "text_config": {"hidden_size": 512, "num_hidden_layers": 12}, "vision_config": {}},
        {"model_type": "t5", "d_model": 512, "num_layers": 6, "num_heads": 8, "vocab_size": 32128},
        {"model_type": "custom", "is_encoder_decoder": True, "hidden_size": 64},
    ],
)
def test_encoders_and_encoder_decoders_are_refused_with_the_reason(config: dict) -> None:
    with pytest.raises(ConfigError, match=r"not an LLM: model_type '(clip|t5|custom)' is an encoder"):
        parse_config(config)


def test_falcon_h1_half_billion_count_equals_the_hub_total() -> None:
    # A complete Falcon-H1 0.5B config.json (attention, Mamba-2 without its gated norm, and a gated MLP side by side
    # in each of 36 layers); the Hub's safetensors total for tiiuae/Falcon-H1-0.5B-Base is 521,411,104.
    import json
    from pathlib import Path

    path = Path(__file__).parent.parent / "evals" / "data" / "hub_configs" / "tiiuae--Falcon-H1-0.5B-Base.json"
    a = parse_config(json.loads(path.read_text()))
    assert a.params_total == 521_411_104
    assert a.kv_layout.full_layers == 36 and len(a.recurrent_layers) == 36
