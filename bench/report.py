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


def rows(results: Mapping[str, Any]) -> Iterable[tuple[str, ...]]:
    """(section, metric, median, spread, ratio/target, result) for every metric of every section."""
    for key, section in results["sections"].items():
        label = section.get("title", key).split(" (")[0]
        if section.get("error"):
            yield (label, "section failed", "—", "—", "—", "FAIL")
            continue
        for row in section.get("metrics", []):
            unit = row.get("unit", "")
            median = fmt(row.get("median"), unit) if row.get("n") else (row.get("note") or "n/a")
            spread = "—"
            if row.get("n", 0) > 1:
                spread = f"{fmt(row['min'], unit)} – {fmt(row['max'], unit)}"
            extra = [part for part in (row.get("ratio"), f"target {row['target']}" if row.get("target") else None)
                     if part]
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


def markdown_table(results: Mapping[str, Any]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows(results)]
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
    """Bar chart of requests/s per configuration (median, whiskers min–max); False if no data."""
    section = results["sections"].get("app_cost")
    if not section or section.get("error"):
        return False
    bars = [r for r in section["metrics"] if r["name"].startswith("throughput ") and r.get("n")]
    if not bars:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"].removeprefix("throughput ") for r in bars]
    medians = [r["median"] for r in bars]
    low = [r["median"] - r["min"] for r in bars]
    high = [r["max"] - r["median"] for r in bars]
    colors = ["#95a5a6", "#7f8c8d", "#3498db", "#5865f2", "#8e44ad"]
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    ax.bar(names, medians, yerr=[low, high], capsize=5, color=colors[: len(names)])
    for x, value in enumerate(medians):
        ax.text(x, value / 2, f"{value:.0f}", ha="center", va="center", color="white", fontweight="bold")
    machine = results["machine"]
    config = section["config"]
    ax.set_ylabel("requests / s (median, min–max)")
    ax.set_title(f"Flask + SQLAlchemy under waitress: throughput per configuration ({results['mode']} run)")
    ax.text(0.01, -0.2, f"{machine['nproc']} cores, {machine['cpu_model']}, Python {machine['python']}; "
            f"{config['repetitions']} interleaved repetitions × {config['seconds_per_run']} s; "
            "mix 90% /ok, 5% /boom, 5% /slow", transform=ax.transAxes, fontsize=7, color="#555")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
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

Measured by `{command}` on {results['finished_at'][:10]} (a {results['mode']} run, {results['duration_s']:.0f} s),
on {m['nproc']} cores ({m['cpu_model']}), {m['ram_gib']} GiB RAM, Python {m['python']}
({m['platform']}); load average at the start {load}; code at `{m.get('git_commit')}`
{'with uncommitted changes' if m.get('git_dirty') else ''}. Ratios are taken within one run,
medians over the repetitions; the spread is min–max. The machine is shared and noisy: differences of a few
percent in requests/s are within the spread, so the app's CPU time per request is reported alongside.

{markdown_table(results)}

Notes:
{note_lines}

![Throughput per configuration](docs/bench-throughput.png)

What each section does:

1. **Cost to the app**: `bench/bench_app.py` (Flask + SQLAlchemy on SQLite) under waitress, driven by a
   closed-loop Python load generator (4 threads, `requests.Session`; 90% `/ok`, 5% `/boom`, 5% `/slow`). Five
   configurations run side by side and are measured in rotating order: no OpenTelemetry,
   `opentelemetry-instrument` with `OTEL_TRACES_EXPORTER` = `none`, `otlp` (to a local sink), `discord`,
   `otlp,discord`. Capacity is 1 / (the app's CPU time per request, all threads): on a shared machine it is a
   steadier measure of cost than requests/s, which move with whatever else runs.
2. **Cost per logged error on the request thread**: `logger.exception(...)` through the OpenTelemetry logs
   bridge to `DiscordLogExporter`, versus the blocking `requests.post` logging handler people write, both
   against the strict local Discord answering after 100 ms.
3. **Delivery under flood**: through `DiscordSpanExporter` into the strict local Discord enforcing Discord's
   limits (5 requests / 2 s per webhook, 30 messages / 60 s per channel), with the rate cap (`RATE_CAP`) off
   and on. {scale}
   The ceiling is the earliest an ideal client could deliver the same embeds under those limits, packed as
   tightly as Discord allows (≤ 10 embeds and ≤ 6,000 characters per message).
4. **Memory under flood**: peak RSS of a process pushing spans (2% distinct errors) through the SDK's
   `BatchSpanProcessor`, with otel-discord versus a no-op exporter.
5. **Ignored-span cost**: `DiscordSpanExporter.export()` time per span that is not a notice.
6. **Time to alert**: from the failing request's response to the message's arrival at the local Discord,
   with the SDK's default `OTEL_BSP_SCHEDULE_DELAY` (5000 ms) and with 500 ms (rate cap off: each alert is a
   new error, and the default cap would fold those beyond 10 a minute into a digest).

Reproduce: `./dev bench` (full, about 8 minutes; rewrites this section and `docs/bench-throughput.png`) or
`./dev bench --quick` (about a minute, what CI runs). Raw numbers go to `bench/results/latest.json`.
Everything runs on 127.0.0.1; nothing talks to discord.com.
"""
