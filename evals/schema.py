"""Schema of the eval case files (evals/cases/*.yaml): four kinds of case, each validated with extra="forbid".

    python -m evals.schema > evals/schema/cases.schema.json

A case says how a user would ask (`question`, `lang`), which typed tool answers it with which arguments, and what
a correct answer must satisfy. Numbers carry their provenance: a case-level `source` (URL or paper) and, on every
numeric expectation, `why` (the arithmetic or the row it was read from).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Lang = Literal["en", "zh"]
Kind = Literal["calculation", "recommendation", "comparison", "concept"]
Level = Literal["lossless", "negligible", "small", "noticeable", "severe"]

# Order of the published quality levels (agent_tools/data/format_quality.yaml), best first.
LEVEL_ORDER: tuple[str, ...] = ("lossless", "negligible", "small", "noticeable", "severe")

Op = Literal[
    "eq",
    "approx",
    "lt",
    "le",
    "gt",
    "ge",
    "true",
    "false",
    "contains",
    "not_contains",
    "one_of",
    "strictly_increasing",
    "strictly_decreasing",
    "non_decreasing",
    "non_increasing",
]
NUMERIC_OPS = frozenset({"eq", "approx", "lt", "le", "gt", "ge"})
SEQUENCE_OPS = frozenset({"strictly_increasing", "strictly_decreasing", "non_decreasing", "non_increasing"})
VALUELESS_OPS = frozenset({"true", "false"}) | SEQUENCE_OPS

CASE_ID = r"^[a-z0-9][a-z0-9._-]*$"
CLAIM_ID = r"^C\d{3}$"
NOTE_ID = r"^[a-z0-9][a-z0-9-]*$"

Scalar = int | float | str | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expectation(_Strict):
    """One check on a tool result, addressed by a path into the result's JSON form."""

    field: str = Field(
        description=(
            "path into the result: dotted names, [i] for a list index, [*] for every item, [key=value] for the "
            "item whose key equals value; two paths joined by ' - ' or ' + ' give their difference or sum. "
            "e.g. breakdown.kv_cache_bytes, candidates[0].model, rows[precision=q4_k_m].total_bytes, "
            "total_bytes - breakdown.overhead_bytes"
        ),
        min_length=1,
    )
    op: Op
    value: Scalar | list[Scalar] | None = Field(
        default=None, description="expected value (a list for one_of); none for true/false and the ordering ops"
    )
    tolerance: float | None = Field(default=None, gt=0, lt=1, description="relative tolerance, required by approx")
    order: list[str] | None = Field(
        default=None, description="ordering ops on strings: ranks, first = smallest (e.g. quality levels)"
    )
    why: str | None = Field(
        default=None, description="the arithmetic or the published row behind a numeric value (required for them)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Expectation:
        if self.op in VALUELESS_OPS and self.value is not None:
            raise ValueError(f"op {self.op!r} takes no value (got {self.value!r})")
        if self.op not in VALUELESS_OPS and self.value is None:
            raise ValueError(f"op {self.op!r} needs a value")
        if (self.op == "approx") != (self.tolerance is not None):
            raise ValueError("tolerance goes with op 'approx' and only with it")
        if self.op == "one_of" and not isinstance(self.value, list):
            raise ValueError("op 'one_of' needs a list value")
        if self.op != "one_of" and isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} takes a single value, not a list")
        if self.order is not None and self.op not in SEQUENCE_OPS:
            raise ValueError("order is only for the ordering ops")
        numeric = isinstance(self.value, int | float) and not isinstance(self.value, bool)
        if self.op in NUMERIC_OPS and numeric and not (self.why and self.why.strip()):
            raise ValueError(f"numeric expectation on {self.field!r} needs `why`: its arithmetic or its source row")
        return self


class ExpectedError(_Strict):
    """The tool must refuse the input with an error that names the problem."""

    type: Literal["VramwiseError", "ValueError"] = Field(
        default="ValueError", description="VramwiseError (domain) or ValueError (any validation error)"
    )
    message_contains: list[str] = Field(min_length=1, description="case-insensitive fragments of the message")


class _Case(_Strict):
    id: str = Field(pattern=CASE_ID, description="unique across all case files")
    lang: Lang = Field(description="language of the question; answers must come back in it")
    question: str = Field(min_length=4, description="how a user would ask")
    claims: list[Annotated[str, Field(pattern=CLAIM_ID)]] = Field(
        default_factory=list, description="seed claim ids (research/seed-claims.md) this case holds the tools to"
    )
    notes: list[Annotated[str, Field(pattern=NOTE_ID)]] = Field(
        default_factory=list, description="knowledge note ids a full answer would cite (informational)"
    )
    assistant: Literal["full", "tool_only", "skip"] = Field(
        default="full",
        description=(
            "how the offline/agent targets judge this case: full = the case's checks must hold on the tool result "
            "the assistant obtained; tool_only = the right tool was called and every figure traces to it (for "
            "args a user would not state, e.g. full_prompt_logits); skip = not asked of assistants"
        ),
    )


