"""The accelerator catalog (gpus.yaml) and the CPU-memory catalog (cpu_memory.yaml): breadth, completeness, names."""

from __future__ import annotations

import re

import pytest
import yaml
from pydantic import ValidationError

from agent_tools import catalog
from agent_tools.catalog import DATA_DIR, normalize_gpu
from agent_tools.errors import UnknownNameError
from agent_tools.schemas import CpuMemoryEntry

UNIFIED_SEGMENTS = {"apple", "edge", "apu"}


def test_catalog_has_at_least_200_accelerators() -> None:
    gpus = catalog.list_gpus()
    assert len(gpus) >= 200
    assert len({g.id for g in gpus}) == len(gpus)
    segments = {g.segment for g in gpus}
    assert {"consumer", "laptop", "workstation", "datacenter", "edge", "apple", "apu"} <= segments
    assert {g.vendor for g in gpus} == {"NVIDIA", "AMD", "Intel", "Apple"}


def test_every_accelerator_has_memory_bandwidth_tflops_and_a_source() -> None:
    for g in catalog.list_gpus():
        assert g.memory_bytes > 0, g.id
        assert g.bandwidth_gb_s > 0, g.id
        # prefill is computed from this: a missing value printed "~0 tokens/s"
        assert g.fp16_tflops is not None and g.fp16_tflops > 0, g.id
        assert g.fp16_tflops_basis is not None, g.id
        assert any("https://" in s for s in g.sources), g.id


def test_unified_memory_rows_say_so() -> None:
    for g in catalog.list_gpus():
        if g.segment in UNIFIED_SEGMENTS:
            assert g.memory_basis == "unified_ram", g.id
        else:
            assert g.memory_basis != "unified_ram", g.id


def test_aliases_are_unique_after_normalisation() -> None:
    owner: dict[str, str] = {}
    for g in catalog.list_gpus():
        for key in {normalize_gpu(k) for k in (g.id, g.name, *g.aliases)}:
            assert key not in owner, f"{key!r} names both {owner[key]} and {g.id}"
            owner[key] = g.id


_DERIVATION = re.compile(r"fp16_tflops = (\d+) SMs x ([\d.]+) MHz x (\d+) FLOP/clock/SM = (\d+(?:\.\d+)?)")


def test_derived_tflops_follow_the_formula_in_their_notes() -> None:
    checked = 0
    for g in catalog.list_gpus():
        m = _DERIVATION.search(g.notes or "")
        if not m:
            continue
        sms, mhz, rate, stated = int(m[1]), float(m[2]), int(m[3]), float(m[4])
        assert g.fp16_tflops_basis == "derived", g.id
        assert sms * mhz * rate / 1e6 == pytest.approx(stated, abs=0.06), g.id
        assert g.fp16_tflops == pytest.approx(stated, abs=0.06), g.id
        checked += 1
    assert checked >= 60


def test_geforce_rows_use_the_half_rate_fp32_accumulate() -> None:
    """GeForce runs FP32-accumulate tensor math at half rate; a full-rate figure here would double prefill speed."""
    for g in catalog.list_gpus():
        m = _DERIVATION.search(g.notes or "")
        if m and "GeForce" in g.name:
            assert int(m[3]) == 512, g.id


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("RTX 4000 Ada 20GB", "rtx-4000-ada"),
        ("rtx 4000 ada", "rtx-4000-ada"),
        ("4000 SFF Ada", "rtx-4000-sff-ada"),
        ("RTX A4000 16GB", "rtx-a4000"),
        ("A2000 12GB", "rtx-a2000-12gb"),
        ("A4500", "rtx-a4500"),
        ("A5000", "rtx-a5000"),
        ("A5500", "rtx-a5500"),
        ("RTX 2000 Ada", "rtx-2000-ada"),
        ("RTX 4500 Ada", "rtx-4500-ada"),
        ("RTX 5000 Ada", "rtx-5000-ada"),
        ("RTX PRO 6000 Max-Q", "rtx-pro-6000-blackwell-max-q"),
        ("Jetson Orin Nano 8GB", "jetson-orin-nano-8gb"),
        ("orin nano 8gb", "jetson-orin-nano-8gb"),
        ("Orin Nano Super", "jetson-orin-nano-super"),
        ("Orin NX 16GB", "jetson-orin-nx-16gb"),
        ("AGX Orin 32GB", "jetson-agx-orin-32gb"),
        ("RTX 2060 Super", "rtx-2060-super"),
        ("2080 Ti", "rtx-2080-ti"),
        ("TITAN RTX", "titan-rtx"),
        ("3050 6GB", "rtx-3050-6gb"),
        ("RTX 5060", "rtx-5060"),
        ("5060 Ti 8GB", "rtx-5060-ti-8gb"),
        ("RTX 4050 Laptop", "rtx-4050-laptop"),
        ("4070 Laptop", "rtx-4070-laptop"),
        ("4080 Mobile", "rtx-4080-laptop"),
        ("RTX 5090 Laptop GPU", "rtx-5090-laptop"),
        ("3090ti", "rtx-3090-ti"),
        ("P40", "tesla-p40"),
        ("H100 NVL", "h100-nvl"),
        ("H20", "h20"),
        ("L20", "l20"),
        ("A800 80GB", "a800-80gb-sxm"),
        ("H800", "h100-sxm"),
        ("H800 PCIe", "h800-pcie"),
        ("GB200", "gb200"),
        ("B300", "b300"),
        ("DGX Spark", "dgx-spark"),
        ("MI210", "mi210"),
        ("MI355X", "mi355x"),
        ("RX 6800 XT", "rx-6800-xt"),
        ("7800 XT", "rx-7800-xt"),
        ("Radeon RX 9070 XT", "rx-9070-xt"),
        ("RX 9060 XT 16GB", "rx-9060-xt-16gb"),
        ("Strix Halo 128GB", "ryzen-ai-max-395-128gb"),
        ("Ryzen AI Max+ 395 64GB", "ryzen-ai-max-395-64gb"),
        ("Arc B570", "arc-b570"),
        ("Arc Pro B60", "arc-pro-b60"),
        ("Gaudi 3", "gaudi3"),
        ("4060 笔记本", "rtx-4060-laptop"),
        ("4090 Laptop", "rtx-4090-laptop"),
        ("5080 笔记本", "rtx-5080-laptop"),
        ("4090显卡", "rtx-4090"),
        ("V100 PCIe 32GB", "v100-pcie-32gb"),
    ],
)
def test_names_users_type_resolve(typed: str, expected: str) -> None:
    assert catalog.resolve_gpu(typed).id == expected


