"""Conversation state shared by `vramwise chat`, the help desk and the LLM agent.

A follow-up names little ("and at 32k context?", "same on two cards", "换成 q4_k_m 呢？", "那 72B 呢"): what it does
not change is taken from the turns before. `State` is what was sized last (model, GPU and count or a stated memory,
precision, runtime, context, batch, mode, task); `inherit` fills a parsed follow-up from it, `remember` records the
new state. `Sessions` keeps one State per help-desk tab, bounded (LRU, max count) and expiring (TTL).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from agent_tools import catalog
from assistant.understand import GpuMention, Parsed, Subject, UnknownGpu, size_label

MAX_SESSIONS = 1000  # help-desk tabs remembered at once; the least recently used is dropped beyond this
SESSION_TTL_S = 3600.0  # a tab silent for an hour starts afresh
MAX_SESSION_ID_CHARS = 100
MAX_HISTORY_MESSAGES = 20  # the LLM agent sees the last ten exchanges of a conversation, no more


@dataclass
class State:
    """What the conversation sized last; None where nothing was said."""

    model_id: str | None = None
    repo: str | None = None
    params_b: float | None = None
    named: str | None = None
    gpu_id: str | None = None
    num_gpus: int | None = None
    vram_gb: float | None = None
    bandwidth_gb_s: float | None = None
    unknown_gpu: dict[str, Any] | None = None
    system_ram_gb: float | None = None
    cpu_only: bool = False
    precision: str | None = None
    kv_precision: str | None = None
    runtime: str | None = None
    context_length: int | None = None
    batch_size: int | None = None
    mode: str | None = None
    task: str | None = None
    optimizer: str | None = None
    lora_rank: int | None = None
    zero_stage: int | None = None
    turns: int = 0

    @property
    def has_model(self) -> bool:
        return bool(self.model_id or self.repo or self.params_b)

    @property
    def has_hardware(self) -> bool:
        return bool(self.gpu_id or self.vram_gb or self.system_ram_gb)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False)}


def _sibling(model_id: str, params_b: float) -> str | None:
    """'那 72B 呢' after Qwen2.5-14B: the catalog model of the same family at that size (closest id wins)."""
    entry = catalog.resolve_model(model_id)
    want = f"{params_b:g}b"
    same = [m for m in catalog.list_models() if m.family == entry.family and size_label(m.id) == want]
    if not same:
        # 'the 120b one' after gpt-oss-20b: family names may carry the size; match on the id's stem instead
        stem = entry.id.split("/")[-1].lower().split("-")[0]
        same = [m for m in catalog.list_models() if m.id.split("/")[-1].lower().startswith(stem)]
        same = [m for m in same if size_label(m.id) == want]
    if not same:
        return None

    def shared_prefix(other: str) -> int:
        n = 0
        for a, b in zip(other.lower(), model_id.lower(), strict=False):
            if a != b:
                break
            n += 1
        return n

    return max(same, key=lambda m: (shared_prefix(m.id), not m.legacy)).id


def _calculator_words(p: Parsed) -> bool:
    """The question carries something to size with (not a greeting or a concept question)."""
    return bool(
        p.precisions
        or p.context_length
        or p.batch_size
        or p.gpus
        or p.vram_gb
        or p.count_only
        or p.mode
        or p.runtime
        or p.kv_precision
        or p.asks
        or p.gpu_count_asked
        or p.wants_fit
        or p.unknown_precision
    )


# "which models fit my 4090?": asks for a model rather than about the one sized before
_ASKS_FOR_A_MODEL = re.compile(
    r"(?:which|what) (?:other )?(?:models?|llms?)|what can (?:i|we) (?:actually )?run|"
    r"什么模型|哪个模型|哪些模型|啥模型|能跑什么|跑什么|跑啥"
)


def inherit(p: Parsed, state: State | None) -> None:
    """Fill what a follow-up leaves out from the conversation; records each piece taken in p.inherited."""
    if state is None or p.small_talk or not (state.has_model or state.has_hardware):
        return
    own_model = any(s.model_id or s.repo or s.named for s in p.subjects)
    size_only = bool(p.subjects) and all(s.params_b and not s.named for s in p.subjects)
    if not own_model and not size_only and not _calculator_words(p) and not p.followup:
        return  # "what is a KV cache?": a question of its own
    followup = p.followup or not own_model
    asks_for_a_model = not p.subjects and bool(_ASKS_FOR_A_MODEL.search(p.text))
    # the model
    if asks_for_a_model:
        pass
    elif not p.subjects and state.has_model and not any(n.what.startswith("model") for n in p.needs):
        p.subjects = [
            Subject(
                (0, 0),
                model_id=state.model_id,
                params_b=state.params_b,
                repo=state.repo,
                named=state.named,
                inherited=True,
            )
        ]
        p.inherited.append("model")
    elif size_only and len(p.subjects) == 1 and state.model_id:
        sibling = _sibling(state.model_id, float(p.subjects[0].params_b or 0))
        if sibling is not None:
            p.subjects[0] = replace(p.subjects[0], model_id=sibling, params_b=None)
            p.inherited.append("family")
    # the hardware
    said_hardware = p.gpus or p.vram_gb is not None or p.system_ram_gb is not None or p.cpu_only or p.unknown_gpu
    if not said_hardware:
        if state.gpu_id:
            p.gpus = [GpuMention((0, 0), state.gpu_id, p.count_only or state.num_gpus)]
            p.inherited.append("gpu")
        elif state.vram_gb:
            p.vram_gb = state.vram_gb
            p.bandwidth_gb_s = p.bandwidth_gb_s or state.bandwidth_gb_s
            if state.unknown_gpu:
                p.unknown_gpu = UnknownGpu(**state.unknown_gpu)
            p.inherited.append("gpu")
        elif state.system_ram_gb:
            p.system_ram_gb = state.system_ram_gb
            p.cpu_only = state.cpu_only
            p.inherited.append("gpu")
    if not followup:
        return  # a new question about a new model keeps only the hardware
    if not p.precisions and state.precision and not asks_for_a_model:
        quantized_base = catalog.resolve_format(state.precision).kind != "float"
        training = p.mode in ("full_finetune", "lora", "finetune") or (p.mode is None and state.mode)
        if not (quantized_base and training and p.mode != state.mode):
            p.precisions = [((0, 0), state.precision)]
            p.inherited.append("precision")
    for name in ("kv_precision", "runtime", "context_length", "batch_size", "mode", "task", "optimizer"):
        if getattr(p, name) is None and getattr(state, name) is not None:
            setattr(p, name, getattr(state, name))
            p.inherited.append(name)
    if p.runtime and p.runtime not in p.runtimes:
        p.runtimes = [p.runtime, *p.runtimes]
    for name in ("lora_rank", "zero_stage"):
        if getattr(p, name) is None and getattr(state, name) is not None and p.mode in ("lora", "qlora", "finetune"):
            setattr(p, name, getattr(state, name))


def remember(p: Parsed, state: State | None) -> State:
    """The conversation state after answering `p` (unchanged by a concept question or a greeting)."""
    old = state or State()
    if p.small_talk or (p.intent == "concept" and not p.inherited):
        return replace(old, turns=old.turns + 1)
    new = State(turns=old.turns + 1)
    subject = p.subjects[0] if p.subjects else None
    if subject is not None:
        new.model_id, new.repo, new.params_b, new.named = (
            subject.model_id,
            subject.repo,
            subject.params_b,
            subject.named,
        )
        new.precision = subject.precision
    elif old.has_model:
        new.model_id, new.repo, new.params_b, new.named = old.model_id, old.repo, old.params_b, old.named
        new.precision = old.precision  # a recommendation in between leaves the sized model as it was
    if p.gpus:
        new.gpu_id, new.num_gpus = p.gpus[0].gpu_id, p.gpus[0].count
    elif p.vram_gb is not None:
        new.vram_gb, new.bandwidth_gb_s = p.vram_gb, p.bandwidth_gb_s
        new.unknown_gpu = asdict(p.unknown_gpu) if p.unknown_gpu else None
    elif p.system_ram_gb is not None:
        new.system_ram_gb, new.cpu_only = p.system_ram_gb, p.cpu_only
    else:
        new.gpu_id, new.num_gpus, new.vram_gb = old.gpu_id, old.num_gpus, old.vram_gb
        new.bandwidth_gb_s, new.unknown_gpu = old.bandwidth_gb_s, old.unknown_gpu
        new.system_ram_gb, new.cpu_only = old.system_ram_gb, old.cpu_only
    new.kv_precision = p.kv_precision
    new.runtime = p.runtime
    new.context_length = p.context_length
    new.batch_size = p.batch_size
    new.mode = None if p.mode == "inference" else p.mode
    new.task = p.task
    new.optimizer = p.optimizer
    new.lora_rank = p.lora_rank
    new.zero_stage = p.zero_stage
    return new


class Conversation:
    """One conversation: `ask(question)` answers with the earlier turns in mind (the offline assistant)."""

    def __init__(self, state: State | None = None) -> None:
        self.state = state or State()
        self.history: list[dict[str, str]] = []  # the LLM agent's messages (role, content), bounded
        self.lock = threading.Lock()

    def remember_exchange(self, question: str, reply: str) -> None:
        """After an LLM agent turn: keep the exchange (bounded) and track the same state the offline assistant
        keeps, read from the question without calling any tool, so either assistant can take the next turn."""
        from assistant.understand import QuestionTooLong, extract, finish

        with self.lock:
            self.history += [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
            del self.history[:-MAX_HISTORY_MESSAGES]
            try:
                parsed = extract(question)
            except QuestionTooLong:
                return
            inherit(parsed, self.state)
            self.state = remember(finish(parsed), self.state)

    def ask(self, question: str, *, search: Any = None, read_files: bool = False) -> Any:
        """The offline assistant's Answer to `question`, with the earlier turns in mind."""
        from assistant.offline import answer

        with self.lock:
            result = answer(question, search=search, state=self.state, read_files=read_files)
            if result.state is not None:
                self.state = State(**{k: v for k, v in result.state.items() if k in State.__dataclass_fields__})
            return result

    def reset(self) -> None:
        self.state = State()
        self.history = []


