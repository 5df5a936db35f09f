"""The offline help desk: answers a question in its own language from the typed tools, without an LLM.

`answer(question)` reads the question (assistant.understand), calls estimate_memory / recommend_model /
compare_precision / search_knowledge, and writes a short answer in which every figure is quoted from a tool
result field through a Ledger (assistant.figures), with the notes it rests on cited by id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent_tools import catalog, resolve
from agent_tools.advice import DEFAULT_LADDER, catalog_cpu_bandwidth, compare_precision, format_quality, recommend_model
from agent_tools.errors import VramwiseError
from agent_tools.estimate import estimate_memory
from assistant.conversation import State, inherit, remember
from assistant.figures import Figure, Ledger, ToolCall, clean_passage
from assistant.understand import (
    MAX_QUESTION_CHARS,
    MODEL_EXAMPLES,
    Intent,
    Lang,
    Need,
    Parsed,
    QuestionTooLong,
    Subject,
    detect_language,
    extract,
    finish,
    weight_precisions,
)

SearchFn = Callable[..., Any]  # search_knowledge(query, k=4, lang=None) -> SearchKnowledgeResult


class Entities(BaseModel):
    models: list[str] = Field(description="catalog model ids; a size alone ('14B') when no family was named")
    gpus: list[str] = Field(description="catalog GPU ids")
    num_gpus: int | None = None
    gpu_count_asked: bool = Field(False, description="the question asks how many GPUs are needed")
    vram_gb: float | None = None
    system_ram_gb: float | None = None
    precision: list[str] = Field(default_factory=list, description="catalog format ids, in question order")
    context_length: int | None = None
    batch_size: int | None = Field(None, description="concurrent sequences / users")
    task: str | None = None
    mode: str | None = Field(None, description="inference | full_finetune | lora | qlora | finetune (method not said)")
    runtime: str | None = None


class Citation(BaseModel):
    note_id: str
    heading: str
    source: str


class NeedOut(BaseModel):
    what: Literal["model", "gpu", "model_size", "gpu_memory"]
    ask: str = Field(description="the question the assistant asks back")
    examples: list[str]


class Answer(BaseModel):
    text: str
    language: Lang
    intent: Intent
    entities: Entities
    tool_calls: list[ToolCall]
    numbers: list[Figure] = Field(description="every figure in `text`, each traceable to a tool result field")
    citations: list[Citation]
    needs: list[NeedOut] = Field(description="what is missing to answer fully (empty when nothing is)")
    echoed: list[str] = Field(
        default_factory=list,
        description="the user's own words (a name as written, a stated memory size) and catalog names the text "
        "repeats: not figures, so not in `numbers`",
    )
    inherited: list[str] = Field(
        default_factory=list, description="what this turn took from the conversation (model, gpu, precision, ...)"
    )
    state: dict[str, Any] | None = Field(
        None, description="the conversation state after this turn (None outside a conversation)"
    )


# ------------------------------------------------------------------------------------------------ wording

_EN = {
    "need_gpu": "Which GPU? e.g. {ex} (or just say how much VRAM it has).",
    "need_gpu_fit": "To check whether it fits I need the GPU: e.g. {ex}.",
    "need_model": "Which model? e.g. {ex}.",
    "need_model_unknown": "I could not find that model in the catalog. Which one did you mean? e.g. {ex}.",
    "need_model_size": "Which size? The catalog has: {ex}.",
    "need_gpu_memory": "How much memory does it have? That chip comes as: {ex}.",
    "subject": "{model} at {precision}, {ctx} tokens of context{batch}: {total} in total{per_gpu}.",
    "batch": " x {n} concurrent sequences",
    "per_gpu": " ({v} per GPU)",
    "default_size": "(No size was given; this is the catalog's default for that name.)",
    "parts": "Breakdown: {parts}.",
    "weights_bytes": "weights {v}",
    "kv_cache_bytes": "KV cache {v}",
    "activations_bytes": "activations {v}",
    "overhead_bytes": "runtime overhead {v}",
    "gradients_bytes": "gradients {v}",
    "optimizer_bytes": "optimizer states {v}",
    "adapter_bytes": "LoRA adapters {v}",
    "on_one": "{gpu}",
    "on_many": "{n} x {gpu}",
    "cpu_ram": "system RAM (CPU only)",
    "fits": "Fits on {where}: {need}{per} of {usable} usable, {left} to spare.",
    "fits_tight": "Fits on {where}, but tight: {need}{per} of {usable} usable, only {left} to spare.",
    "no_fit": "Does not fit on {where}: needs {need}{per}, {usable} usable, short by {short}.",
    "per": " per GPU",
    "max_ctx": "Largest context that fits: {ctx} tokens.",
    "speed": "Decode speed: about {tps} tokens/s per sequence (limited by {bound}).",
    "fits_at": "It fits at {precision}: {total} in total (published quality cost of that format: {level}).",
    "fits_none": "No precision from {first} down to {last} fits on {where}.",
    "solve": "Smallest count that fits: {where} ({need} per GPU of {usable}, {left} to spare).",
    "solve_tight": "Smallest count that fits, tightly: {where} ({need} per GPU of {usable}, only {left} to spare).",
    "solve_short": "{where} is not enough: it needs {need} per GPU.",
    "solve_none": "Even {where} is not enough: it needs {need} per GPU of {usable}.",
    "why": "Why: weights are {params} parameters x {bits} bits each; the KV cache grows with context, "
    "{kvpt} bytes per token.",
    "why_train": "Assumes batch {batch} x {ctx} tokens, gradient checkpointing and AdamW states; "
    "training also holds gradients and optimizer states.",
    "why_train_quoted": "Assumes {lines}; training also holds gradients and optimizer states.",
    "mode_line": "- {label}: {total}{fit}",
    "mode_fit": "; fits on {where} ({left} to spare)",
    "mode_no_fit": "; does not fit on {where} (short by {short})",
    "modes": {"full_finetune": "Full fine-tuning", "lora": "LoRA", "qlora": "QLoRA"},
    "train_intro": "Fine-tuning {model} (batch {batch} x {ctx} tokens):",
    "note": "Note: {text}",
    "sources": "Sources: {notes}",
    "rec_intro": "On {hw} ({mem} usable{per}), at {ctx} tokens{users}, the best fits by published benchmark score:",
    "rec_users": " and {n} concurrent users",
    "rec_line": "{rank}. {name} at {precision}: {total}, {left} to spare{tps}; {bench} {score}.",
    "rec_tps": ", about {v} tokens/s",
    "rec_why": "Why: each model appears once, in the best-scoring precision that still leaves headroom at this "
    "context; the score is its published benchmark minus the published quality cost of the precision.",
    "rec_rejected": "Too big even at {precision}: {model} needs {need} (you have {have}).",
    "rec_none": "Nothing in the catalog fits with headroom.",
    "tip": "Tip: {text}",
    "cmp_intro": "{model} at {ctx} tokens of context:",
    "cmp_example": "No model was named, so here is {model} as an example, at {ctx} tokens of context:",
    "cmp_row": "- {name}: {total} ({bits} bits/weight), published quality cost: {level}{fit}",
    "cmp_fit": "; fits the GPU",
    "cmp_no_fit": "; does not fit the GPU",
    "verdict": "Verdict: {text}",
    "vs_row": "- {model} at {name}: {total} ({bits} bits/weight), published quality cost of the format: {level}",
    "vs_bigger_low": "By the published evidence the larger model at the lower precision is the better use of "
    "the memory: {finding}",
    "vs_bigger_lossy": "The larger model's precision has a {level} published quality cost, and at that level the "
    "smaller model at higher precision is the safer choice: {finding}",
    "vs_bigger_high": "The larger model also has the higher (or equal) precision, so it is better but needs more "
    "memory; to compare at equal memory, ask for the larger one at a lower precision.",
    "vs_same": "Same memory, measured: {text}",
    "concept": "{heading}: {excerpt}",
    "see_also": "See also, {heading}: {excerpt}",
    "background": "Background, {heading}: {excerpt}",
    "related": "Related: {heading}.",
    "no_kb": "The knowledge base is not available here, so I cannot explain that offline.",
    "search_failed": "The knowledge search failed: {text}",
    "hello": "Ask me about GPU memory for open LLMs: how much memory a model needs, whether it fits your GPU, "
    "which model to run on it, which precision to pick, or what a term like KV cache means.",
    "no_passage": "The knowledge base has nothing on that.",
    "error": "The calculator could not size this: {text}",
    "bound": {"cpu memory bandwidth": "RAM bandwidth", "cpu compute": "CPU compute"},
}
_ZH = {
    "need_gpu": "用的是哪张显卡？例如 {ex}（或者直接告诉我显存有多大）。",
    "need_gpu_fit": "要判断放不放得下，需要知道显卡：例如 {ex}。",
    "need_model": "哪个模型？例如 {ex}。",
    "need_model_unknown": "目录里没有找到这个模型。你指的是哪一个？例如 {ex}。",
    "need_model_size": "哪个尺寸？目录里有：{ex}。",
    "need_gpu_memory": "内存有多大？这款芯片有这些配置：{ex}。",
    "subject": "{model}（{precision}，上下文 {ctx} tokens{batch}）共需 {total}{per_gpu}。",
    "batch": "，{n} 路并发",
    "per_gpu": "，每张卡 {v}",
    "default_size": "（没有说尺寸，这里用的是目录里该名称的默认尺寸。）",
    "parts": "构成：{parts}。",
    "weights_bytes": "权重 {v}",
    "kv_cache_bytes": "KV 缓存 {v}",
    "activations_bytes": "激活 {v}",
    "overhead_bytes": "运行时开销 {v}",
    "gradients_bytes": "梯度 {v}",
    "optimizer_bytes": "优化器状态 {v}",
    "adapter_bytes": "LoRA 适配器 {v}",
    "on_one": "{gpu}",
    "on_many": "{n} 张 {gpu}",
    "cpu_ram": "系统内存（纯 CPU）",
    "fits": "在 {where} 上放得下：需要 {need}{per}，可用 {usable}，还剩 {left}。",
    "fits_tight": "在 {where} 上勉强放得下：需要 {need}{per}，可用 {usable}，只剩 {left}。",
    "no_fit": "在 {where} 上放不下：需要 {need}{per}，可用 {usable}，还差 {short}。",
    "per": "（每张卡）",
    "max_ctx": "最长可用上下文：{ctx} tokens。",
    "speed": "解码速度：每路约 {tps} tokens/s（瓶颈：{bound}）。",
    "fits_at": "换成 {precision} 就放得下：共 {total}（该格式公开的质量损失：{level}）。",
    "fits_none": "从 {first} 到 {last}，没有一种精度能在 {where} 上放下。",
    "solve": "最少需要 {where}（每张卡需要 {need}，可用 {usable}，还剩 {left}）。",
    "solve_tight": "最少需要 {where}，但很紧（每张卡需要 {need}，可用 {usable}，只剩 {left}）。",
    "solve_short": "{where} 不够：每张卡需要 {need}。",
    "solve_none": "即使 {where} 也不够：每张卡需要 {need}，可用 {usable}。",
    "why": "原因：权重 = {params} 参数 × 每个 {bits} bit；KV 缓存随上下文线性增长，每个 token {kvpt} 字节。",
    "why_train": "假设批大小 {batch} × {ctx} tokens，开启梯度检查点，AdamW 优化器；训练还要存梯度和优化器状态。",
    "why_train_quoted": "假设：{lines}；训练还要存梯度和优化器状态。",
    "mode_line": "- {label}：{total}{fit}",
    "mode_fit": "；{where} 放得下（还剩 {left}）",
    "mode_no_fit": "；{where} 放不下（还差 {short}）",
    "modes": {"full_finetune": "全参数微调", "lora": "LoRA", "qlora": "QLoRA"},
    "train_intro": "微调 {model}（批大小 {batch} × {ctx} tokens）：",
    "note": "注意：{text}",
    "sources": "参考笔记：{notes}",
    "rec_intro": "{hw}（可用 {mem}{per}），上下文 {ctx} tokens{users}，按公开评测分数排序，最合适的是：",
    "rec_users": "、{n} 人并发",
    "rec_line": "{rank}. {name}，{precision}：{total}，还剩 {left}{tps}；{bench} {score}。",
    "rec_tps": "，约 {v} tokens/s",
    "rec_why": "原因：每个模型只列一次，取在这个上下文下仍留有余量、得分最高的精度；"
    "得分 = 公开评测分数 − 该精度公开的质量损失。",
    "rec_rejected": "即使用 {precision} 也放不下：{model} 需要 {need}（你有 {have}）。",
    "rec_none": "目录里没有模型能留有余量地放下。",
    "tip": "建议：{text}",
    "cmp_intro": "{model}，上下文 {ctx} tokens：",
    "cmp_example": "没有指定模型，下面以 {model} 为例，上下文 {ctx} tokens：",
    "cmp_row": "- {name}：{total}（每参数 {bits} bit），公开的质量损失：{level}{fit}",
    "cmp_fit": "；显卡放得下",
    "cmp_no_fit": "；显卡放不下",
    "verdict": "结论：{text}",
    "vs_row": "- {model}，{name}：{total}（每参数 {bits} bit），该格式公开的质量损失：{level}",
    "vs_bigger_low": "按公开证据，大模型配低精度更划算：{finding}",
    "vs_bigger_lossy": "大模型这个精度公开的质量损失为 {level}，到这一档时小模型配高精度更稳妥：{finding}",
    "vs_bigger_high": "大模型的精度也不更低，所以效果更好但显存也更多；"
    "想在相同显存下比较，可以问大模型配低精度的情况。",
    "vs_same": "相同显存下的实测对比：{text}",
    "concept": "{heading}：{excerpt}",
    "see_also": "另见「{heading}」：{excerpt}",
    "background": "背景「{heading}」：{excerpt}",
    "related": "相关：「{heading}」。",
    "no_kb": "这里没有可用的知识库，离线无法解释这个问题。",
    "search_failed": "知识库检索失败：{text}",
    "hello": "可以问我开源大模型的显存问题：某个模型要多少显存、你的显卡放不放得下、该跑哪个模型、选什么精度，"
    "或者 KV 缓存之类的概念。",
    "no_passage": "知识库里没有相关内容。",
    "error": "计算器无法估算：{text}",
    "bound": {
        "memory bandwidth": "显存带宽",
        "compute": "算力",
        "cpu memory bandwidth": "内存带宽",
        "cpu compute": "CPU 算力",
    },
}
# Conversation, open-world names and the calculator figures asked for by name.
_EN |= {
    "subject": "{model} at {precision}, {ctx} tokens of context{batch}{on}: {total} in total{per_gpu}.",
    "subject_on": " on {where}",
    "subject_runtime": " with {runtime}",
    "inherited": "(Kept from earlier in the conversation: {items}.)",
    "inherited_items": {
        "model": "the model",
        "family": "the model family",
        "gpu": "the GPU",
        "precision": "the precision",
        "kv_precision": "the KV-cache format",
        "runtime": "the runtime",
        "context_length": "the context length",
        "batch_size": "the batch size",
        "mode": "the training method",
        "task": "the task",
        "optimizer": "the optimizer",
    },
    "config_note": "Sized from the config.json at {path}.",
    "config_unreadable": "Cannot read the config.json at {path}: {why}.",
    "repo_note": "“{named}” is not in the catalog; it was passed to the calculator by its Hugging Face id.",
    "stand_in_note": "“{named}” is sized as the catalog's {entry} ({name}): the same architecture, so the same memory.",
    "size_note": "“{named}” is not in the catalog: sized from the {size} in its name as a generic dense model "
    "(layer shape borrowed from a catalog model; give its Hugging Face id or config.json for exact figures).",
    "closest_note": "The nearest catalog model, {closest}, is a different checkpoint and was not used.",
    "gpu_note": "“{name}” is not in the GPU catalog: sized as a GPU with the {gb} GB you stated{bw}.",
    "gpu_note_bw": " and {bw} GB/s of memory bandwidth",
    "gpu_note_no_bw": " (its bandwidth is unknown, so no speed is given)",
    "modded_note": "“{name}” with {gb} GB is not the catalog's card ({catalog} has another memory size): sized with "
    "the {gb} GB you stated and that card's bandwidth ({bw} GB/s).",
    "need_model_unknown": "I could not find “{named}” in the catalog. To size it, give its Hugging Face id, a path "
    "to its config.json, or its parameter count; e.g. {ex}.",
    "need_model_unknown_plain": "I could not find that model in the catalog. Which one did you mean? e.g. {ex}.",
    "need_gpu_memory_unknown": "“{named}” is not in the GPU catalog: how much memory does it have? "
    "e.g. “{named} {ex}”.",
    "need_config": "To size “{named}” offline, pass its config.json (vramwise estimate --config PATH) or say its "
    "parameter count (e.g. “8B”).",
    "speed": "Decode speed: about {tps} tokens/s per sequence (limited by {bound}); prefill about {prefill} tokens/s.",
    "speed_batch": "All {n} sequences together: about {agg} tokens/s.",
    "fits_tight": "Fits on {where}, but tight: {need}{per} of {usable} usable, only {left} to spare "
    "(under the {margin} safety margin this runtime keeps).",
    "fits_tight_plain": "Fits on {where}, but tight: {need}{per} of {usable} usable, only {left} to spare.",
    "max_batch": "Largest batch that fits at this context: {n} sequences.",
    "no_ctx": "No context length fits: the weights and fixed buffers alone do not fit.",
    "concurrency": "Users served at once ({runtime}): its KV-cache pool holds {tokens} tokens, i.e. {n} concurrent "
    "sequences of {ctx} tokens.",
    "concurrency_none": "Users served at once ({runtime}): none, because the model does not fit.",
    "why_tp": "Why: weights are {params} parameters x {bits} bits each; the KV cache grows with context.",
    "kv_tp": "KV cache per token: {kvpt} bytes per GPU (tensor parallel over {n} GPUs splits the KV heads).",
    "gpu_pick": "Faster of these: {gpu} at about {tps} tokens/s per sequence.",
    "too_long": "{text}",
}
_ZH |= {
    "subject": "{model}（{precision}，上下文 {ctx} tokens{batch}{on}）共需 {total}{per_gpu}。",
    "subject_on": "，{where}",
    "subject_runtime": "，{runtime}",
    "inherited": "（沿用前面对话中的：{items}。）",
    "inherited_items": {
        "model": "模型",
        "family": "模型系列",
        "gpu": "显卡",
        "precision": "精度",
        "kv_precision": "KV 缓存格式",
        "runtime": "运行时",
        "context_length": "上下文长度",
        "batch_size": "批大小",
        "mode": "微调方式",
        "task": "任务",
        "optimizer": "优化器",
    },
    "config_note": "按 {path} 这份 config.json 估算。",
    "config_unreadable": "读不了 {path} 这份 config.json：{why}。",
    "repo_note": "“{named}” 不在目录里，已按它的 Hugging Face 仓库名交给计算器。",
    "stand_in_note": "“{named}” 按目录中的 {entry}（{name}）计算：架构相同，显存也相同。",
    "size_note": "“{named}” 不在目录里：按名字里的 {size} 当作一般的稠密模型估算"
    "（层形状借用目录中的模型；给出它的 Hugging Face 仓库名或 config.json 可得到精确结果）。",
    "closest_note": "目录里最接近的 {closest} 是另一个模型，没有拿来代替。",
    "gpu_note": "“{name}” 不在显卡目录里：按你说的 {gb} GB 显存估算{bw}。",
    "gpu_note_bw": "，显存带宽 {bw} GB/s",
    "gpu_note_no_bw": "（带宽未知，所以不给速度）",
    "modded_note": "“{name}” 配 {gb} GB 不是目录里的那款（{catalog} 的显存容量不同）：按你说的 {gb} GB 显存和该卡的带宽"
    "（{bw} GB/s）估算。",
    "need_model_unknown": "目录里没有找到 “{named}”。要估算它，请给出 Hugging Face 仓库名、config.json 路径或参数量；"
    "例如 {ex}。",
    "need_model_unknown_plain": "目录里没有找到这个模型。你指的是哪一个？例如 {ex}。",
    "need_gpu_memory_unknown": "“{named}” 不在显卡目录里：它有多少显存？例如 “{named} {ex}”。",
    "need_config": "要离线估算 “{named}”，请提供它的 config.json（vramwise estimate --config 路径）"
    "或参数量（例如 “8B”）。",
    "speed": "解码速度：每路约 {tps} tokens/s（瓶颈：{bound}）；预填充约 {prefill} tokens/s。",
    "speed_batch": "{n} 路合计约 {agg} tokens/s。",
    "fits_tight": "在 {where} 上勉强放得下：需要 {need}{per}，可用 {usable}，只剩 {left}"
    "（低于该运行时保留的 {margin} 安全余量）。",
    "fits_tight_plain": "在 {where} 上勉强放得下：需要 {need}{per}，可用 {usable}，只剩 {left}。",
    "max_batch": "这个上下文下最多能放 {n} 路并发。",
    "no_ctx": "任何上下文长度都放不下：权重和固定缓冲区本身就超了。",
    "concurrency": "同时能服务的用户数（{runtime}）：KV 缓存池可放 {tokens} 个 token，即 {n} 路 {ctx} tokens 的并发。",
    "concurrency_none": "同时能服务的用户数（{runtime}）：0，模型放不下。",
    "why_tp": "原因：权重 = {params} 参数 × 每个 {bits} bit；KV 缓存随上下文线性增长。",
    "kv_tp": "每个 token 的 KV 缓存：每张卡 {kvpt} 字节（{n} 卡张量并行把 KV 头分到各卡）。",
    "gpu_pick": "其中更快的是 {gpu}：每路约 {tps} tokens/s。",
    "too_long": "{text}",
}
_LEVEL_ZH = {"lossless": "无损", "negligible": "可忽略", "small": "小", "noticeable": "明显", "severe": "严重"}


class _Writer:
    """Answer text in one language, built only from quoted figures and fixed wording."""

    def __init__(self, lang: Lang, ledger: Ledger) -> None:
        self.lang = lang
        self.w = _EN if lang == "en" else _ZH
        self.led = ledger
        self.lines: list[str] = []
        self.prefix: list[str] = []  # sentences that open the first line: what was assumed or not substituted
        self.echoed: list[str] = []  # the user's own words (and catalog names) repeated: not tool figures
        self.notes: list[str] = []
        self.citations: list[Citation] = []

    def say(self, key: str, **parts: str) -> None:
        self.lines.append(self.w[key].format(**parts))

    def first(self, key: str, **parts: str) -> None:
        """A sentence the answer opens with (once), before the line that restates what was sized."""
        text = self.w[key].format(**parts)
        if text not in self.prefix:
            self.prefix.append(text)

    def text(self) -> str:
        lines = list(self.lines)
        if self.prefix:
            opening = " ".join(self.prefix)
            lines = [f"{opening} {lines[0]}" if lines else opening, *lines[1:]]
        return "\n".join(lines)

    def fmt(self, key: str, **parts: str) -> str:
        return str(self.w[key]).format(**parts)

    def level(self, call: int, field: str) -> str:
        """A quality level ('small'), in the answer's language (words only, no figures)."""
        value = str(self.led.get(call, field))
        return _LEVEL_ZH.get(value, value) if self.lang == "zh" else value

    def cite_notes(self, call: int, limit: int = 5) -> None:
        """Cite the knowledge notes a tool result lists in its `sources` ('note:<id>')."""
        result = self.led.results[call] or {}
        for source in result.get("sources", []):
            if str(source).startswith("note:") and len(self.notes) < limit:
                self.add_citation(str(source).removeprefix("note:"))

    def add_citation(self, note_id: str, heading: str | None = None, source: str | None = None) -> None:
        if note_id in self.notes:
            return
        self.notes.append(note_id)
        title, first_source = _note_meta(note_id, self.lang)
        self.citations.append(Citation(note_id=note_id, heading=heading or title, source=source or first_source))


