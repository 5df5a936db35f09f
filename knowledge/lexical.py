"""BM25 over chunks: bilingual tokenization (jieba for Chinese, lowercase stemmed word tokens for the rest) and
bm25s.

jieba is imported and initialised only when a text contains CJK characters. English words are reduced by a light
stemmer (Porter's step 1 plus two of its later rules), the same at index and query time, so "fits", "fitting" and
"fit" or "quantized" and "quantization" meet; Chinese tokens are left as jieba cuts them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from knowledge.paths import cache_dir

TOKENIZER_VERSION = 2  # 2: English stemming, number+unit split ("14gb" -> "14", "gb")

_CJK_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Latin tokens: words and numbers; decimals and size suffixes stay together ("qwen2.5", "14b", "4090").
_WORD_RE = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?[a-z0-9]*")
_LETTER_DIGIT_SPLIT_RE = re.compile(r"[a-z]+|[0-9]+(?:\.[0-9]+)?")
# A size written without its space ("14gb", "6.5GiB") is the same two words as "14 GB"; the joined form would be
# a word of its own that the notes (which write "14 GB") never use. Model sizes ("7b", "8k") stay joined.
_NUMBER_UNIT_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(kb|kib|mb|mib|gb|gib|tb|tib)")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Question frames as well as function words: "how much memory does it take/get" names no topic. Inflected
# forms are listed because stopwords are dropped before stemming.
EN_STOPWORDS = _word_set(
    """a an and are as at be been but by can could did do does for from had has have how i if in into is
    it its me my of on or our so than that the their them then there these they this to too up us was we
    were what when where which who why will with would you your just about get got any some much many
    very really gets getting doing having take takes taking took taken"""
)
ZH_STOPWORDS = _word_set(
    """的 了 和 是 在 与 及 或 用 于 对 中 等 我们 可以 这 那 吗 呢 吧 啊 呀 么 什么 如何
    怎么 怎样 为什么 一个 这个 那个 我 你 他 她 它 有 就 都 也 还 要 会 能 到 说 着 过
    把 被 让 给 从 而 但 如果 因为 所以 时候 之 其 该 为 以 很 又 并 个 请问 一下 多少
    哪些 哪个 是否 是不是 有没有 不"""
)

# Domain words jieba's default dictionary splits badly; lcut_for_search still emits their parts.
DOMAIN_WORDS = (
    "显存",
    "显卡",
    "上下文",
    "上下文长度",
    "长上下文",
    "量化",
    "反量化",
    "微调",
    "全量微调",
    "参数量",
    "总参数",
    "激活参数",
    "混合专家",
    "专家模型",
    "注意力",
    "注意力头",
    "分组查询注意力",
    "多头注意力",
    "滑动窗口",
    "键值缓存",
    "带宽",
    "显存带宽",
    "吞吐",
    "吞吐量",
    "半精度",
    "单精度",
    "浮点",
    "精度损失",
    "优化器",
    "优化器状态",
    "梯度",
    "梯度检查点",
    "激活值",
    "权重",
    "词表",
    "嵌入层",
    "困惑度",
    "统一内存",
    "多卡",
    "卸载",
    "张量并行",
    "流水线并行",
    "推理",
    "预训练",
    "后训练",
    "指令微调",
    "蒸馏",
    "算力",
    "内存墙",
    "批大小",
)

_jieba_lock = threading.Lock()
_jieba: Any = None


def _get_jieba() -> Any:
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                # A read-only home leaves jieba on the system temp dir.
                with contextlib.suppress(OSError):
                    jieba.dt.tmp_dir = str(cache_dir())
                jieba.initialize()
                for word in DOMAIN_WORDS:
                    jieba.add_word(word)
                _jieba = jieba
    return _jieba


# --------------------------------------------------------------------------- English stemming
# Porter (1980), "An algorithm for suffix stripping": step 1 (plurals, -ed/-ing, y -> i), the nominalisations
# -ization/-ation/-ational of step 2 and step 5 (final e, double l). Light on purpose: it only folds inflection
# and these nominalisations together; over-stemming ("general" ~ "generate") would make unrelated words meet.


def _is_consonant(word: str, i: int) -> bool:
    if word[i] in "aeiou":
        return False
    if word[i] == "y":  # a vowel after a consonant ("fly"), a consonant otherwise ("yes", "key")
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """Porter's m: how many vowel-consonant sequences the stem has ("tr" 0, "trouble" 1, "troubles" 2)."""
    count, after_vowel = 0, False
    for i in range(len(stem)):
        consonant = _is_consonant(stem, i)
        count += consonant and after_vowel
        after_vowel = not consonant
    return count


def _has_vowel(stem: str) -> bool:
    return any(not _is_consonant(stem, i) for i in range(len(stem)))


def _ends_cvc(stem: str) -> bool:
    """Consonant-vowel-consonant ending, the last not w, x or y ("hop", not "hoop"): a short word keeps its e."""
    n = len(stem)
    return (
        n >= 3
        and _is_consonant(stem, n - 3)
        and not _is_consonant(stem, n - 2)
        and _is_consonant(stem, n - 1)
        and stem[-1] not in "wxy"
    )


