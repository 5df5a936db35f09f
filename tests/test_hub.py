"""Hub resolution from a local Hugging Face cache built in a temporary folder, with HF_HUB_OFFLINE=1 (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent_tools.hub import (
    HubNotFoundError,
    HubOfflineError,
    NotAnLlmError,
    declared_quantization,
    resolve_repo,
)
from evals.hub_cache import gguf_header, safetensors_header, write_repo

# A real small config (Qwen/Qwen2.5-0.5B-Instruct config.json) and its tensor list, derived from the architecture.
QWEN25_05B = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
}


def _qwen_tensors(dtype: str = "BF16") -> dict[str, tuple[str, list[int]]]:
    h, inter, kv = 896, 4864, 2 * 64
    t: dict[str, tuple[str, list[int]]] = {"model.embed_tokens.weight": (dtype, [151936, h])}
    for i in range(24):
        p = f"model.layers.{i}."
        t[p + "self_attn.q_proj.weight"] = (dtype, [h, h])
        t[p + "self_attn.q_proj.bias"] = (dtype, [h])
        t[p + "self_attn.k_proj.weight"] = (dtype, [kv, h])
        t[p + "self_attn.k_proj.bias"] = (dtype, [kv])
        t[p + "self_attn.v_proj.weight"] = (dtype, [kv, h])
        t[p + "self_attn.v_proj.bias"] = (dtype, [kv])
        t[p + "self_attn.o_proj.weight"] = (dtype, [h, h])
        t[p + "mlp.gate_proj.weight"] = (dtype, [inter, h])
        t[p + "mlp.up_proj.weight"] = (dtype, [inter, h])
        t[p + "mlp.down_proj.weight"] = (dtype, [h, inter])
        t[p + "input_layernorm.weight"] = (dtype, [h])
        t[p + "post_attention_layernorm.weight"] = (dtype, [h])
    t["model.norm.weight"] = (dtype, [h])
    return t


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_single_file_repo_is_sized_from_its_safetensors_header(cache: Path) -> None:
    write_repo(
        cache,
        "acme/qwen-small",
        {"config.json": json.dumps(QWEN25_05B).encode(), "model.safetensors": safetensors_header(_qwen_tensors())},
    )
    m = resolve_repo("acme/qwen-small")
    # 494,032,768 parameters: Qwen2.5-0.5B's published safetensors count
    assert m.params == 494_032_768 == m.arch.params_total
    assert m.weight_bytes == 2 * 494_032_768
    assert m.stored_dtype == "BF16" and m.format_id == "bf16"
    assert "safetensors headers" in m.params_source


def test_sharded_repo_uses_the_index_total_size(cache: Path) -> None:
    index = {
        "metadata": {"total_size": 988_065_536},
        "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors"},
    }
    write_repo(
        cache,
        "acme/qwen-sharded",
        {"config.json": json.dumps(QWEN25_05B).encode(), "model.safetensors.index.json": json.dumps(index).encode()},
    )
    m = resolve_repo("acme/qwen-sharded")
    assert m.weight_bytes == 988_065_536 and "total_size" in (m.weight_bytes_source or "")
    assert m.params == 494_032_768  # from the config's tensor inventory
    assert any("implies 494,032,768" in n for n in m.notes)


def test_second_resolution_reads_the_cached_summary(cache: Path) -> None:
    write_repo(
        cache,
        "acme/qwen-small",
        {"config.json": json.dumps(QWEN25_05B).encode(), "model.safetensors": safetensors_header(_qwen_tensors())},
    )
    first = resolve_repo("acme/qwen-small")
    summaries = list(cache.glob("models--acme--qwen-small/vramwise/*.json"))
    assert len(summaries) == 1
    (cache / "models--acme--qwen-small" / "snapshots").rename(cache / "moved")  # the summary alone must suffice
    (cache / "models--acme--qwen-small" / "snapshots").mkdir()
    (cache / "models--acme--qwen-small" / "snapshots" / first.revision).mkdir()
    second = resolve_repo("acme/qwen-small")
    assert second.params == first.params and "cached summary" in second.params_source


def test_gptq_repo_is_sized_as_stored_not_as_bf16(cache: Path) -> None:
    config = {
        **QWEN25_05B,
        "quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False, "sym": True},
    }
    h, inter, kv = 896, 4864, 128
    tensors: dict[str, tuple[str, list[int]]] = {"model.embed_tokens.weight": ("F16", [151936, h])}
    for i in range(24):
        for name, n_in, n_out in [
            ("q_proj", h, h),
            ("k_proj", h, kv),
            ("v_proj", h, kv),
            ("o_proj", h, h),
            ("gate_proj", h, inter),
            ("up_proj", h, inter),
            ("down_proj", inter, h),
        ]:
            p = f"model.layers.{i}.{name}."
            tensors[p + "qweight"] = ("I32", [n_in // 8, n_out])
            tensors[p + "qzeros"] = ("I32", [n_in // 128, n_out // 8])
            tensors[p + "scales"] = ("F16", [n_in // 128, n_out])
            tensors[p + "g_idx"] = ("I32", [n_in])
    write_repo(
        cache,
        "acme/qwen-gptq",
        {"config.json": json.dumps(config).encode(), "model.safetensors": safetensors_header(tensors)},
    )
    m = resolve_repo("acme/qwen-gptq")
    assert m.quantization is not None and m.quantization.format_id == "gptq_int4"
    assert m.params == 494_032_768  # logical parameters, from config.json
    linears = 24 * sum(
        n_in * n_out // 2 + (n_in // 128) * n_out // 2 + (n_in // 128) * n_out * 2 + 4 * n_in
        for n_in, n_out in [(h, h), (h, kv), (h, kv), (h, h), (h, inter), (h, inter), (inter, h)]
    )
    assert m.weight_bytes == 151936 * h * 2 + linears  # the stored int4 + scales + zeros + g_idx, not bf16
    assert m.weight_bytes < 0.5 * 2 * m.params  # under half of the bf16 size, embeddings included
    assert "I32" in m.bytes_by_dtype and "pre-quantized" in " ".join(m.notes)


@pytest.mark.parametrize(
    ("quantization_config", "format_id"),
    [
        ({"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"}, "awq_int4"),
        ({"quant_method": "gptq", "bits": 8, "group_size": 128}, "gptq_int8"),
        (
            {
                "quant_method": "bitsandbytes",
                "load_in_4bit": True,
                "bnb_4bit_quant_type": "nf4",
                "bnb_4bit_use_double_quant": True,
            },
            "bnb_nf4_dq",
        ),
        ({"quant_method": "bitsandbytes", "load_in_8bit": True}, "bnb_int8"),
        ({"quant_method": "fp8", "weight_block_size": [128, 128]}, "fp8_block"),
        ({"quant_method": "fbgemm_fp8"}, "fp8"),
        ({"quant_method": "mxfp4"}, "mxfp4"),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {
                    "group_0": {"weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128}}
                },
            },
            "w4a16_g128",
        ),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}},
            },
            "fp8",
        ),
        (
            {
                "quant_method": "compressed-tensors",
                "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "int", "strategy": "channel"}}},
            },
            "w8a8_int8",
        ),
    ],
)
def test_declared_schemes_map_to_the_formats_they_store(quantization_config: dict, format_id: str) -> None:
    q = declared_quantization({**QWEN25_05B, "quantization_config": quantization_config})
    assert q is not None and q.format_id == format_id


def test_gguf_repo_reads_the_header_and_the_mmproj(cache: Path, tmp_path: Path) -> None:
    h, layers, vocab = 256, 2, 1000
    meta = {
        "general.name": "tiny",
        "general.file_type": 15,
        "llama.block_count": layers,
        "llama.embedding_length": h,
        "llama.feed_forward_length": 512,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 2,
        "llama.context_length": 4096,
        "tokenizer.ggml.tokens": [f"t{i}" for i in range(vocab)],
    }
    tensors = [
        ("token_embd.weight", [h, vocab], "Q4_K"),
        ("output.weight", [h, vocab], "Q6_K"),
        ("output_norm.weight", [h], "F32"),
    ]
    for i in range(layers):
        tensors += [
            (f"blk.{i}.attn_q.weight", [h, h], "Q4_K"),
            (f"blk.{i}.attn_k.weight", [h, 128], "Q4_K"),
            (f"blk.{i}.attn_v.weight", [h, 128], "Q6_K"),
            (f"blk.{i}.attn_output.weight", [h, h], "Q4_K"),
            (f"blk.{i}.ffn_gate.weight", [h, 512], "Q4_K"),
            (f"blk.{i}.ffn_up.weight", [h, 512], "Q4_K"),
            (f"blk.{i}.ffn_down.weight", [512, h], "Q6_K"),
            (f"blk.{i}.attn_norm.weight", [h], "F32"),
            (f"blk.{i}.ffn_norm.weight", [h], "F32"),
        ]
    gguf_header(tmp_path / "m.gguf", "llama", meta, tensors)
    gguf_header(tmp_path / "p.gguf", "clip", {"general.name": "proj"}, [("mm.0.weight", [1024, h], "F16")])
    write_repo(
        cache,
        "acme/tiny-GGUF",
        {
            "tiny-Q4_K_M.gguf": (tmp_path / "m.gguf").read_bytes(),
            "mmproj-tiny-f16.gguf": (tmp_path / "p.gguf").read_bytes(),
        },
    )
    m = resolve_repo("acme/tiny-GGUF")
    assert m.gguf is not None and m.gguf.filename == "tiny-Q4_K_M.gguf" and m.format_id == "q4_k_m"
    q4 = 144 / 256
    q6 = 210 / 256
    expected = (
        int(h * vocab * q4)
        + int(h * vocab * q6)
        + h * 4
        + layers * (int((h * h * 2 + h * 128 + 2 * h * 512) * q4) + int((h * 128 + 512 * h) * q6) + 2 * h * 4)
    )
    assert m.weight_bytes == expected
    assert m.arch.num_layers == layers and m.arch.vocab_size == vocab
    assert m.mmproj is not None and m.mmproj.info.tensors.total_bytes == 1024 * h * 2


def test_offline_and_not_cached_says_how_to_pass_config(cache: Path) -> None:
    with pytest.raises(HubOfflineError, match=r"pass its config\.json as config="):
        resolve_repo("acme/never-downloaded")


def test_a_malformed_repo_id_gets_a_did_you_mean(cache: Path) -> None:
    with pytest.raises(HubNotFoundError, match="did you mean 'Qwen/Qwen3-8B'"):
        resolve_repo("Qwen3 8B please", candidates=["Qwen/Qwen3-8B", "Qwen/Qwen3-4B"])
    with pytest.raises(HubNotFoundError):
        resolve_repo("a/" + "b" * 500)


def test_a_diffusion_repo_is_refused_as_not_an_llm(cache: Path) -> None:
    write_repo(
        cache,
        "acme/unet",
        {"config.json": json.dumps({"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.31.0"}).encode()},
    )
    with pytest.raises(NotAnLlmError, match="not an LLM"):
        resolve_repo("acme/unet")


def test_revision_picks_the_cached_commit(cache: Path) -> None:
    old = {**QWEN25_05B, "num_hidden_layers": 12}
    write_repo(cache, "acme/rev", {"config.json": json.dumps(old).encode()}, commit="a" * 40)
    write_repo(cache, "acme/rev", {"config.json": json.dumps(QWEN25_05B).encode()}, commit="b" * 40)
    assert resolve_repo("acme/rev").arch.num_layers == 24
    assert resolve_repo("acme/rev", revision="a" * 40).arch.num_layers == 12


def test_estimate_resolves_a_name_outside_the_catalog_through_the_cache(cache: Path) -> None:
    from agent_tools import estimate_memory

    write_repo(
        cache,
        "acme/qwen-small",
        {"config.json": json.dumps(QWEN25_05B).encode(), "model.safetensors": safetensors_header(_qwen_tensors())},
    )
    r = estimate_memory(model="acme/qwen-small", context_length=1024, precision="bf16")
    text = json.dumps(r.model_dump(mode="json"))
    assert "huggingface.co/acme/qwen-small@" in text
    assert r.breakdown.weights_bytes == 2 * 494_032_768


def test_estimate_reads_a_local_config_json_path_only_when_local_paths_are_allowed(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent_tools import estimate_memory, resolve
    from agent_tools.errors import VramwiseError

    path = tmp_path / "my-model"
    path.mkdir()
    (path / "config.json").write_text(json.dumps(QWEN25_05B))
    with pytest.raises(VramwiseError):  # a server's clients cannot reach the host's files through a model name
        estimate_memory(model=str(path / "config.json"), context_length=1024, precision="bf16")
    monkeypatch.setattr(resolve, "LOCAL_PATHS_ALLOWED", True)
    r = estimate_memory(model=str(path / "config.json"), context_length=1024, precision="bf16")
    assert "config.json" in json.dumps(r.model_dump(mode="json"))
    folder = estimate_memory(model=str(path), context_length=1024, precision="bf16")
    assert folder.breakdown.weights_bytes == r.breakdown.weights_bytes


def test_asking_another_precision_sizes_the_architecture_in_it(cache: Path) -> None:
    from agent_tools import estimate_memory

    write_repo(
        cache,
        "acme/qwen-small",
        {"config.json": json.dumps(QWEN25_05B).encode(), "model.safetensors": safetensors_header(_qwen_tensors())},
    )
    stored = estimate_memory(model="acme/qwen-small", context_length=1024)
    assert stored.breakdown.weights_bytes == 2 * 494_032_768  # the stored bf16 bytes, without naming a precision
    q4 = estimate_memory(model="acme/qwen-small", context_length=1024, precision="q4_k_m")
    assert q4.breakdown.weights_bytes < 0.45 * stored.breakdown.weights_bytes


def test_the_hub_benchmark_meets_its_targets(cache: Path) -> None:
    from evals import bench_hub

    report = bench_hub.run()
    cases = report["cases"]
    assert report["repos"] >= 30
    params = [abs(c["params_error_pct"]) for c in cases if c["params_error_pct"] is not None]
    weights = [abs(c["weights_error_pct"]) for c in cases if c["weights_error_pct"] is not None]
    # Config-only resolution cannot see a checkpoint's undeclared extras (Qwen3-Next-80B-A3B stores an MTP layer its
    # config.json does not mention): at least 90% within 0.5%, none beyond 5%.
    assert sum(p <= 0.5 for p in params) >= 0.9 * len(params) and max(params) < 5
    assert weights and max(weights) <= 2.0


def test_a_config_that_declares_fp8_is_sized_as_fp8_unless_a_precision_is_asked() -> None:
    from agent_tools import estimate_memory

    fp8 = {**QWEN25_05B, "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}
    stored = estimate_memory(config=fp8, context_length=1024)
    bf16 = estimate_memory(config=fp8, context_length=1024, precision="bf16")
    assert bf16.breakdown.weights_bytes == 2 * 494_032_768
    # FP8 linears (1 byte + block scales), 16-bit embeddings and norms
    assert 0.55 * bf16.breakdown.weights_bytes < stored.breakdown.weights_bytes < 0.75 * bf16.breakdown.weights_bytes


def test_a_remote_gguf_header_is_read_with_range_requests_not_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local HTTP server that honours Range stands in for the Hub's file endpoint: the only request goes to
    127.0.0.1, so offline mode is lifted for this test alone."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import numpy as np
    from gguf import GGUFWriter

    from agent_tools.hub import read_remote_gguf

    path = tmp_path / "big.gguf"
    w = GGUFWriter(str(path), "llama")
    for key, value in [("llama.block_count", 1), ("llama.embedding_length", 1024), ("llama.attention.head_count", 8),
                       ("llama.feed_forward_length", 4096)]:  # fmt: skip
        w.add_uint32(key, value)
    w.add_tensor("token_embd.weight", np.zeros((3000, 1024), dtype=np.float16))  # 6 MB of tensor data
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = path.read_bytes()
    served: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            start, end = 0, len(data) - 1
            rng = self.headers.get("Range")
            if rng:
                a, b = rng.removeprefix("bytes=").split("-")
                start, end = int(a), min(int(b), len(data) - 1)
            body = data[start : end + 1]
            served.append(len(body))
            self.send_response(206 if rng else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    from huggingface_hub import close_session

    try:
        info = read_remote_gguf("acme/big-GGUF", "big.gguf", endpoint=f"http://127.0.0.1:{server.server_port}")
    finally:
        close_session()  # the pooled keep-alive connection to the test server
        server.shutdown()
        server.server_close()
    assert info.tensors.total_bytes == 3000 * 1024 * 2 and info.config["hidden_size"] == 1024
    assert sum(served) <= 1 << 20 < len(data)  # one 1 MiB range of a 6 MB file


def test_mtp_layers_listed_in_the_index_are_counted_even_when_the_config_is_silent(cache: Path) -> None:
    # Qwen3-Next-80B-A3B's config.json declares no MTP module, yet its checkpoint stores one (mtp.* tensors).
    config = {"model_type": "qwen3_next", "hidden_size": 256, "num_hidden_layers": 4, "vocab_size": 1000,
              "head_dim": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 512,
              "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 64,
              "shared_expert_intermediate_size": 64, "linear_num_key_heads": 2, "linear_key_head_dim": 32,
              "linear_num_value_heads": 4, "linear_value_head_dim": 32, "full_attention_interval": 4,
              "tie_word_embeddings": False}  # fmt: skip
    weight_map = {"model.embed_tokens.weight": "a.safetensors", "mtp.fc.weight": "b.safetensors",
                  "mtp.layers.0.self_attn.q_proj.weight": "b.safetensors"}  # fmt: skip
    index = {"metadata": {"total_size": 1}, "weight_map": weight_map}
    write_repo(cache, "acme/next", {"config.json": json.dumps(config).encode(),
                                    "model.safetensors.index.json": json.dumps(index).encode()})  # fmt: skip
    for _ in range(2):  # parsed, then from the cached summary
        m = resolve_repo("acme/next")
        assert m.arch.mtp_layers == 1 and m.params == m.arch.params_total + m.arch.params_mtp
        assert any("does not declare" in n for n in m.notes)


@pytest.mark.parametrize(
    ("error", "expected", "message"),
    [
        ("GatedRepoError", "HubGatedError", "hf auth login"),
        ("RepositoryNotFoundError", "HubNotFoundError", "did you mean 'Qwen/Qwen3-8B'"),
        ("RevisionNotFoundError", "HubNotFoundError", "revision 'v9'"),
        ("ConnectTimeout", "HubOfflineError", "did not answer within"),
    ],
)
def test_hub_failures_become_one_typed_line(error: str, expected: str, message: str) -> None:
    """The huggingface_hub / HTTP exceptions a Hub call raises, translated the way resolve_repo reports them."""
    from huggingface_hub import errors

    from agent_tools import hub

    try:  # the HTTP client huggingface_hub is built on (httpx2 in huggingface_hub 2.x, httpx before)
        import httpx2
    except ImportError:
        import httpx as httpx2  # type: ignore[no-redef]

    request = httpx2.Request("GET", "https://huggingface.co/api/models/Qwen/Qwen3-8b")
    response = httpx2.Response(404, request=request)
    raised = (
        httpx2.ConnectTimeout("timed out", request=request)
        if error == "ConnectTimeout"
        else getattr(errors, error)("upstream text", response=response)
    )
    translated = hub._translate(raised, "Qwen/Qwen3-8b", ["Qwen/Qwen3-8B", "Qwen/Qwen3-4B"], "v9")
    assert type(translated).__name__ == expected
    assert message in str(translated) and "\n" not in str(translated)


def test_an_offline_miss_close_to_a_catalog_name_suggests_it(cache: Path) -> None:
    with pytest.raises(HubOfflineError, match=r"did you mean 'meta-llama/Llama-3\.1-8B-Instruct'") as info:
        resolve_repo(
            "meta-llama/Llama-3.1-8B-Instrct", candidates=["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-8B"]
        )
    assert "pass its config.json" in str(info.value)


def test_a_recent_summary_answers_online_without_a_round_trip(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Online, a branch's summary younger than SUMMARY_FRESH_S is used as is; an older one makes resolve_repo ask
    the Hub for the branch's commit. The 'Hub' here is a closed port on 127.0.0.1, so nothing leaves the machine."""
    import os

    from huggingface_hub import close_session, constants

    write_repo(
        cache,
        "acme/qwen-small",
        {"config.json": json.dumps(QWEN25_05B).encode(), "model.safetensors": safetensors_header(_qwen_tensors())},
    )
    first = resolve_repo("acme/qwen-small")  # offline: parses and writes the summary
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "2")
    try:
        assert resolve_repo("acme/qwen-small").params == first.params
        summary = next(cache.glob("models--acme--qwen-small/vramwise/*.json"))
        os.utime(summary, (0, 0))
        with pytest.raises(HubOfflineError, match="did not answer"):
            resolve_repo("acme/qwen-small")
    finally:
        close_session()
