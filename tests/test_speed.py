"""speed.py: the one decode/prefill formula."""

from __future__ import annotations

from agent_tools import sizing, speed
from agent_tools.estimate import EstimateRequest
from agent_tools.plan import make_plan


def _plan(**fields):
    return make_plan(EstimateRequest(**fields), [], [])


def _decode(plan):
    result = speed.decode_speed(plan, plan.req.context_length, plan.req.batch_size,
                                sizing.kv_bytes_per_sequence(plan, plan.req.context_length))
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
