"""The tensor and KV-cache records an architecture is described by."""

from __future__ import annotations

from dataclasses import dataclass


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
