"""`vramwise serve`: the help desk (chat page + MCP endpoint) on one HTTP port."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def cmd_serve(args: argparse.Namespace) -> int:
    from vramwise import server

    token = os.environ.get(server.TOKEN_ENV, "").strip() or None
    if not server.is_loopback(args.host) and token is None:
        print(
            f"refusing to bind {args.host}: a non-loopback address needs a bearer token in ${server.TOKEN_ENV}",
            file=sys.stderr,
        )
        return 2
    if args.ask_rate is not None and args.ask_rate < 0:
        print(f"--ask-rate must be 0 (no limit) or more questions per minute, got {args.ask_rate}", file=sys.stderr)
        return 2
    import uvicorn

    from helpdesk.app import build_app
    from helpdesk.security import RateLimit, uvicorn_limits

    rate: RateLimit | bool | None = True  # the default: a limit only when an LLM answers
    if args.ask_rate is not None:
        rate = RateLimit(per_minute=args.ask_rate, burst=max(1, round(args.ask_rate / 2))) if args.ask_rate else None
    app = build_app(
        host=args.host, token=token, stateless=args.stateless, allowed_hosts=tuple(args.allow_host), ask_rate=rate
    )
    print(f"vramwise help desk at http://{args.host}:{args.port}/ (MCP at /mcp)", file=sys.stderr, flush=True)
    uvicorn.run(
        app, host=args.host.strip("[]"), port=args.port, log_level="warning", access_log=False, **uvicorn_limits()
    )
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="help desk: chat page and MCP endpoint on one HTTP port (loopback by default)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--stateless", action="store_true", help="MCP without sessions, for replicas behind a balancer")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME", help="extra Host/Origin name")
    p.add_argument(
        "--ask-rate",
        type=float,
        default=None,
        metavar="PER_MINUTE",
        help="questions per minute per client address on /api/ask (default: 10 with an LLM, no limit offline; 0: none)",
    )
    p.set_defaults(func=cmd_serve)
