"""BM25 over chunks: bilingual tokenization (jieba for Chinese, lowercase word tokens for the rest) and bm25s.

jieba is imported and initialised only when a text contains CJK characters.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from knowledge.paths import cache_dir

TOKENIZER_VERSION = 1

_CJK_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Latin tokens: words and numbers; decimals and size suffixes stay together ("qwen2.5", "14b", "4090").
_WORD_RE = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?[a-z0-9]*")
_LETTER_DIGIT_SPLIT_RE = re.compile(r"[a-z]+|[0-9]+(?:\.[0-9]+)?")


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


EN_STOPWORDS = _word_set(
    """a an and are as at be been but by can could did do does for from had has have how i if in into is
    it its me my of on or our so than that the their them then there these they this to too up us was we
    were what when where which who why will with would you your just about get got any some much many
    very really"""
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


def _latin_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for word in _WORD_RE.findall(text):
        if word in EN_STOPWORDS:
            continue
        tokens.append(word)
        # "rtx4090" and "qwen2.5" also match "rtx 4090" and "qwen 2.5".
        if not word.isalpha() and not word.replace(".", "").isdigit():
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

    def coverage(self, query_tokens: list[str]) -> float:
        """Share of the query's distinct tokens that occur anywhere in the indexed documents (0 for gibberish)."""
        distinct = set(query_tokens)
        if not self.size or not distinct:
            return 0.0
        vocabulary = self._retriever.vocab_dict
        return sum(token in vocabulary for token in distinct) / len(distinct)

    def search(self, query_tokens: list[str], k: int) -> list[LexicalHit]:
        if not self.size or not query_tokens:
            return []
        positions, scores = self._retriever.retrieve(
            [query_tokens], k=min(k, self.size), show_progress=False, n_threads=1
        )
        return [
            LexicalHit(int(position), float(score))
            for position, score in zip(positions[0], scores[0], strict=True)
            if score > 0
        ]