@cache
def _note_meta(note_id: str, lang: str) -> tuple[str, str]:
    """(title in `lang`, first source URL) of a shipped note; (note_id, '') when it cannot be read."""
    try:
        from knowledge.chunking import first_source, split_front_matter
        from knowledge.paths import SHIPPED_NOTES_DIR
    except ImportError:
        return note_id, ""
    for file_lang in dict.fromkeys((lang, "en")):
        path = SHIPPED_NOTES_DIR / f"{note_id}.{file_lang}.md"
        if path.exists():
            meta, _ = split_front_matter(path.read_text(encoding="utf-8"))
            title = meta.get("title_zh") if lang == "zh" else meta.get("title")
            return str(title or meta.get("title") or note_id), first_source(meta.get("sources"))
    return note_id, ""


# --------------------------------------------------------------------------------------------- arguments


def _native_precision(subject: Subject, runtime: str | None = None) -> str:
    """The precision to assume when none is said: what the checkpoint ships in (block FP8 for DeepSeek-V3/R1,
    MXFP4 for gpt-oss, else BF16), or, when the user runs Ollama / llama.cpp, what those pull by default."""
    quant = None
    if subject.model_id is not None:
        config = catalog.resolve_model(subject.model_id).config
        quant = (config.get("quantization_config") or {}).get("quant_method")
    if quant == "mxfp4":
        return "mxfp4"
    if runtime == "llama.cpp":
        return catalog.resolve_format("ollama default").id
    return {"fp8": "fp8_block"}.get(str(quant), "bf16")


