"""Golden-output regression check for refactors: every tool case and accuracy-benchmark row gives byte-identical
tool results before and after a change of structure.

    python -m evals.golden record   # writes evals/data/golden_tools.json (request args + sha256 of each result)
    python -m evals.golden check    # replays the recorded args and lists every result that changed

Results are canonical JSON (sorted keys) of the pydantic result, or the error's type and message.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "data" / "golden_tools.json"


def _requests() -> dict[str, tuple[str, dict[str, Any]]]:
    from evals import bench_accuracy as bench
    from evals.run import load_cases
    from evals.schema import ConceptCase

    tool_of = {"calculation": "estimate_memory", "recommendation": "recommend_model", "comparison": "compare_precision"}
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for loaded in load_cases():
        case = loaded.case
        if isinstance(case, ConceptCase):
            continue
        out[f"case:{case.id}"] = (tool_of[case.kind], dict(case.args))
    for i, mem in enumerate(bench.memory_cases()):
        out[f"memory:{i}:{mem.label}"] = ("estimate_memory", mem.request.model_dump(mode="json", exclude_defaults=True))
    for i, sp in enumerate(bench.speed_cases()):
        out[f"speed:{i}:{sp.label}"] = ("estimate_memory", sp.request.model_dump(mode="json", exclude_defaults=True))
    return out


def _call(tool: str, args: dict[str, Any]) -> str:
    from agent_tools import advice
    from agent_tools.estimate import estimate_memory

    fn = {
        "estimate_memory": estimate_memory,
        "recommend_model": advice.recommend_model,
        "compare_precision": advice.compare_precision,
    }[tool]
    try:
        result = fn(**args)
        body: Any = result.model_dump(mode="json")
    except ValueError as err:
        body = {"error": type(err).__name__, "message": str(err)}
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def record() -> int:
    rows = {
        key: {"tool": tool, "args": args, "sha256": _sha(_call(tool, args))}
        for key, (tool, args) in _requests().items()
    }
    GOLDEN.write_text(json.dumps(rows, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"recorded {len(rows)} results in {GOLDEN}")
    return 0


def check(show: int = 20) -> int:
    rows = json.loads(GOLDEN.read_text(encoding="utf-8"))
    changed = [key for key, row in rows.items() if _sha(_call(row["tool"], row["args"])) != row["sha256"]]
    print(f"{len(rows) - len(changed)}/{len(rows)} results byte-identical; {len(changed)} changed")
    for key in changed[:show]:
        print("  changed:", key)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(record() if sys.argv[1:] == ["record"] else check())
