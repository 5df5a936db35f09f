"""Eval runner: load the case files, run each case against a target, report per kind, gate on the pass rate.

    python -m evals.run [--target tools|knowledge|offline|agent] [--kind KIND ...] [--case ID ...]
                        [--json PATH] [--gate RATE]

Targets
  tools      the typed functions (estimate_memory, recommend_model, compare_precision); concept cases do not apply
  knowledge  search_knowledge(question, k=4): the expected notes are among the top-4 passages (concept cases)
  offline    assistant.offline.answer(question): right language, expected notes cited, and the numbers checked
             against the tool results the assistant itself obtained (it must have called the tool)
  agent      the LangChain agent from assistant.agent.build_agent with the configured chat model, judged like
             offline; skipped (exit 0) when no chat model is configured

Exit status: 0 when the pass rate (passed / applicable, errors count as failures) reaches the gate, 1 below it,
2 for unreadable case files or a target that cannot be loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from evals import evaluators as ev
from evals.schema import (
    CalculationCase,
    Case,
    CaseFile,
    ComparisonCase,
    ConceptCase,
    RecommendationCase,
)

CASES_DIR = Path(__file__).parent / "cases"
NOTES_DIR = Path(__file__).parent.parent / "knowledge" / "notes"
TARGETS = ("tools", "knowledge", "offline", "agent")
KINDS = ("calculation", "recommendation", "comparison", "concept")
DEFAULT_GATES = {"tools": 0.98, "offline": 0.90, "knowledge": 0.90, "agent": 0.90}
KNOWLEDGE_TOP_K = 4


class CaseFileError(ValueError):
    """A case file that does not parse or validate; the message names the file and the problem."""


# --------------------------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class LoadedCase:
    case: Case
    path: Path


def load_cases(directory: Path = CASES_DIR) -> list[LoadedCase]:
    """Every case of every *.yaml file under `directory`, validated; raises CaseFileError naming the problem."""
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise CaseFileError(f"no case files (*.yaml) in {directory}")
    loaded: list[LoadedCase] = []
    seen: dict[str, Path] = {}
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            case_file = CaseFile.model_validate(data)
        except yaml.YAMLError as err:
            raise CaseFileError(f"{path.name}: not valid YAML: {err}") from err
        except ValidationError as err:
            raise CaseFileError(f"{path.name}: {_describe(err, data)}") from err
        for case in case_file.cases:
            if case.id in seen:
                raise CaseFileError(f"{path.name}: case id {case.id!r} also used in {seen[case.id].name}")
            seen[case.id] = path
            loaded.append(LoadedCase(case, path))
    return loaded


def _describe(err: ValidationError, data: Any) -> str:
    """One line per schema error, naming the case id where the error sits inside a case."""
    lines = []
    for e in err.errors():
        loc = list(e["loc"])
        where = ".".join(str(x) for x in loc)
        if len(loc) > 1 and loc[0] == "cases" and isinstance(loc[1], int):
            with contextlib.suppress(KeyError, IndexError, TypeError, AttributeError):
                where = f"case {data['cases'][loc[1]].get('id', loc[1])!r}: " + ".".join(str(x) for x in loc[3:])
        lines.append(f"{where}: {e['msg']} (got {e.get('input')!r})"[:400])
    return f"{len(lines)} schema error(s):\n  " + "\n  ".join(lines)


def lint_cases(cases: Iterable[LoadedCase], notes_dir: Path = NOTES_DIR) -> list[str]:
    """Problems the schema cannot see: tool arguments the request models reject, note ids with no note file."""
    from agent_tools.advice import CompareRequest, RecommendRequest
    from agent_tools.estimate import EstimateRequest

    request_models: dict[str, type[BaseModel]] = {
        "calculation": EstimateRequest,
        "recommendation": RecommendRequest,
        "comparison": CompareRequest,
    }
    known_notes = {p.name.split(".")[0] for p in notes_dir.glob("*.md")} if notes_dir.is_dir() else None
    problems = []
    for item in cases:
        case = item.case
        where = f"{item.path.name}:{case.id}"
        refusal = isinstance(case, CalculationCase) and case.raises is not None
        if isinstance(case, CalculationCase | RecommendationCase | ComparisonCase) and not refusal:
            try:
                request_models[case.kind].model_validate(case.args)
            except ValidationError as err:
                problems.append(f"{where}: args rejected by {request_models[case.kind].__name__}: {err}")
        if known_notes is not None:
            cited = list(case.notes)
            if isinstance(case, ConceptCase):
                cited += list(case.must_cite) + list(case.cite_one_of)
            problems += [f"{where}: unknown note id {n!r}" for n in cited if n not in known_notes]
    return problems


# --------------------------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    id: str
    kind: str
    lang: str
    file: str
    status: str  # pass | fail | error | skip
    checks: list[ev.Check] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    message: str = ""
    seconds: float = 0.0

    @property
    def counted(self) -> bool:
        return self.status in ("pass", "fail", "error")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["checks"] = [asdict(c) for c in self.checks]
        return out


def _from_checks(outcome: Outcome, checks: list[ev.Check]) -> Outcome:
    outcome.checks = checks
    outcome.status = "pass" if checks and all(c.passed for c in checks) else "fail"
    if not checks:
        outcome.message = "nothing was checked"
    return outcome


def _jsonable(result: Any) -> Any:
    return result.model_dump(mode="json") if isinstance(result, BaseModel) else result


# ------------------------------------------------------------------------------------ result summaries


def summarize(kind: str, result: Any) -> Any:
    """The part of a tool result worth showing next to a failing check."""
    if not isinstance(result, dict):
        return result
    if kind == "calculation":
        keys = ("total_bytes", "per_gpu_bytes", "kv_cache_bytes_per_token", "breakdown")
        out = {k: result.get(k) for k in keys}
        out["params_total"] = (result.get("model") or {}).get("params_total")
        if result.get("fit"):
            fit = result["fit"]
            out["fit"] = {k: fit.get(k) for k in ("fits", "headroom_bytes", "max_context_length", "verdict")}
        if result.get("speed"):
            out["decode_tokens_per_s"] = result["speed"].get("decode_tokens_per_s")
        return out
    if kind == "recommendation":
        return {
            "hardware": result.get("hardware"),
            "candidates": [
                f"{c['rank']}. {c['model']} {c['precision']} {c['params_total'] / 1e9:.1f}B "
                f"{c['total_bytes'] / 1e9:.1f} GB headroom {c['headroom_bytes'] / 1e9:.1f} GB "
                f"{c.get('decode_tokens_per_s')} tok/s {c.get('format_quality')} score {c.get('rank_score')}"
                for c in result.get("candidates") or []
            ],
            "rejected": [f"{r['model']}: {r['reason']}" for r in (result.get("rejected") or [])[:5]],
        }
    if kind == "comparison":
        return {
            "rows": [
                f"{r['precision']} {r['bits_per_weight']} bpw {r['total_bytes'] / 1e9:.2f} GB fits={r.get('fits')} "
                f"{(r.get('quality_impact') or {}).get('level')}"
                for r in result.get("rows") or []
            ],
            "alternatives": [
                f"{a['model']}@{a['precision']} {a['total_bytes'] / 1e9:.2f} GB"
                for a in result.get("equal_size_alternatives") or []
            ],
            "verdict": result.get("verdict"),
        }
    return result


# ----------------------------------------------------------------------------------------- tool checks


TOOL_FOR_KIND = {
    "calculation": "estimate_memory",
    "recommendation": "recommend_model",
    "comparison": "compare_precision",
}


def tool_function(kind: str) -> Callable[..., Any]:
    """The registry's tool for a case kind, called with the case's arguments."""
    from vramwise.tools import tool

    spec = tool(TOOL_FOR_KIND[kind])
    return lambda **arguments: spec.run(arguments)


def judge_tool_result(case: Case, result: dict[str, Any] | None, error: BaseException | None) -> list[ev.Check]:
    """The checks of a calculation, recommendation or comparison case on one tool result (or error)."""
    if isinstance(case, CalculationCase) and case.raises:
        return [ev.check_error(error, case.raises.type, case.raises.message_contains)]
    if error is not None or result is None:
        return [ev.Check(False, f"{case.tool} returns a result", f"raised {type(error).__name__}: {error}")]
    checks: list[ev.Check] = []
    if isinstance(case, RecommendationCase):
        checks += ev.check_recommendation(result, case.constraints, case.args.get("min_tokens_per_s"))
    checks += [ev.check_expectation(result, e) for e in getattr(case, "expect", [])]
    if isinstance(case, ComparisonCase):
        checks += [ev.check_alternative(result, a.model, a.precision, a.comparison_contains) for a in case.alternatives]
    return checks


# ---------------------------------------------------------------------------------------------- targets


class Target:
    name = ""

    def unavailable(self) -> str | None:
        """None when the target can run, else why not."""
        return None

    def applies(self, case: Case) -> bool:
        raise NotImplementedError

    def run(self, case: Case, outcome: Outcome) -> Outcome:
        raise NotImplementedError


class ToolsTarget(Target):
    """Call the typed tool functions directly."""

    name = "tools"

    def applies(self, case: Case) -> bool:
        return not isinstance(case, ConceptCase)

    def run(self, case: Case, outcome: Outcome) -> Outcome:
        assert not isinstance(case, ConceptCase)
        outcome.inputs = {"question": case.question, "tool": case.tool, "args": case.args}
        result = error = None
        try:
            result = _jsonable(tool_function(case.kind)(**case.args))
        except ValueError as err:  # VramwiseError and pydantic's ValidationError are ValueErrors
            error = err
        outcome.output = summarize(case.kind, result) if result is not None else f"{type(error).__name__}: {error}"
        return _from_checks(outcome, judge_tool_result(case, result, error))


def concept_citation_checks(case: ConceptCase, cited: Sequence[str], where: str) -> list[ev.Check]:
    checks = []
    if case.must_cite:
        checks.append(ev.check_cites(cited, case.must_cite, where=where))
    if case.cite_one_of:
        checks.append(ev.check_cites_one_of(cited, case.cite_one_of, where=where))
    return checks


class KnowledgeTarget(Target):
    """search_knowledge(question, k=4): the expected notes are among the passages."""

    name = "knowledge"

    def unavailable(self) -> str | None:
        try:
            import knowledge.search  # noqa: F401
        except ImportError as err:
            return f"knowledge.search cannot be imported: {err}"
        return None

    def applies(self, case: Case) -> bool:
        return isinstance(case, ConceptCase)

    def run(self, case: Case, outcome: Outcome) -> Outcome:
        assert isinstance(case, ConceptCase)
        from knowledge.search import search_knowledge

        outcome.inputs = {"query": case.question, "k": KNOWLEDGE_TOP_K}
        found = search_knowledge(case.question, k=KNOWLEDGE_TOP_K)
        notes = [p.note_id for p in found.passages]
        outcome.output = {"lang": found.lang, "notes": notes, "headings": [p.heading for p in found.passages]}
        return _from_checks(outcome, concept_citation_checks(case, notes, f"top-{KNOWLEDGE_TOP_K} passages"))


@dataclass
class ToolRun:
    """One tool call an assistant made, with the result it got (None when the call failed)."""

    tool: str
    args: dict[str, Any]
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class AnswerView:
    """What the judge needs from an assistant's answer, whichever assistant produced it."""

    text: str
    language: str | None
    cited: list[str]
    calls: list[ToolRun]
    asked_back: bool = False
    provenance: list[ev.Check] = field(default_factory=list)


