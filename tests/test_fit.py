"""fit.py: capacity per runtime, the largest context/batch searches and the verdict."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent_tools import fit, sizing
from agent_tools.estimate import EstimateRequest
from agent_tools.plan import make_plan
from agent_tools.units import GiB


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_largest_finds_the_boundary_of_a_monotone_predicate(boundary, hi):
    got = fit.largest(1, hi, lambda x: x <= boundary)
    assert got == min(boundary, hi)


def test_largest_is_zero_when_even_the_smallest_value_fails():
    assert fit.largest(1, 100, lambda x: False) == 0


def _plan(**fields):
    return make_plan(EstimateRequest(**fields), [], [])


def test_vllm_can_use_its_utilization_share_and_generic_the_whole_card():
    vllm = _plan(model="llama3.1 8b", vram_gb=80, runtime="vllm")
    assert fit.capacity(vllm) == int(80 * GiB * 0.9)
    generic = _plan(model="llama3.1 8b", vram_gb=80)
    assert fit.capacity(generic) == 80 * GiB
    assert fit.capacity(_plan(model="llama3.1 8b")) is None


def test_the_max_context_is_exactly_the_boundary():
    plan = _plan(model="llama3.1 8b", gpu="RTX 4090", runtime="llama.cpp")
    best = fit.max_context(plan, 1, 10_000_000)
    assert 0 < best < 10_000_000
    assert fit.fits(plan, best, 1) and not fit.fits(plan, best + 1, 1)
    usable = fit.capacity(plan)
    assert usable is not None and sizing.components(plan, best, 1)[2] <= usable


def test_verdicts_say_fits_tight_or_does_not_fit():
    profile = _plan(model="llama3.1 8b", runtime="llama.cpp").runtime.profile
    margin = profile.fit_margin_bytes
    assert fit.verdict(10 * GiB, 20 * GiB, 1, "X", profile, margin).startswith("fits: ")
    assert fit.verdict(20 * GiB, 20 * GiB + 100, 1, "X", profile, margin).startswith("fits, tight")
    assert "per GPU" in fit.verdict(30 * GiB, 20 * GiB, 2, "X", profile, margin)
    assert [fit.level(h, margin) for h in (-1, 0, margin - 1, margin)] == ["does_not_fit", "tight", "tight", "fits"]
