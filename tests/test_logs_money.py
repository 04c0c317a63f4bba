"""Amounts and numbers as the channel reads them, in both locale styles."""

from __future__ import annotations

from decimal import Decimal

import pytest

from otel_discord.detect.money import (
    format_bytes,
    format_count,
    format_money,
    format_ms,
    format_seconds,
    parse_style,
)


@pytest.mark.parametrize(
    ("amount", "currency", "style", "expected"),
    [
        (2450, "EUR", "en", "€2,450.00"),
        (2450, "EUR", "nl", "€2.450,00"),
        (2450.0, None, "en", "€2,450.00"),  # no currency attribute: EUR
        (1234567.891, "EUR", "en", "€1,234,567.89"),
        (1234567.891, "EUR", "nl", "€1.234.567,89"),
        (0.1 + 0.2, "EUR", "en", "€0.30"),  # not 0.30000000000000004
        (2.675, "EUR", "en", "€2.68"),  # half-up, as on an invoice (binary float would round down)
        (-25, "EUR", "en", "-€25.00"),
        (-1250.5, "EUR", "nl", "-€1.250,50"),
        (999.999, "EUR", "en", "€1,000.00"),
        (0, "EUR", "en", "€0.00"),
        ("7850.00", "eur", "en", "€7,850.00"),  # numeric text and a lower-case code
        (Decimal("19.99"), "USD", "en", "$19.99"),
        (1500, "GBP", "nl", "£1.500,00"),
        (1500, "JPY", "en", "¥1,500"),  # no minor unit
        (1250, "CHF", "en", "CHF 1,250.00"),  # no symbol: the code
        (1250, "CHF", "nl", "CHF 1.250,00"),
        (100, "not-a-code", "en", "€100.00"),
    ],
)
def test_money_table(amount, currency, style, expected):
    """Each amount renders with its currency's symbol, the style's separators and two decimals."""
    assert format_money(amount, currency, style) == expected


@pytest.mark.parametrize("value", ["twelve euros", None, True, float("nan"), float("inf"), [1, 2], "1e999999"])
def test_non_numbers_are_shown_as_they_are(value):
    """A value that is not an amount is shown as text, never as a made-up number."""
    assert format_money(value) == str(value)


def test_unknown_style_is_a_config_error_naming_the_choices():
    """AMOUNT_STYLE accepts en or nl and says so otherwise."""
    assert parse_style(" NL ") == "nl"
    with pytest.raises(ValueError, match="en, nl"):
        parse_style("fr")


@pytest.mark.parametrize(
    ("formatter", "value", "style", "expected"),
    [
        (format_count, 12345, "en", "12,345"),
        (format_count, 12345, "nl", "12.345"),
        (format_count, 2.5, "nl", "2,50"),
        (format_ms, 1234.4, "en", "1,234 ms"),
        (format_ms, 3.254, "en", "3.25 ms"),
        (format_seconds, 45, "en", "45 s"),
        (format_seconds, 1920, "en", "32 min"),
        (format_seconds, 7500, "en", "2 h 5 min"),
        (format_bytes, 512, "en", "512 B"),
        (format_bytes, 12_400, "en", "12.1 KiB"),
        (format_bytes, 5 * 1024**3, "nl", "5,0 GiB"),
        (format_count, "many", "en", None),
    ],
)
def test_other_numbers(formatter, value, style, expected):
    """Counts, durations and sizes read naturally; a non-number gives None (the template shows it as is)."""
    assert formatter(value, style) == expected