def _subject_args(subject: Subject) -> dict[str, Any]:
    if subject.config is not None:
        return {"config": subject.config}
    if subject.model_id:
        return {"model": subject.model_id}
    if subject.repo:
        return {"model": subject.repo}  # a Hub id: the tool resolves it, or says what it needs
    return {"params_b": subject.params_b}


def _runtime(p: Parsed, precision: str) -> str:
    if p.file_size and p.runtime == "llama.cpp" and not re.search(r"ollama|llamacpp|lm\s?studio", p.text):
        return "generic"  # "the Q4_K_M GGUF file": its size, not what llama.cpp puts on a GPU
    if p.runtime:
        return p.runtime
    try:
        gguf = catalog.resolve_format(precision).kind == "gguf"
    except VramwiseError:
        return "generic"  # an unknown format: the estimate call names it in its error
    if p.cpu_only:
        return "llama.cpp"
    # "How big is the Q4_K_M file?": the whole file; llama.cpp itself keeps the token embeddings off the GPU
    return "llama.cpp" if gguf and not p.file_size else "generic"


def _hardware_args(p: Parsed) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if p.gpu is not None:
        args["gpu"] = p.gpu.gpu_id
        if p.gpu.count and p.gpu.count > 1:
            args["num_gpus"] = p.gpu.count
    elif p.vram_gb is not None:
        args["vram_gb"] = p.vram_gb
        if p.bandwidth_gb_s:
            args["bandwidth_gb_s"] = p.bandwidth_gb_s
        if p.count_only and p.count_only > 1:
            args["num_gpus"] = p.count_only
    elif p.system_ram_gb is not None and (p.cpu_only or p.intent != "recommend"):
        # CPU only: the model lives in system RAM and decodes at the RAM's bandwidth
        args["vram_gb"] = p.system_ram_gb
        args["bandwidth_gb_s"] = catalog_cpu_bandwidth()
    return args


