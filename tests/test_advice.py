"""recommend_model and compare_precision: every pick fits by the engine; rankings follow published evidence."""

from __future__ import annotations

import pytest

from agent_tools import estimate_memory
from agent_tools.advice import compare_precision, recommend_model
from agent_tools.errors import UnknownNameError

HARDWARE = [
    {"gpu": "RTX 4090"},
    {"gpu": "RTX 4060"},
    {"gpu": "RTX 3060 12GB"},
    {"gpu": "RTX 3090", "num_gpus": 2},
    {"gpu": "A100 80GB"},
    {"gpu": "H100", "concurrent_users": 16},
    {"gpu": "M3 Max 64GB"},
    {"system_ram_gb": 32},
]


@pytest.mark.parametrize("hardware", HARDWARE, ids=lambda h: "-".join(str(v) for v in h.values()))
@pytest.mark.parametrize("context", [8192, 32768])
def test_every_candidate_fits_by_the_engine(hardware: dict, context: int) -> None:
    r = recommend_model(**hardware, context_length=context)
    for c in r.candidates:
        fields = {k: v for k, v in hardware.items() if k in ("gpu", "num_gpus")}
        if "system_ram_gb" in hardware:
            fields["vram_gb"] = r.hardware.memory_bytes_per_gpu / 2**30
        e = estimate_memory(
            model=c.model,
            precision=c.precision,
            context_length=context,
            runtime=r.hardware.runtime,
            batch_size=r.concurrent_users,
            **fields,
        )
        assert e.fit and e.fit.fits, (c.model, c.precision, e.fit)
        assert c.headroom_bytes >= 0.05 * e.fit.usable_bytes - 1


def test_a_24_gb_card_gets_models_that_use_it() -> None:
    r = recommend_model(gpu="RTX 4090", context_length=8192)
    assert r.candidates[0].params_total > 7e9  # not a 1.5B on a 24 GB card
    assert r.rejected and any("needs" in x.reason for x in r.rejected)


def test_seventy_b_is_rejected_on_one_4090_with_the_reason() -> None:
    r = recommend_model(gpu="RTX 4090", context_length=8192, top_k=3)
    llama70 = [x for x in r.rejected if "70B" in x.model]
    assert llama70 and "you have" in llama70[0].reason


def test_long_context_changes_the_answer() -> None:
    short = recommend_model(gpu="RTX 4090", context_length=4096, top_k=10)
    long = recommend_model(gpu="RTX 4090", context_length=131072, top_k=10)
    assert [c.model for c in short.candidates] != [c.model for c in long.candidates]
    assert all(c.max_context_length >= 131072 for c in long.candidates)


def test_speed_floor_is_respected() -> None:
    r = recommend_model(gpu="RTX 4090", min_tokens_per_s=60)
    assert r.candidates and all((c.decode_tokens_per_s or 0) >= 60 for c in r.candidates)


def test_edge_task_keeps_small_models() -> None:
    r = recommend_model(gpu="RTX 4060", task="edge")
    assert r.candidates and all(c.params_total < 4.5e9 for c in r.candidates)


def test_code_task_ranks_by_a_code_benchmark() -> None:
    r = recommend_model(gpu="RTX 4090", task="code")
    assert r.candidates[0].quality and r.candidates[0].quality.benchmark in (
        "HumanEval",
        "HumanEval+",
        "MBPP",
        "LiveCodeBench",
    )


def test_ranking_is_deterministic() -> None:
    a = recommend_model(gpu="RTX 3090", context_length=16384)
    b = recommend_model(gpu="RTX 3090", context_length=16384)
    assert a.model_dump() == b.model_dump()


def test_recommend_rejects_unknown_gpu_with_suggestions() -> None:
    with pytest.raises(UnknownNameError, match="did you mean"):
        recommend_model(gpu="RTX 4095")


def test_compare_ladder_orders_size_and_quality() -> None:
    r = compare_precision(model="Qwen/Qwen2.5-14B-Instruct")
    bits = [row.bits_per_weight for row in r.rows]
    assert bits == sorted(bits, reverse=True)
    levels = ["lossless", "negligible", "small", "noticeable", "severe"]
    q2 = next(row for row in r.rows if row.precision == "q2_k")
    q8 = next(row for row in r.rows if row.precision == "q8_0")
    assert q2.quality_impact and q8.quality_impact
    assert levels.index(q2.quality_impact.level) > levels.index(q8.quality_impact.level)


def test_fourteen_b_int4_versus_seven_b_16_bit() -> None:
    # Qwen2.5-14B at 4-bit needs less memory than Qwen2.5-7B at bf16 and scores higher (Qwen2.5 report MMLU).
    r = compare_precision(model="Qwen/Qwen2.5-7B-Instruct")
    alt = [a for a in r.equal_size_alternatives if a.model == "Qwen/Qwen2.5-14B-Instruct" and a.precision == "q4_k_m"]
    assert alt, [(a.model, a.precision) for a in r.equal_size_alternatives]
    assert "less memory" in alt[0].comparison
    assert "Qwen2.5-14B-Instruct at q4_k_m is better" in alt[0].comparison


def test_compare_checks_fit_on_a_gpu() -> None:
    r = compare_precision(model="llama 3.3 70b", gpu="RTX 4090", precisions=["bf16", "q4_k_m", "q2_k"])
    assert all(row.fits is False for row in r.rows)
    assert "no precision fits" in r.verdict


def test_compare_precision_checks_fit_against_a_memory_size_when_no_gpu_is_named():
    result = compare_precision(model="Mixtral 8x7B", precisions=["q4_k_m", "q2_k"], vram_gb=24)
    fits = {row.precision: row.fits for row in result.rows}
    assert fits["q4_k_m"] is False  # ~26-28 GB of weights do not go into 24 GiB
    assert "24 GiB" in result.verdict
    with pytest.raises(ValueError, match="not both"):
        compare_precision(model="Mixtral 8x7B", gpu="RTX 4090", vram_gb=24)
