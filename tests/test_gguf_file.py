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
