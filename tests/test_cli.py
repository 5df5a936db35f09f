"""The `vramwise` command line as a person runs it: real processes, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vramwise.cli", *args], capture_output=True, text=True, env=ENV, timeout=120
    )


def test_estimate_json_has_the_documented_fields() -> None:
    p = run("estimate", "Qwen2.5-14B", "--context", "32k", "--gpu", "RTX 4090", "--precision", "q4_k_m", "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert set(data["breakdown"]) == {
        "weights_bytes",
        "kv_cache_bytes",
        "activations_bytes",
        "overhead_bytes",
        "gradients_bytes",
        "optimizer_bytes",
        "adapter_bytes",
    }
    assert data["breakdown"]["kv_cache_bytes"] == 196_608 * 32_768  # 48 x 8 x 128 x 2 x 2 bytes per token
    assert {"gpu", "usable_bytes", "fits", "headroom_bytes", "max_context_length", "max_batch_size"} <= set(data["fit"])
    assert data["speed"]["decode_tokens_per_s"] > 0
    assert data["model"]["params_total"] == 14_770_033_664


def test_estimate_table_shows_breakdown_and_verdict() -> None:
    p = run("estimate", "llama3.1 8b", "--gpu", "4090", "--context", "8k")
    assert p.returncode == 0, p.stderr
    for word in ("weights", "kv cache", "total", "GB", "GiB", "fits"):
        assert word in p.stdout


def test_estimate_accepts_a_config_file(tmp_path) -> None:
    cfg = {
        "model_type": "llama",
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 128256,
        "tie_word_embeddings": True,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    p = run("estimate", "--config", str(path), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["model"]["params_total"] == 1_235_814_400  # Llama-3.2-1B's shape


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("estimate", "llama3.1 8b", "--gpu", "RTX 4900"), "did you mean"),
        (("estimate", "llama-9.9-1b"), "vramwise models"),
        (("estimate", "llama3.1 8b", "--precision", "q4_k_x"), "precision"),
        (("estimate", "llama3.1 8b", "--context", "-5"), "context"),
        (("estimate", "llama3.1 8b", "--batch", "0"), "greater than 0"),
        (("estimate", "--config", "/nonexistent/config.json"), "cannot read config"),
        (("estimate",), "give a MODEL"),
    ],
)
def test_bad_input_is_one_clear_line_without_traceback(args: tuple[str, ...], message: str) -> None:
    p = run(*args)
    assert p.returncode == 2
    assert message in p.stderr
    assert "Traceback" not in p.stderr


def test_listings() -> None:
    for cmd in ("models", "gpus", "formats"):
        p = run(cmd, "--json")
        assert p.returncode == 0, p.stderr
        assert len(json.loads(p.stdout)) > 20


def test_estimate_path_imports_no_heavy_modules() -> None:
    code = (
        "import sys, vramwise.cli as c; c.main(['estimate','llama3.1 8b','--json']); "
        "heavy = [m for m in ('torch','chromadb','sentence_transformers','transformers','mcp','langchain') "
        "if m in sys.modules]; print('HEAVY', heavy, file=sys.stderr)"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert "HEAVY []" in p.stderr


def test_agent_tools_does_not_import_mcp_or_chromadb() -> None:
    code = (
        "import sys, agent_tools, agent_tools.advice; print(sorted(m for m in ('mcp','chromadb') if m in sys.modules))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert p.stdout.strip() == "[]"


def test_recommend_and_compare_commands() -> None:
    p = run("recommend", "--gpu", "RTX 4090", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["candidates"]
    p = run("compare", "Qwen2.5-14B", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["rows"]
