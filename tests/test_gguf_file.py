"""A real GGUF file, written with the gguf package, read back and sized from its header."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFWriter

from agent_tools import estimate_memory
from agent_tools.errors import VramwiseError
from agent_tools.gguf_file import read_gguf

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, VOCAB = 256, 2, 4, 2, 512, 1000


def _q8_0_bytes(rows: int, cols: int) -> np.ndarray:
    # Q8_0 stores 34 bytes per 32 weights; the raw block bytes are written as uint8 rows.
    return np.zeros((rows, cols // 32 * 34), dtype=np.uint8)


@pytest.fixture
def tiny_gguf(tmp_path):
    path = tmp_path / "tiny.gguf"
    w = GGUFWriter(str(path), "llama")
    w.add_name("tiny-llama")
    w.add_block_count(LAYERS)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_context_length(2048)
    w.add_file_type(7)  # MOSTLY_Q8_0
    w.add_token_list([f"t{i}" for i in range(VOCAB)])
    q8 = GGMLQuantizationType.Q8_0
    w.add_tensor("token_embd.weight", _q8_0_bytes(VOCAB, HIDDEN), raw_dtype=q8)
    w.add_tensor("output.weight", _q8_0_bytes(VOCAB, HIDDEN), raw_dtype=q8)
    w.add_tensor("output_norm.weight", np.ones(HIDDEN, dtype=np.float32))
    kv = HIDDEN // HEADS * KV_HEADS
    for i in range(LAYERS):
        for name, rows, cols in [
            ("attn_q", HIDDEN, HIDDEN),
            ("attn_k", kv, HIDDEN),
            ("attn_v", kv, HIDDEN),
            ("attn_output", HIDDEN, HIDDEN),
            ("ffn_gate", FFN, HIDDEN),
            ("ffn_up", FFN, HIDDEN),
            ("ffn_down", HIDDEN, FFN),
        ]:
            w.add_tensor(f"blk.{i}.{name}.weight", _q8_0_bytes(rows, cols), raw_dtype=q8)
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(HIDDEN, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_header_gives_architecture_and_exact_tensor_bytes(tiny_gguf) -> None:
    info = read_gguf(tiny_gguf)
    assert info.architecture == "llama" and info.file_type == "Q8_0"
    assert info.config["num_hidden_layers"] == LAYERS and info.config["num_key_value_heads"] == KV_HEADS
    assert info.config["vocab_size"] == VOCAB
    kv = HIDDEN // HEADS * KV_HEADS
    matrices = 2 * VOCAB * HIDDEN + LAYERS * (2 * HIDDEN * HIDDEN + 2 * kv * HIDDEN + 3 * FFN * HIDDEN)
    norms = HIDDEN + LAYERS * 2 * HIDDEN
    assert info.tensors.params == matrices + norms
    assert info.tensors.total_bytes == matrices // 32 * 34 + norms * 4  # Q8_0 blocks + f32 norms


def test_estimate_uses_the_files_exact_weights(tiny_gguf) -> None:
    info = read_gguf(tiny_gguf)
    r = estimate_memory(gguf=info, context_length=1024, runtime="llama.cpp")
    assert r.breakdown.weights_bytes == info.tensors.total_bytes - info.tensors.token_embd_bytes
    # 2 layers x 2 KV heads x 64 dims x 2 (K,V) x 2 bytes x 1024 tokens
    assert r.breakdown.kv_cache_bytes == 2 * 2 * 64 * 2 * 2 * 1024
    assert r.precision.id == "q8_0"


def test_cli_reads_a_gguf_path(tiny_gguf) -> None:
    from vramwise.cli import main

    assert main(["estimate", str(tiny_gguf), "--json", "--runtime", "llama.cpp"]) == 0


def test_not_a_gguf_file_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all")
    with pytest.raises(VramwiseError, match="not a readable GGUF"):
        read_gguf(bad)
    with pytest.raises(VramwiseError, match="not found"):
        read_gguf(tmp_path / "missing.gguf")


def test_a_damaged_or_hostile_header_fails_with_one_clear_error() -> None:
    """Random bytes after a valid magic and version: a GgufHeaderError or a parsed header, never anything else."""
    import io
    import struct

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from agent_tools.gguf_file import GgufHeaderError, parse_gguf_header

    @settings(max_examples=300, deadline=None)
    @given(
        counts=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
        body=st.binary(max_size=512),
    )
    def check(counts: tuple[int, int], body: bytes) -> None:
        raw = b"GGUF" + struct.pack("<I", 3) + struct.pack("<QQ", *counts) + body
        try:
            header = parse_gguf_header(io.BytesIO(raw).read)
        except GgufHeaderError as e:
            assert str(e) and "\n" not in str(e)
        else:
            assert len(header.tensors) == counts[0]

    check()


def test_a_hybrid_gguf_caches_kv_only_in_its_attention_layers(tmp_path) -> None:
    """llama.cpp marks recurrent layers with a 0 in the per-layer head_count_kv array and gives the SSM sizes."""
    from agent_tools.architecture import parse_config
    from evals.hub_cache import gguf_header

    kv = [0, 0, 0, 4, 0, 0, 0, 4]
    meta = {
        "general.file_type": 15, "granitehybrid.block_count": 8, "granitehybrid.embedding_length": 512,
        "granitehybrid.attention.head_count": 8, "granitehybrid.attention.head_count_kv": kv,
        "granitehybrid.feed_forward_length": 1024, "granitehybrid.ssm.state_size": 128,
        "granitehybrid.ssm.conv_kernel": 4, "granitehybrid.ssm.inner_size": 1024,
        "granitehybrid.ssm.time_step_rank": 16, "granitehybrid.ssm.group_count": 1,
    }  # fmt: skip
    path = tmp_path / "hybrid.gguf"
    gguf_header(path, "granitehybrid", meta, [("token_embd.weight", [512, 1000], "Q8_0")])
    arch = parse_config(read_gguf(path).config)
    assert arch.kv_layout.full_layers == 2 and arch.kv_layout.recurrent_layers == 6
    assert arch.kv_values_per_token(3) == 2 * 4 * 64 and arch.kv_values_per_token(0) == 0
    conv = 1024 + 2 * 128
    assert arch.state_values_per_sequence == 6 * (conv * 3 + 1024 * 128)


def test_a_qwen3_next_gguf_reads_its_linear_attention_sizes(tmp_path) -> None:
    from agent_tools.architecture import parse_config
    from evals.hub_cache import gguf_header

    meta = {
        "general.file_type": 15, "qwen3next.block_count": 8, "qwen3next.embedding_length": 2048,
        "qwen3next.attention.head_count": 16, "qwen3next.attention.head_count_kv": 2,
        "qwen3next.attention.key_length": 256, "qwen3next.feed_forward_length": 5120,
        "qwen3next.expert_count": 512, "qwen3next.expert_used_count": 10,
        "qwen3next.expert_feed_forward_length": 512, "qwen3next.full_attention_interval": 4,
        "qwen3next.ssm.state_size": 128, "qwen3next.ssm.conv_kernel": 4, "qwen3next.ssm.inner_size": 4096,
        "qwen3next.ssm.time_step_rank": 32, "qwen3next.ssm.group_count": 16,
    }  # fmt: skip
    path = tmp_path / "next.gguf"
    gguf_header(path, "qwen3next", meta, [("token_embd.weight", [2048, 1000], "Q8_0")])
    arch = parse_config(read_gguf(path).config)
    assert (arch.kv_layout.full_layers, arch.kv_layout.recurrent_layers) == (2, 6)
    assert arch.recurrent is not None and arch.recurrent.kind == "gated_deltanet"
    assert arch.state_values_per_sequence == 6 * ((2 * 16 * 128 + 32 * 128) * 3 + 32 * 128 * 128)
