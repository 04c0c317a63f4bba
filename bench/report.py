"""Presenting results: the console table, the Markdown table, the throughput plot, the README section."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

COLUMNS: Final = ("Section", "Metric", "Median", "Spread (min–max)", "Ratio / target", "Result")


def fmt(value: float | None, unit: str = "") -> str:
    """A number at a precision that suits its size, with its unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    magnitude = abs(value)
    if unit == "ratio":
        text = f"{value:.3f}"
    elif unit == "%":
        text = f"{value:.1f}"
    elif magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1 or magnitude == 0:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    if unit in ("", "ratio"):
        return text
    return f"{text} %" if unit == "%" else f"{text} {unit}"


def verdict(row: Mapping[str, Any]) -> str:
    if row.get("passed") is True:
        return "PASS"
    if row.get("passed") is False:
        return "FAIL"
    return "n/a" if row.get("target") else "info"


def rows(results: Mapping[str, Any], headline_only: bool = False) -> Iterable[tuple[str, ...]]:
    """(section, metric, median, spread, ratio/target, result) for the metrics of every section."""
    for key, section in results["sections"].items():
        label = section.get("title", key)
        if section.get("error"):
            yield (label, "section failed", "—", "—", "—", "FAIL")
            continue
        for row in section.get("metrics", []):
            if headline_only and not row.get("headline"):
                continue
            unit = row.get("unit", "")
            median = fmt(row.get("median"), unit) if row.get("n") else (row.get("note") or "n/a")
            spread = "—"
            if row.get("n", 0) > 1:
                spread = f"{fmt(row['min'], unit)} – {fmt(row['max'], unit)}"
            extra = [
                part for part in (row.get("ratio"), f"target {row['target']}" if row.get("target") else None) if part
            ]
            yield (label, row["name"], median, spread, "; ".join(extra) or "—", verdict(row))


