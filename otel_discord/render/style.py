"""Colour and emoji per severity and category: what makes a channel scannable at a glance."""

from __future__ import annotations

from typing import Final

from otel_discord.notice import CATEGORY_EMOJI, SEVERITY_EMOJI, Category, Severity

__all__ = ["CATEGORY_EMOJI", "SEVERITY_COLOR", "SEVERITY_EMOJI", "TITLE_SEPARATOR", "color_for", "title_prefix"]

SEVERITY_COLOR: Final[dict[Severity, int]] = {
    Severity.DEBUG: 0x95A5A6,  # grey
    Severity.INFO: 0x3498DB,  # blue
    Severity.SUCCESS: 0x2ECC71,  # green
    Severity.WARNING: 0xF1C40F,  # yellow
    Severity.ERROR: 0xE74C3C,  # red
    Severity.CRITICAL: 0x8E44AD,  # purple: must not be mistaken for an ordinary error
}

#: Between the category word and the notice title.
TITLE_SEPARATOR: Final = " · "


def title_prefix(category: Category, severity: Severity) -> str:
    """``"🚨 🔴 ERROR · "``: category emoji, severity emoji, category word, separator."""
    return f"{CATEGORY_EMOJI[category]} {SEVERITY_EMOJI[severity]} {category.value}{TITLE_SEPARATOR}"


def color_for(severity: Severity, override: int | None = None) -> int:
    """The embed colour: a valid channel override, else the severity's colour."""
    if override is not None and not isinstance(override, bool) and 0 <= override <= 0xFFFFFF:
        return int(override)
    return SEVERITY_COLOR[severity]
