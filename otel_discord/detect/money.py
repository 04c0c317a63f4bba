"""Amounts and other numbers as people read them: ``€2,450.00`` (style ``en``) or ``€2.450,00`` (``nl``).

Business events carry amounts as plain numbers (``invoice.amount: 2450.0``) next to
a currency code (``invoice.currency: "EUR"``). The number is read through
``Decimal(str(value))`` so a float such as ``0.1 + 0.2`` prints as ``€0.30``, not
as the binary fraction behind it, and rounding is half-up as on an invoice.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from otel_discord.config.parse import to_decimal as to_decimal  # re-exported to detect.*

DEFAULT_CURRENCY: Final = "EUR"
DEFAULT_STYLE: Final = "en"
#: style → (thousands separator, decimal separator)
STYLES: Final[dict[str, tuple[str, str]]] = {"en": (",", "."), "nl": (".", ",")}
SYMBOLS: Final[dict[str, str]] = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}
# ISO 4217 minor units for the currencies that do not use two.
_DECIMALS: Final[dict[str, int]] = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "BHD": 3, "KWD": 3}


def parse_style(value: Any) -> str:
    """Read the ``AMOUNT_STYLE`` setting: ``en`` or ``nl``."""
    style = str(value).strip().lower()
    if style not in STYLES:
        raise ValueError(f"must be one of {', '.join(STYLES)}, got {value!r}")
    return style


def currency_code(value: Any) -> str:
    """A three-letter currency code from an attribute, ``EUR`` when absent or odd."""
    if isinstance(value, str):
        code = value.strip().upper()
        if len(code) == 3 and code.isalpha() and code.isascii():
            return code
    return DEFAULT_CURRENCY


def format_money(amount: Any, currency: Any = DEFAULT_CURRENCY, style: str = DEFAULT_STYLE) -> str:
    """``2450`` → ``€2,450.00`` (en) or ``€2.450,00`` (nl); a non-number is returned as text.

    Negative amounts put the sign first (``-€25.00``); currencies without a symbol
    show their code (``CHF 1,250.00``).
    """
    number = to_decimal(amount)
    if number is None:
        return str(amount)
    code = currency_code(currency)
    thousands, point = STYLES.get(style, STYLES[DEFAULT_STYLE])
    places = _DECIMALS.get(code, 2)
    quantum = Decimal(1).scaleb(-places)
    rounded = number.quantize(quantum, rounding=ROUND_HALF_UP)
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    digits = thousands.join(groups) + (point + fraction if places else "")
    symbol = SYMBOLS.get(code)
    text = f"{symbol}{digits}" if symbol else f"{code} {digits}"
    return f"-{text}" if rounded < 0 else text


# --- other numbers in templates: None when the value is not a number ----------------------


def _as_float(value: Any) -> float | None:
    number = to_decimal(value)
    return float(number) if number is not None else None


def format_count(value: Any, style: str = DEFAULT_STYLE) -> str | None:
    """``12345`` → ``12,345`` (en) or ``12.345`` (nl); fractions keep two decimals."""
    number = _as_float(value)
    if number is None:
        return None
    text = f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"
    return text.translate(str.maketrans(",.", ".,")) if style == "nl" else text


def format_ms(value: Any, style: str = DEFAULT_STYLE) -> str | None:
    """``1234.5`` → ``1,235 ms``; below 10 ms three significant digits (``3.25 ms``)."""
    number = _as_float(value)
    if number is None:
        return None
    return f"{format_count(round(number), style)} ms" if number >= 10 else f"{number:.3g} ms"


def format_seconds(value: Any, style: str = DEFAULT_STYLE) -> str | None:
    """A duration: ``45 s``, ``32 min``, ``2 h 5 min``."""
    number = _as_float(value)
    if number is None:
        return None
    seconds = round(abs(number))
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def format_bytes(value: Any, style: str = DEFAULT_STYLE) -> str | None:
    """``12345`` → ``12.1 KiB`` (binary units, as file managers on Linux show them)."""
    number = _as_float(value)
    if number is None:
        return None
    if abs(number) < 1024:
        return f"{number:.0f} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        number /= 1024
        if abs(number) < 1024 or unit == "TiB":
            break
    text = f"{number:.1f} {unit}"
    return text.replace(".", ",") if style == "nl" else text
