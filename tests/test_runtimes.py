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


def test_split_mode_is_a_llama_cpp_option_and_says_so_in_its_flags():
    import pytest

    from agent_tools.errors import VramwiseError

    row = estimate_memory(model="llama3.1 70b", precision="q4_k_m", runtime="llama.cpp", gpu="RTX 3090", num_gpus=2,
                          split_mode="row")  # fmt: skip
    assert row.runtime_detail.launch_flags and "--split-mode row" in row.runtime_detail.launch_flags
    assert any("--split-mode row" in a for a in row.assumptions)
    with pytest.raises(VramwiseError, match="split_mode 'row' is not a vllm option"):
        estimate_memory(model="llama3.1 70b", runtime="vllm", gpu="H100", num_gpus=2, split_mode="row")
    with pytest.raises(VramwiseError, match=r"legacy_cuda_build describes llama\.cpp"):
        estimate_memory(model="llama3.1 8b", runtime="vllm", gpu="H100", legacy_cuda_build=True)


def test_the_2023_cuda_pool_counts_only_for_prompt_batches_cublas_ran():
    base = {"model": "llama3.1 8b", "precision": "q4_0", "runtime": "llama.cpp", "gpu": "RTX 4090"}
    today = estimate_memory(context_length=512, **base)
    old = estimate_memory(context_length=512, legacy_cuda_build=True, **base)
    short = estimate_memory(context_length=16, legacy_cuda_build=True, **base)  # 16 tokens: quantized kernels
    # F16 copy of the largest matrix (the 128256 x 4096 output) at least, plus the 2023 context
    assert old.per_gpu_bytes - today.per_gpu_bytes > 128256 * 4096 * 2
    assert short.breakdown.overhead_bytes < old.breakdown.overhead_bytes
    mac = estimate_memory(context_length=512, legacy_cuda_build=True, **(base | {"gpu": "M3 Max 64GB"}))
    assert mac.breakdown.overhead_bytes == 0  # Metal: no CUDA pool, no CUDA context
