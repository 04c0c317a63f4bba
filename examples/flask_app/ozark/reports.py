"""Reports: one deliberately slow, one deliberately broken (they exist to be observed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from .btw import quarter_of
from .models import Invoice

# A recursive CTE keeps SQLite busy for a predictable time proportional to :days,
# without needing a big table: a stand-in for the unindexed aggregate that makes a
# real bookkeeping report slow. The slow-query detector sees it as one long DB span.
_CASHFLOW_SIMULATION = text(
    """
    WITH RECURSIVE day(n, balance) AS (
        SELECT 1, :opening
        UNION ALL
        SELECT n + 1, balance + ((n * 7919) % 2000) - 990 FROM day WHERE n < :days
    )
    SELECT count(*) AS days, min(balance) AS lowest, max(balance) AS highest FROM day
    """
)


@dataclass(frozen=True, slots=True)
class CashflowReport:
    simulated_days: int
    lowest_cents: int
    highest_cents: int


def cashflow_simulation(session: Session, size: int) -> CashflowReport:
    """Simulate ``size`` days of cash flow from the open receivables (slow on purpose)."""
    opening = session.scalar(select(func.coalesce(func.sum(Invoice.amount_cents), 0)).where(Invoice.paid_at.is_(None)))
    row = session.execute(_CASHFLOW_SIMULATION, {"opening": int(opening or 0), "days": max(size, 1)}).one()
    return CashflowReport(simulated_days=row.days, lowest_cents=int(row.lowest), highest_cents=int(row.highest))


def margin_report(session: Session, today: date) -> dict[str, float]:
    """Gross margin per client for the current quarter.

    Broken on purpose (behind ``/boom``): no cost figures are ever recorded, so the
    first client with revenue hits a zero cost basis and the report raises, as a real
    half-finished feature would.
    """
    quarter = quarter_of(today)
    revenue = session.execute(
        select(Invoice.client, func.sum(Invoice.amount_cents)).group_by(Invoice.client).order_by(Invoice.client)
    ).all()
    if not revenue:
        raise ValueError(f"cannot compute margin report for {quarter}: the ledger has no invoices")
    costs: dict[str, int] = {}  # the cost ledger this report expects does not exist yet
    margins: dict[str, float] = {}
    for client, cents in revenue:
        cost_basis = costs.get(client, 0)
        if cost_basis == 0:
            raise ValueError(
                f"cannot compute margin report for {quarter}: cost basis is zero for client {client!r} "
                f"(revenue {cents / 100:.2f} EUR)"
            )
        margins[client] = (cents - cost_basis) / cost_basis
    return margins
