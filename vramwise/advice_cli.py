"""`vramwise recommend` and `vramwise compare`: argument parsing and rendering for the advice tools."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _tokens(text: str) -> int:
    from vramwise.cli import _tokens as parse

    return parse(text)


def cmd_recommend(args: argparse.Namespace) -> int:
    from agent_tools.advice import RecommendRequest, recommend_model

    fields: dict[str, Any] = {
        k: getattr(args, k)
        for k in (
            "gpu",
            "vram_gb",
            "bandwidth_gb_s",
            "num_gpus",
            "system_ram_gb",
            "task",
            "context_length",
            "concurrent_users",
            "min_tokens_per_s",
            "runtime",
            "language",
            "top_k",
            "license",
        )
        if getattr(args, k) is not None
    }
    result = recommend_model(RecommendRequest(**fields))
    if args.json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return 0
    from vramwise.render import render_recommendation

    render_recommendation(result)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from agent_tools.advice import CompareRequest, compare_precision

    fields: dict[str, Any] = {
        "context_length": args.context_length,
        "batch_size": args.batch_size,
        "num_gpus": args.num_gpus,
        "task": args.task,
    }
    if args.params_b is not None:
        fields["params_b"] = args.params_b
    else:
        fields["model"] = args.model
    for name in ("gpu", "vram_gb", "bandwidth_gb_s", "runtime"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.precisions:
        fields["precisions"] = [p.strip() for p in args.precisions.split(",") if p.strip()]
    result = compare_precision(CompareRequest(**fields))
    if args.json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return 0
    from vramwise.render import render_comparison

    render_comparison(result)
    return 0


def register(sub: Any) -> None:
    from vramwise.cli import _positive_float, _positive_int

    p = sub.add_parser("recommend", help="which models fit this hardware, ranked by published quality")
    p.add_argument("--gpu", "-g", help="GPU name, e.g. 'RTX 4090', 'M3 Max 64GB'")
    p.add_argument("--vram-gb", type=_positive_float, help="GPU memory in GiB (GPU not in the catalog)")
    p.add_argument("--bandwidth-gb-s", type=_positive_float, help="memory bandwidth (GB/s) of a GPU given by --vram-gb")
    p.add_argument("--num-gpus", "-n", type=_positive_int)
    p.add_argument("--ram-gb", dest="system_ram_gb", type=_positive_float, help="system RAM (CPU-only when no GPU)")
    p.add_argument("--task", "-t", choices=["chat", "code", "reasoning", "rag", "long_context", "multilingual", "edge"])
    p.add_argument("--context", "-c", dest="context_length", type=_tokens)
    p.add_argument("--users", "-u", dest="concurrent_users", type=_positive_int, help="concurrent users")
    p.add_argument("--min-tps", dest="min_tokens_per_s", type=_positive_float, help="decode speed floor")
    p.add_argument("--runtime", "-r")
    p.add_argument("--lang", dest="language", choices=["en", "zh"])
    p.add_argument("--top", dest="top_k", type=_positive_int)
    p.add_argument("--license", choices=["any", "open_weights", "commercial"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_recommend)

    p = sub.add_parser("compare", help="one model across precisions, and what else fits in the same memory")
    p.add_argument("model", nargs="?", help="catalog name / alias / HF id")
    p.add_argument("--params-b", type=_positive_float)
    p.add_argument("--precisions", help="comma-separated, e.g. bf16,q8_0,q4_k_m,q2_k (default: a ladder)")
    p.add_argument("--context", "-c", dest="context_length", type=_tokens, default=4096)
    p.add_argument("--batch", "-b", dest="batch_size", type=_positive_int, default=1)
    p.add_argument("--gpu", "-g")
    p.add_argument("--vram-gb", type=_positive_float, help="GPU memory in GiB (GPU not in the catalog)")
    p.add_argument("--bandwidth-gb-s", type=_positive_float, help="memory bandwidth (GB/s) of a GPU given by --vram-gb")
    p.add_argument("--runtime", "-r", help="one runtime for every row (default generic)")
    p.add_argument("--num-gpus", "-n", type=_positive_int, default=1)
    p.add_argument("--task", default="chat", choices=["chat", "code", "reasoning", "rag", "multilingual"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)
