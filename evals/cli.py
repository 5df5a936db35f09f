"""`eval` subcommand for the vramwise CLI (the runner and the tools load only when the command runs)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `eval` to an argparse subparsers object; it sets func(args) -> exit code."""
    parser = subparsers.add_parser(
        "eval",
        help="run the eval cases against the tools, the knowledge base or the assistant",
        description=(
            "Run the declarative eval cases (evals/cases/*.yaml) against a target, print pass rates per kind "
            "and the failing cases, and exit non-zero below the gate (tools 98%, others 90%)."
        ),
    )
    parser.add_argument(
        "--target",
        choices=["tools", "knowledge", "offline", "agent"],
        default="tools",
        help="what answers the cases (default tools)",
    )
    parser.add_argument(
        "--kind",
        action="append",
        choices=["calculation", "recommendation", "comparison", "concept"],
        metavar="KIND",
        help="only this kind of case (repeatable): calculation, recommendation, comparison, concept",
    )
    parser.add_argument("--case", action="append", metavar="ID", help="only this case id (repeatable)")
    parser.add_argument("--json", metavar="PATH", help="write the full report as JSON")
    parser.add_argument("--gate", type=float, help="pass-rate gate between 0 and 1")
    parser.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from evals.run import CASES_DIR, run_from_args

    runner_args = argparse.Namespace(
        target=args.target,
        kind=args.kind,
        case=args.case,
        json=Path(args.json) if args.json else None,
        gate=args.gate,
        cases_dir=CASES_DIR,
    )
    return run_from_args(runner_args)