def stem(word: str) -> str:
    """Light English stem of a lowercase word; words of three letters or fewer ("gpu", "vs") are kept."""
    if len(word) <= 3 or not word.isalpha() or not word.isascii():
        return word
    # Step 1a: plurals and third person.
    if word.endswith(("sses", "ies")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    # Step 1b: -eed, -ed, -ing, then repair the stem ("quantiz" -> "quantize", "fitt" -> "fit").
    if word.endswith("eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    else:
        for suffix in ("ed", "ing"):
            if word.endswith(suffix) and _has_vowel(word[: -len(suffix)]):
                word = word[: -len(suffix)]
                if word.endswith(("at", "bl", "iz")):
                    word += "e"
                elif len(word) > 1 and word[-1] == word[-2] and _is_consonant(word, len(word) - 1):
                    if word[-1] not in "lsz":
                        word = word[:-1]
                elif _measure(word) == 1 and _ends_cvc(word):
                    word += "e"
                break
    # Step 1c: "memory" and "memories" both end in i.
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    # Step 2, nominalisations only: "quantization" -> "quantize", "activation" -> "activate".
    for suffix, replacement in (("ational", "ate"), ("ization", "ize"), ("ation", "ate")):
        if word.endswith(suffix):
            if _measure(word[: -len(suffix)]) > 0:
                word = word[: -len(suffix)] + replacement
            break
    # Step 5: drop a final e ("cache" and "cached" meet) and a double l after a long stem.
    if word.endswith("e"):
        m = _measure(word[:-1])
        if m > 1 or (m == 1 and not _ends_cvc(word[:-1])):
            word = word[:-1]
    if word.endswith("ll") and _measure(word) > 1:
        word = word[:-1]
    return word


def _latin_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for word in _WORD_RE.findall(text):
        if word in EN_STOPWORDS:
            continue
        size = _NUMBER_UNIT_RE.fullmatch(word)
        if size:
            tokens.extend(size.groups())
            continue
        if word.isalpha():
            tokens.append(stem(word))
            continue
        tokens.append(word)
        # "rtx4090" and "qwen2.5" also match "rtx 4090" and "qwen 2.5".
        if not word.replace(".", "").isdigit():
            tokens.extend(part for part in _LETTER_DIGIT_SPLIT_RE.findall(word) if len(part) > 1)
    return tokens


def tokenize(text: str) -> list[str]:
    """BM25 tokens of a text in any mix of English and Chinese."""
    text = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    position = 0
    for match in _CJK_RUN_RE.finditer(text):
        tokens.extend(_latin_tokens(text[position : match.start()]))
        for word in _get_jieba().lcut_for_search(match.group()):
            if word.strip() and word not in ZH_STOPWORDS:
                tokens.append(word)
        position = match.end()
    tokens.extend(_latin_tokens(text[position:]))
    return tokens


# Shortest query word that spelling correction touches: a word of 5 letters or more rarely has a second,
# different word one edit away; a shorter one often does ("fp8"/"fp4", "gpu"/"cpu").
MIN_CORRECTED_LENGTH = 5
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def _one_edit_away(word: str) -> set[str]:
    """Every string one deletion, transposition, substitution or insertion away from `word` (Damerau)."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    edits = {left + right[1:] for left, right in splits if right}
    edits |= {left + right[1] + right[0] + right[2:] for left, right in splits if len(right) > 1}
    edits |= {left + c + right[1:] for left, right in splits if right for c in _ALPHABET}
    edits |= {left + c + right for left, right in splits for c in _ALPHABET}
    edits.discard(word)
    return edits


@dataclass(frozen=True)
class LexicalHit:
    position: int  # index into the documents the index was built from
    score: float


class Bm25Index:
    """bm25s over pre-tokenized documents; drops zero-score hits (bm25s pads results with them)."""

    def __init__(self, tokenized_documents: Sequence[list[str]]) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets its own logger to DEBUG on import
        self.size = len(tokenized_documents)
        self._retriever = bm25s.BM25()
        if self.size:
            # An empty document would break bm25s; a placeholder token keeps positions aligned.
            self._retriever.index([doc or ["\0"] for doc in tokenized_documents], show_progress=False)
        self._document_frequency = Counter(token for doc in tokenized_documents for token in set(doc))

    def correct(self, query_tokens: list[str]) -> list[str]:
        """The query's tokens with each misspelt English word replaced by the indexed word one edit away from it
        ("bandwith" -> "bandwidth"); the most common one when several are. Words the index has, numbers, short
        words (too many neighbours: "gpt", "gpu") and Chinese are kept."""
        return [self._spelling(token) for token in query_tokens]

    def _spelling(self, token: str) -> str:
        if len(token) < MIN_CORRECTED_LENGTH or token in self._document_frequency:
            return token
        if not (token.isascii() and token.isalpha()):
            return token
        known = [word for word in _one_edit_away(token) if word in self._document_frequency]
        if not known:
            return token
        return max(sorted(known), key=self._document_frequency.__getitem__)

    def coverage(self, query_tokens: list[str]) -> float:
        """Share of the query's distinct tokens that occur anywhere in the indexed documents (0 for gibberish)."""
        distinct = set(self.correct(query_tokens))
        if not self.size or not distinct:
            return 0.0
        vocabulary = self._retriever.vocab_dict
        return sum(token in vocabulary for token in distinct) / len(distinct)

    def search(self, query_tokens: list[str], k: int) -> list[LexicalHit]:
        if not self.size or not query_tokens:
            return []
        positions, scores = self._retriever.retrieve(
            [self.correct(query_tokens)], k=min(k, self.size), show_progress=False, n_threads=1
        )
        return [
            LexicalHit(int(position), float(score))
            for position, score in zip(positions[0], scores[0], strict=True)
            if score > 0
        ]