@pytest.mark.parametrize(
    "ambiguous",
    ["4060 Ti", "5060 Ti", "2060", "3050", "A2000", "A770", "A800", "P100", "Orin Nano", "Orin NX", "9060 XT"],
)
def test_names_shared_by_different_memory_sizes_are_refused(ambiguous: str) -> None:
    # each of these is sold with two memory sizes; guessing one would size the model against the wrong card
    with pytest.raises(UnknownNameError):
        catalog.resolve_gpu(ambiguous)


# ------------------------------------------------------------------------------------------- CPU memory


def _cpu_rows() -> list[CpuMemoryEntry]:
    with open(DATA_DIR / "cpu_memory.yaml", encoding="utf-8") as f:
        raw = yaml.safe_load(f)["cpu_memory"]
    return [CpuMemoryEntry(**row) for row in raw]


def test_cpu_memory_file_validates_and_bandwidth_is_the_theoretical_peak() -> None:
    rows = _cpu_rows()
    assert len(rows) >= 15
    assert len({r.id for r in rows}) == len(rows)
    for r in rows:
        assert r.bandwidth_gb_s == pytest.approx(r.bus_width_bits / 8 * r.transfer_rate_mt_s / 1000, abs=0.01), r.id
        assert any("https://" in s for s in r.sources), r.id
    owner: dict[str, str] = {}
    for r in rows:
        for key in {normalize_gpu(k) for k in (r.id, r.name, *r.aliases)}:
            assert key not in owner, f"{key!r} names both {owner[key]} and {r.id}"
            owner[key] = r.id


def test_cpu_memory_covers_the_common_platforms() -> None:
    by_type = {(r.memory_type, r.channels) for r in _cpu_rows()}
    for wanted in [
        ("DDR4-3200", 2),
        ("DDR5-4800", 2),
        ("DDR5-5600", 2),
        ("DDR5-6000", 2),
        ("DDR5-6400", 2),
        ("DDR5-4800", 12),
        ("DDR5-4800", 8),
        ("LPDDR4X-4267", 1),
        ("LPDDR4-3200", 1),
    ]:
        assert wanted in by_type, wanted
    assert any(r.memory_type.startswith("LPDDR5X") for r in _cpu_rows())


def test_cpu_memory_row_without_source_is_rejected() -> None:
    row = _cpu_rows()[0].model_dump()
    with pytest.raises(ValidationError, match="source"):
        CpuMemoryEntry(**{**row, "sources": []})


@pytest.mark.parametrize(("typed", "sized_gb", "other_gb"), [("A100", 80, 40), ("RTX 3060", 12, 8), ("GH200", 96, 144)])
def test_a_bare_name_sold_in_several_sizes_says_which_size_was_sized(typed: str, sized_gb: int, other_gb: int) -> None:
    from agent_tools.estimate import estimate_memory

    r = estimate_memory(model="llama3.1-8b", gpu=typed)
    notes = [a for a in r.assumptions if a.startswith(f"'{typed}' is sold with")]
    assert len(notes) == 1, r.assumptions
    assert f"{sized_gb:g} GB" in notes[0] and f"{other_gb:g} GB" in notes[0]
    # a name that states its size, or a name with one size, is not a guess
    for exact in (f"{typed} {sized_gb}GB", "RTX 4090"):
        assert not [a for a in estimate_memory(model="llama3.1-8b", gpu=exact).assumptions if "is sold with" in a]


def test_a_name_typed_short_of_its_variants_suggests_the_variants() -> None:
    with pytest.raises(UnknownNameError) as refused:
        catalog.resolve_gpu("RTX 4000")
    assert refused.value.suggestions[:2] == ["NVIDIA RTX 4000 Ada Generation", "NVIDIA RTX 4000 SFF Ada Generation"]
