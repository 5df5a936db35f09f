"""Memory components: golden values with the arithmetic, runtime behaviour, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent_tools import estimate_memory
from agent_tools.errors import UnknownNameError, VramwiseError

GiB = 2**30


def test_kv_cache_llama_31_8b_gqa() -> None:
    # 2 (K,V) x 32 layers x 8 KV heads x 128 dims x 2 bytes = 131,072 bytes/token; x 8192 tokens = 1 GiB
    r = estimate_memory(model="llama3.1 8b", context_length=8192)
    assert r.breakdown.kv_cache_bytes == 131_072 * 8192 == GiB
    assert r.kv_cache_bytes_per_token == 131_072


def test_kv_cache_llama2_7b_mha_is_four_times_llama3() -> None:
    # Llama-2-7B has 32 KV heads (no GQA): 2 x 32 x 32 x 128 x 2 = 524,288 bytes/token
    r = estimate_memory(model="meta-llama/Llama-2-7b-chat-hf", context_length=4096)
    assert r.breakdown.kv_cache_bytes == 524_288 * 4096


def test_kv_cache_deepseek_v3_mla_latent() -> None:
    # MLA caches kv_lora_rank 512 + rope 64 = 576 values per token per layer: 61 x 576 x 2 bytes = 70,272 B/token
    r = estimate_memory(model="deepseek-ai/DeepSeek-V3", precision="fp8_block", context_length=8192)
    assert r.breakdown.kv_cache_bytes == 61 * 576 * 2 * 8192  # 0.58 GB, not the 13 GiB of naive tools


def test_kv_cache_gemma3_sliding_layers_hold_their_window() -> None:
    # 10 global layers x 32768 + 52 local layers x 1024 tokens, 16 KV heads x 128 x 2 (K,V) x 2 bytes
    r = estimate_memory(model="google/gemma-3-27b-it", context_length=32768)
    per_token_layer = 2 * 16 * 128 * 2
    assert r.breakdown.kv_cache_bytes == per_token_layer * (10 * 32768 + 52 * 1024) == 3_120_562_176


def test_kv_cache_quantized_q8_0_uses_block_size() -> None:
    # q8_0: 34 bytes per 32 values
    f16 = estimate_memory(model="llama3.1 8b", context_length=8192, kv_cache_precision="fp16")
    q8 = estimate_memory(model="llama3.1 8b", context_length=8192, kv_cache_precision="q8_0")
    assert q8.breakdown.kv_cache_bytes == f16.breakdown.kv_cache_bytes // 2 * 34 // 32


def test_kv_cache_scales_with_batch() -> None:
    one = estimate_memory(model="Qwen/Qwen2.5-14B-Instruct", context_length=32768)
    four = estimate_memory(model="Qwen/Qwen2.5-14B-Instruct", context_length=32768, batch_size=4)
    # Qwen2.5-14B: 48 layers x 8 KV heads x 128 x 2 x 2 = 196,608 B/token -> 6.44 GB at 32k
    assert one.breakdown.kv_cache_bytes == 196_608 * 32768
    assert four.breakdown.kv_cache_bytes == 4 * one.breakdown.kv_cache_bytes


def test_weights_bf16_are_two_bytes_per_parameter() -> None:
    r = estimate_memory(model="Qwen/Qwen2.5-7B-Instruct", precision="bf16")
    assert r.breakdown.weights_bytes == 2 * 7_615_616_512


def test_q4_k_m_matches_the_real_llama3_8b_file() -> None:
    # Meta-Llama-3-8B-Instruct Q4_K_M is 4,920,733,984 bytes (incl. ~8 MB of GGUF metadata)
    r = estimate_memory(model="meta-llama/Meta-Llama-3-8B-Instruct", precision="q4_k_m")
    assert abs(r.breakdown.weights_bytes - 4_920_733_984) / 4_920_733_984 < 0.005
    assert 4.85 < r.precision.bits_per_weight < 4.95


def test_gptq_keeps_embeddings_at_16_bit() -> None:
    r = estimate_memory(model="Qwen/Qwen2.5-7B-Instruct", precision="gptq_int4")
    embed_and_head = 2 * 152064 * 3584 * 2
    linear = 7_615_616_512 - 2 * 152064 * 3584
    assert r.breakdown.weights_bytes > embed_and_head + linear * 4 / 8
    assert 4.5 < r.precision.bits_per_weight < 6.0


def test_full_finetune_states_are_sixteen_bytes_per_parameter() -> None:
    r = estimate_memory(model="Qwen/Qwen2.5-7B-Instruct", mode="full_finetune", context_length=2048)
    p = 7_615_616_512
    assert r.breakdown.weights_bytes == 2 * p  # bf16 weights
    assert r.breakdown.gradients_bytes == 2 * p  # bf16 gradients
    assert r.breakdown.optimizer_bytes == 12 * p  # fp32 master + Adam m + v


def test_zero_stages_shard_states_across_gpus() -> None:
    base = {"model": "Qwen/Qwen2.5-7B-Instruct", "mode": "full_finetune", "num_gpus": 4, "context_length": 1024}
    z0 = estimate_memory(**base, zero_stage=0)
    z1 = estimate_memory(**base, zero_stage=1)
    z2 = estimate_memory(**base, zero_stage=2)
    z3 = estimate_memory(**base, zero_stage=3)
    assert z1.per_gpu_bytes < z0.per_gpu_bytes
    assert z1.breakdown.optimizer_bytes * 4 == pytest.approx(z0.breakdown.optimizer_bytes, rel=1e-6)
    assert z2.per_gpu_bytes < z1.per_gpu_bytes < z0.per_gpu_bytes
    assert z3.per_gpu_bytes < z2.per_gpu_bytes


def test_lora_adapter_params_are_rank_times_in_plus_out() -> None:
    # rank 16 on q,k,v,o of Llama-3.1-8B: 32 layers x 16 x ((4096+4096) + (4096+1024) x 2 + (4096+4096))
    r = estimate_memory(model="llama3.1 8b", mode="lora", lora_rank=16, lora_targets=["q", "k", "v", "o"])
    params = 32 * 16 * (8192 + 2 * 5120 + 8192)
    assert r.breakdown.adapter_bytes == 4 * params  # fp32 adapter weights
    assert r.breakdown.optimizer_bytes == 8 * params  # Adam m + v


def test_qlora_base_is_nf4() -> None:
    r = estimate_memory(model="llama3.1 8b", mode="qlora")
    assert r.precision.id == "bnb_nf4_dq"
    assert r.breakdown.weights_bytes < 0.4 * 2 * 8_030_261_248 + 2 * 2 * 128_256 * 4096  # see the next test


def test_qlora_hf_keeps_embeddings_bf16_and_norms_fp32() -> None:
    # The QLoRA reference script (artidoro/qlora) casts norms to fp32 and lm_head/embed_tokens back to bf16 after
    # prepare_model_for_kbit_training; Unsloth casts nothing: 2 bytes more per norm element only.
    hf = estimate_memory(model="llama3.1 8b", mode="qlora")
    unsloth = estimate_memory(model="llama3.1 8b", mode="qlora", stack="unsloth")
    norms = 32 * 2 * 4096 + 4096
    assert hf.breakdown.weights_bytes - unsloth.breakdown.weights_bytes == 2 * norms


def test_qlora_kbit_cast_all_keeps_embeddings_fp32() -> None:
    # PEFT's prepare_model_for_kbit_training alone casts the embedding and output matrices too (2 x 128,256 x 4,096)
    from agent_tools import training

    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    norms = training.training_peak(arch, "qlora", 512, 1, base_weights_bytes=0, kbit_cast="norms")
    every = training.training_peak(arch, "qlora", 512, 1, base_weights_bytes=0, kbit_cast="all")
    assert every.weights_bytes - norms.weights_bytes == 2 * 2 * 128_256 * 4096
    with pytest.raises(ValueError, match="kbit_cast"):
        training.training_peak(arch, "qlora", 512, 1, kbit_cast="embeddings")


def test_vllm_reports_kv_pool_and_concurrency() -> None:
    r = estimate_memory(model="llama3.1 8b", runtime="vllm", gpu="RTX 4090", context_length=8192)
    d = r.runtime_detail
    assert d.gpu_memory_utilization == 0.9
    assert d.preallocated_bytes == int(r.fit.memory_bytes * 0.9)
    assert d.kv_pool_tokens and d.kv_pool_tokens > 8192
    assert d.max_concurrency == pytest.approx(d.kv_pool_tokens / 8192, rel=0.02)


def test_llama_cpp_keeps_token_embeddings_in_ram() -> None:
    r = estimate_memory(model="llama3.1 8b", precision="q4_k_m", runtime="llama.cpp", gpu="RTX 4090")
    assert r.runtime_detail.cpu_ram_bytes and r.runtime_detail.cpu_ram_bytes > 0
    assert r.runtime_detail.model_buffer_bytes == r.breakdown.weights_bytes


def test_seventy_b_does_not_fit_a_4090_but_suggests_offload_layers() -> None:
    r = estimate_memory(model="llama 3.3 70b", precision="q4_k_m", runtime="llama.cpp", gpu="4090", context_length=8192)
    assert r.fit and not r.fit.fits
    assert "does not fit" in r.fit.verdict
    assert 0 < (r.runtime_detail.gpu_layers_that_fit or 0) < 80


def test_two_3090s_hold_a_70b_at_4_bit() -> None:
    r = estimate_memory(
        model="llama 3.3 70b", precision="q4_k_m", runtime="llama.cpp", gpu="3090", num_gpus=2, context_length=8192
    )
    assert r.fit and r.fit.fits


def test_max_context_is_the_largest_that_fits() -> None:
    r = estimate_memory(model="Qwen/Qwen2.5-14B-Instruct", precision="q4_k_m", runtime="llama.cpp", gpu="RTX 4090")
    assert r.fit
    at_max = estimate_memory(
        model="Qwen/Qwen2.5-14B-Instruct",
        precision="q4_k_m",
        runtime="llama.cpp",
        gpu="RTX 4090",
        context_length=r.fit.max_context_length,
    )
    assert at_max.fit and at_max.fit.fits


def test_tensor_parallel_needs_divisible_heads() -> None:
    with pytest.raises(VramwiseError, match="must divide the 28 attention heads"):
        estimate_memory(model="Qwen/Qwen2.5-7B-Instruct", runtime="vllm", num_gpus=3)


def test_context_beyond_the_model_maximum_is_a_warning() -> None:
    r = estimate_memory(model="meta-llama/Llama-2-7b-chat-hf", context_length=32768)
    assert any("exceeds" in w and "4096" in w for w in r.warnings)


def test_unknown_names_get_did_you_mean() -> None:
    with pytest.raises(UnknownNameError, match=r"did you mean") as e:
        estimate_memory(model="llama3.1 8b", gpu="RTX 4900")
    assert e.value.suggestions
    with pytest.raises(UnknownNameError, match="q4_k_m"):
        estimate_memory(model="llama3.1 8b", precision="q4_k_x")


def test_zero_and_negative_numbers_are_rejected() -> None:
    from pydantic import ValidationError

    for bad in ({"context_length": 0}, {"batch_size": -1}, {"num_gpus": 0}):
        with pytest.raises(ValidationError):
            estimate_memory(model="llama3.1 8b", **bad)


def test_params_only_estimate_states_its_assumption() -> None:
    r = estimate_memory(params_b=13)
    assert 12.5e9 < r.model.params_total < 13.5e9
    assert any("only a parameter count" in a for a in r.assumptions)


def test_every_result_states_units_and_sources() -> None:
    r = estimate_memory(model="llama3.1 8b", gpu="4090")
    assert any("GiB = 2^30" in a for a in r.assumptions)
    assert "note:kv-cache" in r.sources and any(s.startswith("http") for s in r.sources)


@settings(max_examples=60, deadline=None)
@given(ctx=st.integers(1, 200_000), extra=st.integers(1, 50_000))
def test_memory_grows_with_context(ctx: int, extra: int) -> None:
    a = estimate_memory(model="google/gemma-3-12b-it", context_length=ctx, runtime="vllm")
    b = estimate_memory(model="google/gemma-3-12b-it", context_length=ctx + extra, runtime="vllm")
    assert b.breakdown.kv_cache_bytes >= a.breakdown.kv_cache_bytes
    assert b.total_bytes >= a.total_bytes


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 256))
def test_memory_grows_with_batch(batch: int) -> None:
    a = estimate_memory(model="Qwen/Qwen3-8B", context_length=4096, batch_size=batch, runtime="llama.cpp")
    b = estimate_memory(model="Qwen/Qwen3-8B", context_length=4096, batch_size=batch + 1, runtime="llama.cpp")
    assert b.total_bytes > a.total_bytes


LADDER = ["fp32", "bf16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k"]


@settings(max_examples=30, deadline=None)
@given(model=st.sampled_from(["llama3.1 8b", "Qwen/Qwen2.5-14B-Instruct", "mistralai/Mixtral-8x7B-Instruct-v0.1"]))
def test_memory_grows_with_bits(model: str) -> None:
    sizes = [estimate_memory(model=model, precision=p).breakdown.weights_bytes for p in LADDER]
    assert sizes == sorted(sizes, reverse=True)


@settings(max_examples=50, deadline=None)
@given(model=st.sampled_from(["Qwen/Qwen3-30B-A3B", "deepseek-ai/DeepSeek-V3", "openai/gpt-oss-120b", "llama3.1 8b"]))
def test_active_never_exceeds_total(model: str) -> None:
    r = estimate_memory(model=model)
    assert 0 < r.model.params_active <= r.model.params_total


# ------------------------------------------------------------------------------------------ training peak


def _arch(name: str):
    from agent_tools import catalog
    from agent_tools.architecture import parse_config

    return parse_config(catalog.resolve_model(name).config)


def test_training_peak_matches_h200_measurements_per_group() -> None:
    # Our H200 runs (transformers 5.17, PEFT 0.21, torch 2.11; evals/data/measured_gpu_h200.json): no constant in
    # training_peak was fitted on them, so every row is held out.
    from evals.training_cases import h200_cases, predicted_allocated

    errors: dict[str, list[float]] = {}
    for case in h200_cases():
        err = predicted_allocated(case).total_bytes / case.measured_bytes - 1
        errors.setdefault(case.group, []).append(abs(err))
        assert abs(err) < 0.08, case.label
    assert set(errors) >= {"full", "lora"}
    for group, errs in errors.items():
        assert sum(errs) / len(errs) < 0.03, group


def test_training_peak_hf_loss_path_is_twelve_bytes_per_logit_in_backward() -> None:
    # Qwen3-0.6B, LoRA, 8192 tokens: the loss backward holds log-softmax, its gradient and the logits gradient,
    # 3 x 4 bytes per token x vocabulary entry (151,936 entries).
    from agent_tools import training

    peak = training.training_peak(_arch("Qwen/Qwen3-0.6B"), "lora", 8192, 1)
    assert peak.phase == "loss_backward"
    assert peak.logits_bytes == 12 * 8192 * 151_936


def test_training_peak_unsloth_never_materialises_logits_and_offloads_checkpoints() -> None:
    from agent_tools import training

    arch = _arch("meta-llama/Llama-3.1-8B-Instruct")
    hf = training.training_peak(arch, "qlora", 16384, 1, base_weights_bytes=6 * 10**9)
    unsloth = training.training_peak(
        arch, "qlora", 16384, 1, base_weights_bytes=6 * 10**9, stack="unsloth", checkpointing="offload"
    )
    assert unsloth.logits_bytes == 0
    assert hf.logits_bytes == 12 * 16384 * 128_256
    assert unsloth.total_bytes < hf.total_bytes / 2  # Unsloth's README: ~12x the context in the same memory


def test_training_peak_master_weight_layouts_and_8bit_states() -> None:
    from agent_tools import training

    arch = _arch("Qwen/Qwen2.5-3B-Instruct")
    p = arch.params_total

    def states(**kw: str) -> int:
        return training.training_peak(arch, "full_finetune", 512, 1, **kw).optimizer_bytes

    assert states(master_weights="fp32_params") == 8 * p  # fp32 AdamW moments
    assert states(master_weights="optimizer") == 12 * p  # + the fp32 master copy
    assert states(master_weights="none") == 4 * p  # pure bf16: bf16 moments
    assert states(master_weights="fp32_params", optimizer="adamw_8bit") == 2 * p
    fp32 = training.training_peak(arch, "full_finetune", 512, 1, master_weights="fp32_params")
    pure = training.training_peak(arch, "full_finetune", 512, 1, master_weights="none")
    assert pure.total_bytes < 0.6 * fp32.total_bytes  # 8 bytes per parameter instead of 16


def test_deepspeed_step_casts_bf16_gradients_to_fp32_one_group_at_a_time() -> None:
    # DeepSpeed with an fp32 master (stage_1_and_2.py, stage3.py) keeps bf16 gradients; at the step it flattens
    # them and casts the copy to fp32: the whole partition for ZeRO-2, sub-groups of 1e9 elements for ZeRO-3.
    from agent_tools import training

    arch = _arch("Qwen/Qwen2.5-7B-Instruct")
    p = arch.params_total

    def peak(zero: int, gpus: int) -> training.TrainingPeak:
        return training.training_peak(
            arch, "full_finetune", 512, 1, master_weights="optimizer", zero_stage=zero, num_gpus=gpus
        )

    z2 = peak(2, 1)
    assert z2.phase == "optimizer_step"
    assert z2.gradients_bytes == 2 * p  # bf16 only: no fp32 gradients between steps
    assert z2.total_bytes == (2 + 2 + 12 + 2 + 4) * p  # + the flattened bf16 copy and its fp32 cast
    z3 = peak(3, 2)
    assert z3.phase == "optimizer_step"
    assert z3.weights_bytes == z3.gradients_bytes == -(-2 * p // 2)
    assert z3.transient_bytes == 6 * training.ZERO3_SUB_GROUP  # one sub-group, not the 3.8e9-element partition

    # In the loss's backward ZeRO-3 over two GPUs holds the largest layer (Qwen2.5-7B's 152,064 x 3,584 output
    # matrix) whole, weights and gradient in bf16; on one GPU the module uses its partition as it is.
    def long(gpus: int) -> training.TrainingPeak:
        return training.training_peak(
            arch, "full_finetune", 32768, 1, master_weights="optimizer", zero_stage=3, num_gpus=gpus
        )

    assert long(2).phase == long(1).phase == "loss_backward"
    assert long(2).transient_bytes == 2 * 2 * 152_064 * 3_584
    assert long(1).transient_bytes == 0


def test_training_peak_checkpointing_variants_order_saved_activations() -> None:
    from agent_tools import training

    arch = _arch("meta-llama/Llama-3.2-3B-Instruct")
    saved = {
        ck: training.training_peak(arch, "lora", 4096, 4, checkpointing=ck, stack="unsloth").activations_bytes
        for ck in training.CHECKPOINTING
    }
    assert saved["offload"] < saved["layer"] < saved["none"]
    # without checkpointing every layer's stash is kept: 28 layers x 16384 tokens x bytes per token per layer
    per_layer = training.training_layer_bytes_per_token(arch, fp32_residual=False, lora_rank=16, lora_targets=7)
    assert saved["none"] >= 28 * 16384 * per_layer


def test_training_peak_rejects_unknown_stack_naming_the_accepted_ones() -> None:
    from agent_tools import training

    with pytest.raises(ValueError, match="hf, hf_legacy, unsloth"):
        training.training_peak(_arch("Qwen/Qwen3-0.6B"), "lora", 512, 1, stack="unslot")


def test_training_calibration_file_is_a_fresh_fit_and_matches_the_code() -> None:
    import json

    from agent_tools import training
    from evals.calibrate_training import OUT, calibrate

    stored = json.loads(OUT.read_text(encoding="utf-8"))
    assert stored == calibrate()
    assert training.LOSS_PATHS["hf_legacy"].backward == stored["hf_legacy_loss"]["backward_bytes_per_logit"]


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")  # PEFT 0.21 on 5.x
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["bf16", "full", "lora"])
def test_layer_activation_formula_matches_the_tensors_transformers_saves(mode: str) -> None:
    # The per-layer count in training.py against autograd's saved tensors of a real (small) transformers Llama layer
    pytest.importorskip("transformers")
    if mode == "lora":
        pytest.importorskip("peft")
    from agent_tools import training
    from agent_tools.architecture import parse_config
    from evals.count_saved_activations import ARCHS, WIDTHS, saved_activation_bytes

    counted = (saved_activation_bytes("llama", mode, 2) - saved_activation_bytes("llama", mode, 1)) // 64
    cfg = {**ARCHS["llama"], **WIDTHS, "num_hidden_layers": 2, "max_position_embeddings": 4096}
    arch = parse_config(cfg)
    lora = {"lora_rank": 8, "lora_targets": 7} if mode == "lora" else {}
    assert training.training_layer_bytes_per_token(arch, fp32_residual=mode == "full", **lora) == counted


def test_estimate_request_options_reach_the_training_peak() -> None:
    # master_weights, optimizer, stack and flash_attention=False travel from the request to training.training_peak
    from agent_tools import training

    arch = _arch("meta-llama/Llama-3.2-1B-Instruct")
    for opts, peak_kw in (
        ({"master_weights": "none", "optimizer": "adamw_8bit"}, {"master_weights": "none", "optimizer": "adamw_8bit"}),
        (
            {"master_weights": "fp32_params", "flash_attention": False},
            {"master_weights": "fp32_params", "attention": "eager"},
        ),
        ({"stack": "unsloth"}, {"stack": "unsloth", "checkpointing": "offload", "master_weights": "optimizer"}),
    ):
        r = estimate_memory(
            model="meta-llama/Llama-3.2-1B-Instruct",
            mode="full_finetune",
            runtime="transformers",
            context_length=2048,
            batch_size=2,
            **opts,
        )
        peak = training.training_peak(arch, "full_finetune", 2048, 2, **{"master_weights": "optimizer", **peak_kw})
        assert r.total_bytes - r.breakdown.overhead_bytes == peak.total_bytes, opts


def test_unsloth_published_context_limits_fit_their_memory() -> None:
    # Unsloth README: longest QLoRA sequence per memory size (Llama 3.1 8B, Llama 3.3 70B). Nothing was fitted on
    # them: Cut Cross-Entropy keeps no logits, offloaded checkpoints leave one recomputed layer on the GPU.
    from evals.training_cases import limit_cases, predicted_allocated

    rows = [c for c in limit_cases() if c.kwargs["stack"] == "unsloth"]
    assert len(rows) == 9
    for case in rows:
        assert abs(predicted_allocated(case).total_bytes / case.measured_bytes - 1) < 0.09, case.label


def test_the_2023_cuda_pool_keeps_every_size_it_grew_to() -> None:
    from agent_tools.memory import legacy_cuda_pool_bytes

    MiB = 2**20
    # 100 MiB -> new 105 MiB buffer; 200 -> new 210; 150 reuses the free 210; nothing is ever freed
    assert legacy_cuda_pool_bytes([(((100 * MiB,), (200 * MiB,), (150 * MiB,)), 1)]) == 315 * MiB
    # buffers one op holds together are distinct; a layer that allocates nothing leaves the pool unchanged
    layer = ((100 * MiB, 100 * MiB), (50 * MiB,))
    assert legacy_cuda_pool_bytes([(layer, 1)]) == legacy_cuda_pool_bytes([(layer, 80)]) == 210 * MiB
    # sizes round up to 256 bytes after the 5% look-ahead
    assert legacy_cuda_pool_bytes([(((1000,),), 1)]) == 1280


def test_the_2023_pool_of_a_row_split_band_is_its_f32_copy() -> None:
    from agent_tools.estimate import EstimateRequest
    from agent_tools.plan import make_plan

    MiB = 2**20
    req = EstimateRequest(model="huggyllama/llama-65b", precision="q4_0", gpu="RTX 4000 Ada", num_gpus=2,
                          runtime="llama.cpp", context_length=512, flash_attention=False, split_mode="row",
                          legacy_cuda_build=True)  # fmt: skip
    plan = make_plan(req, [], [])
    main, _other = plan.runtime.prompt_pool_bytes(plan, 512, 1)
    # GPU 0's bands as F32: 4096 x 8192 (attention), 11008 x 8192 (gate/up; down is 4096 x 22016), 16000 x 8192
    # (output), each kept at 1.05x; plus the first batch's input rows (512 x 8192 x 4) and K*Q's F16 output
    bands = 1.05 * 4 * 8192 * (4096 + 11008 + 16000)
    assert bands < main < bands + 64 * MiB
