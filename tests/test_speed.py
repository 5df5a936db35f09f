"""speed.py: the one decode/prefill formula, the provenance of its constants, and its held-out accuracy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent_tools import sizing, speed
from agent_tools.estimate import EstimateRequest, estimate_memory
from agent_tools.plan import make_plan
from evals import calibrate_speed
from evals.speed_data import TRAINING_SOURCES, predict, prefill_dominated, speed_cases


def _plan(**fields):
    return make_plan(EstimateRequest(**fields), [], [])


def _decode(plan):
    result = speed.decode_speed(
        plan, plan.req.context_length, plan.req.batch_size, sizing.kv_bytes_per_sequence(plan, plan.req.context_length)
    )
    assert result is not None
    return result


def test_a_dense_untied_model_streams_everything_but_its_embedding_table():
    plan = _plan(model="llama3.1 8b", gpu="RTX 4090")
    w = plan.weights
    assert speed.weights_read_per_token(plan) == w.total_bytes - w.token_embd_bytes


def test_a_moe_model_streams_only_its_active_experts():
    plan = _plan(model="Qwen/Qwen3-30B-A3B", gpu="H100")
    assert speed.weights_read_per_token(plan) < plan.weights.total_bytes / 4


def test_no_bandwidth_means_no_speed():
    plan = _plan(model="llama3.1 8b", vram_gb=24)
    assert speed.decode_speed(plan, 4096, 1, 1) is None


def test_more_bandwidth_is_faster_and_a_longer_context_is_slower():
    slow, fast = _decode(_plan(model="llama3.1 8b", gpu="RTX 3090")), _decode(_plan(model="llama3.1 8b", gpu="H100"))
    assert fast.decode_tokens_per_s > slow.decode_tokens_per_s
    short = _decode(_plan(model="llama3.1 8b", gpu="RTX 4090", context_length=1024))
    long = _decode(_plan(model="llama3.1 8b", gpu="RTX 4090", context_length=65536))
    assert long.decode_tokens_per_s < short.decode_tokens_per_s
    assert long.bytes_read_per_token > short.bytes_read_per_token


def test_layers_left_in_system_ram_make_ram_bandwidth_the_bound():
    plan = _plan(model="llama3.1 70b", precision="q4_k_m", gpu="RTX 4090", runtime="llama.cpp", gpu_layers=40)
    result = _decode(plan)
    assert result.bound.startswith("system RAM")
    assert result.decode_tokens_per_s < _decode(plan.with_gpu_layers(80)).decode_tokens_per_s


X = speed.DecodeInputs(
    weight_bytes=16_000_000_000,
    kv_bytes=50_000_000,
    layers=32,
    bandwidth_gb_s=1000.0,
    memory="gddr",
    fmt="fp16",
    tflops=160.0,
    flops_per_token=16e9,
    context=1024,
)


def test_decode_seconds_is_the_sum_of_features_times_constants() -> None:
    c = speed.constants_for("llama.cpp")
    features = speed.decode_features(X)
    assert speed.decode_seconds(X, c) == pytest.approx(sum(c.coefficient(k) * v for k, v in features.items()))
    # the calibration fits this very function, not a copy
    assert calibrate_speed.speed.decode_features is speed.decode_features


def test_layer_split_adds_hops_instead_of_dividing_speed() -> None:
    c = speed.constants_for("llama.cpp")
    one = speed.decode_seconds(X, c)
    four = speed.decode_seconds(replace(X, n_gpus=4, split="layers"), c)
    # a token visits the GPUs in turn: same bytes, a little more time, never ~1/4 of it
    assert one <= four < 1.5 * one
    assert speed.decode_features(replace(X, n_gpus=4, split="layers"))["hop"] > 0


def test_tensor_parallel_divides_weight_bytes_and_adds_all_reduces() -> None:
    tp = replace(X, n_gpus=4, split="tensor", interconnect="nvlink")
    f1, f4 = speed.decode_features(X), speed.decode_features(tp)
    weight_s = X.weight_bytes / (X.bandwidth_gb_s * 1e9)
    assert f1["bytes@gddr"] - f4["bytes@gddr"] == pytest.approx(weight_s * 3 / 4)
    assert f4["allreduce@nvlink"] == pytest.approx(2 * X.layers * 1e-6)
    assert "allreduce@nvlink" not in f1


def test_fixed_cost_makes_small_models_slower_than_the_roofline() -> None:
    c = speed.constants_for("llama.cpp")
    small = replace(X, weight_bytes=500_000_000, kv_bytes=0, memory="hbm", bandwidth_gb_s=2000.0)
    eff = 1 / c.coefficient("bytes@hbm")
    assert speed.decode_seconds(small, c) > 1.5 * speed.roofline_seconds(small, eff)


def test_estimate_gives_a_range_and_names_its_data() -> None:
    r = estimate_memory(
        model="meta-llama/Llama-3.1-8B-Instruct",
        precision="q4_k_m",
        gpu="RTX 4090",
        runtime="llama.cpp",
        context_length=4096,
    )
    s = r.speed
    assert s is not None and s.decode_tokens_per_s_low is not None and s.decode_tokens_per_s_high is not None
    assert s.decode_tokens_per_s_low < s.decode_tokens_per_s < s.decode_tokens_per_s_high
    assert "evals/calibrate_speed.py" in s.source and "xd_readme_llama12" in s.source
    assert s.memory_class == "gddr" and s.split == "none" and 0 < (s.fixed_time_share or 0) < 1


def test_shipped_constants_are_what_the_calibration_fits_on_the_training_split() -> None:
    """speed_fit.yaml is generated: refitting the named split reproduces it (no hand-edited constants)."""
    fitted = calibrate_speed.fit_all(speed_cases(), TRAINING_SOURCES)
    shipped = speed.fitted_constants()
    for runtime, c in fitted.items():
        assert shipped[runtime].coefficients == pytest.approx(c.coefficients, rel=1e-3, abs=1e-3)
        assert shipped[runtime].trained_on == c.trained_on
        assert set(c.trained_on) <= set(TRAINING_SOURCES)


def test_held_out_sources_meet_the_target() -> None:
    """Rows of sources the fit never saw: >= 75% within 25% (the issue's target)."""
    shipped = speed.fitted_constants()
    held = [
        c for c in speed_cases() if c.kind != "pp" and not prefill_dominated(c) and c.source not in TRAINING_SOURCES
    ]
    assert len({c.source for c in held}) >= 3 and len(held) > 300
    within = sum(abs(predict(c, shipped[c.runtime]) / c.measured_tps - 1) <= 0.25 for c in held)
    assert within / len(held) >= 0.75


def test_serving_batch_raises_aggregate_throughput_sublinearly() -> None:
    serving = {"model": "Qwen/Qwen2.5-7B-Instruct", "precision": "bf16", "gpu": "A100 80GB SXM4", "runtime": "vllm"}
    one = estimate_memory(**serving, context_length=2048, batch_size=1).speed
    many = estimate_memory(**serving, context_length=2048, batch_size=32).speed
    assert one is not None and many is not None
    # weights are read once per step for the whole batch, so 32 sequences decode far faster together than one
    # alone, yet each sequence is slower than alone (its KV reads and the step's compute grow with the batch)
    assert 4 * one.aggregate_decode_tokens_per_s < many.aggregate_decode_tokens_per_s < 32 * one.decode_tokens_per_s
    assert many.decode_tokens_per_s < one.decode_tokens_per_s


def test_serving_throughput_saturates_at_the_compute_bound() -> None:
    plan = _plan(
        model="Qwen/Qwen2.5-7B-Instruct", precision="bf16", gpu="A100 80GB SXM4", runtime="vllm", context_length=2048
    )
    kv = sizing.kv_bytes_per_sequence(plan, 2048)
    rates = [speed.serving_throughput(plan, 2048, n, kv) for n in (1, 8, 64, 512)]
    assert all(r is not None for r in rates)
    aggregate = [r[0] for r in rates if r]
    assert aggregate == sorted(aggregate)  # more sequences, more tokens/s in total
    # ... but never beyond what the tensor cores can do: 2 x active params FLOPs per token
    x = speed.inputs_from_plan(plan, 2048, 1, kv)
    assert x is not None and x.tflops
    assert aggregate[-1] <= x.tflops * 1e12 / x.flops_per_token
