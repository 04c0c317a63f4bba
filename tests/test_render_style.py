"""Colour and emoji per severity and category."""

from __future__ import annotations

from otel_discord.notice import Category, Severity
from otel_discord.render.style import (
    CATEGORY_EMOJI,
    SEVERITY_COLOR,
    SEVERITY_EMOJI,
    color_for,
    title_prefix,
)


def test_every_severity_and_category_is_styled() -> None:
    """No severity or category lacks a colour or emoji (a KeyError would lose the alert)."""
    assert set(SEVERITY_COLOR) == set(SEVERITY_EMOJI) == set(Severity)
    assert set(CATEGORY_EMOJI) == set(Category)


def test_severity_colours_are_distinct_and_valid() -> None:
    """Each severity has its own colour within 0..0xFFFFFF; success is green, error red."""
    assert len(set(SEVERITY_COLOR.values())) == len(Severity)
    assert all(0 <= colour <= 0xFFFFFF for colour in SEVERITY_COLOR.values())
    assert (SEVERITY_COLOR[Severity.SUCCESS], SEVERITY_COLOR[Severity.ERROR]) == (0x2ECC71, 0xE74C3C)


def test_title_prefix() -> None:
    """The prefix is category emoji, severity emoji, category word and a separator."""
    assert title_prefix(Category.ERROR, Severity.ERROR) == "🚨 🔴 ERROR · "
    assert title_prefix(Category.PAYMENT, Severity.CRITICAL) == "💳 💥 PAYMENT · "


def test_colour_override_must_be_a_colour() -> None:
    """A valid override wins; an out-of-range one falls back to the severity colour."""
    assert color_for(Severity.INFO, 0x000000) == 0
    assert color_for(Severity.INFO, 0x1000000) == SEVERITY_COLOR[Severity.INFO]
    assert color_for(Severity.INFO, -1) == SEVERITY_COLOR[Severity.INFO]