def text_table(results: Mapping[str, Any]) -> str:
    table = [COLUMNS, *rows(results)]
    widths = [min(60, max(len(r[i]) for r in table)) for i in range(len(COLUMNS))]
    lines = []
    for n, row in enumerate(table):
        lines.append("  ".join(cell[:60].ljust(width) for cell, width in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(results: Mapping[str, Any], headline_only: bool = False) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows(results, headline_only)]
    return "\n".join(lines)


def notes(results: Mapping[str, Any]) -> list[str]:
    """The notes of rows that have one, for the lines under the table."""
    found = []
    for section in results["sections"].values():
        for row in section.get("metrics", []):
            if row.get("note") and row.get("n"):
                found.append(f"{row['name']}: {row['note']}")
    return found


def plot_throughput(results: Mapping[str, Any], path: Path) -> bool:
    """Requests/s, capacity (requests per CPU-second) and the telemetry threads' CPU per request, per
    configuration, median with min–max whiskers (the third panel only for results that have it)."""
    section = results["sections"].get("app_cost")
    if not section or section.get("error"):
        return False
    metrics = {r["name"]: r for r in section["metrics"] if r.get("n")}
    names = [n.removeprefix("throughput ") for n in metrics if n.startswith("throughput ")]
    if not names:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = ["#95a5a6", "#7f8c8d", "#3498db", "#5865f2", "#8e44ad"][: len(names)]
    panels = [
        ("requests / s", [metrics[f"throughput {n}"] for n in names], lambda v: v),
        (
            "requests per CPU-second of the app",
            [metrics[f"app CPU per request {n}"] for n in names],
            lambda v: 1000.0 / v,
        ),  # ms per request → requests per CPU-second; min and max swap
    ]
    telemetry = [metrics.get(f"telemetry threads' CPU per request {n}") for n in names]
    if all(telemetry):
        panels.append(("telemetry threads' CPU per request (µs)", telemetry, lambda v: v))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.4), dpi=110)
    for ax, (label, rows_, convert) in zip(axes, panels):
        medians = [convert(r["median"]) for r in rows_]
        lows = [min(convert(r["min"]), convert(r["max"])) for r in rows_]
        highs = [max(convert(r["min"]), convert(r["max"])) for r in rows_]
        ax.bar(
            names,
            medians,
            yerr=[[m - lo for m, lo in zip(medians, lows)], [h - m for m, h in zip(medians, highs)]],
            capsize=5,
            color=colors,
        )
        for x, value in enumerate(medians):
            if value >= 0.1 * max(medians):
                ax.text(x, value / 2, f"{value:.0f}", ha="center", va="center", color="white", fontweight="bold")
            else:  # too short a bar to write in
                ax.text(x, value, f"{value:.2g}", ha="center", va="bottom", color="#333", fontsize=8)
        ax.set_title(label)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    machine, config = results["machine"], section["config"]
    fig.suptitle(f"Flask + SQLAlchemy under waitress, per configuration ({results['mode']} run; median, min–max)")
    fig.text(
        0.01,
        0.01,
        f"{machine['nproc']} cores, {machine['cpu_model']}, Python {machine['python']}; "
        f"{config['repetitions']} interleaved repetitions × {config['seconds_per_run']} s; "
        "mix 90% /ok, 5% /boom, 5% /slow",
        fontsize=7,
        color="#555",
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def performance_markdown(results: Mapping[str, Any], command: str) -> str:
    """The README's "Performance" section, regenerated from a full run."""
    m = results["machine"]
    load = ", ".join(str(x) for x in m.get("loadavg_start", []))
    note_lines = "\n".join(f"- {line}" for line in notes(results)) or "- (none)"
    scale = results["sections"].get("flood", {}).get("config", {}).get("scale_note", "")
    return f"""## Performance

Measured by `{command}` on {results["finished_at"][:10]} (a {results["mode"]} run, {results["duration_s"]:.0f} s),
on {m["nproc"]} cores ({m["cpu_model"]}), {m["ram_gib"]} GiB RAM, Python {m["python"]}
({m["platform"]}); load average at the start {load}; code at `{m.get("git_commit")}`
{"with uncommitted changes" if m.get("git_dirty") else ""}. Ratios are taken within one run,
medians over the repetitions; the spread is min–max. The machine is shared and noisy: requests/s and the
whole process's CPU per request move about ±15 % between repetitions, for every exporter alike, so the cost
targets of section 1 are judged on the CPU of the threads that export, read thread by thread (see 1. below);
the whole-process ratios are shown beside them.

{markdown_table(results, headline_only=True)}

![Throughput and capacity per configuration](docs/bench-throughput.png)

<details><summary>Every measurement of this run</summary>

{markdown_table(results)}

Notes:
{note_lines}

</details>

What each section does:

1. **Cost to the app**: `bench/bench_app.py` (Flask + SQLAlchemy on SQLite) under waitress, driven by a
   closed-loop Python load generator (4 threads, `requests.Session`; 90% `/ok`, 5% `/boom`, 5% `/slow`). Five
   configurations run side by side and are measured in rotating order: no OpenTelemetry,
   `opentelemetry-instrument` with `OTEL_TRACES_EXPORTER` = `none`, `otlp` (to a local sink), `discord`,
   `otlp,discord`. Capacity is 1 / (the app's CPU time per request, all threads): on a shared machine it is a
   steadier measure of cost than requests/s, which move with whatever else runs. The app's CPU is also read
   thread by thread (Linux's per-thread run time, in nanoseconds) and split by what each thread does:
   request threads (waitress's workers, `waitress-N`) and telemetry threads (the SDK's batch processor thread
   that calls the exporter's `export()`, otel-discord's spool and delivery threads, the benchmark's flush
   thread). After each run the spans the run left queued are exported on that flush thread, inside the
   run's window. Two exporters differ only in their telemetry threads, while the whole process's CPU per
   request moves about ±10 % from run to run here; so "costs less than the OTLP exporter" is judged on the
   telemetry threads' CPU per request, otel-discord / otlp within each repetition, and the whole-process
   capacity ratio against OTLP is shown as corroboration. The same holds for "≤ 3 % against the SDK without
   exporter": judged on the CPU otel-discord's threads add per request as a share of the app's CPU per request
   without an exporter (what a CPU-bound server loses); throughput and capacity against sdk-none are shown. What telemetry causes on other threads (e.g. garbage
   collections its allocations trigger) stays in the request threads' and the whole-process rows.
2. **Cost per logged error on the request thread**: `logger.exception(...)` through the OpenTelemetry logs
   bridge to `DiscordLogExporter`, versus the blocking `requests.post` logging handler people write, both
   against the strict local Discord answering after 100 ms.
3. **Delivery under flood**: through `DiscordSpanExporter` into the strict local Discord enforcing Discord's
   limits (5 requests / 2 s per webhook, 30 messages / 60 s per channel), with the rate cap (`RATE_CAP`) off
   and on. {scale}
   The ceiling is the earliest an ideal client could deliver the same embeds under those limits, packed as
   tightly as Discord allows (≤ 10 embeds and ≤ 6,000 characters per message), each request taking no time
   at all. The judged distinct flood comes at an app's pace (10,000 errors in a real minute); the stress
   run squeezes them into 2 s, more than one export thread can describe, so delivery shares the GIL with
   it (reported, not judged).
4. **Memory under flood**: peak RSS of a process pushing spans (2% distinct errors) through the SDK's
   `BatchSpanProcessor`, with otel-discord versus a no-op exporter.
5. **Ignored-span cost**: `DiscordSpanExporter.export()` CPU time per span that is not a notice, next to
   `OTLPSpanExporter.export()` (http/protobuf to the local sink) on the same batches of 512 spans in the same
   process, taking turns, and their ratio: the in-process, low-noise view of §1's comparison with OTLP, for
   the spans that make up nearly all of the traffic.
6. **Time to alert**: from the failing request's response to the message's arrival at the local Discord,
   with the SDK's default `OTEL_BSP_SCHEDULE_DELAY` (5000 ms) and with 500 ms (rate cap off: each alert is a
   new error, and the default cap would fold those beyond 10 a minute into a digest).

Reproduce: `./dev bench` (full, about 9 minutes; rewrites this section and `docs/bench-throughput.png`) or
`./dev bench --quick` (about a minute, what CI runs). Raw numbers go to `bench/results/latest.json`.
Everything runs on 127.0.0.1; nothing talks to discord.com.
"""