def _cpu(args: dict[str, Any]) -> bool:
    """Sized as CPU-only: the 'GPU' given to the tool is system RAM at the catalog's CPU bandwidth."""
    return args.get("bandwidth_gb_s") == catalog_cpu_bandwidth() and "vram_gb" in args


# ------------------------------------------------------------------------------------------------ intents


def _where(wr: _Writer, call: int) -> str:
    if _cpu(wr.led.calls[call].args):
        return str(wr.w["cpu_ram"])  # sized as CPU-only: the "GPU" the tool was given is system RAM
    gpu = wr.led.quote(call, "fit.gpu", "gpu")
    if wr.led.get(call, "fit.num_gpus") > 1:
        return wr.fmt("on_many", n=wr.led.quote(call, "fit.num_gpus", "count"), gpu=gpu)
    return wr.fmt("on_one", gpu=gpu)


def _fit_line(wr: _Writer, call: int) -> bool:
    led = wr.led
    if led.get(call, "fit") is None:
        return False
    where = _where(wr, call)
    per = wr.w["per"] if led.get(call, "fit.num_gpus") > 1 else ""
    need, usable = led.quote(call, "fit.required_bytes"), led.quote(call, "fit.usable_bytes")
    if led.get(call, "fit.fits"):
        left = led.quote(call, "fit.headroom_bytes")
        if led.get(call, "fit.level") != "tight":
            wr.say("fits", where=where, need=need, per=per, usable=usable, left=left)
        elif led.get(call, "fit.margin_bytes"):
            margin = led.quote(call, "fit.margin_bytes")
            wr.say("fits_tight", where=where, need=need, per=per, usable=usable, left=left, margin=margin)
        else:
            wr.say("fits_tight_plain", where=where, need=need, per=per, usable=usable, left=left)
        return True
    short = led.quote(call, "fit.headroom_bytes", "bytes_abs")
    wr.say("no_fit", where=where, need=need, per=per, usable=usable, short=short)
    return False


def _subject_line(wr: _Writer, call: int, subject: Subject) -> None:
    led = wr.led
    batch = led.get(call, "batch_size")
    per_gpu = ""
    if (led.get(call, "fit.num_gpus") if led.get(call, "fit") else 1) > 1:
        per_gpu = wr.fmt("per_gpu", v=led.quote(call, "per_gpu_bytes"))
    on = wr.fmt("subject_on", where=_where(wr, call)) if led.get(call, "fit") is not None else ""
    if led.get(call, "runtime") != "generic":
        on += wr.fmt("subject_runtime", runtime=led.quote(call, "runtime", "text"))
    if subject.default_size:
        wr.first("default_size")
    wr.say(
        "subject",
        model=led.quote(call, "model.name", "text"),
        precision=led.quote(call, "precision.name", "text"),
        ctx=led.quote(call, "context_length", "count"),
        batch=wr.fmt("batch", n=led.quote(call, "batch_size", "count")) if batch > 1 else "",
        on=on,
        total=led.quote(call, "total_bytes"),
        per_gpu=per_gpu,
    )


def _breakdown_line(wr: _Writer, call: int) -> None:
    parts = [
        wr.fmt(name, v=wr.led.quote(call, f"breakdown.{name}"))
        for name, value in wr.led.get(call, "breakdown").items()
        if value
    ]
    wr.say("parts", parts=("，" if wr.lang == "zh" else ", ").join(parts))


def _why_line(wr: _Writer, call: int) -> None:
    led = wr.led
    n = led.get(call, "fit.num_gpus") if led.get(call, "fit") else 1
    if n > 1 and any(str(a).startswith("tensor parallel") for a in led.get(call, "assumptions")):
        wr.say(
            "kv_tp",
            kvpt=led.quote(call, "kv_cache_bytes_per_token", "count"),
            n=led.quote(call, "fit.num_gpus", "count"),
        )
        wr.say(
            "why_tp",
            params=led.quote(call, "model.params_total", "params"),
            bits=led.quote(call, "precision.bits_per_weight", "bits"),
        )
        return
    wr.say(
        "why",
        params=led.quote(call, "model.params_total", "params"),
        bits=led.quote(call, "precision.bits_per_weight", "bits"),
        kvpt=led.quote(call, "kv_cache_bytes_per_token", "count"),
    )


def _first_warning(wr: _Writer, call: int) -> None:
    if wr.led.get(call, "warnings"):
        wr.say("note", text=wr.led.quote(call, "warnings[0]", "text"))


def _error(wr: _Writer, led: Ledger) -> None:
    call = len(led.calls) - 1
    wr.say("error", text=led.quote(call, "error", "text"))


