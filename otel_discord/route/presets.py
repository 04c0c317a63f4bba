"""Built-in routing setups: each preset is nothing but a routes list.

``PRESET`` (``OTEL_EXPORTER_DISCORD_PRESET`` or the config file's ``preset:``) picks
one; its routes run after the file's own ``routes:``. A preset channel the
configuration lacks falls back to the default channel (logged once), so a preset
works with a single webhook and improves as channels are added. Without a
``PRESET`` setting, ``focused`` is chosen when the configuration names one of its
channels, else ``none`` (everything to the default channel).

The README's tables (which category and level lands where) are generated from
these definitions by ``preset_tables.markdown_table``, and a test keeps them in step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from otel_discord.config import Settings

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
            {
                "match": {"category": ["error", "security", "performance"], "level": "warning"},
                "channel": "errors-alerts",
            },
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
