"""Demo data for a fresh database: two users and a handful of invoices, one already overdue."""

from __future__ import annotations

import functools
import logging
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from .models import Invoice, User

_logger = logging.getLogger("ozark.seed")

#: (username, display name, password). Demo credentials, documented in the README.
DEMO_USERS: Final = (
    ("anna", "Anna de Boer", "ozark-anna-2025"),
    ("bram", "Bram Visser", "ozark-bram-2025"),
)

# (number, client, net cents, issued days ago, due in days (negative: in the past), paid?)
_DEMO_INVOICES: Final = (
    ("250085", "Hoveniersbedrijf Jansen", 125000, 75, -45, True),
    ("250086", "Café 't Hoekje", 86050, 40, -10, False),  # unpaid and past due: the first overdue event
    ("250087", "Fietsenmaker Bakker", 342000, 20, 10, False),
    ("250088", "Studio Noord B.V.", 560000, 5, 25, False),
)


@functools.cache
def _password_hash(password: str) -> str:
    # scrypt takes ~0.1 s by design; cache so tests that build many apps stay fast.
    return generate_password_hash(password)


def seed_demo_data(session: Session, today: date) -> bool:
    """Fill an empty database; returns False (and changes nothing) if users exist already."""
    if session.scalar(select(func.count()).select_from(User)):
        return False
    for username, display_name, password in DEMO_USERS:
        session.add(User(username=username, display_name=display_name, password_hash=_password_hash(password)))
    for number, client, cents, issued_ago, due_in, paid in _DEMO_INVOICES:
        issued = today - timedelta(days=issued_ago)
        due = today + timedelta(days=due_in)
        session.add(
            Invoice(
                number=number,
                client=client,
                amount_cents=cents,
                issue_date=issued,
                due_date=due,
                description="Diensten volgens offerte",
                paid_at=datetime.combine(due - timedelta(days=3), datetime.min.time()) if paid else None,
            )
        )
    session.commit()
    _logger.info("seeded %d demo users and %d invoices", len(DEMO_USERS), len(_DEMO_INVOICES))
    return True
