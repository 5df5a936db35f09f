"""Generic: weights + KV cache + one prefill pass of up to 2,048 tokens + a CUDA context; tensor parallel."""

from __future__ import annotations

from agent_tools.runtimes.base import Runtime


class Generic(Runtime):
    id = "generic"
