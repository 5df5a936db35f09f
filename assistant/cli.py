"""`vramwise ask` and `vramwise chat`: the offline help desk on the command line (registered by vramwise.cli)."""

from __future__ import annotations

import argparse

QUIT_WORDS = frozenset({"/quit", "/exit", "/q", "quit", "exit", "退出"})
RESET_WORDS = frozenset({"/new", "/reset", "新对话"})  # forget the conversation so far


def _print_answer(answer: object, as_json: bool, one_line: bool = False) -> None:
    import sys

    if as_json:
        # `chat --json`: one JSON object per line (JSON Lines), the same object `ask --json` prints indented
        sys.stdout.write(answer.model_dump_json(indent=None if one_line else 2) + "\n")  # type: ignore[attr-defined]
    else:
        sys.stdout.write(answer.text + "\n")  # type: ignore[attr-defined]
    sys.stdout.flush()


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.offline import answer

    question = " ".join(args.question).strip()
    if not question:
        raise ValueError('give a question, e.g. vramwise ask "will llama 3 70b fit on two 3090s at 4bit"')
    _print_answer(answer(question, read_files=True), args.json)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """Read questions line by line (a terminal or a pipe) and answer each as one conversation (follow-ups inherit
    the model, GPU, precision, ... of the turns before); /new starts afresh; /quit or end of input stops."""
    import sys

    from assistant.conversation import Conversation

    conversation = Conversation()  # follow-ups ("and at 32k context?") refer to the turns before
    interactive = sys.stdin.isatty()
    if interactive:
        print("vramwise help desk (offline). Ask about GPU memory; /quit to leave. 输入 /quit 退出。")
    while True:
        if interactive:
            sys.stdout.write("> ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            break
        question = line.strip()
        if not question:
            continue
        if question.lower() in QUIT_WORDS:
            break
        if question.lower() in RESET_WORDS:
            conversation.reset()
            continue
        _print_answer(conversation.ask(question, read_files=True), args.json, one_line=True)
        if not args.json:
            sys.stdout.write("\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `ask` and `chat` to the vramwise command line."""
    p = subparsers.add_parser("ask", help="answer a GPU-memory question offline (English or Chinese)")
    p.add_argument("question", nargs="+", help='e.g. "qwen2.5 14b 32k上下文要多少显存"')
    p.add_argument("--json", action="store_true", help="the full answer: entities, tool calls, figures, citations")
    p.set_defaults(func=cmd_ask)

    p = subparsers.add_parser("chat", help="a question-and-answer loop on stdin (works when piped)")
    p.add_argument("--json", action="store_true", help="one JSON answer per line (JSON Lines), as `ask --json`")
    p.set_defaults(func=cmd_chat)
