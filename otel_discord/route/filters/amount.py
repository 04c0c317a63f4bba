"""Amount thresholds on finance events.

* Below ``MIN_AMOUNT`` (default €1,000) a finance event is not posted, except to
  an audit channel and except warnings and worse (an overdue €200 invoice still
  matters).
* At or above ``HIGH_VALUE_AMOUNT`` (default €5,000, either sign) an
  ``invoice.created``/``.updated``/``.paid`` or ``payment.*`` event is a high-value
  transaction: it skips the level filters and notifies even at INFO level. The
  log detector (``detect/events.py``) applies the same rule to the same setting
  and renders it as HIGH_VALUE_TRANSACTION.

Config (top-level keys, or ``OTEL_EXPORTER_DISCORD_MIN_AMOUNT`` …)::

    min_amount: 1000          # 0 turns the filter off
    high_value_amount: 5000
    filters:
      amount:
        categories: [invoice, payment, btw]   # which categories are finance events

The amount is the event's ``<entity>.amount`` attribute (``invoice.amount`` of
``invoice.paid``), else its first ``*.amount`` attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from otel_discord.config import Settings
from otel_discord.config.files import as_list, check_keys, mapping
from otel_discord.config.parse import to_decimal as to_number
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.route.match import parse_category

DEFAULT_MIN_AMOUNT: Final = Decimal(1000)
DEFAULT_HIGH_VALUE_AMOUNT: Final = Decimal(5000)
DEFAULT_CATEGORIES: Final = frozenset({Category.INVOICE, Category.PAYMENT, Category.BTW})
#: The same events as detect/events.py's HIGH_VALUE_EVENTS (plus ``payment.*``): keep them equal.
HIGH_VALUE_EVENTS: Final = frozenset({"invoice.created", "invoice.updated", "invoice.paid"})


def parse_amount(value: Any) -> Decimal:
    """Read ``MIN_AMOUNT`` / ``HIGH_VALUE_AMOUNT``: a number ≥ 0."""
    number = to_number(value)
    if number is None or number < 0:
        raise ValueError(f"must be an amount of 0 or more, got {value!r}")
    return number


def amount_of(attributes: Mapping[str, Any], event_name: str | None = None) -> Decimal | None:
    """The event's ``<entity>.amount`` (``invoice.amount`` of ``invoice.paid``), else the first
    ``amount`` / ``*.amount`` attribute that is a number."""
    if event_name:
        own = to_number(attributes.get(f"{event_name.split('.', 1)[0]}.amount"))
        if own is not None:
            return own
    for key, value in attributes.items():
        if key == "amount" or key.endswith(".amount"):
            number = to_number(value)
            if number is not None:
                return number
    return None


class AmountFilter:
    def __init__(
        self,
        minimum: Decimal = DEFAULT_MIN_AMOUNT,
        high_value: Decimal = DEFAULT_HIGH_VALUE_AMOUNT,
        categories: frozenset[Category] = DEFAULT_CATEGORIES,
    ) -> None:
        self.minimum = minimum
        self.high_value = high_value
        self.categories = categories

    def _amount(self, notice: Notice) -> Decimal | None:
        if notice.category not in self.categories or not notice.event_name:
            return None
        return amount_of(notice.attributes, notice.event_name)

    def is_high_value(self, notice: Notice) -> bool:
        name = (notice.event_name or "").lower()
        if notice.kind is not Kind.EVENT or not (name in HIGH_VALUE_EVENTS or name.startswith("payment.")):
            return False
        amount = amount_of(notice.attributes, name)
        return amount is not None and self.high_value > 0 and abs(amount) >= self.high_value

    def __call__(self, notice: Notice, channel: str) -> str | None:
        if self.minimum <= 0 or notice.severity >= Severity.WARNING:
            return None
        amount = self._amount(notice)
        if amount is not None and abs(amount) < self.minimum:
            return "below_min_amount"
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "min_amount": str(self.minimum),
            "high_value_amount": str(self.high_value),
            "categories": sorted(c.value.lower() for c in self.categories),
        }


def parse_amount_filter(settings: Settings, raw: Any, path: str = "filters.amount") -> AmountFilter:
    spec = mapping(raw, path)
    check_keys(spec, ("categories",), path)
    categories = (
        frozenset(parse_category(c, f"{path}.categories") for c in as_list(spec["categories"]))
        if "categories" in spec
        else DEFAULT_CATEGORIES
    )
    return AmountFilter(
        settings.lookup("MIN_AMOUNT", parse_amount, DEFAULT_MIN_AMOUNT),
        settings.lookup("HIGH_VALUE_AMOUNT", parse_amount, DEFAULT_HIGH_VALUE_AMOUNT),
        categories,
    )
