"""The eval suite: case files follow the schema, the evaluators judge correctly (and can fail), the runner gates,
and the typed tools pass the suite (the CI check that the tools meet the 98% gate)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from pydantic import ValidationError

from evals import evaluators as ev
from evals.run import (
    CASES_DIR,
    DEFAULT_GATES,
    AnswerView,
    ToolRun,
    ToolsTarget,
    detect_language,
    judge_answer,
    lint_cases,
    load_cases,
    main,
    run_cases,
    untraced_numbers,
)
from evals.schema import CalculationCase, ConceptCase, Expectation, RecommendationConstraints, json_schema

SCHEMA_LINE = "# yaml-language-server: $schema=../schema/cases.schema.json"
SCHEMA_FILE = Path(__file__).parent.parent / "evals" / "schema" / "cases.schema.json"


@pytest.fixture(scope="module")
def cases():
    return load_cases()


# ------------------------------------------------------------------------------------------- case files


def test_every_case_file_starts_with_the_schema_line():
    files = sorted(CASES_DIR.glob("*.yaml"))
    assert files
    for path in files:
        assert path.read_text(encoding="utf-8").splitlines()[0] == SCHEMA_LINE, path.name


def test_case_files_validate_and_lint_clean(cases):
    assert lint_cases(cases) == []


def test_committed_json_schema_matches_the_pydantic_models():
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == json_schema(), (
        "regenerate: python -m evals.schema > evals/schema/cases.schema.json"
    )


def test_case_files_validate_against_the_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    for path in sorted(CASES_DIR.glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)


def test_suite_has_the_promised_size_and_language_mix(cases):
    kinds = [c.case.kind for c in cases]
    assert len(cases) >= 120
    assert kinds.count("recommendation") + kinds.count("comparison") >= 40
    assert {"calculation", "recommendation", "comparison", "concept"} <= set(kinds)
    zh = sum(c.case.lang == "zh" for c in cases)
    assert zh * 2 >= len(cases), f"only {zh} of {len(cases)} cases are Chinese"


def test_chinese_cases_ask_in_chinese(cases):
    for item in cases:
        if item.case.lang == "zh":
            assert detect_language(item.case.question) == "zh", item.case.id


def test_calculation_cases_name_a_source(cases):
    for item in cases:
        if isinstance(item.case, CalculationCase):
            assert item.case.source.strip(), item.case.id


def test_a_numeric_expectation_without_its_arithmetic_is_rejected():
    with pytest.raises(ValidationError, match="needs `why`"):
        Expectation(field="breakdown.kv_cache_bytes", op="eq", value=1073741824)


@pytest.mark.parametrize(
    "bad",
    [
        {"field": "a", "op": "approx", "value": 1.0, "why": "x"},  # approx without tolerance
        {"field": "a", "op": "true", "value": True},  # valueless op with a value
        {"field": "a", "op": "one_of", "value": "x"},  # one_of needs a list
        {"field": "a", "op": "eq", "value": 1, "why": "x", "surprise": 1},  # extra key
    ],
)
def test_malformed_expectations_are_rejected(bad):
    with pytest.raises(ValidationError):
        Expectation(**bad)


def test_a_calculation_case_needs_expect_or_raises_but_not_both():
    base = {"id": "x", "kind": "calculation", "lang": "en", "question": "how much?", "args": {}, "source": "paper"}
    with pytest.raises(ValidationError, match="either expect"):
        CalculationCase(**base)
    with pytest.raises(ValidationError, match="either expect"):
        CalculationCase(
            **base,
            expect=[{"field": "fit.fits", "op": "true"}],
            raises={"message_contains": ["bad"]},
        )


def test_duplicate_case_ids_are_refused(tmp_path):
    case = {"id": "dup", "kind": "concept", "lang": "en", "question": "what is GiB?", "must_cite": ["gb-vs-gib"]}
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(yaml.safe_dump({"cases": [case]}), encoding="utf-8")
    with pytest.raises(ValueError, match="'dup' also used"):
        load_cases(tmp_path)


def test_a_schema_error_names_the_case(tmp_path):
    (tmp_path / "x.yaml").write_text(
        yaml.safe_dump(
            {"cases": [{"id": "bad-one", "kind": "concept", "lang": "fr", "question": "q?", "must_cite": ["a"]}]}
        ),
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="case 'bad-one'"):
        load_cases(tmp_path)


# ------------------------------------------------------------------------------------------- evaluators


@pytest.mark.parametrize(
    ("op", "actual", "value", "expected"),
    [
        ("eq", 131072, 131072, True),
        ("eq", 131072, 131073, False),
        ("eq", "small", "small", True),
        ("eq", True, 1, False),  # a bool is not the number 1
        ("lt", 5, 6, True),
        ("lt", 6, 6, False),
        ("le", 6, 6, True),
        ("gt", 7, 6, True),
        ("gt", 6, 6, False),
        ("ge", 6, 6, True),
        ("gt", None, 6, False),
        ("contains", "Does Not Fit: needs 46 GB", "does not fit", True),
        ("contains", ["left out ...", "use vLLM for several users"], "vllm", True),
        ("contains", ["a", "b"], "c", False),
        ("not_contains", [False, False], True, True),
        ("not_contains", [False, True], True, False),
        ("one_of", "negligible", ["lossless", "negligible"], True),
        ("one_of", "severe", ["lossless", "negligible"], False),
    ],
)
def test_value_ops_pass_and_fail(op, actual, value, expected):
    assert ev.apply_op(op, actual, value) is expected


@pytest.mark.parametrize(
    ("actual", "value", "tolerance", "expected"),
    [(104, 100, 0.05, True), (106, 100, 0.05, False), (94, 100, 0.05, False), ("100", 100, 0.05, False)],
)
def test_approx_is_relative_to_the_expected_value(actual, value, tolerance, expected):
    assert ev.apply_op("approx", actual, value, tolerance) is expected


@pytest.mark.parametrize(
    ("op", "actual", "expected"),
    [("true", True, True), ("true", 1, False), ("false", False, True), ("false", None, False)],
)
def test_boolean_ops_want_real_booleans(op, actual, expected):
    assert ev.apply_op(op, actual) is expected


LEVELS = ["lossless", "negligible", "small", "noticeable", "severe"]


@pytest.mark.parametrize(
    ("op", "actual", "order", "expected"),
    [
        ("strictly_decreasing", [16.0, 8.5, 4.89], None, True),
        ("strictly_decreasing", [16.0, 8.5, 8.5], None, False),
        ("non_increasing", [16.0, 8.5, 8.5], None, True),
        ("strictly_increasing", [14.0, 27.2, 44.2], None, True),
        ("strictly_increasing", [14.0, 44.2, 27.2], None, False),
        ("non_decreasing", ["lossless", "negligible", "negligible", "severe"], LEVELS, True),
        ("non_decreasing", ["lossless", "small", "negligible"], LEVELS, False),
        ("non_decreasing", ["lossless", "unknown"], LEVELS, False),
        ("strictly_decreasing", [3.0], None, False),  # one value proves no ordering
        ("strictly_decreasing", ["a", "b"], None, False),  # strings need an order
    ],
)
def test_ordering_ops(op, actual, order, expected):
    assert ev.apply_op(op, actual, order=order) is expected


RESULT = {
    "total_bytes": 100,
    "breakdown": {"overhead_bytes": 30, "kv_cache_bytes": 20},
    "rows": [{"precision": "bf16", "bits": 16.0}, {"precision": "q4_k_m", "bits": 4.89}],
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("breakdown.kv_cache_bytes", 20),
        ("rows[1].bits", 4.89),
        ("rows[-1].precision", "q4_k_m"),
        ("rows[*].bits", [16.0, 4.89]),
        ("rows[precision=q4_k_m].bits", 4.89),
        ("total_bytes - breakdown.overhead_bytes", 70),
        ("total_bytes + breakdown.kv_cache_bytes - breakdown.overhead_bytes", 90),
    ],
)
def test_field_paths_resolve(path, expected):
    assert ev.resolve_field(RESULT, path) == expected


@pytest.mark.parametrize("path", ["breakdown.nope", "rows[5].bits", "rows[precision=q8_0].bits", "total_bytes.x"])
def test_a_path_that_does_not_resolve_fails_the_check_with_a_reason(path):
    check = ev.check_expectation(RESULT, Expectation(field=path, op="eq", value="x"))
    assert not check.passed
    assert "path error" in check.detail


def test_check_expectation_reports_the_relative_error():
    e = Expectation(field="total_bytes", op="approx", value=80, tolerance=0.1, why="test")
    check = ev.check_expectation(RESULT, e)
    assert not check.passed
    assert "+25.00%" in check.detail


def test_check_error_needs_the_type_and_every_fragment():
    from agent_tools.errors import VramwiseError

    err = VramwiseError("unknown GPU 'RTX 9999'; did you mean 'RTX 4090'?")
    assert ev.check_error(err, "VramwiseError", ["unknown gpu", "RTX 9999"]).passed
    assert ev.check_error(err, "ValueError", ["unknown GPU"]).passed  # VramwiseError is a ValueError
    assert not ev.check_error(err, "VramwiseError", ["unknown model"]).passed
    assert not ev.check_error(None, "VramwiseError", ["x"]).passed
    assert not ev.check_error(KeyError("x"), "VramwiseError", ["x"]).passed


def _candidate(model, params_b, precision="q4_k_m", headroom_gb=3.0, tps=40.0, level="small"):
    return {
        "rank": 0,
        "model": model,
        "precision": precision,
        "params_total": int(params_b * 1e9),
        "fits": True,
        "headroom_bytes": int(headroom_gb * 1e9),
        "decode_tokens_per_s": tps,
        "format_quality": level,
    }


REC = {
    "hardware": {"memory_bytes_per_gpu": 25_757_220_864, "runtime": "llama.cpp"},
    "candidates": [
        _candidate("big/32B", 32.8, headroom_gb=3.6, tps=32.7),
        _candidate("mid/14B", 14.8, precision="q5_k_m", headroom_gb=13.5, tps=57.4, level="negligible"),
    ],
    "rejected": [{"model": "huge/70B", "reason": "needs 29.2 GB even at q2_k with 8,192 tokens x 1"}],
}


def _failed(constraints, floor=None):
    return [
        c.label for c in ev.check_recommendation(REC, RecommendationConstraints(**constraints), floor) if not c.passed
    ]


def test_recommendation_constraints_pass_on_a_sound_answer():
    assert (
        _failed(
            {
                "min_params_b": 14,
                "max_params_b": 40,
                "must_include_any": ["big/32B", "other"],
                "must_not_include": ["huge/70B"],
                "top_min_tokens_per_s": 20,
                "top_max_quality_level": "small",
                "runtime": "llama.cpp",
                "rejected_includes": [{"model": "huge/70B", "reason_contains": ["needs", "GB"]}],
            },
            floor=30,
        )
        == []
    )


@pytest.mark.parametrize(
    ("constraints", "floor", "fragment"),
    [
        ({"min_params_b": 40}, None, "top pick has >= 40B"),
        ({"max_params_b": 20}, None, "no candidate above 20B"),
        ({"must_include_any": ["nope/7B"]}, None, "candidates include one of"),
        ({"must_not_include": ["mid/14B"]}, None, "candidates exclude"),
        ({}, 50, "every candidate decodes >= 50"),
        ({"top_min_tokens_per_s": 40}, None, "top pick decodes"),
        ({"top_max_quality_level": "negligible"}, None, "top pick's format"),
        ({"runtime": "vllm"}, None, "served with vllm"),
        ({"rejected_includes": [{"model": "big/32B"}]}, None, "big/32B rejected"),
        ({"min_headroom_fraction": 0.2}, None, "every candidate fits"),
        ({"min_candidates": 3}, None, "at least 3 candidate"),
    ],
)
def test_each_recommendation_constraint_can_fail(constraints, floor, fragment):
    failed = _failed(constraints, floor)
    assert any(fragment in label for label in failed), failed


def test_all_fit_fails_a_candidate_that_does_not_fit():
    rec = {**REC, "candidates": [{**REC["candidates"][0], "fits": False}]}
    assert not ev.check_all_fit(rec, 0.05).passed


def test_citations_ignore_prefixes_and_language_suffixes():
    assert ev.check_cites(["note:kv-cache", "gb-vs-gib.zh.md"], ["kv-cache", "gb-vs-gib"]).passed
    assert not ev.check_cites(["note:kv-cache"], ["kv-cache", "gb-vs-gib"]).passed
    assert ev.check_cites_one_of(["weight-memory"], ["numeric-formats", "weight-memory"]).passed
    assert not ev.check_cites_one_of([], ["numeric-formats"]).passed


def test_alternative_check_needs_the_model_and_its_verdict():
    result = {
        "equal_size_alternatives": [
            {
                "model": "Qwen/Qwen2.5-14B-Instruct",
                "precision": "q8_0",
                "comparison": "same memory: ... -> 14B is better",
            }
        ]
    }
    assert ev.check_alternative(result, "Qwen/Qwen2.5-14B-Instruct", "q8_0", ["is better"]).passed
    assert not ev.check_alternative(result, "Qwen/Qwen2.5-14B-Instruct", "q4_k_m", []).passed
    assert not ev.check_alternative(result, "Qwen/Qwen2.5-14B-Instruct", None, ["7B at bf16 is better"]).passed


# ------------------------------------------------------------------------------------- assistant judging


def test_detect_language():
    assert detect_language("fp16 和 bf16 有什么区别？") == "zh"
    assert detect_language("What does 7B mean?") == "en"


def test_untraced_numbers_flags_only_numbers_no_tool_gave():
    results = [{"total_bytes": 17_880_850_432, "speed": {"decode_tokens_per_s": 45.0}}]
    text = "It needs 17.88 GB (16.65 GiB) at 8192 tokens, about 45 tokens/s, ranked 1 and 2. Also 123.4 GB."
    assert untraced_numbers(text, "Llama 3.1 8B at 8192 tokens?", results) == ["123.4"]


CONCEPT = ConceptCase(
    id="c",
    kind="concept",
    lang="zh",
    question="fp16 和 bf16 有什么区别？",
    must_cite=["fp16-bf16-fp8"],
    answer_contains_any=["指数"],
)


def test_judge_answer_checks_language_citations_and_content():
    good = AnswerView(text="BF16 的指数位更多……", language="zh", cited=["note:fp16-bf16-fp8"], calls=[])
    assert all(c.passed for c in judge_answer(CONCEPT, good))
    wrong_lang = AnswerView(text="BF16 has more exponent bits", language="en", cited=["fp16-bf16-fp8"], calls=[])
    assert not all(c.passed for c in judge_answer(CONCEPT, wrong_lang))
    uncited = AnswerView(text="BF16 的指数位更多", language="zh", cited=[], calls=[])
    assert not all(c.passed for c in judge_answer(CONCEPT, uncited))


def test_judge_answer_runs_the_case_checks_on_the_assistants_own_tool_result():
    case = CalculationCase(
        id="k",
        kind="calculation",
        lang="en",
        question="KV of Llama 3.1 8B at 8k?",
        source="config",
        args={"model": "meta-llama/Llama-3.1-8B-Instruct", "context_length": 8192},
        expect=[{"field": "breakdown.kv_cache_bytes", "op": "eq", "value": 1073741824, "why": "131,072 x 8,192"}],
    )
    right = ToolRun("estimate_memory", {}, True, {"breakdown": {"kv_cache_bytes": 1073741824}})
    wrong = ToolRun("estimate_memory", {}, True, {"breakdown": {"kv_cache_bytes": 536870912}})
    assert all(c.passed for c in judge_answer(case, AnswerView("…", "en", [], [right])))
    assert not all(c.passed for c in judge_answer(case, AnswerView("…", "en", [], [wrong])))
    assert not all(c.passed for c in judge_answer(case, AnswerView("…", "en", [], [])))  # never called the tool


def test_judge_answer_grades_the_call_about_the_cases_model_when_there_are_several():
    case = CalculationCase(
        id="k2",
        kind="calculation",
        lang="en",
        question="Qwen2.5-7B or Llama 3.1 8B, KV at 8k?",
        source="config",
        args={"model": "llama 3.1 8b", "context_length": 8192},
        expect=[{"field": "breakdown.kv_cache_bytes", "op": "eq", "value": 1073741824, "why": "131,072 x 8,192"}],
    )
    llama = ToolRun(
        "estimate_memory",
        {"model": "meta-llama/Llama-3.1-8B-Instruct"},
        True,
        {"breakdown": {"kv_cache_bytes": 1073741824}},
    )
    qwen = ToolRun("estimate_memory", {"model": "Qwen/Qwen2.5-7B-Instruct"}, True, {"breakdown": {"kv_cache_bytes": 1}})
    # the Llama call is graded whether it came first or last
    assert all(c.passed for c in judge_answer(case, AnswerView("…", "en", [], [llama, qwen])))
    assert all(c.passed for c in judge_answer(case, AnswerView("…", "en", [], [qwen, llama])))
    assert not all(c.passed for c in judge_answer(case, AnswerView("…", "en", [], [qwen])))


def test_view_agent_messages_reads_tool_calls_results_and_citations():
    pytest.importorskip("assistant.agent")
    from evals.run import view_agent_messages

    result = {"total_bytes": 17_880_850_432, "total_gb": 17.881}
    messages = [
        SimpleNamespace(type="human", content="How much for Llama 3.1 8B bf16 8k?"),
        SimpleNamespace(
            type="ai", content="", tool_calls=[{"name": "estimate_memory", "args": {"model": "x"}, "id": "1"}]
        ),
        SimpleNamespace(type="tool", content=json.dumps(result), tool_call_id="1", artifact=None),
        SimpleNamespace(type="ai", content="About 17.88 GB in total (note:inference-memory-budget).", tool_calls=[]),
    ]
    view = view_agent_messages("How much for Llama 3.1 8B bf16 8k?", messages)
    assert [(c.tool, c.ok) for c in view.calls] == [("estimate_memory", True)]
    assert view.calls[0].result == result
    assert view.cited == ["inference-memory-budget"]
    assert view.language == "en"
    assert all(c.passed for c in view.provenance)


# ------------------------------------------------------------------------------------------------- runner


def test_tools_meet_the_gate_on_every_case(cases):
    report = run_cases(cases, ToolsTarget())
    failing = [
        f"{o.id}: " + "; ".join(f"{c.label} -> {c.detail}" for c in o.checks if not c.passed) + o.message
        for o in report.outcomes
        if o.status in ("fail", "error")
    ]
    assert report.rate >= DEFAULT_GATES["tools"], f"{report.rate:.1%} below the gate:\n" + "\n".join(failing)


def test_concept_cases_do_not_apply_to_the_tools_target(cases):
    report = run_cases(cases, ToolsTarget(), kinds=["concept"])
    assert report.outcomes and all(o.status == "skip" for o in report.outcomes)
    assert not report.ok  # nothing counted: no pass


def _write_case_dir(tmp_path, value):
    case = {
        "id": "params-llama31-8b",
        "kind": "calculation",
        "lang": "en",
        "question": "How many parameters in Llama 3.1 8B?",
        "args": {"model": "meta-llama/Llama-3.1-8B-Instruct"},
        "expect": [{"field": "model.params_total", "op": "eq", "value": value, "why": "index total_size / 2"}],
        "source": "model.safetensors.index.json",
    }
    (tmp_path / "c.yaml").write_text(SCHEMA_LINE + "\n" + yaml.safe_dump({"cases": [case]}), encoding="utf-8")
    return tmp_path


def test_main_exits_0_at_the_gate_and_writes_the_report(tmp_path, capsys):
    report_path = tmp_path / "out" / "report.json"
    assert main(["--cases-dir", str(_write_case_dir(tmp_path, 8030261248)), "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["ok"] and report["by_kind"]["calculation"]["pass"] == 1


def test_main_exits_1_below_the_gate_and_names_the_failing_case(tmp_path, capsys):
    assert main(["--cases-dir", str(_write_case_dir(tmp_path, 8000000000))]) == 1
    out = capsys.readouterr().out
    assert "params-llama31-8b" in out and "8,030,261,248" in out


def test_main_exits_2_on_a_broken_case_file(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("cases: [{id: x, kind: nonsense}]\n", encoding="utf-8")
    assert main(["--cases-dir", str(tmp_path)]) == 2
    assert "bad.yaml" in capsys.readouterr().err


def test_case_args_the_tool_rejects_are_reported(tmp_path):
    case = {
        "id": "typo",
        "kind": "calculation",
        "lang": "en",
        "question": "context typo?",
        "args": {"model": "meta-llama/Llama-3.1-8B-Instruct", "contxt_length": 8192},
        "expect": [{"field": "fit.fits", "op": "true"}],
        "source": "paper",
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"cases": [case]}), encoding="utf-8")
    problems = lint_cases(load_cases(tmp_path))
    assert problems and "contxt_length" in problems[0]


# ---------------------------------------------------------------------------------------------------- CLI


def test_cli_module_imports_only_argparse_at_import_time():
    code = (
        "import sys, argparse; before = set(sys.modules); import evals.cli; "
        "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(new - {'evals', 'argparse', '__future__'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_register_adds_an_eval_subcommand_with_func():
    from evals.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", "--target", "tools", "--kind", "comparison", "--json", "r.json"])
    assert args.target == "tools" and args.kind == ["comparison"] and args.json == "r.json"
    assert callable(args.func)


def test_vramwise_eval_runs_through_the_main_cli(tmp_path, capsys):
    from vramwise.cli import main as vramwise_main

    report_path = tmp_path / "r.json"
    assert vramwise_main(["eval", "--kind", "comparison", "--json", str(report_path)]) == 0
    assert json.loads(report_path.read_text(encoding="utf-8"))["by_kind"]["comparison"]["rate"] == 1.0
