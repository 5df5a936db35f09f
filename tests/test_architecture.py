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
