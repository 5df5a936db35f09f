"""fit.py: capacity per runtime, the largest context/batch searches and the verdict."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent_tools import fit, sizing
from agent_tools.estimate import EstimateRequest
from agent_tools.plan import make_plan
from agent_tools.units import GiB


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_largest_finds_the_boundary_of_a_monotone_predicate(boundary, hi):
    got = fit.largest(1, hi, lambda x: x <= boundary)
    assert got == min(boundary, hi)


def test_largest_is_zero_when_even_the_smallest_value_fails():
    assert fit.largest(1, 100, lambda x: False) == 0


def _plan(**fields):
    return make_plan(EstimateRequest(**fields), [], [])


def test_vllm_can_use_its_utilization_share_and_generic_the_whole_card():
    vllm = _plan(model="llama3.1 8b", vram_gb=80, runtime="vllm")
    assert fit.capacity(vllm) == int(80 * GiB * 0.9)
    generic = _plan(model="llama3.1 8b", vram_gb=80)
    assert fit.capacity(generic) == 80 * GiB
    assert fit.capacity(_plan(model="llama3.1 8b")) is None


def test_the_max_context_is_exactly_the_boundary():
    plan = _plan(model="llama3.1 8b", gpu="RTX 4090", runtime="llama.cpp")
    best = fit.max_context(plan, 1, 10_000_000)
    assert 0 < best < 10_000_000
    assert fit.fits(plan, best, 1) and not fit.fits(plan, best + 1, 1)
    usable = fit.capacity(plan)
    assert usable is not None and sizing.components(plan, best, 1)[2] <= usable


def test_verdicts_say_fits_tight_or_does_not_fit():
    profile = _plan(model="llama3.1 8b", runtime="llama.cpp").runtime.profile
    margin = profile.fit_margin_bytes
    assert fit.verdict(10 * GiB, 20 * GiB, 1, "X", profile, margin).startswith("fits: ")
    assert fit.verdict(20 * GiB, 20 * GiB + 100, 1, "X", profile, margin).startswith("fits, tight")
    assert "per GPU" in fit.verdict(30 * GiB, 20 * GiB, 2, "X", profile, margin)
    assert [fit.level(h, margin) for h in (-1, 0, margin - 1, margin)] == ["does_not_fit", "tight", "tight", "fits"]


def test_deepseek_v3_fp8_needs_eight_h200s_not_eight_h100s_when_no_runtime_is_named():
    from agent_tools.estimate import estimate_memory

    h100 = estimate_memory(model="deepseek-ai/DeepSeek-V3", precision="fp8", gpu="H100 80GB", num_gpus=8)
    assert h100.runtime == "vllm" and h100.runtime_assumed
    assert h100.fit is not None and h100.fit.level == "does_not_fit"
    assert any(a.startswith("runtime not given: sized for the vLLM profile") for a in h100.assumptions)
    h200 = estimate_memory(model="deepseek-ai/DeepSeek-V3", precision="fp8", gpu="H200", num_gpus=8)
    assert h200.fit is not None and h200.fit.level == "fits"


def test_a_layer_split_is_judged_on_its_fullest_gpu():
    from agent_tools.estimate import estimate_memory

    r = estimate_memory(model="llama3.1 70b", precision="fp16", runtime="llama.cpp", gpu="RTX 3090", num_gpus=6)
    even_share = (r.breakdown.weights_bytes + r.breakdown.kv_cache_bytes) / 6
    assert r.per_gpu_bytes > even_share + r.breakdown.overhead_bytes / 6  # 14 of 80 layers + the output head
    assert r.fit is not None and not r.fit.fits


def test_metal_charges_no_cuda_context_and_keeps_a_small_margin_under_the_working_set():
    plan = _plan(model="llama3.1 8b", precision="q4_k_m", runtime="llama.cpp", gpu="M3 Max 48GB")
    assert plan.unified_memory and plan.runtime.overhead_bytes(plan) == 0
    usable = fit.capacity(plan)
    assert plan.gpu_memory is not None and usable == plan.gpu_memory - 256 * 2**20


def test_a_desktop_reserve_comes_off_every_gpu():
    plain, reserved = (
        _plan(model="llama3.1 8b", gpu="RTX 4090"),
        _plan(model="llama3.1 8b", gpu="RTX 4090", reserve_gb=1.5),
    )
    assert fit.capacity(plain) - fit.capacity(reserved) == int(1.5 * GiB)


def test_llama_2023_row_split_of_65b_on_two_rtx_4000_ada_runs_out_of_memory_on_the_main_gpu():
    # Published: LLaMA-1-65B and LLaMA-2-70B Q4_0 ran out of memory on 2 x RTX 4000 Ada (20 GB) with llama.cpp build
    # 1691 (XiongjieDai notebooks, CUDA error in the first prompt batch) but ran on 4 of them.
    from agent_tools.estimate import estimate_memory

    old = {"precision": "q4_0", "gpu": "RTX 4000 Ada", "runtime": "llama.cpp", "context_length": 512}
    old |= {"flash_attention": False, "split_mode": "row", "legacy_cuda_build": True}
    for model in ("huggyllama/llama-65b", "meta-llama/Llama-2-70b-chat-hf"):
        two = estimate_memory(model=model, num_gpus=2, **old)
        assert two.fit is not None and two.fit.level == "does_not_fit", (model, two.fit)
        four = estimate_memory(model=model, num_gpus=4, **old)
        assert four.fit is not None and four.fit.fits
    # The same pair with today's defaults (layer split, current CUDA builds) fits with room to spare.
    today = estimate_memory(model="huggyllama/llama-65b", precision="q4_0", gpu="RTX 4000 Ada", num_gpus=2,
                            runtime="llama.cpp", context_length=512)  # fmt: skip
    assert today.fit is not None and today.fit.headroom_bytes > GiB


def test_row_split_keeps_the_whole_kv_cache_and_the_compute_buffer_on_the_main_gpu():
    base = {"model": "huggyllama/llama-65b", "precision": "q4_0", "gpu": "RTX 3090", "num_gpus": 2}
    base |= {"runtime": "llama.cpp", "context_length": 4096}
    rows, layers = _plan(split_mode="row", **base), _plan(**base)
    assert rows.row_split == 2 and rows.layer_split == 1 and layers.layer_split == 2
    _, _, row_gpu, _ = sizing.components(rows, 4096, 1)
    _, _, layer_gpu, _ = sizing.components(layers, 4096, 1)
    kv = sizing.kv_cache(rows, 4096, 1).bytes  # 10 GiB for LLaMA-65B (no GQA) at 4096 tokens
    main_weights, last_weights = rows.runtime.row_split_weights(rows)
    assert main_weights + kv <= row_gpu  # all of it on GPU 0, not half
    assert row_gpu - layer_gpu > kv // 3  # a layer split puts half the cache on each GPU
    assert abs(main_weights - last_weights) < 0.01 * main_weights  # bands of equal GPUs differ by the rounding


def test_the_2023_overhead_is_the_fit_of_the_load_logs_and_inside_the_rtx_4000_adas_own_bounds():
    from agent_tools import catalog
    from evals import calibrate_legacy_overhead

    value, per_gpu, bounds = calibrate_legacy_overhead.fit()
    assert value == catalog.defaults()["llama_cpp_2023_cuda_overhead_bytes"]["value"]
    low, high = per_gpu["NVIDIA RTX 4000 Ada Generation"]
    assert low < value <= high
    # the reconstructed files are the logged ones: the logs' "system memory used" adds the loader's ggml context
    # (0.14-0.28 MiB, its "ggml ctx size" line) to the tensors kept in RAM
    assert all(0 < b.logged_bytes - b.file_bytes < 0.3 * 2**20 for b in bounds)