def _estimate(p: Parsed, led: Ledger, wr: _Writer) -> None:
    if p.subjects and len(p.gpus) >= 2 and not p.gpu_count_asked and p.mode is None:
        # "RTX 4090 or RTX 5090 for it?": the same model on each GPU, then the faster one
        calls = [_estimate_one(replace(p, gpus=[g]), led, wr, p.subjects[0]) for g in p.gpus[:3]]
        _pick_faster(wr, [c for c in calls if c is not None])
        return
    if p.subjects and len(p.runtimes) >= 2 and p.mode is None:
        # "vLLM or llama.cpp?": the same model under each runtime
        for runtime in p.runtimes[:3]:
            _estimate_one(replace(p, runtime=runtime), led, wr, p.subjects[0])
        return
    # "Qwen2.5-32B 和 Gemma-2-27B 各…": each named model in turn (three at most)
    for subject in p.subjects[:3]:
        _estimate_one(p, led, wr, subject)


def _pick_faster(wr: _Writer, calls: list[int]) -> None:
    timed = [c for c in calls if wr.led.get(c, "speed") is not None and wr.led.get(c, "fit.fits")]
    if len(timed) < 2:
        return
    best = max(timed, key=lambda c: wr.led.get(c, "speed.decode_tokens_per_s"))
    wr.say("gpu_pick", gpu=_where(wr, best), tps=wr.led.quote(best, "speed.decode_tokens_per_s", "decimal"))


def _subject_notes(p: Parsed, wr: _Writer, subject: Subject) -> None:
    """Open the answer with what is not exactly what was named: never a silent substitution."""
    if subject.config is not None:
        wr.first("config_note", path=subject.named or "config.json")
        wr.echoed.append(subject.named or "config.json")
    elif subject.repo and (stand_in := resolve.catalog_stand_in(subject.repo)) is not None:
        wr.first("stand_in_note", named=subject.named or subject.repo, entry=stand_in.id, name=stand_in.name)
        wr.echoed += [subject.named or subject.repo, stand_in.id, stand_in.name]
        return
    elif subject.repo:
        wr.first("repo_note", named=subject.named or subject.repo)
        wr.echoed.append(subject.named or subject.repo)
    elif subject.named and subject.params_b:
        wr.first("size_note", named=subject.named, size=f"{subject.params_b:g}B")
        wr.echoed += [subject.named, f"{subject.params_b:g}B"]
    if subject.closest and (subject.repo or subject.named):
        closest = resolve.model_entry(subject.closest).name
        wr.first("closest_note", closest=closest)
        wr.echoed.append(closest)


def _gpu_notes(p: Parsed, wr: _Writer, call: int) -> None:
    gpu = p.unknown_gpu
    if gpu is None or gpu.vram_gb is None or "vram_gb" not in wr.led.calls[call].args:
        return
    gb = f"{gpu.vram_gb:g}"
    wr.echoed += [gpu.name, gb]
    if gpu.catalog_id:
        entry = resolve.gpu_entry(gpu.catalog_id)
        wr.echoed += [entry.name, f"{gpu.bandwidth_gb_s:g}"]
        wr.first("modded_note", name=gpu.name, gb=gb, catalog=entry.name, bw=f"{gpu.bandwidth_gb_s:g}")
        return
    if gpu.bandwidth_gb_s:
        wr.echoed.append(f"{gpu.bandwidth_gb_s:g}")
    bw = wr.fmt("gpu_note_bw", bw=f"{gpu.bandwidth_gb_s:g}") if gpu.bandwidth_gb_s else wr.w["gpu_note_no_bw"]
    wr.first("gpu_note", name=gpu.name, gb=gb, bw=bw)


def _asked_figures(p: Parsed, wr: _Writer, call: int, fits: bool) -> None:
    """The figures the question asks for by name: users served, largest batch, longest context."""
    led = wr.led
    if "concurrency" in p.asks:
        runtime = led.quote(call, "runtime", "text")
        if led.get(call, "runtime_detail.max_concurrency") is not None and fits:
            wr.say(
                "concurrency",
                runtime=runtime,
                tokens=led.quote(call, "runtime_detail.kv_pool_tokens", "count"),
                n=led.quote(call, "runtime_detail.max_concurrency", "decimal"),
                ctx=led.quote(call, "context_length", "count"),
            )
        elif not fits:
            wr.say("concurrency_none", runtime=runtime)
    if "max_batch" in p.asks and fits:
        wr.say("max_batch", n=led.quote(call, "fit.max_batch_size", "count"))
    if "max_context" in p.asks and not fits and led.get(call, "fit") is not None:
        if led.get(call, "fit.max_context_length"):
            wr.say("max_ctx", ctx=led.quote(call, "fit.max_context_length", "count"))
        else:
            wr.say("no_ctx")


def _estimate_one(p: Parsed, led: Ledger, wr: _Writer, subject: Subject) -> int | None:
    _subject_notes(p, wr, subject)
    if p.mode in ("full_finetune", "lora", "qlora", "finetune"):
        _training(p, led, wr, subject)
        return None
    precision = subject.precision or p.unknown_precision or _native_precision(subject, p.runtime)
    if precision == "fp8" and _native_precision(subject) == "fp8_block":
        precision = "fp8_block"  # "DeepSeek-V3 in FP8" is its own block-scaled checkpoint
    args: dict[str, Any] = {**_subject_args(subject), "precision": precision}
    args |= _hardware_args(p)
    args["runtime"] = "llama.cpp" if _cpu(args) else _runtime(p, precision)
    if "concurrency" in p.asks and not p.runtime and not _cpu(args):
        args["runtime"] = resolve.serving_runtime()  # users served at once: the serving runtime's KV pool
    if p.kv_precision:
        args["kv_cache_precision"] = p.kv_precision
    if p.context_length:
        args["context_length"] = p.context_length
    if p.batch_size:
        args["batch_size"] = p.batch_size
    if p.gpu_count_asked and p.gpu is not None:
        _solve_gpu_count(p, led, wr, subject, args)
        return None
    call = led.call("estimate_memory", estimate_memory, args)
    if call is None:
        _error(wr, led)
        if subject.repo or subject.named:
            wr.say("need_config", named=subject.named or subject.repo or "")
            wr.echoed.append(subject.named or subject.repo or "")
        return None
    _gpu_notes(p, wr, call)
    _subject_line(wr, call, subject)
    _breakdown_line(wr, call)
    fits = _fit_line(wr, call)
    _asked_figures(p, wr, call, fits)
    if fits:
        wr.say("max_ctx", ctx=led.quote(call, "fit.max_context_length", "count"))
        _speed_line(wr, call)
    elif led.get(call, "fit") is not None:
        _fitting_precision(led, wr, subject, args, call)
    else:
        _speed_line(wr, call)  # no GPU named: the speed the tool could still work out (if any)
    _why_line(wr, call)
    _first_warning(wr, call)
    wr.cite_notes(call)
    return call


def _speed_line(wr: _Writer, call: int) -> None:
    if wr.led.get(call, "speed") is None:
        return
    bound = str(wr.led.get(call, "speed.bound"))
    if _cpu(wr.led.calls[call].args):
        bound = f"cpu {bound}"  # system RAM's bandwidth, not a GPU's
    wr.say(
        "speed",
        tps=wr.led.quote(call, "speed.decode_tokens_per_s", "decimal"),
        bound=wr.w["bound"].get(bound, bound),
        prefill=wr.led.quote(call, "speed.prefill_tokens_per_s", "decimal"),
    )
    if wr.led.get(call, "batch_size") > 1:
        wr.say(
            "speed_batch",
            n=wr.led.quote(call, "batch_size", "count"),
            agg=wr.led.quote(call, "speed.aggregate_decode_tokens_per_s", "decimal"),
        )


def _fitting_precision(led: Ledger, wr: _Writer, subject: Subject, est_args: dict[str, Any], est_call: int) -> None:
    """The model does not fit as asked: the highest-quality precision on the ladder that does."""
    args = {**_subject_args(subject), **{k: est_args[k] for k in ("gpu", "num_gpus", "vram_gb") if k in est_args}}
    if "vram_gb" in args:
        return  # compare_precision takes a named GPU only
    for key in ("context_length", "batch_size"):
        if key in est_args:
            args[key] = est_args[key]
    call = led.call("compare_precision", compare_precision, args)
    if call is None:
        return
    rows = led.get(call, "rows")
    fitting = [i for i, row in enumerate(rows) if row["fits"]]
    if fitting:
        i = fitting[0]
        level = wr.level(call, f"rows[{i}].quality_impact.level") if rows[i]["quality_impact"] else "?"
        wr.say(
            "fits_at",
            precision=led.quote(call, f"rows[{i}].name", "text"),
            total=led.quote(call, f"rows[{i}].total_bytes"),
            level=level,
        )
    else:
        wr.say(
            "fits_none",
            first=led.quote(call, "rows[0].name", "text"),
            last=led.quote(call, f"rows[{len(rows) - 1}].name", "text"),
            where=_where(wr, est_call),
        )
    wr.add_citation("precision-tradeoffs")


