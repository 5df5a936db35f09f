"""Fit on a device: the capacity a runtime can use, the verdict, and the largest context and batch that fit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from agent_tools.plan import Plan
from agent_tools.schemas import RuntimeProfile
from agent_tools.sizing import components
from agent_tools.units import fmt_bytes


def capacity(plan: Plan) -> int | None:
    """Bytes per GPU the runtime can use, or None without a device of known memory."""
    if plan.gpu_memory is None:
        return None
    return plan.runtime.capacity(plan, plan.gpu_memory)


def fits(plan: Plan, context: int, batch: int) -> bool:
    usable = capacity(plan)
    assert usable is not None
    return components(plan, context, batch)[2] <= usable


def largest(lo: int, hi: int, probe: Callable[[int], bool]) -> int:
    """Largest x in [lo, hi] with probe(x) true, assuming monotone; 0 if probe(lo) is false."""
    if not probe(lo):
        return 0
    if probe(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if probe(mid):
            lo = mid
        else:
            hi = mid
    return lo


def max_context(plan: Plan, batch: int, upper: int) -> int:
    return largest(1, upper, lambda c: fits(plan, c, batch))


def max_batch(plan: Plan, context: int, upper: int = 4096) -> int:
    return largest(1, upper, lambda b: fits(plan, context, b))


def gpu_layers_that_fit(plan: Plan, context: int, batch: int, usable: int) -> int:
    """Most layers a runtime that offloads layers can keep on the GPU (0: not even the rest fits)."""

    def probe(layers: int) -> bool:
        return components(plan.with_gpu_layers(layers), context, batch)[2] <= usable

    return largest(0, plan.subject.arch.num_layers, probe) if probe(0) else 0


FitLevel = Literal["fits", "tight", "does_not_fit"]


def level(headroom: int, margin: int) -> FitLevel:
    if headroom < 0:
        return "does_not_fit"
    return "tight" if headroom < margin else "fits"


def verdict(need: int, usable: int, n: int, gpu: str, profile: RuntimeProfile, margin: int) -> str:
    where = f"{n} x {gpu}" if n > 1 else gpu
    per = " per GPU" if n > 1 else ""
    headroom = usable - need
    if headroom < 0:
        return f"does not fit: needs {fmt_bytes(need)}{per}, {where} offers {fmt_bytes(usable)}{per}"
    if headroom < margin:
        return (
            f"fits, tight: {fmt_bytes(headroom)} left{per} on {where} "
            f"(under the {fmt_bytes(margin)} margin {profile.id} keeps; a longer context, another program or a "
            "driver update can tip it over)"
        )
    return f"fits: {fmt_bytes(need)}{per} of {fmt_bytes(usable)}{per} on {where}, {fmt_bytes(headroom)} left"
