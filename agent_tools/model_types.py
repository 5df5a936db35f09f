"""What a config.json's model_type says about a layout, and which configs are not decoder-only LLMs."""

from __future__ import annotations

from typing import Any

from agent_tools.config_fields import show

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
        return f"a diffusers component ({show(config.get('_class_name', 'pipeline'))}), not a language model"
    model_type = str(config.get("model_type", "")).lower()[:64]
    if model_type in NOT_LLM_TYPES:
        return f"model_type '{model_type}' is an encoder (vision, audio or text embeddings), not a text decoder"
    if model_type in ENCODER_DECODER_TYPES or config.get("is_encoder_decoder") is True:
        return f"model_type '{model_type}' is an encoder-decoder model; vramwise sizes decoder-only LLMs"
    return None