GPU_COUNTS = (1, 2, 4, 8, 16, 32, 64)  # tensor-parallel sizes people deploy; each must divide the heads


def _solve_gpu_count(p: Parsed, led: Ledger, wr: _Writer, subject: Subject, args: dict[str, Any]) -> None:
    """'How many H100s?': the smallest GPU count (of GPU_COUNTS) at which the model fits."""
    last_fail: int | None = None
    found: int | None = None
    for n in GPU_COUNTS:
        call = led.call("estimate_memory", estimate_memory, {**args, "num_gpus": n})
        if call is None:
            continue
        if led.get(call, "fit.fits"):
            found = call
            break
        last_fail = call
    shown = found if found is not None else last_fail
    if shown is None:
        _error(wr, led)
        return
    _subject_line(wr, shown, subject)
    _breakdown_line(wr, shown)
    if last_fail is not None and found is not None:
        wr.say("solve_short", where=_where(wr, last_fail), need=led.quote(last_fail, "fit.required_bytes"))
    if found is not None:
        tight = str(led.get(found, "fit.verdict")).startswith("fits, tight")
        wr.say(
            "solve_tight" if tight else "solve",
            where=_where(wr, found),
            need=led.quote(found, "fit.required_bytes"),
            usable=led.quote(found, "fit.usable_bytes"),
            left=led.quote(found, "fit.headroom_bytes"),
        )
        _speed_line(wr, found)
    else:
        wr.say(
            "solve_none",
            where=_where(wr, shown),
            need=led.quote(shown, "fit.required_bytes"),
            usable=led.quote(shown, "fit.usable_bytes"),
        )
    _why_line(wr, shown)
    wr.cite_notes(shown)


def _training(p: Parsed, led: Ledger, wr: _Writer, subject: Subject) -> None:
    modes = ["full_finetune", "lora", "qlora"] if p.mode == "finetune" else [str(p.mode)]
    base: dict[str, Any] = {**_subject_args(subject), **_hardware_args(p)}
    base.pop("bandwidth_gb_s", None)
    precision = subject.precision or p.unknown_precision
    if precision and p.mode in ("full_finetune", "lora"):
        base["precision"] = precision  # a quantized base for full fine-tuning is refused by the tool, with why
    elif precision and p.mode == "finetune" and catalog.resolve_format(precision).kind == "float":
        base["precision"] = precision
    if p.runtime in ("transformers", "generic"):
        base["runtime"] = p.runtime
    for key, value in (
        ("context_length", p.context_length),
        ("batch_size", p.batch_size),
        ("optimizer", p.optimizer),
        ("zero_stage", p.zero_stage),
        ("lora_rank", p.lora_rank),
    ):
        if value:
            base[key] = value
    calls = [(mode, led.call("estimate_memory", estimate_memory, {**base, "mode": mode})) for mode in modes]
    done = [(mode, call) for mode, call in calls if call is not None]
    if not done:
        _error(wr, led)
        return
    if len(done) == 1:
        call = done[0][1]
        _subject_line(wr, call, subject)
        _breakdown_line(wr, call)
        _fit_line(wr, call)
    else:
        first = done[0][1]
        wr.say(
            "train_intro",
            model=led.quote(first, "model.name", "text"),
            batch=led.quote(first, "batch_size", "count"),
            ctx=led.quote(first, "context_length", "count"),
        )
        for mode, call in done:
            fit = ""
            if led.get(call, "fit") is not None:
                if led.get(call, "fit.fits"):
                    fit = wr.fmt("mode_fit", where=_where(wr, call), left=led.quote(call, "fit.headroom_bytes"))
                else:
                    short = led.quote(call, "fit.headroom_bytes", "bytes_abs")
                    fit = wr.fmt("mode_no_fit", where=_where(wr, call), short=short)
            wr.say("mode_line", label=wr.w["modes"][mode], total=led.quote(call, "total_bytes"), fit=fit)
    last = done[-1][1]
    if base.get("optimizer", "adamw") == "adamw" and not base.get("zero_stage"):
        batch, ctx = led.quote(last, "batch_size", "count"), led.quote(last, "context_length", "count")
        wr.say("why_train", batch=batch, ctx=ctx)
    else:  # 8-bit Adam, SGD, ZeRO: the tool's own assumption lines say which
        shown = [
            i for i, line in enumerate(led.get(last, "assumptions")) if line.startswith(("training:", "data parallel"))
        ]
        lines = [led.quote(last, f"assumptions[{i}]", "text") for i in shown]
        wr.say("why_train_quoted", lines=("；" if wr.lang == "zh" else "; ").join(lines))
    for _, call in done:
        wr.cite_notes(call)


def _recommend(p: Parsed, led: Ledger, wr: _Writer) -> None:
    args: dict[str, Any] = {"top_k": 3, "language": p.lang}
    if p.gpu is not None:
        args["gpu"] = p.gpu.gpu_id
        if p.gpu.count and p.gpu.count > 1:
            args["num_gpus"] = p.gpu.count
    elif p.vram_gb is not None:
        args["vram_gb"] = p.vram_gb
    elif p.system_ram_gb is not None:
        args["system_ram_gb"] = p.system_ram_gb
    for key, value in (("task", p.task), ("context_length", p.context_length), ("runtime", p.runtime)):
        if value:
            args[key] = value
    if p.batch_size:
        args["concurrent_users"] = p.batch_size
    if p.min_tokens_per_s:
        args["min_tokens_per_s"] = p.min_tokens_per_s
    call = led.call("recommend_model", recommend_model, args)
    if call is None:
        _error(wr, led)
        return
    _gpu_notes(p, wr, call)
    n = led.get(call, "hardware.num_gpus")
    users = led.get(call, "concurrent_users")
    hardware = led.quote(call, "hardware.name", "gpu")
    if n > 1:
        hardware = wr.fmt("on_many", n=led.quote(call, "hardware.num_gpus", "count"), gpu=hardware)
    wr.say(
        "rec_intro",
        hw=hardware,
        mem=led.quote(call, "hardware.memory_bytes_per_gpu"),
        per=wr.w["per"] if n > 1 else "",
        ctx=led.quote(call, "context_length", "count"),
        users=wr.fmt("rec_users", n=led.quote(call, "concurrent_users", "count")) if users > 1 else "",
    )
    candidates = led.get(call, "candidates")
    for i, cand in enumerate(candidates):
        c = f"candidates[{i}]"
        tps = ""
        if cand["decode_tokens_per_s"]:
            tps = wr.fmt("rec_tps", v=led.quote(call, f"{c}.decode_tokens_per_s", "decimal"))
        wr.say(
            "rec_line",
            rank=led.quote(call, f"{c}.rank", "count"),
            name=led.quote(call, f"{c}.name", "text"),
            precision=led.quote(call, f"{c}.precision", "text"),
            total=led.quote(call, f"{c}.total_bytes"),
            left=led.quote(call, f"{c}.headroom_bytes"),
            tps=tps,
            bench=led.quote(call, f"{c}.quality.benchmark", "text"),
            score=led.quote(call, f"{c}.quality.score", "decimal"),
        )
    if not candidates:
        wr.say("rec_none")
    else:
        wr.say("rec_why")
    if led.get(call, "rejected"):
        wr.say(
            "rec_rejected",
            precision=led.quote(call, "rejected[0].precision", "text"),
            model=led.quote(call, "rejected[0].model", "text"),
            need=led.quote(call, "rejected[0].needs_bytes"),
            have=led.quote(call, "rejected[0].available_bytes"),
        )
    tips = [i for i, tip in enumerate(led.get(call, "advice")) if not tip.startswith("left out")]
    if tips:
        wr.say("tip", text=led.quote(call, f"advice[{tips[0]}]", "text"))
    wr.cite_notes(call)


