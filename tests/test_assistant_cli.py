"""`vramwise ask` and `vramwise chat` as a user runs them: a real subprocess of the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parent.parent
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "PYTHONIOENCODING": "utf-8"}


def vramwise(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vramwise.cli", *args],
        cwd=REPO,
        env=ENV,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def test_ask_prints_the_answer():
    run = vramwise("ask", "will llama 3 70b fit on two 3090s at 4bit")
    assert run.returncode == 0, run.stderr
    assert "Fits on 2 x RTX 3090: 22.61 GB (21.05 GiB) per GPU" in run.stdout  # the fuller GPU of the split
    assert "note:kv-cache" in run.stdout


def test_ask_takes_an_unquoted_chinese_question_and_answers_in_chinese():
    run = vramwise("ask", "qwen2.5", "14b", "32k上下文要多少显存")
    assert run.returncode == 0, run.stderr
    assert "Qwen2.5 14B Instruct（BF16，上下文 32,768 tokens）共需" in run.stdout


def test_ask_json_is_the_full_answer():
    run = vramwise("ask", "我的4090能跑什么模型", "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["intent"] == "recommend" and data["language"] == "zh"
    assert data["entities"]["gpus"] == ["rtx-4090"]
    assert data["tool_calls"][0]["tool"] == "recommend_model"
    assert data["numbers"] and data["citations"]


def test_ask_without_enough_information_asks_back_and_succeeds():
    run = vramwise("ask", "recommend me a model")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Which GPU? e.g. RTX 4090, 2x3090, M3 Max 64GB")


def test_ask_needs_a_question():
    run = vramwise("ask")
    assert run.returncode == 2
    assert "question" in run.stderr


def test_chat_answers_piped_questions_until_quit():
    run = vramwise(
        "chat", stdin="我的4090能跑什么模型\n\nfine-tune llama 3 8b with qlora on a 3090?\n/quit\n什么是 KV cache\n"
    )
    assert run.returncode == 0, run.stderr
    assert "RTX 4090（可用" in run.stdout
    assert "Fits on RTX 3090" in run.stdout
    assert "参考笔记：note:kv-cache" not in run.stdout.split("Fits on RTX 3090")[1]  # stopped at /quit
    assert "> " not in run.stdout  # no prompt when stdin is not a terminal


def test_chat_ends_at_end_of_input():
    run = vramwise("chat", "--json", stdin="how much memory does it need\n")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["needs"][0]["what"] == "model"


def test_the_cli_module_imports_nothing_but_argparse():
    code = (
        "import sys, assistant.cli;"
        "heavy = [m for m in ('agent_tools', 'pydantic', 'langchain_core', 'knowledge') if m in sys.modules];"
        "print(heavy)"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_the_commands_are_registered_with_the_vramwise_parser():
    from vramwise.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["ask", "what", "is", "GQA", "--json"])
    assert args.question == ["what", "is", "GQA"] and args.json and callable(args.func)
    assert callable(parser.parse_args(["chat"]).func)
