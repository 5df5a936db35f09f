"""resolve.py: names in, typed objects out, before any arithmetic."""

from __future__ import annotations

import pytest

from agent_tools import resolve
from agent_tools.errors import UnknownNameError
from agent_tools.estimate import EstimateRequest
from agent_tools.runtimes.llama_cpp import LlamaCpp
from agent_tools.units import GiB


def test_a_catalog_model_resolves_once_with_its_published_count_and_window():
    subject = resolve.subject(EstimateRequest(model="llama3.1 8b"))
    assert subject.id == "meta-llama/Llama-3.1-8B-Instruct" and subject.from_catalog
    assert subject.max_context == 131072 and subject.published == subject.arch.params_total


def test_a_config_subject_is_named_after_its_repo_and_not_taken_from_the_catalog():
    cfg = {
        "_name_or_path": "me/tiny",
        "model_type": "llama",
        "hidden_size": 512,
        "intermediate_size": 1024,
        "num_hidden_layers": 4,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "vocab_size": 1000,
        "max_position_embeddings": 2048,
    }
    subject = resolve.subject(EstimateRequest(config=cfg))
    assert (subject.id, subject.from_catalog, subject.max_context) == ("me/tiny", False, 2048)


def test_a_bare_parameter_count_borrows_a_dense_shape_and_says_so():
    subject = resolve.subject(EstimateRequest(params_b=13))
    assert abs(subject.arch.params_total - 13e9) / 13e9 < 0.05
    assert "borrowed from" in subject.assumptions[0] and not subject.arch.is_moe


def test_devices_from_a_name_a_size_or_nothing():
    notes: list[str] = []
    gpu = resolve.device(EstimateRequest(model="llama3.1 8b", gpu="rtx-4090"), notes)
    assert gpu is not None and gpu.entry is not None and gpu.name == "NVIDIA GeForce RTX 4090"
    assert gpu.memory_bytes == gpu.entry.memory_bytes and not gpu.unified_memory
    sized = resolve.device(EstimateRequest(model="llama3.1 8b", vram_gb=20), notes)
    assert sized is not None and sized.memory_bytes == 20 * GiB and sized.name == "20 GiB GPU"
    assert sized.bandwidth_gb_s is None
    assert resolve.device(EstimateRequest(model="llama3.1 8b"), notes) is None
    assert notes == []


def test_unified_memory_without_a_measured_share_gets_the_documented_default():
    value, why = resolve.unified_memory_default()
    assert value == pytest.approx(2 / 3) and "2/3" in why


def test_runtime_aliases_come_from_the_data_and_pick_the_runtime_module():
    assert isinstance(resolve.runtime("Ollama"), LlamaCpp)
    assert resolve.runtime("HF").id == "transformers"
    with pytest.raises(UnknownNameError) as err:
        resolve.runtime("tensorrt")
    assert "accepted: generic, transformers, vllm, llama.cpp" in str(err.value)


def test_system_memory_rows_drive_cpu_only_runs_and_offload():
    ram = resolve.cpu_memory("DDR4-3200")
    assert ram.bandwidth_gb_s == pytest.approx(51.2)
    assert resolve.cpu_memory(None).id == "ddr5-5600-dual-channel"
    device = resolve.device(EstimateRequest(model="llama3.1 8b", cpu_memory="Raspberry Pi 5", vram_gb=8), [])
    assert device is not None and device.entry is None and device.memory_bytes == 8 * GiB
    assert device.name.startswith("CPU with")
    assert device.bandwidth_gb_s == resolve.cpu_memory("raspberry-pi-5").bandwidth_gb_s
    with pytest.raises(UnknownNameError) as err:
        resolve.cpu_memory("DDR7")
    assert "did you mean" in str(err.value)
