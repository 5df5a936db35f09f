"""Catalog data files: they validate, every row has a source, and the names people type resolve."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from agent_tools import catalog
from agent_tools.advice import format_quality
from agent_tools.errors import UnknownNameError
from agent_tools.schemas import GpuEntry, ModelEntry


def test_catalogs_have_the_promised_breadth() -> None:
    current = [m for m in catalog.list_models() if not m.legacy]
    assert len(current) >= 40
    assert len([g for g in catalog.list_gpus() if g.segment != "apple"]) >= 150
    assert {"fp32", "fp16", "bf16", "fp8", "int8", "gptq_int4", "awq_int4", "bnb_nf4", "q4_k_m", "mxfp4"} <= {
        f.id for f in catalog.list_formats()
    }


def test_every_row_has_a_source() -> None:
    for m in catalog.list_models():
        assert any(s.startswith("https://") for s in m.sources), m.id
    for g in catalog.list_gpus():
        assert any("https://" in s for s in g.sources), g.id
    names = catalog.formats_file().sources
    for f in catalog.list_formats():
        assert all(s in names for s in f.sources), f.id
    for q in catalog.quality_index().values():
        assert all(s.source for s in q.scores), q.model
    for row in format_quality().formats:
        assert row.sources, row.format
    for r in catalog.runtimes().values():
        assert r.sources, r.id


def test_quality_rows_name_catalog_models() -> None:
    ids = {m.id for m in catalog.list_models()}
    assert set(catalog.quality_index()) <= ids


def test_unknown_keys_are_rejected() -> None:
    row = yaml.safe_load("id: x\nname: X\nfamily: x\nconfig: {}\nsources: [https://example.org]\nparameters: 7B\n")
    with pytest.raises(ValidationError, match="parameters"):
        ModelEntry(**row)
    g = catalog.list_gpus()[0].model_dump()
    with pytest.raises(ValidationError, match="vram"):
        GpuEntry(**{**g, "vram": 24})


def test_a_row_without_source_is_rejected() -> None:
    with pytest.raises(ValidationError, match="source"):
        ModelEntry(id="x", name="X", family="x", config={}, sources=[])


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("4090", "rtx-4090"),
        ("RTX4090", "rtx-4090"),
        ("4090 24G", "rtx-4090"),
        ("4090显卡", "rtx-4090"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("A100 80GB", "a100-80gb-sxm"),
        ("M3 Max 64GB", "apple-m3-max-64gb"),
    ],
)
def test_gpu_aliases(typed: str, expected: str) -> None:
    assert catalog.resolve_gpu(typed).id == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("llama3 8b", "meta-llama/Meta-Llama-3-8B-Instruct"),
        ("qwen2.5-7b-instruct", "Qwen/Qwen2.5-7B-Instruct"),
        ("Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct"),
        ("Qwen/Qwen2.5-7B", "Qwen/Qwen2.5-7B-Instruct"),
        ("千问2.5 7B", "Qwen/Qwen2.5-7B-Instruct"),
        ("deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3"),
    ],
)
def test_model_aliases(typed: str, expected: str) -> None:
    assert catalog.resolve_model(typed).id == expected


def test_decimal_sizes_do_not_collide() -> None:
    assert catalog.resolve_model("qwen2.5-1.5b").id == "Qwen/Qwen2.5-1.5B-Instruct"
    assert catalog.resolve_model("Qwen2.5 14b").id == "Qwen/Qwen2.5-14B-Instruct"


def test_unknown_model_lists_close_matches_and_how_to_list() -> None:
    with pytest.raises(UnknownNameError) as e:
        catalog.resolve_model("qwen2.5-15b")
    assert "vramwise models" in str(e.value)
    assert e.value.suggestions


def test_gpu_memory_is_exact_bytes() -> None:
    g = catalog.resolve_gpu("RTX 4090")
    assert g.memory_bytes % 2**20 == 0  # driver totals are whole MiB
    assert 23 * 2**30 < g.memory_bytes <= 24 * 2**30


def test_apple_share_of_unified_memory() -> None:
    g = catalog.resolve_gpu("M3 Max 64GB")
    assert g.gpu_usable_fraction == pytest.approx(0.75)
