"""Euro amounts as Dutch users type them, and as the app shows them.

Amounts are stored as integer cents so that sums and the 21 % BTW never pick up
float rounding errors; ``Decimal`` is used only at the edges (parsing, display).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

CURRENCY: Final = "EUR"
_CENT: Final = Decimal("0.01")
# Spaces of every width are used as thousands separators ("1 234,56"), and Excel
# exports non-breaking ones.
_SPACES: Final = re.compile(r"[\s\u00a0\u202f]+")
_CURRENCY_MARKS: Final = re.compile(r"^(€|eur)|(€|eur)$", re.IGNORECASE)
_DIGITS: Final = re.compile(r"^\d+$")
_GROUPED_DOT: Final = re.compile(r"^\d{1,3}(\.\d{3})+$")
_GROUPED_COMMA: Final = re.compile(r"^\d{1,3}(,\d{3})+$")


class AmountError(ValueError):
    """The text is not an amount of money; the message says why, for a form or import error."""


def parse_amount(text: str | int | float | Decimal) -> Decimal:
    """Read a euro amount, returning a ``Decimal`` with exactly two places.

    Accepts ``1.234,56``, ``1234,56``, ``€ 1.234,56``, ``1 234,56``, ``1234.56``,
    ``1,234.56`` and numbers from spreadsheet cells. With a single separator a
    comma is always the decimal mark (Dutch usage) and a dot is a thousands
    separator only in groups of three (``1.234`` is 1234, ``1234.5`` is 1234.50).

    Raises:
        AmountError: empty text, stray characters, bad grouping or more than two decimals.
    """
    if isinstance(text, bool):
        raise AmountError("not an amount")
    if isinstance(text, (int, float, Decimal)):
        # Spreadsheet cells hold binary floats (1234.56 is 1234.5599999...), so round, not reject.
        try:
            return Decimal(str(text)).quantize(_CENT, rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise AmountError(f"not an amount: {text!r}") from None
    raw = str(text)
    cleaned = _SPACES.sub("", raw)
    cleaned = _CURRENCY_MARKS.sub("", cleaned)
    cleaned = _CURRENCY_MARKS.sub("", cleaned)  # "€1,00EUR" has a mark on both ends
    sign = ""
    if cleaned and cleaned[0] in "-+":
        sign, cleaned = ("-" if cleaned[0] == "-" else ""), cleaned[1:]
    if not cleaned:
        raise AmountError("amount is empty" if not raw.strip() else f"not an amount: {raw!r}")
    number = _normalise(cleaned, raw)
    value = Decimal(sign + number)
    if value != value.quantize(_CENT):
        raise AmountError(f"more than two decimals: {raw!r}")
    return value.quantize(_CENT)


def _normalise(cleaned: str, raw: str) -> str:
    """Turn ``1.234,56``-style text into ``1234.56``, checking the digit groups."""
    if "," in cleaned and "." in cleaned:
        decimal_mark = "," if cleaned.rfind(",") > cleaned.rfind(".") else "."
    elif "," in cleaned:
        if cleaned.count(",") > 1:
            decimal_mark = "."  # "1,234,567" can only be thousands
        else:
            decimal_mark = ","
    elif "." in cleaned:
        decimal_mark = "," if _GROUPED_DOT.match(cleaned) and not cleaned.startswith("0") else "."
    else:
        decimal_mark = "."
    thousands = "." if decimal_mark == "," else ","
    whole, _, fraction = cleaned.partition(decimal_mark)
    if thousands in whole:
        grouped = _GROUPED_DOT if thousands == "." else _GROUPED_COMMA
        if not grouped.match(whole):
            raise AmountError(f"misplaced thousands separator: {raw!r}")
        whole = whole.replace(thousands, "")
    if not _DIGITS.match(whole) or (fraction and not _DIGITS.match(fraction)):
        raise AmountError(f"not an amount: {raw!r}")
    if decimal_mark in cleaned and not fraction:
        raise AmountError(f"not an amount: {raw!r}")
    return f"{whole}.{fraction}" if fraction else whole


def to_cents(amount: Decimal) -> int:
    """Whole cents of a two-place amount."""
    return int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))


def from_cents(cents: int) -> Decimal:
    """The ``Decimal`` euro amount of integer cents."""
    return (Decimal(cents) / 100).quantize(_CENT)


def format_eur(cents: int) -> str:
    """Dutch notation: ``€ 1.234,56`` (dot for thousands, comma for decimals)."""
    text = f"{abs(cents) / 100:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"€ -{text}" if cents < 0 else f"€ {text}"


def format_plain(cents: int) -> str:
    """Export notation without currency or thousands separator: ``1234,56``."""
    text = f"{abs(cents) / 100:.2f}".replace(".", ",")
    return f"-{text}" if cents < 0 else text


_DATE_FORMATS: Final = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%Y")


def parse_date(value: str | date | datetime | None) -> date:
    """Read a date as ISO (``2025-07-01``) or Dutch (``01-07-2025``, ``1-7-2025``, ``01/07/2025``).

    Raises:
        ValueError: empty or unrecognised text.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = (value or "").strip()
    if not text:
        raise ValueError("date is empty")
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date (use 2025-07-01 or 01-07-2025): {text!r}")
