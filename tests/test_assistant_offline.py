"""assistant.offline: intent, entities and traceable figures on colloquial English and Chinese questions.

Every test runs the real tools. `assert_traceable` re-runs each recorded tool call, checks every quoted figure
against the field it names, and checks that no digit in the answer text comes from anywhere else.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from agent_tools.advice import compare_precision, recommend_model
from agent_tools.errors import VramwiseError
from agent_tools.estimate import estimate_memory
from assistant.figures import clean_passage, lookup, render
from assistant.offline import Answer, answer, excerpt_of
from assistant.understand import GPU_EXAMPLES, MODEL_EXAMPLES, parse

TOOLS = {"estimate_memory": estimate_memory, "recommend_model": recommend_model, "compare_precision": compare_precision}

LLAMA3_70B = "meta-llama/Meta-Llama-3-70B-Instruct"
QWEN25_14B = "Qwen/Qwen2.5-14B-Instruct"


def assert_traceable(ans: Answer, search: Any = None) -> None:
    """Each figure equals its tool result field (re-run here) and is rendered from it; no other digits."""
    results: list[dict[str, Any]] = []
    for call in ans.tool_calls:
        fn = TOOLS.get(call.tool, search)
        assert fn is not None, f"no function to re-run {call.tool}"
        if call.ok:
            results.append(fn(**call.args).model_dump(mode="json"))
        else:
            with pytest.raises((VramwiseError, ValidationError)):
                fn(**call.args)
            results.append({"error": call.error})
    for fig in ans.numbers:
        value = lookup(results[fig.call], fig.field)
        if fig.format == "excerpt":
            assert fig.value in clean_passage(value)
        else:
            assert value == fig.value, fig
            assert render(value, fig.format) == fig.text, fig
        assert fig.text in ans.text, fig
    rest = ans.text
    pieces = Counter(f.text for f in ans.numbers)
    for piece in sorted(pieces, key=len, reverse=True):
        rest = rest.replace(piece, " ", pieces[piece])
    # the user's own words the answer repeats ('“llama 3 13b” is not in the catalog') are not figures
    words = [f"note:{c.note_id}" for c in ans.citations] + [e for n in ans.needs for e in n.examples]
    for piece in sorted(words + ans.echoed, key=len, reverse=True):
        rest = rest.replace(piece, " ")
    assert not re.search(r"\d", rest), f"digits not quoted from a tool result: {rest!r}"


# (question, intent, expected entities). Half Chinese; colloquial, with typos and full-width punctuation.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    # --- Chinese
    ("我的4090能跑什么模型", "recommend", {"gpus": ["rtx-4090"], "models": []}),
    ("qwen2.5 14b 32k上下文要多少显存", "estimate", {"models": [QWEN25_14B], "context_length": 32768}),
    (
        "deepseek v3 满血版要几张H100",
        "estimate",
        {"models": ["deepseek-ai/DeepSeek-V3"], "gpus": ["h100-sxm"], "gpu_count_asked": True},
    ),
    ("mac m3 max 64g 能跑 70b 吗", "estimate", {"models": ["70B"], "gpus": ["apple-m3-max-64gb"]}),
    ("双卡3090能跑llama3 70b吗 4bit", "estimate", {"models": [LLAMA3_70B], "num_gpus": 2, "precision": ["q4_k_m"]}),
    ("4张A100 跑 qwen2.5 72b 够不够", "estimate", {"models": ["Qwen/Qwen2.5-72B-Instruct"], "num_gpus": 4}),
    ("千问2.5 7b 半精度 要多大显存", "estimate", {"models": ["Qwen/Qwen2.5-7B-Instruct"], "precision": ["fp16"]}),
    ("3060 12g 适合跑啥模型 写代码用", "recommend", {"gpus": ["rtx-3060-12gb"], "task": "code"}),
    ("10个人同时用 qwen2.5 14b 需要多少显存，4090", "estimate", {"models": [QWEN25_14B], "batch_size": 10}),
    (
        "用qlora微调千问2.5 7b，一张4090够吗",
        "estimate",
        {"models": ["Qwen/Qwen2.5-7B-Instruct"], "mode": "qlora", "gpus": ["rtx-4090"]},
    ),
    ("微调 lamma3 8b 要多少显存", "estimate", {"models": ["meta-llama/Meta-Llama-3-8B-Instruct"], "mode": "finetune"}),
    ("14b 的 int4 和 7b 的 fp16 哪个好", "compare", {"models": ["14B", "7B"], "precision": ["q4_k_m", "fp16"]}),
    ("qwen2.5 14b 用 q4 还是 q8", "compare", {"models": [QWEN25_14B], "precision": ["q4_k_m", "q8_0"]}),
    ("128k上下文 llama 3.1 8b 的kv cache 多大", "estimate", {"context_length": 131072}),
    (
        "跑 ds r1 70b 蒸馏版 要多少显存 8位",
        "estimate",
        {"models": ["deepseek-ai/DeepSeek-R1-Distill-Llama-70B"], "precision": ["q8_0"]},
    ),
    ("deepseek 满血版 八卡h100 够吗", "estimate", {"models": ["deepseek-ai/DeepSeek-R1"], "num_gpus": 8}),
    ("16g显存能跑啥", "recommend", {"vram_gb": 16.0, "gpus": []}),
    ("gpt-oss 20b 在 4060 ti 16g 上 一秒多少token", "estimate", {"gpus": ["rtx-4060-ti-16gb"]}),
    ("通义千问 32b 用 4090 跑 q4 可以吗", "estimate", {"models": ["Qwen/Qwen3-32B"], "precision": ["q4_k_m"]}),
    # --- English
    (
        "will llama 3 70b fit on two 3090s at 4bit",
        "estimate",
        {"models": [LLAMA3_70B], "gpus": ["rtx-3090"], "num_gpus": 2, "precision": ["q4_k_m"]},
    ),
    ("is 14B int4 better than 7B fp16", "compare", {"models": ["14B", "7B"], "precision": ["q4_k_m", "fp16"]}),
    (
        "fine-tune llama 3 8b with qlora on a 3090?",
        "estimate",
        {"models": ["meta-llama/Meta-Llama-3-8B-Instruct"], "mode": "qlora", "gpus": ["rtx-3090"]},
    ),
    ("what can i run on an rtx 4090", "recommend", {"gpus": ["rtx-4090"]}),
    ("how much vram for qwen2.5 14b at 32k context", "estimate", {"models": [QWEN25_14B], "context_length": 32768}),
    (
        "lamma 3.1 8b on a 4060 with 8192 tokens",
        "estimate",
        {"models": ["meta-llama/Llama-3.1-8B-Instruct"], "gpus": ["rtx-4060"], "context_length": 8192},
    ),
    (
        "mixtral 8x7b on 2x4090 q4",
        "estimate",
        {"models": ["mistralai/Mixtral-8x7B-Instruct-v0.1"], "num_gpus": 2, "precision": ["q4_k_m"]},
    ),
    ("best coding model for 24gb vram", "recommend", {"vram_gb": 24.0, "task": "code"}),
    (
        "how many A100s do I need for llama 3.1 405b in fp8",
        "estimate",
        {"models": ["meta-llama/Llama-3.1-405B-Instruct"], "gpu_count_asked": True, "precision": ["fp8"]},
    ),
    (
        "serve qwen2.5 32b awq for 20 concurrent users on an L40S",
        "estimate",
        {"models": ["Qwen/Qwen2.5-32B-Instruct"], "gpus": ["l40s"], "batch_size": 20, "precision": ["awq_int4"]},
    ),
    ("phi-4 q5_k_m on m2 pro 16gb", "estimate", {"models": ["microsoft/phi-4"], "gpus": ["apple-m2-pro-16gb"]}),
    ("gemma 3 27b vs gemma 3 12b", "compare", {"models": ["google/gemma-3-27b-it", "google/gemma-3-12b-it"]}),
    (
        "4090x2 llama 3.3 70b q4_k_m 32k",
        "estimate",
        {"models": ["meta-llama/Llama-3.3-70B-Instruct"], "num_gpus": 2, "context_length": 32768},
    ),
    (
        "can i run deepseek-r1 14b on my 3060 12gb",
        "estimate",
        {"models": ["deepseek-ai/DeepSeek-R1-Distill-Qwen-14B"], "gpus": ["rtx-3060-12gb"]},
    ),
    ("Qwen3 30B-A3B on a 4090 with ollama", "estimate", {"models": ["Qwen/Qwen3-30B-A3B"], "runtime": "llama.cpp"}),
]


def test_the_case_list_is_large_and_half_chinese():
    chinese = [q for q, _, _ in CASES if parse(q).lang == "zh"]
    assert len(CASES) >= 30
    assert len(chinese) * 2 >= len(CASES) - 2


@pytest.mark.parametrize(("question", "intent", "expected"), CASES, ids=[c[0] for c in CASES])
def test_questions_are_understood_and_every_figure_comes_from_a_tool(question: str, intent: str, expected: dict):
    ans = answer(question)
    assert ans.intent == intent
    entities = ans.entities.model_dump()
    for key, value in expected.items():
        assert entities[key] == value, key
    assert ans.language == ("zh" if re.search(r"[\u4e00-\u9fff]", question) else "en")
    assert ans.needs == []
    assert ans.tool_calls and all(c.ok for c in ans.tool_calls)
    assert ans.numbers
    assert ans.citations and all(c.note_id and c.heading for c in ans.citations)
    assert_traceable(ans)


def test_two_3090s_at_4bit_quotes_the_fit_per_gpu_in_gb_and_gib():
    ans = answer("will llama 3 70b fit on two 3090s at 4bit")
    call = ans.tool_calls[0]
    assert call.args == {
        "model": LLAMA3_70B,
        "precision": "q4_k_m",
        "runtime": "llama.cpp",
        "gpu": "rtx-3090",
        "num_gpus": 2,
    }
    result = estimate_memory(**call.args)
    assert result.fit is not None and result.fit.fits
    # the fuller GPU (40 of 80 layers plus the output head): 22,606,479,360 bytes = 22.61 GB = 21.05 GiB;
    # both units printed, each with its own label
    assert "Fits on 2 x RTX 3090: 22.61 GB (21.05 GiB) per GPU" in ans.text
    fields = {f.field for f in ans.numbers}
    assert {"fit.required_bytes", "fit.usable_bytes", "fit.headroom_bytes", "total_bytes"} <= fields


def test_how_many_h100s_searches_the_smallest_count_that_fits():
    ans = answer("deepseek v3 满血版要几张H100")
    counts = [c.args["num_gpus"] for c in ans.tool_calls]
    assert counts == sorted(counts) and counts[0] == 1
    last = estimate_memory(**ans.tool_calls[-1].args)
    before = estimate_memory(**ans.tool_calls[-2].args)
    assert last.fit is not None and last.fit.fits
    assert before.fit is not None and not before.fit.fits
    assert ans.tool_calls[-1].args["precision"] == "fp8_block"  # the checkpoint's own format
    assert f"{last.fit.num_gpus} 张" in ans.text


def test_a_model_that_does_not_fit_gets_the_best_precision_that_does():
    ans = answer("mac m3 max 64g 能跑 70b 吗")
    assert [c.tool for c in ans.tool_calls] == ["estimate_memory", "compare_precision"]
    rows = compare_precision(**ans.tool_calls[1].args).rows
    first_fit = next(r for r in rows if r.fits)
    assert first_fit.name in ans.text
    assert "放不下" in ans.text and "放得下" in ans.text


def test_unspecified_fine_tuning_sizes_full_lora_and_qlora():
    ans = answer("微调 lamma3 8b 要多少显存")
    assert [c.args["mode"] for c in ans.tool_calls] == ["full_finetune", "lora", "qlora"]
    totals = [estimate_memory(**c.args).total_bytes for c in ans.tool_calls]
    assert totals[0] > totals[1] > totals[2]
    assert "training-memory" in [c.note_id for c in ans.citations]


def test_bigger_int4_versus_smaller_fp16_quotes_the_published_finding():
    ans = answer("is 14B int4 better than 7B fp16")
    assert [c.args["params_b"] for c in ans.tool_calls] == [14.0, 7.0]
    assert any(f.field.startswith("notes[") for f in ans.numbers)
    assert "larger model at the lower precision" in ans.text


def test_a_default_size_is_said_out_loud():
    ans = answer("qwen3 能在 4070 上跑吗")
    assert ans.entities.models == ["Qwen/Qwen3-8B"]
    assert "默认尺寸" in ans.text
    assert_traceable(ans)


def test_a_family_name_alone_takes_the_catalogs_default_and_says_so():
    ans = answer("qwen2.5 要多少显存")
    assert ans.entities.models == ["Qwen/Qwen2.5-7B-Instruct"]  # the catalog's alias 'qwen2.5'
    assert "默认尺寸" in ans.text
    assert_traceable(ans)


def test_a_value_the_calculator_rejects_is_reported_in_its_own_words():
    ans = answer("llama 3 8b with 99999999k context")
    assert [c.ok for c in ans.tool_calls] == [False]
    assert "context_length" in ans.text and "10000000" in ans.text
    assert_traceable(ans)


@pytest.mark.parametrize("question", ["你好", "hello!", "thanks"])
def test_small_talk_gets_a_short_help_line_without_tool_calls(question):
    ans = answer(question)
    assert not ans.tool_calls and not ans.needs
    assert "GPU" in ans.text or "显存" in ans.text


def test_an_empty_question_asks_for_a_model():
    ans = answer("   ")
    assert [n.what for n in ans.needs] == ["model"]


# ------------------------------------------------------------------------------------------------ needs


@pytest.mark.parametrize(
    ("question", "what", "language"),
    [
        ("推荐个模型", "gpu", "zh"),
        ("recommend me a model", "gpu", "en"),
        ("what can I run?", "gpu", "en"),
        ("how much memory does it need", "model", "en"),
        ("要多少显存", "model", "zh"),
        ("mac m3 max 能跑 qwen 32b 吗", "gpu_memory", "zh"),
        ("4060ti 能跑 qwen3 8b 吗", "gpu_memory", "zh"),
        ("llama 3 13b on a 4090", "model", "en"),
        ("qwen 有多大", "model_size", "zh"),
    ],
)
def test_missing_information_is_asked_for_with_examples_the_assistant_understands(question, what, language):
    ans = answer(question)
    assert ans.language == language
    assert [n.what for n in ans.needs] == [what]
    need = ans.needs[0]
    assert need.ask in ans.text and need.examples
    assert not ans.tool_calls
    for example in need.examples:
        parsed = parse(example)
        if what in ("gpu", "gpu_memory"):
            assert parsed.gpus, example
        else:
            assert parsed.subjects and not parsed.needs, example
    assert_traceable(ans)


def test_the_gpu_question_names_the_examples_from_the_brief():
    assert answer("recommend me a model").text == (
        f"Which GPU? e.g. {', '.join(GPU_EXAMPLES)} (or just say how much VRAM it has)."
    )
    assert answer("推荐个模型").text.startswith("用的是哪张显卡？例如 RTX 4090、2x3090、M3 Max 64GB")
    assert answer("how much memory does it need").needs[0].examples == list(MODEL_EXAMPLES)


def test_asking_whether_it_runs_without_a_gpu_answers_the_size_and_asks_for_the_gpu():
    ans = answer("能跑 llama 3 70b 吗")
    assert ans.intent == "estimate" and ans.tool_calls
    assert [n.what for n in ans.needs] == ["gpu"]
    assert "需要知道显卡" in ans.text
    assert_traceable(ans)


def test_an_unknown_model_gets_catalog_suggestions_from_its_family():
    ans = answer("llama 3 13b on a 4090")
    # the family's catalog models (the catalog grows: Llama Guard 2 8B is a Llama 3 too)
    assert {"Llama 3 8B Instruct", "Llama 3 70B Instruct"} <= set(ans.needs[0].examples)
    assert "could not find" in ans.text


# ------------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("question", "gpu", "count"),
    [
        ("two 3090s", "rtx-3090", 2),
        ("2x4090", "rtx-4090", 2),
        ("4090x2", "rtx-4090", 2),
        ("双卡3090", "rtx-3090", 2),
        ("两张4090", "rtx-4090", 2),
        ("4张A100", "a100-80gb-sxm", 4),
        ("八卡h100", "h100-sxm", 8),
        ("a single rtx 4090", "rtx-4090", 1),
        ("h100 * 8", "h100-sxm", 8),
        ("A100 40GB", "a100-40gb-sxm", None),
        ("m2 ultra 192g", "apple-m2-ultra-192gb", None),
    ],
)
def test_gpu_names_and_counts(question, gpu, count):
    parsed = parse(question)
    assert [g.gpu_id for g in parsed.gpus] == [gpu]
    assert parsed.num_gpus == count


@pytest.mark.parametrize(
    ("mention", "model_id"),
    [
        ("llama 3 70b", LLAMA3_70B),
        ("llama3-70b", LLAMA3_70B),
        ("Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
        ("llama 70b", "meta-llama/Llama-3.3-70B-Instruct"),  # no version: the newest family with that size
        ("qwen2.5 14b", QWEN25_14B),
        ("千问2.5 14B", QWEN25_14B),
        ("通义千问2.5-0.5B", "Qwen/Qwen2.5-0.5B-Instruct"),
        ("qwen2.5 coder 7b", "Qwen/Qwen2.5-Coder-7B-Instruct"),
        ("ds v3", "deepseek-ai/DeepSeek-V3"),
        ("deepseek r1 671b", "deepseek-ai/DeepSeek-R1"),
        ("deepseek-r1:32b", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"),
        ("满血版R1", "deepseek-ai/DeepSeek-R1"),
        ("gpt-oss-120b", "openai/gpt-oss-120b"),
        ("mistral nemo", "mistralai/Mistral-Nemo-Instruct-2407"),
        ("phi 3 mini", "microsoft/Phi-3-mini-4k-instruct"),
        ("glm-4-9b", "THUDM/glm-4-9b-chat"),
        ("qwen3 235b", "Qwen/Qwen3-235B-A22B"),
        ("deepseak v3", "deepseek-ai/DeepSeek-V3"),
    ],
)
def test_model_mentions_resolve_through_the_catalog(mention, model_id):
    assert [s.model_id for s in parse(f"how much vram does {mention} need").subjects] == [model_id]


@pytest.mark.parametrize(
    ("question", "precision"),
    [
        ("at 4bit", "q4_k_m"),
        ("4-bit with vllm", "awq_int4"),
        ("8位", "q8_0"),
        ("四位量化", "q4_k_m"),
        ("int4", "q4_k_m"),  # a bare "int4" means 4-bit: the runtime's usual 4-bit format
        ("int4 with vllm", "awq_int4"),
        ("gptq-int4", "gptq_int4"),
        ("awq 4bit", "awq_int4"),
        ("kv cache q8_0", None),  # the cache's precision, not the weights'
        ("8-bit adam", None),  # the optimizer's
        ("Q5_K_M", "q5_k_m"),
        ("半精度", "fp16"),
        ("bf16", "bf16"),
        ("nf4", "bnb_nf4"),
    ],
)
def test_precision_words(question, precision):
    parsed = parse(f"llama 3 8b {question}")
    assert [fmt for _, fmt in parsed.precisions] == ([precision] if precision else [])


@pytest.mark.parametrize(
    ("question", "context", "batch"),
    [
        ("qwen2.5 7b 128k上下文", 131072, None),
        ("qwen2.5 7b with 8192 tokens", 8192, None),
        ("qwen2.5 7b context length 16k", 16384, None),
        ("qwen2.5 7b 10个人同时用", None, 10),
        ("qwen2.5 7b 并发 32", None, 32),
        ("serve qwen2.5 7b to 50 users at 32k", 32768, 50),
        ("qwen2.5 7b batch size 8", None, 8),
    ],
)
def test_context_and_concurrency(question, context, batch):
    parsed = parse(question)
    assert (parsed.context_length, parsed.batch_size) == (context, batch)


@pytest.mark.parametrize(
    ("question", "mode"),
    [
        ("fine-tune llama 3 8b", "finetune"),
        ("full finetune llama 3 8b", "full_finetune"),
        ("全参微调 llama 3 8b", "full_finetune"),
        ("lora llama 3 8b", "lora"),
        ("4bit lora llama 3 8b", "qlora"),
        ("训练 qwen2.5 7b", "finetune"),
        ("run llama 3 8b", None),
    ],
)
def test_mode_words(question, mode):
    assert parse(question).mode == mode


@pytest.mark.parametrize(
    ("question", "field", "value"),
    [
        ("llama 3.1 8b 32k, kv cache in q8_0", "kv_precision", "q8_0"),
        ("fp8 kv cache for llama 3.1 8b", "kv_precision", "fp8"),
        ("Mistral 7B full fine-tune with 8-bit Adam", "optimizer", "adamw_8bit"),
        ("8 张 A100 用 ZeRO-3 全量微调 llama 3.1 8b", "zero_stage", 3),
        ("qlora llama 3.1 8b rank 32", "lora_rank", 32),
        ("qlora llama 65b, 512 长度的样本", "context_length", 512),
        ("纯 CPU 跑 qwen2.5 1.5b，32GB 双通道 DDR5-5600 内存", "system_ram_gb", 32.0),
        ("No GPU, just a desktop with 32GB of DDR5", "cpu_only", True),
        ("4090 上想要每秒 60 个 token 以上", "min_tokens_per_s", 60.0),
        ("at least 20 tokens/s on my mac", "min_tokens_per_s", 20.0),
        ("Our team of 4 wants to share one 4090", "batch_size", 4),
        ("8 GB card, what can I run?", "vram_gb", 8.0),
        ("Mixtral 8x7B 4bit 能进 24G 吗", "vram_gb", 24.0),
        ("How big is the Llama 3.1 8B Q8_0 GGUF?", "file_size", True),
        ("Llama 3.1 8B 各种 GGUF 量化占几 bit", "ladder", True),
        ("Qwen2.5 7B at q4_k_z precision?", "unknown_precision", "q4_k_z"),
    ],
)
def test_options_people_state_in_passing(question, field, value):
    assert getattr(parse(question), field) == value


@pytest.mark.parametrize(
    ("question", "gpu"),
    [
        ("does it fit a 40 GB A100?", "a100-40gb-sxm"),  # not an A40: 'a 40' is an article and a size
        ("On a 64 GB M3 Max", "apple-m3-max-64gb"),  # the size before the chip
        ("8GB 内存的 M1 MacBook", "apple-m1-8gb"),
        ("MacBook Pro M3 Pro with 36GB unified memory", "apple-m3-pro-36gb"),
    ],
)
def test_a_memory_size_next_to_a_gpu_picks_that_variant(question, gpu):
    assert [g.gpu_id for g in parse(question).gpus] == [gpu]


def test_llama_cpp_is_a_runtime_not_a_llama_model():
    parsed = parse("3090 上用 llama.cpp 跑 Llama 2 13B Q4_0")
    assert parsed.runtime == "llama.cpp"
    assert [s.model_id for s in parsed.subjects] == ["meta-llama/Llama-2-13b-chat-hf"]


def test_a_named_model_wins_over_sizes_mentioned_around_it():
    parsed = parse("13B/14B 的 4bit 模型要 16G 吗？Qwen2.5-14B 的 Q4_K_M 在 12G 的 3060 上跑 8k 可以吗？")
    assert [s.model_id for s in parsed.subjects] == [QWEN25_14B]


@pytest.mark.parametrize(
    ("question", "intent", "also"),
    [
        ("Qwen2.5-14B: memory at bf16, Q8_0, Q4_K_M and Q2_K?", "compare", []),  # one model, several formats
        ("Llama 3.1 8B 各种 GGUF 量化要多少显存", "compare", []),  # the ladder
        ("fp16 和 bf16 哪个更省显存？", "compare", ["concept"]),  # no model: the note, then an example model
        ("Is INT8 quantization the one that hurts quality most, as some say?", "compare", ["concept"]),
        ("I have two RTX 3090s. Can I run a 70B, and what would you pick at 8k?", "estimate", ["recommend"]),
        ("Best coding model for a single RTX 4090?", "recommend", []),
        ("Qwen2.5 says 32k context but also 128k with YaRN — what is going on?", "estimate", ["concept"]),
        ("推理时显存除了模型权重还有哪些开销？", "concept", []),
        ("If I split a model across two 24 GB GPUs, do I get 48 GB?", "concept", []),
    ],
)
def test_what_the_question_asks_first_and_what_else(question, intent, also):
    parsed = parse(question)
    assert (parsed.intent, parsed.also) == (intent, also)


def test_a_quantized_full_fine_tune_is_refused_in_the_tools_words():
    ans = answer("full fine-tune of Llama 3.1 8B in q4_k_m, how much memory?")
    assert [(c.tool, c.ok) for c in ans.tool_calls] == [("estimate_memory", False)]
    assert "float precision" in ans.text
    assert [f.field for f in ans.numbers] == ["error"]  # only the tool's message, no invented figures
    assert_traceable(ans)


def test_an_unknown_format_name_reaches_the_tool_and_comes_back_with_suggestions():
    ans = answer("Qwen2.5 7B at q4_k_z precision?")
    assert ans.tool_calls[0].args["precision"] == "q4_k_z" and not ans.tool_calls[0].ok
    assert "q4_k_m" in ans.text  # the calculator's did-you-mean


def test_a_gguf_file_size_question_counts_the_whole_file():
    ans = answer("How big is the Llama 3.1 8B Instruct Q8_0 GGUF?")
    call = ans.tool_calls[0]
    assert call.args["runtime"] == "generic"
    whole = estimate_memory(**call.args).breakdown.weights_bytes
    gpu_part = estimate_memory(**{**call.args, "runtime": "llama.cpp"}).breakdown.weights_bytes
    assert whole > gpu_part  # llama.cpp keeps the token embeddings in CPU memory


def test_cpu_only_answers_carry_a_speed_from_ram_bandwidth():
    ans = answer("纯 CPU（32GB 双通道 DDR5-5600）跑 Llama 3.1 8B 的 Q4_K_M，每秒能出多少 token？")
    call = ans.tool_calls[0]
    assert call.args["bandwidth_gb_s"] > 0 and call.args["runtime"] == "llama.cpp"
    assert "tokens/s" in ans.text
    assert_traceable(ans)


def test_training_options_reach_the_calculator_and_are_quoted():
    ans = answer("8 张 A100 80G 用 ZeRO-3 和 8-bit Adam 全量微调 Llama 3.1 8B，每张卡要多少显存？")
    args = ans.tool_calls[0].args
    assert (args["zero_stage"], args["optimizer"], args["num_gpus"]) == (3, "adamw_8bit", 8)
    assert "adamw_8bit" in ans.text and "ZeRO stage" in ans.text  # the tool's own assumption lines
    assert_traceable(ans)


def test_a_comparison_without_a_model_says_which_example_it_uses():
    from knowledge import search as knowledge_search

    # The figures are re-run below: let the first-run dense index finish first, or the answer (keyword search
    # while indexing) and its re-run (hybrid) would rank different passages.
    store, _ = knowledge_search._open_default_store()
    if store is not None and not knowledge_search.first_run.ready(store):
        assert knowledge_search.first_run.wait(store, timeout=300)
    ans = answer("fp16 和 bf16 哪个更省显存？")
    call = next(c for c in ans.tool_calls if c.tool == "compare_precision")
    assert call.args["precisions"] == ["fp16", "bf16"]
    assert "为例" in ans.text
    from knowledge.search import search_knowledge

    assert_traceable(ans, search_knowledge)


def test_concepts_without_a_model_go_to_the_knowledge_base():
    for question in (
        "什么是 KV cache",
        "what is the KV cache?",
        "显存 GB 和 GiB 有什么区别",
        "why does my 4090 show 23.99 GB",
    ):
        assert parse(question).intent == "concept", question


def test_excerpts_end_on_a_sentence_and_are_verbatim():
    text = "First sentence about [3] caches. " * 12
    excerpt = excerpt_of(text, "en")
    assert excerpt.endswith(".") and excerpt in clean_passage(text)
    assert "[3]" not in excerpt


# ------------------------------------------------------------------------------------------------ speed