def judge_answer(case: Case, view: AnswerView) -> list[ev.Check]:
    """Checks on an assistant answer: its language, its citations, the case's own checks on the tool result the
    assistant obtained (assistant='full'), and that its figures come from tool results."""
    checks = [ev.check_language(view.language, case.lang)]
    if isinstance(case, ConceptCase):
        checks += concept_citation_checks(case, view.cited, "answer")
        if case.answer_contains_any:
            checks.append(ev.check_text_contains_any(view.text, case.answer_contains_any))
        return checks + view.provenance
    own = [c for c in view.calls if c.tool == case.tool]
    if isinstance(case, CalculationCase) and case.raises:
        refused = any(not c.ok for c in own) or view.asked_back
        detail = f"calls: {[(c.tool, c.ok, c.error) for c in view.calls]}; asked back: {view.asked_back}"
        checks.append(ev.Check(refused, "refuses the input or asks back instead of inventing figures", detail))
        return checks + view.provenance
    done = [c for c in own if c.ok and c.result is not None]
    if not done:
        checks.append(
            ev.Check(False, f"the answer calls {case.tool}", f"calls: {[(c.tool, c.ok) for c in view.calls]}")
        )
        return checks
    if case.assistant == "full":
        checks += judge_tool_result(case, _about_the_subject(case, done).result, None)
    return checks + view.provenance


