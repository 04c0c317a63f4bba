"""Financial milestones: one celebratory notice when a running total first reaches its target.

``milestones: [{name: Q revenue, metric: revenue, period: quarter, target: 100000}]``
compares the running total of a figure for the current calendar period (in the
configured time zone) with the target (money in units: 100000 means €100,000).
The first process to see it crossed inserts a row keyed by (milestone, period
start); the primary key makes that happen once per period, across processes
and restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.summary.config import Milestone
from otel_discord.summary.report import format_money
from otel_discord.summary.schedules import period_start, quarter_label
from otel_discord.summary.state import Store
from otel_discord.summary.tally import is_money


def figure_key(figure: str) -> str:
    """Config names (``invoices.paid``, ``invoices_paid``) → the tally's figure name."""
    return figure if figure.startswith("event:") else figure.strip().replace(".", "_")


def period_label(kind: str, start: date) -> str:
    if kind == "quarter":
        return quarter_label(start)
    if kind == "month":
        return f"{start:%B %Y}"
    if kind == "week":
        year, week, _ = start.isocalendar()
        return f"week {week} {year}"
    if kind == "year":
        return str(start.year)
    return f"{start:%a} {start.day} {start:%b %Y}"


class Milestones:
    """See the module docstring."""

    def __init__(self, specs: Sequence[Milestone], store: Store, tz: ZoneInfo, currency: str) -> None:
        self._specs = tuple(specs)
        self._store = store
        self._tz = tz
        self._currency = currency

    def __bool__(self) -> bool:
        return bool(self._specs)

    def check(self, service: str, now: float) -> list[Notice]:
        notices = []
        for spec in self._specs:
            figure = figure_key(spec.figure)
            money = is_money(figure)
            target = spec.target * 100.0 if money else spec.target
            start = period_start(spec.period, now, self._tz)
            value = self._store.total(service, figure, spec.period, start.isoformat())
            if value < target:
                continue
            with self._store.transaction() as db:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO milestones(service, name, start, reached_at, value) VALUES (?,?,?,?,?)",
                    (service, spec.name, start.isoformat(), now, value),
                )
            if cursor.rowcount != 1:
                continue
            shown = format_money(value, self._currency) if money else f"{value:,.0f}"
            goal = format_money(target, self._currency) if money else f"{target:,.0f}"
            label = period_label(spec.period, start)
            notices.append(
                Notice(
                    kind=Kind.EVENT,
                    severity=Severity.SUCCESS,
                    category=Category.PAYMENT if money else Category.INVOICE,
                    title=f"🎉 {spec.name}: {goal} reached ({label})",
                    description=f"{figure.replace('_', ' ').capitalize()} this {spec.period} is now {shown}.",
                    fields=(Field("Target", goal), Field("Now", shown), Field("Period", label)),
                    attributes={"service.name": service, "milestone.name": spec.name, "milestone.period": label},
                    fingerprint=f"milestone:{service}:{spec.name}:{start.isoformat()}",
                    event_name="milestone.reached",
                    service=service,
                    signal="metrics",
                    timestamp=now,
                )
            )
        return notices
