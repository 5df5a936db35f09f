"""How older software stacks allocated, for reproducing published measurements taken on them.

The accuracy benchmarks set these on the rows whose source ran such a stack; the tools hide them (a user sizes
today's stacks). They live apart so the request model stays readable.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field


class OlderStackFlags(BaseModel):
    full_prompt_logits: Annotated[
        bool, Field(description="transformers < 4.45 materialised fp32 logits for the whole prompt")
    ] = False
    legacy_rope_tables: Annotated[
        bool,
        Field(description="transformers < 4.45 Qwen2/Mistral code: every attention layer keeps cos/sin tables for "
              "max_position_embeddings positions"),
    ] = False  # fmt: skip
    legacy_kv_cache: Annotated[
        bool,
        Field(description="generate() of transformers < 4.42 and old remote-code models keeps the previous "
              "past_key_values tuple while the next one is built: KV peaks at 2x"),
    ] = False  # fmt: skip
    legacy_cuda_build: Annotated[
        bool, Field(description="llama.cpp CUDA builds of 2023: cuBLAS prompt pool kept, larger per-GPU overhead")
    ] = False
