"""Built-in routing setups: each preset is nothing but a routes list.

``PRESET`` (``OTEL_EXPORTER_DISCORD_PRESET`` or the config file's ``preset:``) picks
one; its routes run after the file's own ``routes:``. A preset channel the
configuration lacks falls back to the default channel (logged once), so a preset
works with a single webhook and improves as channels are added. Without a
``PRESET`` setting, ``focused`` is chosen when the configuration names one of its
channels, else ``none`` (everything to the default channel).

The README's tables (which category and level lands where) are generated from
these definitions by ``markdown_table``, and a test keeps them in step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from otel_discord.config import Settings
from otel_discord.notice import Category, Kind, Notice, Severity

NONE: Final = "none"
RECOMMENDED: Final = "focused"
_FINANCE: Final = ["invoice", "payment", "btw", "import", "export"]


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    channels: tuple[str, ...]
    routes: tuple[Mapping[str, Any], ...]  # in the config file's ``routes:`` format


PRESETS: Final[Mapping[str, Preset]] = {
    "simple": Preset(
        "simple",
        "Two channels: what the app does, and what needs a person.",
        ("app-activity", "errors-alerts"),
        (
            {"match": {"level": "error"}, "channel": "errors-alerts"},
            {"match": {"category": ["error", "security", "performance"], "level": "warning"},
             "channel": "errors-alerts"},
            {"channel": "app-activity"},
        ),
    ),
    "focused": Preset(
        "focused",
        "Recommended: money, users and the system each in their own channel; errors always reach developers.",
        ("finance-activity", "system-debug", "user-activity"),
        (
            {"match": {"level": "error"}, "channel": "system-debug", "continue": True},
            {"match": {"category": ["error", "system", "performance"]}, "channel": "system-debug"},
            {"match": {"category": _FINANCE}, "channel": "finance-activity"},
            {"match": {"category": ["user", "security"]}, "channel": "user-activity"},
        ),
    ),
    "detailed": Preset(
        "detailed",
        "Four channels: errors and slowness apart from routine system messages.",
        ("finance-logs", "system-logs", "errors-debug", "user-activity"),
        (
            {"match": {"level": "error"}, "channel": "errors-debug", "continue": True},
            {"match": {"category": ["error", "performance"]}, "channel": "errors-debug"},
            {"match": {"category": _FINANCE}, "channel": "finance-logs"},
            {"match": {"category": ["user", "security"]}, "channel": "user-activity"},
            {"match": {"category": ["system"]}, "channel": "system-logs"},
        ),
    ),
    "enterprise": Preset(
        "enterprise",
        "Five channels: critical alerts apart, and an unfiltered audit trail of every business event.",
        ("financial-ops", "system-health", "user-tracking", "critical-alerts", "audit-logs"),
        (
            {"match": {"kind": "event"}, "channel": "audit-logs", "audit": True, "continue": True},
            {"match": {"level": "critical"}, "channel": "critical-alerts", "continue": True},
            {"match": {"category": "security", "level": "error"}, "channel": "critical-alerts", "continue": True},
            {"match": {"category": _FINANCE}, "channel": "financial-ops"},
            {"match": {"category": ["user", "security"]}, "channel": "user-tracking"},
            {"match": {"category": ["error", "system", "performance"]}, "channel": "system-health"},
        ),
    ),
}

NAMES: Final = (*PRESETS, NONE)


def parse_preset(value: Any) -> str:
    """Read the ``PRESET`` setting."""
    name = str(value).strip().lower()
    if name not in NAMES:
        raise ValueError(f"unknown preset {value!r} (expected one of: {', '.join(NAMES)})")
    return name


def default_preset(channels: Sequence[str]) -> str:
    """``focused`` when the configuration names one of its channels, else ``none``."""
    wanted = PRESETS[RECOMMENDED].channels
    return RECOMMENDED if any(name in wanted for name in channels) else NONE


def resolve_preset(settings: Settings) -> Preset | None:
    """The preset ``settings`` ask for (``None`` for ``none``); raises ConfigError on a bad name."""
    name = settings.lookup("PRESET", parse_preset, default_preset(list(settings.channels)))
    return PRESETS.get(name)


# --- tables for the README -------------------------------------------------------------

_LEVELS: Final = (Severity.DEBUG, Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL)


def routing_table(name: str) -> list[tuple[Category, list[list[str]]]]:
    """For each category, the channels a notice of each level in ``_LEVELS`` lands in.

    Computed by running the preset's routes on sample notices (not a business
    event), exactly as the router does, without any channel fallback.
    """
    from otel_discord.route.router import parse_routes, select

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
    from otel_discord.route.router import parse_routes

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

