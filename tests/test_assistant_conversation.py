"""Conversations (follow-ups inherit what was sized before), sessions, open-world names, asked-for figures and the
question parser's bounds. Real parser, real tools, no mocks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent_tools import resolve
from assistant.conversation import Conversation, Sessions
from assistant.offline import answer
from assistant.understand import MAX_MENTIONS, MAX_QUESTION_CHARS, QuestionTooLong, parse

ROOT = Path(__file__).resolve().parent.parent


def _estimate_args(ans) -> list[dict]:
    return [c.args for c in ans.tool_calls if c.tool == "estimate_memory" and c.ok]


def test_follow_ups_inherit_context_and_count():
    chat = Conversation()
    chat.ask("How much VRAM does Qwen2.5 14B need at Q4_K_M on an RTX 4090?")
    second = chat.ask("and at 32k context?")
    args = _estimate_args(second)[0]
    assert args["model"] == "Qwen/Qwen2.5-14B-Instruct"
    assert args["precision"] == "q4_k_m" and args["gpu"] == "rtx-4090" and args["context_length"] == 32768
    assert {"model", "gpu", "precision"} <= set(second.inherited)
    third = chat.ask("same on two cards")
    args = _estimate_args(third)[0]
    assert args["num_gpus"] == 2 and args["context_length"] == 32768
    assert "2 x RTX 4090" in third.text.splitlines()[0]  # the first line restates what was sized


def test_chinese_follow_ups_change_precision_then_size_within_the_family():
    chat = Conversation()
    chat.ask("Qwen2.5 14B 用 q4_k_m 在 4090 上要多少显存？")
    swapped = chat.ask("换成 q8_0 呢？")
    assert swapped.language == "zh"
    assert _estimate_args(swapped)[0]["precision"] == "q8_0"
    bigger = chat.ask("那 72B 呢")
    args = _estimate_args(bigger)[0]
    assert args["model"] == "Qwen/Qwen2.5-72B-Instruct" and args["precision"] == "q8_0"


def test_a_new_gpu_replaces_the_old_one_and_qlora_keeps_it():
    chat = Conversation()
    chat.ask("Will Llama 3.1 8B fit on an RTX 3060 12GB in bf16?")
    moved = chat.ask("what about on a 4060 Ti 16GB instead?")
    assert _estimate_args(moved)[0]["gpu"] == "rtx-4060-ti-16gb"
    trained = chat.ask("and with QLoRA?")
    args = _estimate_args(trained)[0]
    assert args["mode"] == "qlora" and args["gpu"] == "rtx-4060-ti-16gb"


def test_a_concept_question_leaves_the_state_alone_and_reset_forgets():
    chat = Conversation()
    chat.ask("Qwen3 8B on an RTX 4090")
    before = dict(chat.state.__dict__)
    chat.ask("hello")
    assert chat.state.model_id == before["model_id"] and chat.state.gpu_id == "rtx-4090"
    chat.reset()
    assert chat.state.model_id is None and chat.history == []


def test_the_llm_history_is_bounded_and_tracks_the_same_state():
    chat = Conversation()
    for n in range(30):
        chat.remember_exchange(f"Qwen2.5 7B at {n + 1}k context on an RTX 4090", "ok")
    assert len(chat.history) == 20
    assert chat.state.model_id == "Qwen/Qwen2.5-7B-Instruct" and chat.state.context_length == 30 * 1024


def test_sessions_are_bounded_and_expire():
    now = [0.0]
    sessions = Sessions(max_sessions=3, ttl_s=10.0, clock=lambda: now[0])
    first = sessions.get("a")
    for sid in "bcd":
        sessions.get(sid)
    assert len(sessions) == 3
    assert sessions.get("a") is not first  # 'a' was the least recently used: dropped
    kept = sessions.get("d")
    assert sessions.get("d") is kept
    now[0] = 100.0
    assert len(sessions) == 0  # all expired
    with pytest.raises(ValueError, match="session_id"):
        sessions.get("x" * 101)


# ------------------------------------------------------------------------------------------ intents


def test_users_served_come_from_vllm_max_concurrency():
    ans = answer("Qwen2.5 7B on an H100 at 8k context: how many users can it serve?")
    call = _estimate_args(ans)[0]
    assert call["runtime"] == resolve.serving_runtime()
    fields = {f.field for f in ans.numbers}
    assert "runtime_detail.max_concurrency" in fields and "runtime_detail.kv_pool_tokens" in fields


def test_speed_answers_give_decode_and_prefill_and_multi_gpu_is_labelled():
    ans = answer("Llama 3.3 70B in bf16 on 2x H100 with vLLM: tokens per second?")
    fields = {f.field for f in ans.numbers}
    assert {"speed.decode_tokens_per_s", "speed.prefill_tokens_per_s", "per_gpu_bytes"} <= fields
    assert "per GPU" in ans.text
    assert "kv_cache_bytes_per_token" in fields and "bytes per GPU (tensor parallel" in ans.text


def test_two_gpus_named_are_compared():
    ans = answer("Gemma 3 12B in bf16: RTX 4090 or RTX 5090, which is faster?")
    gpus = {a["gpu"] for a in _estimate_args(ans)}
    assert gpus == {"rtx-4090", "rtx-5090"}
    assert "Faster of these" in ans.text


# ------------------------------------------------------------------------------- never a silent swap


@pytest.mark.parametrize(
    ("question", "named", "args"),
    [
        ("Will Qwen3-Coder-30B-A3B fit on an RTX 4090 at q4_k_m?", "Qwen3-Coder-30B-A3B", {"params_b": 30.0}),
        ("How much VRAM does google/gemma-3n-E4B need?", "google/gemma-3n-E4B", None),
        ("My GTX 1080 Ti has 11GB. Can it run Llama 3.1 8B?", "GTX 1080 Ti", {"vram_gb": 11.0}),
        ("魔改的 2080 Ti 22G 能跑 Qwen2.5 14B q4_k_m 吗？", "2080 Ti", {"vram_gb": 22.0, "bandwidth_gb_s": 616.0}),
    ],
)
def test_uncatalogued_names_are_said_first_and_never_swapped(question, named, args):
    ans = answer(question)
    assert named in ans.text.splitlines()[0]
    for call in ans.tool_calls:
        assert call.args.get("model") not in ("google/gemma-3-4b-it", "Qwen/Qwen3-30B-A3B")
        assert call.args.get("gpu") != "rtx-2080-ti"
    if args is not None:
        assert any(all(c.args.get(k) == v for k, v in args.items()) for c in ans.tool_calls)
    else:
        assert ans.tool_calls and ans.tool_calls[0].args["model"] == "google/gemma-3n-E4B"


def test_an_unknown_gpu_without_a_size_is_asked_about():
    ans = answer("Is a Titan V enough for Qwen2.5 7B in bf16?")
    assert not ans.tool_calls
    assert ans.needs[0].what == "gpu_memory" and "Titan V" in ans.text.splitlines()[0]


def test_a_config_path_is_read_on_the_cli_only(tmp_path):
    config = {
        "model_type": "llama",
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "vocab_size": 32000,
        "max_position_embeddings": 8192,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    ans = answer(f"how much VRAM does {path} need on an RTX 4090?", read_files=True)
    assert ans.tool_calls[0].args["config"] == config
    assert str(path) in ans.text.splitlines()[0]
    unread = answer(f"how much VRAM does {path} need on an RTX 4090?")
    assert all("config" not in c.args for c in unread.tool_calls)


# ----------------------------------------------------------------------------------- parser bounds


def test_a_question_over_the_limit_is_refused_in_one_line():
    long = "How much VRAM does Qwen2.5 7B need? " * 100
    with pytest.raises(QuestionTooLong):
        parse(long)
    ans = answer(long)
    assert "\n" not in ans.text and f"{MAX_QUESTION_CHARS:,}" in ans.text and not ans.tool_calls
    zh = answer("千问七十亿模型要多少显存？" * 200)
    assert zh.language == "zh" and "2,000" in zh.text


ADVERSARIAL = [
    "8" + " " * (MAX_QUESTION_CHARS - 2) + "x",
    "context" + " " * (MAX_QUESTION_CHARS - 8) + "x",
    "1" * (MAX_QUESTION_CHARS - 1) + "亿",
    ("qwen" + "-_ :" * 600)[:MAX_QUESTION_CHARS],
    ("7b 14b 70b " * 200)[:MAX_QUESTION_CHARS],
    ("4090 3090 a100 " * 200)[:MAX_QUESTION_CHARS],
    ("rtx gtx tesla " * 200)[:MAX_QUESTION_CHARS],
    ("org/name-1.2-x " * 200)[:MAX_QUESTION_CHARS],
    ("千问七十亿模型在两张显卡上" * 200)[:MAX_QUESTION_CHARS],
]


@pytest.mark.parametrize("question", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_long_adversarial_questions_parse_with_bounded_mentions(question):
    # Timing is the benchmark's job (evals/bench_parser.py); here: it returns, and per-kind work is capped.
    p = parse(question)
    assert len(p.subjects) <= 3 * MAX_MENTIONS and len(p.gpus) <= MAX_MENTIONS
    assert len(p.precisions) <= 3 * MAX_MENTIONS


# ----------------------------------------------------------------------------------------- the CLI


def test_chat_json_prints_one_answer_per_line_and_follows_up():
    questions = "Qwen2.5 14B on an RTX 4090\n换成 q8_0 呢？\n"
    out = subprocess.run(
        [sys.executable, "-m", "vramwise.cli", "chat", "--json"],
        input=questions,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "ANONYMIZED_TELEMETRY": "False"},
        timeout=120,
        check=True,
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == set(second) and "tool_calls" in first and "text" in first
    args = next(c["args"] for c in second["tool_calls"] if c["tool"] == "estimate_memory")
    assert args["model"] == "Qwen/Qwen2.5-14B-Instruct" and args["precision"] == "q8_0"
    assert second["language"] == "zh"


def test_the_help_desk_keeps_one_conversation_per_session_id():
    from starlette.testclient import TestClient

    from assistant.conversation import Sessions
    from helpdesk.app import build_app, offline_answerer

    sessions = Sessions()

    async def ask(question: str, session_id: str | None = None) -> dict:
        return await offline_answerer(question, session_id, sessions)

    with TestClient(build_app(answerer=ask), base_url="http://127.0.0.1") as client:
        first = client.post("/api/ask", json={"question": "Qwen2.5 14B on an RTX 4090", "session_id": "tab-0001"})
        assert first.status_code == 200, first.text
        follow = client.post("/api/ask", json={"question": "and at 32k context?", "session_id": "tab-0001"}).json()
        args = next(c["args"] for c in follow["tool_calls"] if c["tool"] == "estimate_memory")
        assert args["model"] == "Qwen/Qwen2.5-14B-Instruct" and args["context_length"] == 32768
        other = client.post("/api/ask", json={"question": "and at 32k context?", "session_id": "tab-0002"}).json()
        assert not any(c["tool"] == "estimate_memory" for c in other["tool_calls"])  # another tab: no model yet
        bad = client.post("/api/ask", json={"question": "hi", "session_id": 7})
        assert bad.status_code == 400 and "session_id" in bad.json()["error"]
    assert len(sessions) == 2


def test_asking_which_models_fit_recommends_instead_of_resizing_the_last_model():
    from assistant.conversation import Conversation

    chat = Conversation()
    chat.ask("will llama 3 70b fit on two 3090s at 4bit with vllm")
    listing = chat.ask("my 4090 can run which models?")
    assert [c.tool for c in listing.tool_calls] == ["recommend_model"]
    assert listing.tool_calls[0].args["gpu"] == "rtx-4090"
    again = chat.ask("what about on a 4060 ti 16gb instead?")  # the model sized before, with its precision
    sized = next(c for c in again.tool_calls if c.tool == "estimate_memory")
    assert sized.args["model"] == "meta-llama/Meta-Llama-3-70B-Instruct" and sized.args["precision"] == "awq_int4"