def _about_the_subject(case: Case, done: list[ToolRun]) -> ToolRun:
    """Of several calls to the case's tool ("Qwen2.5-7B bf16 or Qwen2.5-14B q8_0?" sizes both), the one about the
    model the case is about; else the last."""
    want = getattr(case, "args", {}).get("model")
    if want:
        from agent_tools import catalog
        from agent_tools.errors import VramwiseError

        def model_id(name: Any) -> str | None:
            try:
                return catalog.resolve_model(str(name)).id
            except VramwiseError:  # a name the catalog does not know is simply not this model
                return None

        target = model_id(want)
        about = [c for c in done if c.args.get("model") and model_id(c.args["model"]) == target]
        if about:
            return about[-1]
    return done[-1]


# ------------------------------------------------------------------------------------------ offline view


def rerun_tool(tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run a tool call again from its recorded arguments (all tools are deterministic)."""
    if tool == "search_knowledge":
        from knowledge.search import search_knowledge

        return _jsonable(search_knowledge(**args))
    from vramwise.tools import tool as registered

    return _jsonable(registered(tool).run(args))


def check_figures(answer_text: str, figures: Sequence[Any], results: Sequence[dict[str, Any] | None]) -> ev.Check:
    """Every figure the answer declares is in its text and equals its tool result field, rendered the same way."""
    from assistant.figures import clean_passage, render

    bad = []
    for f in figures:
        result = results[f.call] if 0 <= f.call < len(results) else None
        if f.text not in answer_text:
            bad.append(f"{f.text!r} is not in the answer text")
            continue
        if result is None:
            bad.append(f"{f.text!r}: call {f.call} has no result")
            continue
        try:
            value = ev.resolve_path(result, f.field)
        except ev.PathError as err:
            bad.append(f"{f.text!r}: {f.field}: {err}")
            continue
        if f.format == "excerpt":
            ok = f.text in clean_passage(str(value))
        else:
            ok = value == f.value and render(value, f.format) == f.text
        if not ok:
            bad.append(f"{f.text!r} != {f.tool}.{f.field} = {value!r}")
    label = "every figure in the answer is a field of a re-run tool result"
    return ev.Check(not bad, label, "; ".join(bad[:5]) or f"{len(figures)} figures traced")


def view_offline_answer(answer: Any) -> AnswerView:
    """An assistant.offline Answer, its tool calls re-run from their recorded arguments."""
    runs = []
    results: list[dict[str, Any] | None] = []
    for call in answer.tool_calls:
        result = rerun_tool(call.tool, dict(call.args)) if call.ok else None
        # a refused call's figures (if any) are quoted from its error message
        results.append(result if call.ok else {"error": call.error})
        runs.append(ToolRun(call.tool, dict(call.args), call.ok, result, call.error))
    return AnswerView(
        text=answer.text,
        language=answer.language,
        cited=[c.note_id for c in answer.citations],
        calls=runs,
        asked_back=bool(answer.needs),
        provenance=[check_figures(answer.text, answer.numbers, results)],
    )


# -------------------------------------------------------------------------------------------- agent view

_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?")


def detect_language(text: str) -> str:
    """'zh' when CJK characters are at least a fifth of the letters, else 'en'."""
    cjk = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    letters = sum(ch.isalpha() for ch in text)
    return "zh" if letters and cjk / letters >= 0.2 else "en"


def _numeric_leaves(data: Any) -> Iterable[float]:
    if isinstance(data, bool):
        return
    if isinstance(data, int | float):
        yield float(data)
    elif isinstance(data, dict):
        for v in data.values():
            yield from _numeric_leaves(v)
    elif isinstance(data, list):
        for v in data:
            yield from _numeric_leaves(v)


def untraced_numbers(text: str, question: str, results: Sequence[Any]) -> list[str]:
    """Numbers in an answer that match no tool result value (as is, or in GB, GiB, MB, MiB, billions) and do not
    come from the question; small integers (list ranks, counts) are not checked."""
    known_text = question + " " + " ".join(json.dumps(r, ensure_ascii=False) for r in results)
    values = [v for r in results for v in _numeric_leaves(r)]
    scaled = {round(v / d, k) for v in values for d in (1, 1e9, 2**30, 1e6, 2**20) for k in (0, 1, 2)}
    orphans = []
    for match in _NUMBER.finditer(text):
        whole, frac = match.group(1).replace(",", ""), match.group(2)
        number = float(f"{whole}.{frac}" if frac else whole)
        if not frac and number <= 16:
            continue
        if match.group(0) in known_text or number in scaled:
            continue
        decimals = len(frac or "")
        if any(abs(number - round(s, decimals)) < 10**-decimals / 2 + 1e-9 for s in scaled):
            continue
        orphans.append(match.group(0))
    return orphans


def view_agent_messages(question: str, messages: Sequence[Any]) -> AnswerView:
    """A LangChain agent run (its message list) as an AnswerView."""
    from assistant.agent import tool_result

    pending: dict[str, ToolRun] = {}
    runs: list[ToolRun] = []
    text = ""
    for message in messages:
        for call in getattr(message, "tool_calls", None) or []:
            run = ToolRun(call["name"], dict(call.get("args") or {}), ok=False)
            pending[call.get("id") or str(len(pending))] = run
            runs.append(run)
        call_id = getattr(message, "tool_call_id", None)
        if call_id is not None and call_id in pending:
            run = pending[call_id]
            try:
                run.result = tool_result(message)
                run.ok = "error" not in run.result or len(run.result) > 1
            except (ValueError, TypeError) as err:
                run.error = f"{type(err).__name__}: {err}"
        if getattr(message, "type", "") == "ai":
            content = message.content
            if isinstance(content, list):
                content = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
            text = str(content) or text
    results = [r.result for r in runs if r.result is not None]
    orphans = untraced_numbers(text, question, results)
    provenance = [
        ev.Check(not orphans, "every number in the answer comes from a tool result or the question", f"{orphans}")
    ]
    return AnswerView(
        text=text,
        language=detect_language(text),
        cited=re.findall(r"note:([a-z0-9][a-z0-9-]*)", text),
        calls=runs,
        asked_back=not any(r.ok for r in runs) and ("?" in text or "？" in text),
        provenance=provenance,
    )


class OfflineTarget(Target):
    """assistant.offline.answer(question) -> Answer, its tool calls re-run to check every figure."""

    name = "offline"

    def __init__(self) -> None:
        self._answer: Callable[[str], Any] | None = None

    def unavailable(self) -> str | None:
        try:
            from assistant.offline import answer
        except ImportError as err:
            return f"not available: assistant.offline cannot be imported ({err})"
        self._answer = answer
        return None

    def applies(self, case: Case) -> bool:
        return case.assistant != "skip"

    def run(self, case: Case, outcome: Outcome) -> Outcome:
        assert self._answer is not None
        outcome.inputs = {"question": case.question}
        view = view_offline_answer(self._answer(case.question))
        outcome.output = {"text": view.text, "cited": view.cited, "calls": [(c.tool, c.args, c.ok) for c in view.calls]}
        return _from_checks(outcome, judge_answer(case, view))


class AgentTarget(Target):
    """The LangChain agent from assistant.agent.build_agent with the configured chat model."""

    name = "agent"

    def __init__(self) -> None:
        self._agent: Any = None

    def unavailable(self) -> str | None:
        try:
            from assistant import agent
        except ImportError as err:
            return f"not available: assistant.agent cannot be imported ({err})"
        try:
            if agent.chat_model_settings() is None:
                return (
                    f"skipped: no chat model configured (set {agent.MODEL_ENV}, e.g. 'openai:gpt-4o-mini', or "
                    f"{agent.BASE_URL_ENV} and {agent.MODEL_ENV} for a local OpenAI-compatible server)"
                )
            self._agent = agent.build_agent()
        except (ImportError, ValueError, RuntimeError) as err:
            return f"skipped: the configured chat model cannot be built ({type(err).__name__}: {err})"
        return None

    def applies(self, case: Case) -> bool:
        return case.assistant != "skip"

    def run(self, case: Case, outcome: Outcome) -> Outcome:
        assert self._agent is not None
        outcome.inputs = {"question": case.question}
        state = self._agent.invoke({"messages": [{"role": "user", "content": case.question}]})
        view = view_agent_messages(case.question, state["messages"])
        outcome.output = {"text": view.text, "cited": view.cited, "calls": [(c.tool, c.args, c.ok) for c in view.calls]}
        return _from_checks(outcome, judge_answer(case, view))


TARGET_CLASSES: dict[str, type[Target]] = {
    "tools": ToolsTarget,
    "knowledge": KnowledgeTarget,
    "offline": OfflineTarget,
    "agent": AgentTarget,
}


# ---------------------------------------------------------------------------------------------- running


@dataclass
class Report:
    target: str
    gate: float
    outcomes: list[Outcome]
    unavailable: str | None = None

    @property
    def counted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.counted]

    @property
    def passed(self) -> int:
        return sum(o.status == "pass" for o in self.outcomes)

    @property
    def rate(self) -> float:
        return self.passed / len(self.counted) if self.counted else 0.0

    @property
    def ok(self) -> bool:
        return self.unavailable is None and bool(self.counted) and self.rate >= self.gate

    def by_kind(self) -> dict[str, dict[str, Any]]:
        table: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            rows = [o for o in self.outcomes if o.kind == kind]
            if not rows:
                continue
            counted = [o for o in rows if o.counted]
            passed = sum(o.status == "pass" for o in rows)
            table[kind] = {
                "pass": passed,
                "fail": sum(o.status == "fail" for o in rows),
                "error": sum(o.status == "error" for o in rows),
                "skip": sum(o.status == "skip" for o in rows),
                "total": len(counted),
                "rate": round(passed / len(counted), 4) if counted else None,
            }
        return table

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "gate": self.gate,
            "unavailable": self.unavailable,
            "passed": self.passed,
            "total": len(self.counted),
            "rate": round(self.rate, 4),
            "ok": self.ok,
            "by_kind": self.by_kind(),
            "by_lang": {
                lang: {
                    "pass": sum(o.status == "pass" for o in self.counted if o.lang == lang),
                    "total": sum(o.lang == lang for o in self.counted),
                }
                for lang in ("en", "zh")
            },
            "cases": [o.as_dict() for o in self.outcomes],
        }


def run_cases(
    cases: Sequence[LoadedCase],
    target: Target,
    kinds: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    gate: float | None = None,
) -> Report:
    """Run every applicable case against one target."""
    gate = DEFAULT_GATES[target.name] if gate is None else gate
    selected = [c for c in cases if (not kinds or c.case.kind in kinds) and (not ids or c.case.id in ids)]
    reason = target.unavailable()
    outcomes = []
    for item in selected:
        case = item.case
        outcome = Outcome(case.id, case.kind, case.lang, item.path.name, "skip")
        if reason is not None or not target.applies(case):
            outcome.message = reason or f"{case.kind} cases do not apply to target {target.name}"
            outcomes.append(outcome)
            continue
        start = time.perf_counter()
        try:
            target.run(case, outcome)
        except Exception as err:  # one broken case must not hide the rest of the report
            outcome.status = "error"
            outcome.message = f"{type(err).__name__}: {err}"
            outcome.output = traceback.format_exc(limit=4)
        outcome.seconds = round(time.perf_counter() - start, 4)
        outcomes.append(outcome)
    return Report(target.name, gate, outcomes, reason)


# ---------------------------------------------------------------------------------------------- output


def render(report: Report, console: Any = None) -> None:
    """Per-kind table, then every failing case with its inputs, failed checks and output."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console(soft_wrap=True)
    if report.unavailable:
        console.print(f"[bold yellow]target {report.target}: {report.unavailable}[/]")
        return
    table = Table(title=f"evals — target {report.target}")
    for col in ("kind", "pass", "fail", "error", "skip", "total", "rate"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for kind, row in report.by_kind().items():
        rate = "—" if row["rate"] is None else f"{row['rate']:.1%}"
        table.add_row(kind, *(str(row[k]) for k in ("pass", "fail", "error", "skip", "total")), rate)
    table.add_row(
        "[bold]all[/]", str(report.passed), "", "", "", str(len(report.counted)), f"[bold]{report.rate:.1%}[/]"
    )
    console.print(table)
    for o in report.outcomes:
        if o.status not in ("fail", "error"):
            continue
        console.rule(f"[red]{o.status.upper()}[/] {o.id} ({o.kind}, {o.lang}, {o.file})")
        console.print("inputs:", json.dumps(o.inputs, ensure_ascii=False), markup=False, highlight=False)
        if o.message:
            console.print(o.message, markup=False, highlight=False)
        for c in o.checks:
            if not c.passed:
                console.print(f"  ✗ {c.label}: {c.detail}", markup=False, highlight=False)
        console.print(
            "output:",
            json.dumps(o.output, ensure_ascii=False, indent=1, default=str)[:4000],
            markup=False,
            highlight=False,
        )
    verdict = "[green]PASS[/]" if report.ok else "[red]FAIL[/]"
    console.print(f"{verdict} {report.passed}/{len(report.counted)} = {report.rate:.1%} (gate {report.gate:.0%})")


def write_json(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------------- main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `python -m evals.run` and `vramwise eval`."""
    parser.add_argument("--target", choices=TARGETS, default="tools", help="what answers the cases (default tools)")
    parser.add_argument(
        "--kind", action="append", choices=KINDS, metavar="KIND", help=f"only these kinds ({', '.join(KINDS)})"
    )
    parser.add_argument("--case", action="append", metavar="ID", help="only these case ids")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the full report as JSON")
    parser.add_argument("--gate", type=float, help="pass-rate gate, 0-1 (default: tools 0.98, others 0.90)")
    parser.add_argument("--cases-dir", type=Path, default=CASES_DIR, help=argparse.SUPPRESS)


def run_from_args(args: argparse.Namespace) -> int:
    try:
        cases = load_cases(args.cases_dir)
    except CaseFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    problems = lint_cases(cases)
    if problems:
        print("error: case files have problems:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    if args.gate is not None and not 0 <= args.gate <= 1:
        print(f"error: --gate must be between 0 and 1 (got {args.gate})", file=sys.stderr)
        return 2
    target = TARGET_CLASSES[args.target]()
    report = run_cases(cases, target, args.kind, args.case, args.gate)
    render(report)
    if args.json:
        write_json(report, args.json)
    if report.unavailable:
        return 0 if args.target == "agent" else 2
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.run", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
