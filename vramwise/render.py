"""Rich terminal rendering of tool results. Presentation only: every number comes from the result objects."""

from __future__ import annotations

import re

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from agent_tools.advice import CompareResult, RecommendResult
from agent_tools.estimate import EstimateResult
from agent_tools.listing import FormatRow, GpuRow, ModelRow
from agent_tools.units import GB, GiB

console = Console()
if not console.is_terminal and console.width < 120:
    console.width = 120  # piped output: do not squeeze tables into 80 columns


# the tools' messages name request fields ("pass vram_gb="); on the command line they are flags
_FIELD_HINT = re.compile(r"\b(config|params_b|vram_gb|bandwidth_gb_s|runtime|cpu_memory)=")


def cli_terms(text: str) -> str:
    """A tool message in command-line terms: `pass vram_gb=` -> `pass --vram-gb`."""
    return _FIELD_HINT.sub(lambda m: "--" + m.group(1).replace("_", "-"), text)


def gb(n: int) -> str:
    return f"{n / GB:,.2f}"


def gib(n: int) -> str:
    return f"{n / GiB:,.2f}"


def bar(used: int, capacity: int, width: int = 30) -> Text:
    """A memory bar: filled share of capacity, red when over."""
    if capacity <= 0:
        return Text("")
    share = used / capacity
    filled = min(width, round(share * width))
    color = "green" if share <= 0.85 else ("yellow" if share <= 1 else "red")
    text = Text("█" * filled, style=color)
    text.append("░" * (width - filled), style="dim")
    text.append(f" {share:.0%}", style=color)
    return text


def render_estimate(r: EstimateResult) -> None:
    m = r.model
    active = f" ({m.params_active / 1e9:.2f}B active)" if m.is_moe else ""
    if m.resolved_from and m.resolved_from.startswith("catalog entry"):
        # a stand-in comes first, before any figure (never a silent substitution)
        console.print(f"[yellow]{m.requested} is sized as the catalog's {m.id}[/yellow] (the same architecture)")
    console.print(
        f"[bold]{m.name}[/bold]  {m.params_total / 1e9:.2f}B params{active} · {m.layers} layers · {m.attention}"
    )
    console.print(
        f"{r.precision.name} ({r.precision.bits_per_weight:.2f} bits/weight) · KV {r.precision.kv_cache} · "
        f"{r.mode} · runtime {r.runtime} · context {r.context_length:,} x batch {r.batch_size}"
    )
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("component")
    table.add_column("GB", justify="right")
    table.add_column("GiB", justify="right")
    table.add_column("share", justify="left")
    rows = [(k.removesuffix("_bytes").replace("_", " "), v) for k, v in r.breakdown.model_dump().items() if v]
    for name, value in rows:
        table.add_row(name, gb(value), gib(value), bar(value, r.total_bytes, 20))
    reserved = r.total_bytes - sum(v for _, v in rows)
    if reserved > 0:  # vLLM takes gpu_memory_utilization x memory up front; the rest becomes the KV pool
        table.add_row("vLLM pre-allocated rest", gb(reserved), gib(reserved), bar(reserved, r.total_bytes, 20))
    table.add_row("[bold]total[/bold]", f"[bold]{gb(r.total_bytes)}[/bold]", f"[bold]{gib(r.total_bytes)}[/bold]", "")
    console.print(table)
    d = r.runtime_detail
    if d.kv_pool_bytes is not None:
        console.print(
            f"vLLM reserves {gb(d.preallocated_bytes or 0)} GB ({d.gpu_memory_utilization:.0%}); KV pool "
            f"{gb(d.kv_pool_bytes)} GB = {d.kv_pool_tokens:,} tokens -> max concurrency {d.max_concurrency} "
            f"at {r.context_length:,} tokens"
        )
    if d.compute_buffer_bytes is not None:
        console.print(
            f"llama.cpp buffers: model {gb(d.model_buffer_bytes or 0)} GB, compute {gb(d.compute_buffer_bytes)} GB, "
            f"CPU RAM {gb(d.cpu_ram_bytes or 0)} GB; GPU layers {d.gpu_layers}"
            + (f" (fits with {d.gpu_layers_that_fit})" if d.gpu_layers_that_fit is not None else "")
        )
    if r.fit:
        f = r.fit
        style = "green" if f.fits else "red"
        console.print(Text(("✔ " if f.fits else "✘ ") + f.verdict, style=f"bold {style}"))
        console.print(bar(f.required_bytes, f.usable_bytes, 40))
        at_limit = " (the model's maximum)" if f.max_context_length == r.model.max_context_length else ""
        console.print(
            f"max context at batch {r.batch_size}: {f.max_context_length:,} tokens{at_limit} · "
            f"max batch at {r.context_length:,} tokens: {f.max_batch_size}"
        )
    if r.speed:
        s = r.speed
        spread = (
            f" (likely {s.decode_tokens_per_s_low:,.0f}-{s.decode_tokens_per_s_high:,.0f})"
            if s.decode_tokens_per_s_low is not None and s.decode_tokens_per_s_high is not None
            else ""
        )
        console.print(
            f"speed: ~{s.decode_tokens_per_s:,.0f} tokens/s decode per sequence{spread}"
            + (f" ({s.aggregate_decode_tokens_per_s:,.0f} total)" if r.batch_size > 1 else "")
            + f", ~{s.prefill_tokens_per_s:,.0f} tokens/s prefill · {s.bound} bound"
        )
        if s.serving_tokens_per_s and d.max_concurrency:
            console.print(
                f"serving: {d.max_concurrency:,.0f} sequences of {r.context_length:,} tokens fit the KV pool; "
                f"~{s.serving_tokens_per_s:,.0f} tokens/s decode across all of them"
            )
    if d.launch_flags:
        console.print(f"flags: [cyan]{d.launch_flags}[/cyan]")
    for w in r.warnings:
        console.print(f"[yellow]warning:[/yellow] {cli_terms(w)}")
    console.print("[dim]assumptions:[/dim]")
    for a in r.assumptions:
        console.print(f"[dim]  · {cli_terms(a)}[/dim]")