# The GGUF quants people download, high to low: the ladder for "all the quants of X".
GGUF_LADDER = ("bf16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k")
# A generic "INT8" covers several recipes; a question about its quality is answered for each of them.
FAMILIES = {"int8": ("int8", "q8_0", "gptq_int8", "bnb_int8")}


def _ladder(p: Parsed) -> list[str] | None:
    """The precisions to compare: those named, or a ladder through them ("all the quants", "INT8's quality")."""
    named = weight_precisions(p)
    if len(named) >= 2 and not p.ladder:
        return named
    gguf = p.runtime == "llama.cpp" or bool(re.search(r"gguf|quant|量化", p.text))
    ladder = list(GGUF_LADDER if gguf else DEFAULT_LADDER)
    for fmt in named:
        for member in FAMILIES.get(fmt, (fmt,)):
            if member not in ladder:
                ladder.append(member)
    if ladder == list(DEFAULT_LADDER):
        return None  # the tool's own default ladder, sorted by size
    return sorted(ladder, key=_bits_order)


@cache
def _nominal_bits() -> dict[str, float]:
    from agent_tools.listing import list_format_rows

    return {row.id: row.nominal_bits_per_weight for row in list_format_rows()}


def _bits_order(fmt: str) -> float:
    """Sort key, largest first: a format's nominal bits per weight."""
    return -_nominal_bits().get(fmt, 16.0)


def _compare(p: Parsed, led: Ledger, wr: _Writer) -> None:
    common: dict[str, Any] = {}
    for key, value in (("context_length", p.context_length), ("batch_size", p.batch_size)):
        if value:
            common[key] = value
    if p.gpu is not None:
        common["gpu"] = p.gpu.gpu_id
        if p.gpu.count and p.gpu.count > 1:
            common["num_gpus"] = p.gpu.count
    elif p.vram_gb is not None:
        common["vram_gb"] = p.vram_gb
    if len(p.subjects) >= 2:
        _compare_models(p, led, wr, common)
        return
    example = not p.subjects  # no model named: show the comparison on an example model
    subject = p.subjects[0] if p.subjects else Subject((0, 0), model_id=catalog.resolve_model(MODEL_EXAMPLES[0]).id)
    args = {**_subject_args(subject), **common}
    precisions = _ladder(p)
    if precisions:
        args["precisions"] = precisions
    call = led.call("compare_precision", compare_precision, args)
    if call is None:
        _error(wr, led)
        return
    wr.say(
        "cmp_example" if example else "cmp_intro",
        model=led.quote(call, "model", "text"),
        ctx=led.quote(call, "context_length", "count"),
    )
    for i, row in enumerate(led.get(call, "rows")):
        r = f"rows[{i}]"
        fit = ""
        if row["fits"] is not None:
            fit = wr.w["cmp_fit" if row["fits"] else "cmp_no_fit"]
        wr.say(
            "cmp_row",
            name=led.quote(call, f"{r}.name", "text"),
            total=led.quote(call, f"{r}.total_bytes"),
            bits=led.quote(call, f"{r}.bits_per_weight", "bits"),
            level=wr.level(call, f"{r}.quality_impact.level") if row["quality_impact"] else "?",
            fit=fit,
        )
    wr.say("verdict", text=led.quote(call, "verdict", "text"))
    wr.cite_notes(call)


def _finding(call_notes: list[str], finding_id: str) -> int | None:
    text = next((f.finding for f in format_quality().findings if f.id == finding_id), None)
    return call_notes.index(text) if text in call_notes else None


def _compare_models(p: Parsed, led: Ledger, wr: _Writer, common: dict[str, Any]) -> None:
    calls: list[tuple[Subject, int]] = []
    for subject in p.subjects[:2]:
        precision = subject.precision or _native_precision(subject, p.runtime)
        args = {**_subject_args(subject), **common, "precisions": [precision]}
        call = led.call("compare_precision", compare_precision, args)
        if call is None:
            _error(wr, led)
            return
        calls.append((subject, call))
    for _, call in calls:
        wr.say(
            "vs_row",
            model=led.quote(call, "model", "text"),
            name=led.quote(call, "rows[0].name", "text"),
            total=led.quote(call, "rows[0].total_bytes"),
            bits=led.quote(call, "rows[0].bits_per_weight", "bits"),
            level=wr.level(call, "rows[0].quality_impact.level") if led.get(call, "rows[0].quality_impact") else "?",
        )
    (_, a), (_, b) = calls
    big, small = (a, b) if led.get(a, "params_total") >= led.get(b, "params_total") else (b, a)
    big_bits, small_bits = led.get(big, "rows[0].bits_per_weight"), led.get(small, "rows[0].bits_per_weight")
    impact = led.get(big, "rows[0].quality_impact")
    level = impact["level"] if impact else "small"
    notes = led.get(big, "notes")
    if big_bits >= small_bits:
        wr.say("vs_bigger_high")
    elif level in ("noticeable", "severe"):
        i = _finding(notes, "below_four_bits_reverses")
        finding = led.quote(big, f"notes[{i}]", "text") if i is not None else ""
        wr.say("vs_bigger_lossy", level=wr.level(big, "rows[0].quality_impact.level"), finding=finding)
    else:
        i = _finding(notes, "four_bit_bit_optimal")
        finding = led.quote(big, f"notes[{i}]", "text") if i is not None else ""
        wr.say("vs_bigger_low", finding=finding)
    small_model = led.get(small, "model")
    for j, alt in enumerate(led.get(big, "equal_size_alternatives")):
        if alt["model"] == small_model:
            wr.say("vs_same", text=led.quote(big, f"equal_size_alternatives[{j}].comparison", "text"))
            break
    wr.cite_notes(big)


# ---------------------------------------------------------------------------------------------- concepts

_DEFINITIONAL = re.compile(
    r"what|why|stores|means|meaning|definition|是什么|存的是什么|存什么|为什么需要|含义|定义", re.I
)
_NOTE_LINK = re.compile(r"\]\(([a-z0-9-]+)\)")


@cache
def _shipped_note_ids() -> frozenset[str]:
    try:
        from knowledge.paths import shipped_note_ids
    except ImportError:
        return frozenset()
    return frozenset(shipped_note_ids())


_STOP_WORDS = frozenset({"what", "why", "how", "when", "which", "the", "is", "are", "does", "do", "of", "to", "gb"})
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|[。！？]")


def excerpt_of(text: str, lang: Lang) -> str:
    """The first sentences of a passage (about 200 characters in English, 90 in Chinese), verbatim."""
    clean = clean_passage(text)
    target, cap = (150, 300) if lang == "zh" else (300, 600)
    for m in _SENTENCE_END.finditer(clean):
        if m.end() >= target:
            return clean[: m.end()] if m.end() <= cap else clean[:cap].rsplit(" ", 1)[0]
    return clean[:cap] if len(clean) > cap else clean


