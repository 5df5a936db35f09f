"""Parameters of a multimodal model's vision tower and projector, from its vision_config."""

from __future__ import annotations

from typing import Any

from agent_tools.config_fields import MAX_HIDDEN, MAX_INTERMEDIATE, MAX_LAYERS, optional
from agent_tools.errors import ConfigError


def vision_params(config: dict[str, Any], text_hidden: int, notes: list[str]) -> int:
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
            return optional(vision, *keys, lo=1, hi=hi)
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
