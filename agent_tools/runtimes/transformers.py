"""Hugging Face transformers: generate() prefills the whole prompt at once; device_map splits layers."""

from __future__ import annotations

from typing import ClassVar, Literal

from agent_tools.runtimes.base import Runtime


class Transformers(Runtime):
    id = "transformers"
    multi_gpu: ClassVar[Literal["tensor", "layers"]] = "layers"
    prefill_chunk_tokens: ClassVar[int | None] = None
