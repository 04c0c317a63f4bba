"""The README's routing tables, computed from the preset definitions by running the router.

Kept apart from ``presets`` (pure data and the choice of one) because it needs the
router, which needs the presets.
"""

from __future__ import annotations

from typing import Final

from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.route.presets import PRESETS
from otel_discord.route.router import parse_routes, select

_LEVELS: Final = (Severity.DEBUG, Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL)


def routing_table(name: str) -> list[tuple[Category, list[list[str]]]]:
    """For each category, the channels a notice of each level in ``_LEVELS`` lands in.

    Computed by running the preset's routes on sample notices (not a business
    event), exactly as the router does, without any channel fallback.
    """
    routes = parse_routes(PRESETS[name].routes, f"preset {name}")
    rows = []
    for category in Category:
        cells = []
        for level in _LEVELS:
            sample = Notice(kind=Kind.SYSTEM, severity=level, category=category, title="sample")
            chosen = [route.channel for route in select(routes, sample)]
            cells.append(list(dict.fromkeys(chosen)) or ["(default channel)"])
        rows.append((category, cells))
    return rows


def markdown_table(name: str) -> str:
    """The preset's routing table in Markdown, plus its routes that match more than category and level."""
    header = "| Category | " + " | ".join(level.name.lower() for level in _LEVELS) + " |"
    lines = [header, "|" + "---|" * (len(_LEVELS) + 1)]
    for category, cells in routing_table(name):
        lines.append(f"| {category.value.lower()} | " + " | ".join(" + ".join(c) for c in cells) + " |")
    for route in parse_routes(PRESETS[name].routes, f"preset {name}"):
        if route.match.kinds or route.match.events or route.match.conditions:
            extra = " (unfiltered, never grouped or digested)" if route.audit else ""
            lines.append("")
            lines.append(f"Also: {route.match.describe()} → **{route.channel}**{extra}.")
    return "\n".join(lines)