def render_models(rows: list[ModelRow]) -> None:
    table = Table(title="Models (weights at bf16 and Q4_K_M; KV per token at bf16)", box=box.SIMPLE_HEAD)
    for col, justify in [
        ("id", "left"),
        ("params", "right"),
        ("active", "right"),
        ("layers", "right"),
        ("context", "right"),
        ("KV/token", "right"),
        ("bf16 GB", "right"),
        ("Q4_K_M GB", "right"),
        ("license", "left"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            r.id + (" [dim](legacy)[/dim]" if r.legacy else ""),
            f"{r.params_total / 1e9:.2f}B",
            f"{r.params_active / 1e9:.2f}B" if r.params_active != r.params_total else "",
            str(r.layers),
            f"{r.max_context_length:,}" if r.max_context_length else "?",
            f"{r.kv_bytes_per_token_bf16 / 1024:,.0f} KiB",
            gb(r.weights_bf16_bytes),
            gb(r.weights_q4_k_m_bytes),
            r.license or "",
        )
    console.print(table)


def render_gpus(rows: list[GpuRow]) -> None:
    table = Table(title="GPUs (memory as the driver reports it; GiB = 2^30 bytes)", box=box.SIMPLE_HEAD)
    for col, justify in [
        ("id", "left"),
        ("name", "left"),
        ("memory GiB", "right"),
        ("GPU-usable GB", "right"),
        ("bandwidth GB/s", "right"),
        ("FP16 TFLOPS", "right"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            r.id,
            r.name,
            f"{r.memory_gib:,.2f}",
            gb(r.gpu_usable_bytes),
            f"{r.bandwidth_gb_s:,.0f}",
            f"{r.fp16_tflops:,.1f}" if r.fp16_tflops else "",
        )
    console.print(table)


def render_formats(rows: list[FormatRow]) -> None:
    table = Table(title="Weight formats (nominal bits/weight of the base type)", box=box.SIMPLE_HEAD)
    for col in ("id", "name", "bits/weight", "runtimes"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.id, r.name, f"{r.nominal_bits_per_weight:.4g}", ", ".join(r.runtimes))
    console.print(table)


def render_recommendation(r: RecommendResult) -> None:
    h = r.hardware
    where = f"{h.num_gpus} x {h.name}" if h.num_gpus > 1 else h.name
    console.print(
        f"[bold]{where}[/bold] · {gb(h.memory_bytes_per_gpu)} GB usable per device · runtime {h.runtime} · "
        f"task {r.task} · {r.context_length:,} tokens x {r.concurrent_users} user(s)"
    )
    table = Table(box=box.SIMPLE_HEAD)
    for col, justify in [
        ("#", "right"),
        ("model", "left"),
        ("format", "left"),
        ("memory", "left"),
        ("GB", "right"),
        ("headroom GB", "right"),
        ("tok/s", "right"),
        ("max ctx", "right"),
        ("evidence", "left"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    capacity = h.memory_bytes_per_gpu * h.num_gpus
    for c in r.candidates:
        q = c.quality
        table.add_row(
            str(c.rank),
            c.model,
            f"{c.precision} ({c.format_quality})",
            bar(c.total_bytes, capacity, 14),
            gb(c.total_bytes),
            gb(c.headroom_bytes),
            f"{c.decode_tokens_per_s:,.0f}" if c.decode_tokens_per_s else "",
            f"{c.max_context_length:,}",
            f"{q.benchmark} {q.score:g}" if q else "",
        )
    console.print(table)
    for c in r.candidates:
        console.print(f"[dim]{c.rank}. {c.reason}[/dim]")
    for x in r.rejected:
        console.print(f"[red]✘[/red] {x.model}: {x.reason}")
    for a in r.advice:
        console.print(f"[yellow]→[/yellow] {a}")
    console.print(f"[dim]ranking: {r.ranking_rule}[/dim]")


def render_comparison(r: CompareResult) -> None:
    console.print(f"[bold]{r.model}[/bold] · {r.params_total / 1e9:.2f}B params · {r.context_length:,} tokens")
    table = Table(box=box.SIMPLE_HEAD)
    for col, justify in [
        ("precision", "left"),
        ("runtime", "left"),
        ("bits/w", "right"),
        ("weights GB", "right"),
        ("total GB", "right"),
        ("fits", "left"),
        ("tok/s", "right"),
        ("quality cost", "left"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in r.rows:
        qi = row.quality_impact
        table.add_row(
            row.precision,
            row.runtime,
            f"{row.bits_per_weight:.2f}",
            gb(row.weights_bytes),
            gb(row.total_bytes),
            "" if row.fits is None else ("yes" if row.fits else "[red]no[/red]"),
            f"{row.decode_tokens_per_s:,.0f}" if row.decode_tokens_per_s else "",
            (qi.level + (f" (ppl {qi.ppl_delta:+.3f})" if qi.ppl_delta is not None else "")) if qi else "",
        )
    console.print(table)
    console.print(f"[bold]verdict:[/bold] {r.verdict}")
    if r.equal_size_alternatives:
        console.print("[bold]same memory, other choices:[/bold]")
        for a in r.equal_size_alternatives:
            console.print(f"  · {a.comparison}")
