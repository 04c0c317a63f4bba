"""Quarterly BTW (Dutch VAT): what the books say is due versus what the user entered."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import events
from .models import BtwPayment, Invoice
from .money import format_eur, from_cents

#: The standard ("hoog") BTW rate; every invoice of this business is at 21 %.
RATE: Final = Decimal("0.21")
_QUARTER: Final = re.compile(r"^(\d{4})-Q([1-4])$")


@dataclass(frozen=True, slots=True)
class QuarterSummary:
    """One row of the BTW page."""

    quarter: str
    net_cents: int
    calculated_cents: int
    manual_cents: int | None

    @property
    def difference_cents(self) -> int | None:
        """Manual minus calculated: positive means more was paid than the books say."""
        return None if self.manual_cents is None else self.manual_cents - self.calculated_cents


def quarter_of(day: date) -> str:
    """``2025-Q3`` for any day in July-September 2025."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """First day of the quarter and first day of the next one.

    Raises:
        ValueError: ``quarter`` is not like ``2025-Q3``.
    """
    match = _QUARTER.match(quarter)
    if not match:
        raise ValueError(f"not a quarter (expected e.g. 2025-Q3): {quarter!r}")
    year, q = int(match[1]), int(match[2])
    start = date(year, 3 * q - 2, 1)
    end = date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)
    return start, end


def calculate_cents(net_cents: int) -> int:
    """21 % of a net amount, rounded half up to whole cents."""
    return int((Decimal(net_cents) * RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def net_invoiced_cents(session: Session, quarter: str) -> int:
    """Sum of the net amounts of invoices issued in ``quarter``, paid or not (invoice-based BTW)."""
    start, end = quarter_bounds(quarter)
    total = session.scalar(
        select(func.sum(Invoice.amount_cents)).where(Invoice.issue_date >= start, Invoice.issue_date < end)
    )
    return int(total or 0)


def summary(session: Session, quarter: str) -> QuarterSummary:
    net = net_invoiced_cents(session, quarter)
    payment = session.scalar(select(BtwPayment).where(BtwPayment.quarter == quarter))
    return QuarterSummary(quarter, net, calculate_cents(net), payment.manual_amount_cents if payment else None)


def overview(session: Session, today: date) -> list[QuarterSummary]:
    """Every quarter with invoices or a payment, plus the current one, newest first."""
    quarters = {quarter_of(today)}
    quarters.update(quarter_of(d) for d in session.scalars(select(Invoice.issue_date).distinct()))
    quarters.update(session.scalars(select(BtwPayment.quarter)))
    return [summary(session, q) for q in sorted(quarters, reverse=True)]


def record_manual_amount(session: Session, quarter: str, manual_cents: int, note: str = "") -> QuarterSummary:
    """Store what the user paid for ``quarter`` and emit ``btw.payment.updated``."""
    quarter_bounds(quarter)  # validates the name before anything is written
    payment = session.scalar(select(BtwPayment).where(BtwPayment.quarter == quarter))
    if payment is None:
        payment = BtwPayment(quarter=quarter, manual_amount_cents=manual_cents, note=note)
        session.add(payment)
    else:
        payment.manual_amount_cents = manual_cents
        payment.note = note
    session.commit()
    result = summary(session, quarter)
    difference = result.difference_cents or 0
    events.emit(
        "btw.payment.updated",
        f"BTW {quarter}: paid {format_eur(manual_cents)}, books say {format_eur(result.calculated_cents)} "
        f"(difference {format_eur(difference)})",
        {
            "btw.quarter": quarter,
            # The amount actually paid is the payment's amount; the calculated one is for comparison.
            **events.money("btw", manual_cents),
            "btw.manual_amount": float(from_cents(manual_cents)),
            "btw.calculated_amount": float(from_cents(result.calculated_cents)),
            "btw.difference": float(from_cents(difference)),
            "btw.net_invoiced": float(from_cents(result.net_cents)),
            "btw.rate": float(RATE),
        },
    )
    return result