class CalculationCase(_Case):
    """estimate_memory with these arguments must produce these field values (or refuse with this error)."""

    kind: Literal["calculation"]
    tool: Literal["estimate_memory"] = "estimate_memory"
    args: dict[str, Any] = Field(description="estimate_memory keyword arguments")
    expect: list[Expectation] = Field(default_factory=list)
    raises: ExpectedError | None = None
    source: str = Field(min_length=3, description="URL, paper or reference row behind the expected values")

    @model_validator(mode="after")
    def _expect_or_raise(self) -> CalculationCase:
        if bool(self.expect) == (self.raises is not None):
            raise ValueError("give either expect (one or more checks) or raises, not both")
        return self


class RejectedExpectation(_Strict):
    model: str = Field(description="catalog id that must appear among the rejected")
    reason_contains: list[str] = Field(default_factory=lambda: ["needs"])


class RecommendationConstraints(_Strict):
    """What any correct recommendation for this hardware and job must satisfy."""

    all_fit: bool = Field(default=True, description="every candidate fits with min_headroom_fraction to spare")
    min_headroom_fraction: float = Field(default=0.05, ge=0, lt=1, description="of the usable memory per GPU")
    min_candidates: int = Field(default=1, ge=0)
    min_params_b: float | None = Field(
        default=None, gt=0, description="the top pick has at least this many total parameters (uses the hardware)"
    )
    max_params_b: float | None = Field(default=None, gt=0, description="no candidate is larger than this")
    must_include_any: list[str] = Field(default_factory=list, description="at least one of these is a candidate")
    must_not_include: list[str] = Field(default_factory=list, description="none of these is a candidate")
    respect_speed_floor: bool = Field(
        default=True, description="every candidate decodes at args.min_tokens_per_s or faster (when given)"
    )
    top_min_tokens_per_s: float | None = Field(default=None, gt=0, description="the top pick decodes this fast")
    top_max_quality_level: Level | None = Field(
        default=None, description="the top pick's format costs at most this level of quality"
    )
    runtime: str | None = Field(default=None, description="the runtime the hardware should be served with")
    rejected_includes: list[RejectedExpectation] = Field(default_factory=list)


class RecommendationCase(_Case):
    """recommend_model with these arguments must meet these constraints."""

    kind: Literal["recommendation"]
    tool: Literal["recommend_model"] = "recommend_model"
    args: dict[str, Any] = Field(description="recommend_model keyword arguments")
    constraints: RecommendationConstraints
    expect: list[Expectation] = Field(default_factory=list)
    source: str = Field(min_length=3, description="why a professional would hold the tool to these constraints")


class AlternativeExpectation(_Strict):
    model: str = Field(description="catalog id that must appear among equal_size_alternatives")
    precision: str | None = None
    comparison_contains: list[str] = Field(default_factory=list, description="fragments of its verdict")


class ComparisonCase(_Case):
    """compare_precision with these arguments must order its rows and alternatives like this."""

    kind: Literal["comparison"]
    tool: Literal["compare_precision"] = "compare_precision"
    args: dict[str, Any] = Field(description="compare_precision keyword arguments")
    expect: list[Expectation] = Field(default_factory=list)
    alternatives: list[AlternativeExpectation] = Field(default_factory=list)
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _something_to_check(self) -> ComparisonCase:
        if not self.expect and not self.alternatives:
            raise ValueError("a comparison case needs expect or alternatives")
        return self


class ConceptCase(_Case):
    """A question the knowledge base answers: a right answer cites these notes."""

    kind: Literal["concept"]
    must_cite: list[Annotated[str, Field(pattern=NOTE_ID)]] = Field(
        default_factory=list, description="note ids (knowledge/notes/<id>.<lang>.md) a right answer must all cite"
    )
    cite_one_of: list[Annotated[str, Field(pattern=NOTE_ID)]] = Field(
        default_factory=list, description="notes that each explain the concept: a right answer cites at least one"
    )
    answer_contains_any: list[str] = Field(
        default_factory=list, description="assistant targets: the answer text holds at least one of these"
    )
    source: str | None = None

    @model_validator(mode="after")
    def _some_note(self) -> ConceptCase:
        if not self.must_cite and not self.cite_one_of:
            raise ValueError("a concept case needs must_cite or cite_one_of")
        return self


Case = Annotated[
    CalculationCase | RecommendationCase | ComparisonCase | ConceptCase,
    Field(discriminator="kind"),
]


class CaseFile(_Strict):
    """One YAML file of eval cases."""

    description: str | None = None
    cases: list[Case] = Field(min_length=1)


def json_schema() -> dict[str, Any]:
    schema = CaseFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "vramwise eval case file"
    return schema


def main() -> int:
    sys.stdout.write(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