def _concept(p: Parsed, led: Ledger, wr: _Writer, search: SearchFn | None, background: bool = False) -> None:
    """Quote the passages that explain the question; as `background` (after a calculation), the best one only."""
    if search is None:
        try:
            from knowledge.search import search_knowledge as search
        except ImportError:
            wr.say("no_kb")
            return
    # two sections per note: a note's best match may be its corrections list, its explanation the second
    args = {"query": p.question.strip(), "k": 6, "lang": p.lang, "per_note": 2}
    call = led.call("search_knowledge", search, args, errors=(ValueError, RuntimeError, OSError))
    if call is None:
        wr.say("search_failed", text=led.quote(len(led.calls) - 1, "error", "text"))
        return
    passages = led.get(call, "passages")
    if not passages:
        wr.say("no_passage")
        return
    words = set(re.findall(r"[a-z0-9]+", p.text))

    def rank(i: int) -> tuple[bool, bool, bool, int]:
        # A note whose id starts with a word of the question ('kv-cache' for "what is the KV cache") first,
        # then sections that explain (a note's corrections to the seed articles last), then retrieval order.
        named = passages[i]["note_id"].split("-")[0] in words - _STOP_WORDS
        heading = passages[i]["heading"]
        correction = bool(re.search(r"correct|更正", heading, re.I))
        return (not named, correction, not _DEFINITIONAL.search(heading), i)

    order = sorted(range(len(passages)), key=rank)
    if background:  # after a calculation: the passage that adds a note not cited yet
        order = sorted(order, key=lambda i: passages[i]["note_id"] in wr.notes)
    chosen = [order[0]]
    for i in order[1:]:
        if len(chosen) < (1 if background else 2) and passages[i]["note_id"] not in {
            passages[c]["note_id"] for c in chosen
        }:
            chosen.append(i)
    for n, i in enumerate(chosen):
        field = f"passages[{i}]"
        excerpt = excerpt_of(passages[i]["text"], p.lang)
        wr.say(
            "background" if background else "concept" if n == 0 else "see_also",
            heading=led.quote(call, f"{field}.heading", "text"),
            excerpt=led.excerpt(call, f"{field}.text", excerpt),
        )
        passage = passages[i]
        wr.add_citation(passage["note_id"], passage["heading"], passage["source"])
    # one more note on the topic, named but not quoted
    related = [i for i in order if passages[i]["note_id"] not in wr.notes]
    if related:
        i = related[0]
        wr.say("related", heading=led.quote(call, f"passages[{i}].heading", "text"))
        wr.add_citation(passages[i]["note_id"], passages[i]["heading"], passages[i]["source"])
    # notes the quoted passages themselves point to ("see [speed-and-bandwidth](speed-and-bandwidth)")
    for i in chosen:
        for linked in _NOTE_LINK.findall(passages[i]["text"]):
            if linked in _shipped_note_ids():
                wr.add_citation(linked)


# ---------------------------------------------------------------------------------------------- answer


def _ask(wr: _Writer, need: Need, partial: bool) -> NeedOut:
    key = {"model": "need_model", "gpu": "need_gpu", "model_size": "need_model_size", "gpu_memory": "need_gpu_memory"}
    name = key[need.what]
    if need.what == "model" and need.named:
        name = "need_model_unknown"
    elif need.what == "model" and need.unknown:
        name = "need_model_unknown_plain"
    elif need.what == "gpu_memory" and need.named:
        name = "need_gpu_memory_unknown"
    elif need.what == "gpu" and partial:
        name = "need_gpu_fit"
    sep = "、" if wr.lang == "zh" else ", "
    examples = need.examples[0] if name == "need_gpu_memory_unknown" else sep.join(need.examples)
    if need.named:
        wr.echoed.append(need.named)
    ask = wr.fmt(name, ex=examples, named=need.named or "")
    wr.lines.append(ask)
    return NeedOut(what=need.what, ask=ask, examples=need.examples)


def read_config(path: str) -> dict[str, Any]:
    """A config.json (or a folder holding one) the user pointed to; OSError/ValueError with the reason."""
    from pathlib import Path

    from agent_tools.jsonfile import MAX_CONFIG_BYTES, read_json_object

    file = Path(path).expanduser()
    if file.is_dir():
        file = file / "config.json"
    if not file.is_file():
        raise OSError("no such file")
    return read_json_object(file, MAX_CONFIG_BYTES)


def _config_subject(p: Parsed, wr: _Writer) -> bool:
    """Read the config.json the question points to; False (and one line saying why) when it cannot be read."""
    assert p.config_path is not None
    try:
        config = read_config(p.config_path)
    except (OSError, ValueError) as e:
        wr.say("config_unreadable", path=p.config_path, why=str(e).splitlines()[0] or type(e).__name__)
        wr.echoed.append(p.config_path)
        return False
    p.subjects = [Subject((0, 0), named=p.config_path, config=config)]
    p.needs = [n for n in p.needs if not n.what.startswith("model")]
    return True


def answer(
    question: str, *, search: SearchFn | None = None, state: State | None = None, read_files: bool = False
) -> Answer:
    """Answer a GPU-memory question in its own language (English or Chinese) from the typed tools.

    `search` replaces knowledge.search.search_knowledge for the concept path (tests pass one bound to a
    fixture store); it is imported lazily, so questions that do not need it stay fast. `state` is the conversation
    so far (assistant.conversation): a follow-up takes what it leaves out from it; the new state is returned in
    `Answer.state`. `read_files`: read a config.json path named in the question (the CLI on the user's own machine;
    never the help desk, which must not open the server's files for a web page).
    """
    try:
        p = extract(question)
    except QuestionTooLong as e:
        return _refused(question, str(e), state)
    led = Ledger()
    wr = _Writer(p.lang, led)
    config_ok = read_files and p.config_path is not None and _config_subject(p, wr)
    inherit(p, state)
    p = finish(p)
    if config_ok and p.intent in ("concept", "recommend"):
        p.intent, p.also = "estimate", []
    if p.inherited:
        if p.intent == "concept" and p.subjects:
            p.intent = "estimate"  # "what's the longest context it can take?" about the model sized before
        p.also = [step for step in p.also if step != "concept"]
    # A missing model or GPU stops a calculation; an explanation is given anyway, and the question asked after.
    blocking = [
        n
        for n in p.needs
        if p.intent != "concept"
        and (n.what != "gpu" or p.intent == "recommend")
        and not (p.subjects and n.what in ("model", "model_size"))  # size the models it knows, ask about the rest
    ]
    if not question.strip():
        p.needs.append(Need("model", list(MODEL_EXAMPLES)))
    elif p.small_talk:
        wr.say("hello")
    elif not blocking:
        steps = list(dict.fromkeys([p.intent, *p.also]))
        if not p.subjects and "concept" in steps:
            steps.remove("concept")  # a general question: the explanation first, then any example
            steps.insert(0, "concept")
        for n, step in enumerate(steps):
            if step == "estimate":
                _estimate(p, led, wr)
            elif step == "recommend":
                _recommend(p, led, wr)
            elif step == "compare":
                _compare(p, led, wr)
            else:
                _concept(p, led, wr, search, background=n > 0)
    if p.inherited and wr.lines:
        items = [wr.w["inherited_items"][k] for k in dict.fromkeys(p.inherited) if k in wr.w["inherited_items"]]
        sep = "、" if wr.lang == "zh" else ", "
        wr.lines.insert(1, wr.fmt("inherited", items=sep.join(items)))
    needs = [_ask(wr, need, partial=bool(led.calls)) for need in p.needs]
    if wr.notes:
        wr.say("sources", notes=", ".join(f"note:{n}" for n in wr.notes))
    new_state = remember(p, state) if state is not None else None
    return Answer(
        text=wr.text(),
        language=p.lang,
        intent=p.intent,
        entities=Entities(
            models=[s.label for s in p.subjects],
            gpus=[g.gpu_id for g in p.gpus],
            num_gpus=p.num_gpus,
            gpu_count_asked=p.gpu_count_asked,
            vram_gb=p.vram_gb,
            system_ram_gb=p.system_ram_gb,
            precision=weight_precisions(p),
            context_length=p.context_length,
            batch_size=p.batch_size,
            task=p.task,
            mode=p.mode,
            runtime=p.runtime,
        ),
        tool_calls=led.calls,
        numbers=led.figures,
        citations=wr.citations,
        needs=needs,
        inherited=list(dict.fromkeys(p.inherited)),
        echoed=list(dict.fromkeys(wr.echoed)),
        state=new_state.as_dict() if new_state is not None else None,
    )


def _refused(question: str, message: str, state: State | None) -> Answer:
    """A question refused at the boundary (too long): one line, no tool called, the conversation unchanged."""
    lang = detect_language(question[:MAX_QUESTION_CHARS])
    text = message
    if lang == "zh":
        text = f"问题有 {len(question):,} 个字符，最多接受 {MAX_QUESTION_CHARS:,} 个（请一次只问一个模型和一张显卡）。"
    return Answer(
        text=text,
        language=lang,
        intent="concept",
        entities=Entities(models=[], gpus=[]),
        tool_calls=[],
        numbers=[],
        citations=[],
        needs=[],
        state=state.as_dict() if state is not None else None,
    )
