"""The regex prefilter (assistant.prefilter): a pattern's required strings are read off the pattern, and a text
without any of them is never scanned. A filter that skipped a text the pattern matches would silently change what
the parser reads, so soundness is checked three ways: by hand, on random patterns, and on every parser pattern."""

from __future__ import annotations

import random
import re

import pytest

from assistant import understand
from assistant.prefilter import Prefiltered, required_literals
from evals.bench_parser import adversarial_questions


def _needs(pattern: str) -> tuple[str, ...] | None:
    return required_literals(re.compile(pattern))


@pytest.mark.parametrize(
    ("pattern", "needs"),
    [
        (r"(?<![\d.])(\d+)\s{0,4}(?:users?|people)", ("people", "user")),  # 'users' holds 'user': one test
        (r"(?:tokens?|tok)\s?/\s?s", ("tok",)),
        (r"tok(?:ens?)?/s", ("tok/s", "token/s", "tokens/s")),  # neighbouring exact pieces are joined
        (r"(?<![a-z])why|explain", ("explain", "why")),  # a negative lookbehind asks for nothing
        (r"\d+(?=\s*gb)", ("gb",)),  # a positive lookahead's text is in the text
        (r"\d+(?!\s*gb)", None),  # a negative one's is not
        (r"llama(?!cpp)", ("llama",)),
        (r"[xy×]\d", ("x", "y", "×")),
        (r"[a-z]+\d", None),  # a class too wide to spell out
        (r"qwen|\d+", None),  # one branch needs nothing, so the alternation needs nothing
        (r"(?:ab)?c?", None),  # may match the empty string
        (r"(?i)qwen", None),  # case-insensitive: the lower-case spelling is not the only one
        (r"(?i:qwen)\d|llama\d", None),
        (r"显存|vram", ("vram", "显存")),
    ],
)
def test_required_literals(pattern, needs):
    assert _needs(pattern) == needs


def test_prefiltered_skips_only_texts_it_cannot_match():
    p = Prefiltered(r"(?<![\d.])(\d+)\s{0,4}(?:users?|people)")
    assert p.search("no match here at all") is None
    assert list(p.finditer("7b " * 600)) == []
    assert p.search("for 10 users").group(1) == "10"
    assert [m.group(1) for m in p.finditer("10 users and 20 people")] == ["10", "20"]
    assert p.sub("N", "10 users, 7b") == "N, 7b"
    assert p.sub("N", "7b 14b") == "7b 14b"
    assert p.match("3 people") is not None and p.match("x 3 people") is None
    # a window (pos, endpos) is passed to the pattern as is: its lookbehind still sees the text before it
    assert p.search("1.5 users", 2) is None


_ALPHABET = "ab c1"


def _random_pattern(rng: random.Random, depth: int = 0) -> str:
    """A random pattern over a small alphabet, with every construct the filter reads (and some it skips)."""
    pieces = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.randint(0, 11 if depth < 2 else 4)
        if kind <= 2:
            pieces.append(re.escape(rng.choice(_ALPHABET)))
        elif kind == 3:
            pieces.append("[" + "".join(rng.sample("abc1", rng.randint(1, 3))) + "]")
        elif kind == 4:
            pieces.append(rng.choice([r"\d", r"\s", ".", "[^a]", "[a-c]"]))
        elif kind in (5, 6):
            pieces.append("(?:" + "|".join(_random_pattern(rng, depth + 1) for _ in range(rng.randint(2, 3))) + ")")
        elif kind == 7:
            pieces.append("(?:" + _random_pattern(rng, depth + 1) + ")" + rng.choice(["?", "*", "+", "{1,3}", "{0,2}"]))
        elif kind == 8:
            pieces.append("(" + _random_pattern(rng, depth + 1) + ")")
        elif kind == 9:
            pieces.append(rng.choice(["(?=", "(?!"]) + _random_pattern(rng, depth + 1) + ")")
        elif kind == 10:
            pieces.append(rng.choice(["(?<=", "(?<!"]) + re.escape(rng.choice("abc1")) + ")")
        else:
            pieces.append(rng.choice(["^", "$", r"\b"]))
    return "".join(pieces)


def test_random_patterns_never_skip_a_match():
    rng = random.Random(13)
    filtered = 0
    for _ in range(1500):
        pattern = re.compile(_random_pattern(rng))
        p = Prefiltered(pattern)
        filtered += p.needs is not None
        for _ in range(25):
            text = "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 12)))
            m = pattern.search(text)
            if m is not None:
                assert p.may_match(text), (pattern.pattern, text, p.needs)
            assert [x.span() for x in p.finditer(text)] == [x.span() for x in pattern.finditer(text)]
            for name in ("match", "fullmatch"):
                ours, theirs = getattr(p, name)(text), getattr(pattern, name)(text)
                assert (ours and ours.span()) == (theirs and theirs.span()), (name, pattern.pattern, text)
            assert p.sub("#", text) == pattern.sub("#", text)
    assert filtered > 300  # the filter is read off most patterns, not given up on


def _parser_patterns() -> dict[str, Prefiltered]:
    found: dict[str, Prefiltered] = {}
    for name, value in vars(understand).items():
        items = value if isinstance(value, tuple) else (value,)
        for i, item in enumerate(items):
            for leaf in item if isinstance(item, tuple) else (item,):
                if isinstance(leaf, Prefiltered):
                    found[f"{name}[{i}]" if isinstance(value, tuple) else name] = leaf
    found["_precision_pattern"] = understand._precision_pattern()
    found["_runtime_matcher"] = understand._runtime_matcher()[0]
    return found


def _texts() -> list[str]:
    from evals.run import load_cases

    texts = [understand.normalise(loaded.case.question) for loaded in load_cases()]
    texts += [understand.normalise(q) for q in adversarial_questions().values()]
    return texts


def test_every_parser_pattern_is_filtered_soundly():
    patterns = _parser_patterns()
    assert len(patterns) > 50
    # the passes that run on every question all carry a filter (else they would scan 2,000 characters each)
    assert [name for name, p in patterns.items() if p.needs is None] == []
    texts = _texts()
    for name, p in patterns.items():
        for text in texts:
            m = p.pattern.search(text)
            assert m is None or p.may_match(text), (name, text)
            hit = p.search(text)
            assert (hit and hit.span()) == (m and m.span()), name