@dataclass
class Sessions:
    """Conversations by session id (one per help-desk tab): at most `max_sessions`, the least recently used
    dropped first, and each forgotten after `ttl_s` seconds without a question."""

    max_sessions: int = MAX_SESSIONS
    ttl_s: float = SESSION_TTL_S
    clock: Any = time.monotonic
    _items: OrderedDict[str, tuple[float, Conversation]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, session_id: str) -> Conversation:
        """The conversation of this id (a new one when unknown or expired)."""
        if not isinstance(session_id, str) or not 0 < len(session_id) <= MAX_SESSION_ID_CHARS:
            raise ValueError(f"session_id must be a string of 1-{MAX_SESSION_ID_CHARS} characters")
        now = self.clock()
        with self._lock:
            self._expire(now)
            item = self._items.pop(session_id, None)
            conversation = item[1] if item is not None else Conversation()
            self._items[session_id] = (now, conversation)
            while len(self._items) > self.max_sessions:
                self._items.popitem(last=False)
            return conversation

    def _expire(self, now: float) -> None:
        while self._items:
            sid, (seen, _) = next(iter(self._items.items()))
            if now - seen <= self.ttl_s:
                break
            del self._items[sid]

    def __len__(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return len(self._items)


__all__ = ["Conversation", "Sessions", "State", "inherit", "remember"]
