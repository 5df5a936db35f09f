"""`vramwise` command line: parses arguments, calls the typed tools, renders tables or JSON. No sizing logic here."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import BaseModel, ValidationError

from agent_tools.errors import VramwiseError, describe_validation_error
from agent_tools.units import parse_tokens

Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A usage error to print as one line (exit 2)."""


def _tokens(text: str) -> int:
    try:
        return parse_tokens(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{e}; use e.g. 4096, 8k, 32k, 128k") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number (got {text!r})") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0 (got {value})")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number (got {text!r})") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0 (got {text})")
    return value


def _emit_json(obj: Any) -> None:
    if isinstance(obj, BaseModel):
        sys.stdout.write(obj.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def _load_config(path: str) -> dict[str, Any]:
    from agent_tools.jsonfile import MAX_CONFIG_BYTES, JsonFileError, read_json_object

    if not path.strip():
        raise CliError("--config needs a path to a config.json file (or a folder holding one)")
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    try:
        return read_json_object(p, MAX_CONFIG_BYTES)
    except JsonFileError as e:
        raise CliError(f"cannot read config {str(p)!r}: {e}; a config.json is a JSON object of a few KiB") from None


# ------------------------------------------------------------------------------------------------ commands


def _add_sizing_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", "-p", default="bf16", help="weight format (bf16, fp8, q4_k_m, awq_int4, ...)")
    p.add_argument("--kv-precision", dest="kv_cache_precision", help="KV cache: fp16, bf16, fp8, q8_0, q4_0")
    p.add_argument("--context", "-c", dest="context_length", type=_tokens, default=4096, help="tokens (32k ok)")
    p.add_argument("--batch", "-b", dest="batch_size", type=_positive_int, default=1, help="concurrent sequences")
    p.add_argument(
        "--runtime",
        "-r",
        help="generic | transformers | vllm | llama.cpp (default: generic; vllm on several GPUs; transformers for "
        "training)",
    )
    p.add_argument("--gpu", "-g", help="GPU name, e.g. 'RTX 4090', 'A100 80GB', 'M3 Max 64GB'")
    p.add_argument("--num-gpus", "-n", type=_positive_int, default=1)
    p.add_argument("--vram-gb", type=_positive_float, help="GPU memory in GiB when the GPU is not in the catalog")
    p.add_argument("--bandwidth-gb-s", type=_positive_float, help="memory bandwidth (GB/s) of a GPU given by --vram-gb")
    p.add_argument("--cpu-memory", help="system RAM for offload or CPU-only runs, e.g. 'DDR5-6000', 'Raspberry Pi 5'")
    p.add_argument("--reserve-gb", type=float, help="GiB per GPU kept for the desktop/display or other programs")


def cmd_estimate(args: argparse.Namespace) -> int:
    from agent_tools.estimate import EstimateRequest, estimate_memory

    fields: dict[str, Any] = {
        k: getattr(args, k)
        for k in (
            "precision",
            "kv_cache_precision",
            "context_length",
            "batch_size",
            "runtime",
            "gpu",
            "num_gpus",
            "vram_gb",
            "bandwidth_gb_s",
            "cpu_memory",
            "reserve_gb",
            "mode",
            "optimizer",
            "lora_rank",
            "zero_stage",
            "stack",
            "master_weights",
            "gradient_accumulation_steps",
            "gpu_layers",
            "split_mode",
            "gpu_memory_utilization",
        )
        if getattr(args, k) is not None
    }
    if args.no_gradient_checkpointing:
        fields["gradient_checkpointing"] = False
    if args.offload_checkpoints:
        fields["checkpoint_offload"] = True
    sources = [s for s in (args.model, args.config, args.params_b) if s is not None]
    if len(sources) != 1:
        raise CliError("give a MODEL (name, HF id or .gguf file), --config PATH or --params-b N (exactly one)")
    if args.config is not None:
        fields["config"] = _load_config(args.config)
    elif args.params_b is not None:
        fields["params_b"] = args.params_b
    elif args.model.lower().endswith(".gguf"):
        from agent_tools.gguf_file import read_gguf

        fields["gguf"] = read_gguf(args.model)
    else:
        fields["model"] = args.model
    result = estimate_memory(EstimateRequest(**fields))
    if args.json:
        _emit_json(result)
    else:
        from vramwise.render import render_estimate

        render_estimate(result)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from agent_tools.listing import list_model_rows

    rows = list_model_rows(family=args.family, include_legacy=args.all)
    if args.json:
        _emit_json([r.model_dump() for r in rows])
        return 0
    from vramwise.render import render_models

    render_models(rows)
    return 0


def cmd_gpus(args: argparse.Namespace) -> int:
    from agent_tools.listing import list_gpu_rows

    rows = list_gpu_rows(vendor=args.vendor)
    if args.json:
        _emit_json([r.model_dump() for r in rows])
        return 0
    from vramwise.render import render_gpus

    render_gpus(rows)
    return 0


def cmd_formats(args: argparse.Namespace) -> int:
    from agent_tools.listing import list_format_rows

    rows = list_format_rows()
    if args.json:
        _emit_json([r.model_dump() for r in rows])
        return 0
    from vramwise.render import render_formats

    render_formats(rows)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from evals.bench_accuracy import main as bench_main

    return bench_main(["--json"] if args.json else [])


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line naming the bad flag and where to read more, not a 15-line usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (run `{self.prog} -h` for the options)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vramwise",
        description="Exact GPU memory, fit and speed for open LLMs (GB = 10^9 bytes, GiB = 2^30 bytes).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("estimate", help="memory breakdown, fit and speed of one model")
    p.add_argument("model", nargs="?", help="catalog name / alias / HF id, or a local .gguf file")
    p.add_argument("--config", help="path to a config.json (or a folder holding one)")
    p.add_argument("--params-b", type=_positive_float, help="parameter count in billions (approximate)")
    _add_sizing_args(p)
    p.add_argument("--mode", "-m", default="inference", choices=["inference", "full_finetune", "lora", "qlora"])
    p.add_argument("--optimizer", choices=["adamw", "adamw_8bit", "sgd"])
    p.add_argument("--lora-rank", type=_positive_int)
    p.add_argument("--zero", dest="zero_stage", type=int, choices=[0, 1, 2, 3])
    p.add_argument("--no-gradient-checkpointing", action="store_true")
    p.add_argument("--offload-checkpoints", action="store_true", help="training: layer inputs in CPU RAM (Unsloth)")
    p.add_argument("--stack", choices=["hf", "hf_legacy", "unsloth"], help="training software (default hf)")
    p.add_argument(
        "--master-weights",
        choices=["optimizer", "fp32_params", "none"],
        help="full fine-tuning: fp32 master in the optimizer (default), fp32 params + autocast, or pure bf16",
    )
    p.add_argument("--grad-accum", dest="gradient_accumulation_steps", type=_positive_int)
    p.add_argument("--gpu-layers", type=int, help="llama.cpp: layers on the GPU (partial offload)")
    p.add_argument(
        "--split-mode", choices=["layer", "row"], help="llama.cpp over GPUs: whole layers (default) or row bands"
    )
    p.add_argument("--gpu-memory-utilization", type=_positive_float, help="vLLM (default 0.9)")
    p.add_argument("--json", action="store_true", help="machine-readable result")
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("models", help="list the model catalog")
    p.add_argument("--family", help="filter by family (e.g. qwen2.5, llama3.1)")
    p.add_argument("--all", action="store_true", help="include legacy models kept for reference data")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("gpus", help="list the GPU catalog")
    p.add_argument("--vendor", help="NVIDIA, AMD, Apple, Intel")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_gpus)

    p = sub.add_parser("formats", help="list weight precision formats and their exact sizes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_formats)

    p = sub.add_parser("bench", help="accuracy benchmark against published measurements")
    p.add_argument("what", choices=["accuracy"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    for register in _extension_registrars():
        register(sub)
    return parser


def _extension_registrars() -> list[Callable[[Any], None]]:
    """Subcommands owned by other packages; each registers itself cheaply. The knowledge base, the assistant and
    the help desk are optional parts of an install: a package that is not there adds no commands."""
    from vramwise import advice_cli

    out: list[Callable[[Any], None]] = [advice_cli.register, _register_mcp]
    try:
        from knowledge import cli as knowledge_cli

        out.append(knowledge_cli.register)
    except ImportError:
        pass
    try:
        from evals import cli as evals_cli

        out.append(evals_cli.register)
    except ImportError:
        pass
    try:
        from assistant import cli as assistant_cli

        out.append(assistant_cli.register)
    except ImportError:
        pass
    try:
        from helpdesk import cli as helpdesk_cli

        out.append(helpdesk_cli.register)
    except ImportError:
        pass
    return out


def cmd_mcp(args: argparse.Namespace) -> int:
    from vramwise.server import main as serve

    return serve(args.server_args)


def _register_mcp(sub: Any) -> None:
    p = sub.add_parser(
        "mcp", help="the MCP server (stdio; --http for streamable HTTP): what IDEs launch", add_help=False
    )
    p.add_argument("server_args", nargs=argparse.REMAINDER, help="arguments of vramwise-mcp (see vramwise mcp -h)")
    p.set_defaults(func=cmd_mcp)


def _flags(parser: argparse.ArgumentParser, command: str | None) -> Callable[[str], str]:
    """Request field -> the flag the user typed for it on this subcommand (vram_gb -> --vram-gb, context_length ->
    --context), so errors speak the command line's terms."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            for sub_action in action.choices[command]._actions:
                longest = max(sub_action.option_strings, key=len, default=sub_action.dest.upper())
                names.setdefault(sub_action.dest, longest)
    return lambda field: names.get(field, "--" + field.replace("_", "-"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except VramwiseError as e:
        from vramwise.render import cli_terms

        print(f"error: {cli_terms(str(e))}", file=sys.stderr)
        return 2
    except ValidationError as e:
        print(f"error: {describe_validation_error(e, _flags(parser, args.command))}", file=sys.stderr)
        return 2
    except (CliError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug, not bad input: still one line, never a traceback
        print(f"error: internal error ({type(e).__name__}: {e}); please report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
