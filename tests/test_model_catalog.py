"""The model catalog's breadth, its parameter counts against published figures, and names that must not be swapped."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent_tools import catalog
from agent_tools.errors import UnknownNameError
from agent_tools.estimate import catalog_architecture

PENDING_FILE = Path(__file__).resolve().parents[1] / "evals" / "data" / "hub_pending_models.yaml"

# Issue 11 asks for at least 150 catalogued models.
MIN_CATALOG_MODELS = 150
# A published count is exact when it is not a round number of millions (safetensors totals, paper tables).
EXACT_TOLERANCE = 0.005
# Rounded card figures ("7B", "30.5B") only catch a wrong shape: Qwen2.5-32B's card says 32.5B for 32.76B.
ROUNDED_TOLERANCE = 0.12


def _is_exact(total: int) -> bool:
    return total % 1_000_000 != 0


def _published() -> list[tuple[str, int]]:
    return [(m.id, m.params_published.total) for m in catalog.list_models() if m.params_published]


def test_catalog_breadth() -> None:
    models = catalog.list_models()
    assert len(models) >= MIN_CATALOG_MODELS
    released = [m.released for m in models if m.released]
    assert sum(r >= "2025-01" for r in released) >= 10  # 2025-2026 releases are covered


@pytest.mark.parametrize(("model_id", "total"), [p for p in _published() if _is_exact(p[1])])
def test_exact_published_count_matches_the_config(model_id: str, total: int) -> None:
    computed = catalog_architecture(model_id).params_total
    assert abs(computed - total) <= EXACT_TOLERANCE * total, f"{model_id}: {computed:,} vs published {total:,}"


@pytest.mark.parametrize(("model_id", "total"), [p for p in _published() if not _is_exact(p[1])])
def test_rounded_published_count_is_near_the_config(model_id: str, total: int) -> None:
    computed = catalog_architecture(model_id).params_total
    assert abs(computed - total) <= ROUNDED_TOLERANCE * total, f"{model_id}: {computed:,} vs published {total:,}"


def test_moe_active_counts_are_below_totals() -> None:
    for m in catalog.list_models():
        a = catalog_architecture(m.id)
        if a.is_moe:
            assert a.params_active < a.params_total, m.id


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("mistralai/Mistral-7B-v0.1", "mistralai/Mistral-7B-Instruct-v0.1"),
        ("Mistral-7B-Instruct-v0.2", "mistralai/Mistral-7B-Instruct-v0.2"),
        ("Qwen/Qwen2.5-Coder-32B", "Qwen/Qwen2.5-Coder-32B-Instruct"),
        ("codellama/CodeLlama-7b-hf", "codellama/CodeLlama-7b-Instruct-hf"),
        ("google/gemma-7b", "google/gemma-7b-it"),
        ("moonshotai/Kimi-K2-Base", "moonshotai/Kimi-K2-Instruct"),
        # a code model with the same MoE shapes as Qwen3-30B-A3B is its own entry, not the general model
        ("Qwen3-Coder-30B-A3B", "Qwen/Qwen3-Coder-30B-A3B-Instruct"),
        ("Qwen3-30B-A3B", "Qwen/Qwen3-30B-A3B"),
    ],
)
def test_base_and_instruct_siblings_resolve(typed: str, expected: str) -> None:
    assert catalog.resolve_model(typed).id == expected


@pytest.mark.parametrize(
    "typed",
    [
        "google/gemma-3n-E4B",
        "gemma-3n-e4b",
        "gemma-3n-E2B-it",
        "Qwen3-Next-80B-A3B-Instruct",
        "Llama-4-Scout",
        "Qwen3-VL-8B",
    ],
)
def test_uncatalogued_names_are_refused_not_swapped(typed: str) -> None:
    with pytest.raises(UnknownNameError):
        catalog.resolve_model(typed)


def test_pending_models_are_verified_and_not_in_the_catalog() -> None:
    rows = yaml.safe_load(PENDING_FILE.read_text(encoding="utf-8"))["pending"]
    ids = {m.id for m in catalog.list_models()}
    assert rows
    for row in rows:
        assert row["id"] not in ids, row["id"]
        assert row["why_pending"] and row["config"].get("model_type"), row["id"]
        assert any(s.startswith("https://huggingface.co/") for s in row["sources"]), row["id"]
        assert len(row["sources"]) >= 2, row["id"]  # the official file and the copy it was verified against


def test_a_stand_in_is_said_in_the_result_the_cli_and_the_assistant_first_sentence() -> None:
    import subprocess
    import sys

    from agent_tools.estimate import estimate_memory
    from assistant.offline import answer

    r = estimate_memory(model="mistralai/Mistral-7B-v0.1", gpu="RTX 4090")
    assert r.model.id == "mistralai/Mistral-7B-Instruct-v0.1"
    assert r.model.requested == "mistralai/Mistral-7B-v0.1"
    assert r.model.resolved_from and "Mistral-7B-Instruct-v0.1" in r.model.resolved_from
    assert any(a.startswith("mistralai/Mistral-7B-v0.1 is sized as the catalog's") for a in r.assumptions)
    # an exact catalog id is not a stand-in
    assert estimate_memory(model="mistralai/Mistral-7B-Instruct-v0.1").model.resolved_from is None

    cli = subprocess.run(
        [sys.executable, "-m", "vramwise.cli", "estimate", "mistralai/Mistral-7B-v0.1"],
        capture_output=True, text=True, check=True, env={"HF_HUB_OFFLINE": "1", "COLUMNS": "200", "PATH": ""},
    )  # fmt: skip
    assert cli.stdout.splitlines()[0].startswith("mistralai/Mistral-7B-v0.1 is sized as the catalog's")

    for question in ("will mistralai/Mistral-7B-v0.1 fit on a 4090", "mistralai/Mistral-7B-v0.1 在 4090 上能跑吗"):
        first = answer(question).text.split("\n")[0]
        lead = first.split("。")[0] if "。" in first else first.split(". ")[0]
        assert "mistralai/Mistral-7B-v0.1" in lead and "Mistral-7B-Instruct-v0.1" in lead, first
        assert "not in the catalog" not in first and "不在目录" not in first


def test_fine_tuning_with_no_runtime_is_sized_for_transformers_and_says_so() -> None:
    from agent_tools.estimate import estimate_memory

    r = estimate_memory(model="llama3.1-8b", mode="qlora", context_length=2048)
    assert r.runtime == "transformers"
    assert not r.warnings, r.warnings  # QLoRA's NF4 is a usual format for transformers
    assert any("runtime not given" in a and "fine-tuning" in a for a in r.assumptions)
