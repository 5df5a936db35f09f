"""agent_tools/runtimes/: one module per runtime, each paired with its data row."""

from __future__ import annotations

from agent_tools import catalog, runtimes
from agent_tools.estimate import estimate_memory


def test_every_data_row_has_a_module_and_every_module_a_row():
    assert set(catalog.runtimes()) == set(runtimes.behaviours())


def test_how_each_runtime_spreads_over_gpus():
    kinds = {rid: cls.multi_gpu for rid, cls in runtimes.behaviours().items()}
    assert kinds == {"generic": "tensor", "transformers": "layers", "vllm": "tensor", "llama.cpp": "layers"}


def test_llama_cpp_keeps_token_embeddings_in_system_ram_on_a_discrete_gpu_only():
    discrete = estimate_memory(model="llama3.1 8b", precision="q4_k_m", runtime="llama.cpp", gpu="RTX 4090")
    assert discrete.runtime_detail.cpu_ram_bytes and discrete.runtime_detail.cpu_ram_bytes > 0
    assert discrete.precision.kv_cache == "fp16"
    mac = estimate_memory(model="llama3.1 8b", precision="q4_k_m", runtime="llama.cpp", gpu="M3 Max 64GB")
    assert mac.runtime_detail.cpu_ram_bytes == 0
    assert mac.runtime_detail.model_buffer_bytes == mac.breakdown.weights_bytes


def test_vllm_shows_what_it_preallocates_and_how_many_sequences_its_pool_holds():
    r = estimate_memory(model="llama3.1 8b", runtime="vllm", gpu="H100", context_length=8192)
    detail = r.runtime_detail
    assert detail.preallocated_bytes == r.total_bytes
    assert detail.max_concurrency and detail.max_concurrency > 10
    assert detail.launch_flags and "--max-model-len 8192" in detail.launch_flags


def test_transformers_prefills_the_whole_prompt_and_generic_a_2048_token_chunk():
    hf = estimate_memory(model="llama3.1 8b", runtime="transformers", context_length=16384)
    generic = estimate_memory(model="llama3.1 8b", runtime="generic", context_length=16384)
    assert hf.breakdown.activations_bytes > generic.breakdown.activations_bytes
    assert any("whole context" in a for a in hf.assumptions)
    assert any("first 2048 tokens" in a for a in generic.assumptions)
