"""Retrieval benchmark: hit@4 and MRR of dense-only, BM25-only and hybrid search over the shipped notes.

Reads evals/retrieval/questions_*.yaml, ingests knowledge/notes into a temporary store, asks every question
with the language detected from the question (as a user would), and reports per language and overall.
Exits 1 when hybrid misses its targets: hit@4 >= 0.90 overall and >= 0.85 on Chinese questions.

    .venv/bin/python evals/bench_retrieval.py [--verbose] [--json] [--set rrf_k=30 --set lang_mode=boost]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from knowledge.chunking import ChunkingOptions  # noqa: E402
from knowledge.search import DEFAULT_CONFIG, RetrievalConfig, retrieve  # noqa: E402

QUESTIONS_DIR = REPO / "evals" / "retrieval"
MODES = ("dense", "lexical", "hybrid")
HIT_K = 4
MRR_DEPTH = 10
TARGET_HIT_OVERALL = 0.90
TARGET_HIT_ZH = 0.85


def load_questions(folder: Path = QUESTIONS_DIR) -> list[dict[str, Any]]:
    questions: list[dict[str, Any]] = []
    for path in sorted(folder.glob("questions_*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in data.get("questions") or []:
            missing = {"id", "lang", "question", "expected_notes"} - set(item)
            if missing:
                raise SystemExit(f"{path.name}: question {item.get('id', '?')} lacks {sorted(missing)}")
            questions.append({**item, "file": path.name})
    return questions


def _parse_overrides(pairs: list[str]) -> RetrievalConfig:
    fields = {f.name: f for f in dataclasses.fields(RetrievalConfig)}
    values: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        if key not in fields:
            raise SystemExit(f"unknown setting {key!r}; known: {', '.join(fields)}")
        default = getattr(DEFAULT_CONFIG, key)
        values[key] = type(default)(raw) if not isinstance(default, str) else raw
    return dataclasses.replace(DEFAULT_CONFIG, **values)


def evaluate(store: Any, questions: list[dict[str, Any]], mode: str, config: RetrievalConfig) -> list[dict[str, Any]]:
    rows = []
    for q in questions:
        lang, passages = retrieve(q["question"], k=MRR_DEPTH, store=store, mode=mode, config=config)  # type: ignore[arg-type]
        notes = [p.note_id for p in passages]
        expected = set(q["expected_notes"])
        rank = next((i for i, note in enumerate(notes, start=1) if note in expected), None)
        rows.append(
            {
                "id": q["id"],
                "lang": q["lang"],
                "detected_lang": lang,
                "hit": rank is not None and rank <= HIT_K,
                "rr": 1.0 / rank if rank else 0.0,
                "top": notes[:HIT_K],
                "expected": q["expected_notes"],
                "question": q["question"],
                "same_lang_share": sum(p.lang == q["lang"] for p in passages[:HIT_K]) / max(1, len(passages[:HIT_K])),
            }
        )
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for group in ("en", "zh", "all"):
        subset = [r for r in rows if group == "all" or r["lang"] == group]
        if subset:
            out[group] = {
                "n": len(subset),
                "hit@4": round(sum(r["hit"] for r in subset) / len(subset), 3),
                "mrr": round(sum(r["rr"] for r in subset) / len(subset), 3),
                "same_lang@4": round(sum(r["same_lang_share"] for r in subset) / len(subset), 3),
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override RetrievalConfig")
    parser.add_argument("--chunk-min", type=float, default=ChunkingOptions().min_units)
    parser.add_argument("--chunk-max", type=float, default=ChunkingOptions().max_units)
    parser.add_argument("--verbose", action="store_true", help="list the questions hybrid misses")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    config = _parse_overrides(args.set)
    questions = load_questions()
    if not questions:
        print(f"no questions in {QUESTIONS_DIR}/questions_*.yaml", file=sys.stderr)
        return 2

    from knowledge.ingest import ingest
    from knowledge.store import open_store

    with tempfile.TemporaryDirectory(prefix="vramwise-bench-") as tmp:
        store = open_store(path=Path(tmp) / "chroma")
        started = time.perf_counter()
        report = ingest(
            None, store, progress=False, options=ChunkingOptions(min_units=args.chunk_min, max_units=args.chunk_max)
        )
        ingest_s = time.perf_counter() - started
        results = {mode: evaluate(store, questions, mode, config) for mode in MODES}

    summary = {mode: summarize(rows) for mode, rows in results.items()}
    hybrid = summary["hybrid"]
    passed = hybrid["all"]["hit@4"] >= TARGET_HIT_OVERALL and hybrid.get("zh", {"hit@4": 1.0})["hit@4"] >= TARGET_HIT_ZH
    detected_wrong = [r["id"] for r in results["hybrid"] if r["detected_lang"] != r["lang"]]

    if args.json:
        print(json.dumps({"config": dataclasses.asdict(config), "summary": summary, "passed": passed}, indent=2))
        return 0 if passed else 1

    files = sorted({q["file"] for q in questions})
    print(f"questions: {len(questions)} from {', '.join(files)}")
    print(f"notes: {report.files_ingested} files, {report.chunks_total} chunks (ingest {ingest_s:.1f} s)")
    print(f"config: {dataclasses.asdict(config)}  chunking: min {args.chunk_min} max {args.chunk_max} units")
    print(f"\n{'mode':8s} {'lang':4s} {'n':>4s} {'hit@4':>6s} {'MRR':>6s} {'same-lang@4':>12s}")
    for mode in MODES:
        for group, figures in summary[mode].items():
            print(
                f"{mode:8s} {group:4s} {figures['n']:4.0f} {figures['hit@4']:6.3f} {figures['mrr']:6.3f} "
                f"{figures['same_lang@4']:12.3f}"
            )
    if detected_wrong:
        print(f"\nlanguage detected differently from the question's label: {', '.join(detected_wrong)}")
    if args.verbose:
        print("\nhybrid misses:")
        for row in results["hybrid"]:
            if not row["hit"]:
                print(
                    f"  {row['id']} [{row['lang']}] {row['question']}\n    expected {row['expected']} got {row['top']}"
                )
    verdict = "PASS" if passed else "FAIL"
    print(
        f"\n{verdict}: hybrid hit@4 {hybrid['all']['hit@4']:.3f} overall (target {TARGET_HIT_OVERALL}), "
        f"{hybrid.get('zh', {}).get('hit@4', float('nan')):.3f} Chinese (target {TARGET_HIT_ZH})"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
