"""Detect invoices that passed their due date, and the daemon thread that checks periodically."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from . import events
from .invoices import attributes
from .models import Invoice
from .money import format_eur

_logger = logging.getLogger("ozark.overdue")


def check_overdue(sessions: sessionmaker[Session], today: date, now: datetime | None = None) -> list[str]:
    """Flag unpaid invoices due before ``today`` and emit ``invoice.overdue`` once for each.

    Returns the numbers that were flagged by this call. The flag is claimed with a
    conditional UPDATE (``... WHERE overdue_notified_at IS NULL``) whose row count
    says whether this call won, so two checkers (a reloader parent and child, or
    several gunicorn workers) never report the same invoice twice.
    """
    flagged_at = now or datetime.now()
    flagged: list[str] = []
    with sessions() as session:
        candidates = session.scalars(
            select(Invoice)
            .where(Invoice.paid_at.is_(None), Invoice.overdue_notified_at.is_(None), Invoice.due_date < today)
            .order_by(Invoice.due_date)
        ).all()
        for invoice in candidates:
            claimed = session.execute(
                update(Invoice)
                .where(Invoice.id == invoice.id, Invoice.overdue_notified_at.is_(None))
                .values(overdue_notified_at=flagged_at)
                .execution_options(synchronize_session=False)
            ).rowcount
            # Commit before emitting: an event for a flag that was rolled back would repeat.
            session.commit()
            if claimed != 1:
                continue
            days = (today - invoice.due_date).days
            events.emit(
                "invoice.overdue",
                f"Invoice #{invoice.number} for {invoice.client} ({format_eur(invoice.amount_cents)}) "
                f"is {days} day{'s' if days != 1 else ''} overdue",
                {**attributes(invoice), "invoice.days_overdue": days},
                level=logging.WARNING,
            )
            flagged.append(invoice.number)
    return flagged


class OverdueChecker:
    """Runs ``check_overdue`` now and then every ``interval`` seconds on a daemon thread."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        interval: float,
        today: Callable[[], date] = date.today,
    ) -> None:
        self._sessions = sessions
        self._interval = interval
        self._today = today
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Start the thread unless it runs already; returns True if this call started it."""
        with self._lock:
            if self.running:
                return False
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="ozark-overdue-check", daemon=True)
            self._thread.start()
            return True

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish and wait up to ``timeout`` seconds."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                check_overdue(self._sessions, self._today())
            except Exception:
                # A locked or missing database must not kill the checker for good; try next round.
                _logger.exception("overdue check failed")
            # Event.wait rather than sleep so stop() does not wait out the interval.
            self._stop.wait(self._interval)
