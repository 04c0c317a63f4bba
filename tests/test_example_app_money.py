"""European amount and date parsing of the Ozark example app (examples/flask_app/ozark/money.py)."""

from __future__ import annotations

import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

# The example app is not an installed package; import it from the repository root.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from examples.flask_app.ozark.money import (  # noqa: E402
    AmountError,
    format_eur,
    format_plain,
    parse_amount,
    parse_date,
    to_cents,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,56", "1234.56"),
        ("1234,56", "1234.56"),
        ("€ 1.234,56", "1234.56"),
        ("€1.234,56", "1234.56"),
        ("1234.56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("1\u00a0234,56", "1234.56"),
        ("  7.850,00 EUR ", "7850.00"),
        ("EUR 7.850", "7850.00"),
        ("1.234.567,89", "1234567.89"),
        ("1.234", "1234.00"),
        ("1234.5", "1234.50"),
        ("12,5", "12.50"),
        ("0,99", "0.99"),
        ("-25,00", "-25.00"),
        ("+25", "25.00"),
        ("7850", "7850.00"),
    ],
)
def test_parse_amount_accepts_dutch_and_plain_notation(text: str, expected: str) -> None:
    """Every way a Dutch bookkeeper writes an amount gives the same two-place Decimal."""
    assert parse_amount(text) == Decimal(expected)
    assert str(parse_amount(text)) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("€", "not an amount"),
        ("twaalf euro", "not an amount"),
        ("12.34,56", "thousands"),
        ("1,234", "more than two decimals"),
        ("0.123", "more than two decimals"),
        ("1,2,3", "thousands"),
        ("1.", "not an amount"),
        ("12a,00", "not an amount"),
    ],
)
def test_parse_amount_rejects_with_a_reason(text: str, reason: str) -> None:
    """Ambiguous or malformed text is refused with a message saying what is wrong, never guessed."""
    with pytest.raises(AmountError, match=reason):
        parse_amount(text)


def test_parse_amount_rounds_spreadsheet_floats_to_cents() -> None:
    """Excel cells hold binary floats; 1234.56 must not come out as 1234.5599999."""
    assert parse_amount(1234.56) == Decimal("1234.56")
    assert parse_amount(0.1 + 0.2) == Decimal("0.30")
    assert parse_amount(7850) == Decimal("7850.00")
    with pytest.raises(AmountError):
        parse_amount(True)


@given(st.integers(min_value=-(10**11), max_value=10**11))
def test_display_and_export_formats_parse_back_to_the_same_cents(cents: int) -> None:
    """What the app shows (€ 1.234,56) and exports (1234,56) reads back unchanged."""
    assert to_cents(parse_amount(format_eur(cents))) == cents
    assert to_cents(parse_amount(format_plain(cents))) == cents


def test_format_eur_uses_dutch_separators() -> None:
    assert format_eur(785000) == "€ 7.850,00"
    assert format_eur(123456789) == "€ 1.234.567,89"
    assert format_eur(5) == "€ 0,05"
    assert format_eur(-2500) == "€ -25,00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-07-01", date(2025, 7, 1)),
        ("01-07-2025", date(2025, 7, 1)),
        ("1-7-2025", date(2025, 7, 1)),
        ("01/07/2025", date(2025, 7, 1)),
        ("31.12.2025", date(2025, 12, 31)),
        (datetime(2025, 7, 1, 13, 45), date(2025, 7, 1)),
        (date(2025, 7, 1), date(2025, 7, 1)),
    ],
)
def test_parse_date_reads_iso_and_dutch_dates(value: str | date, expected: date) -> None:
    """Day-first is the Dutch order: 01-07-2025 is the first of July."""
    assert parse_date(value) == expected


@pytest.mark.parametrize("value", ["", "2025-13-01", "07/01/25", "gisteren", None])
def test_parse_date_rejects_unknown_formats(value: str | None) -> None:
    with pytest.raises(ValueError):
        parse_date(value)
