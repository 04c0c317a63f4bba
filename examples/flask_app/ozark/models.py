"""The bookkeeping tables: users, invoices, quarterly BTW payments, feedback."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .money import CURRENCY, format_eur, from_cents


class Base(DeclarativeBase):
    """Declarative base of every Ozark table."""


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Six digits, "25" + sequence, shown as "#250089"; a string because it is an identifier.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    client: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Net amount (excl. BTW) in cents: integers keep sums and the 21 % exact.
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default=CURRENCY)
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    # Set once by the overdue check; the flag is what makes invoice.overdue fire exactly once.
    overdue_notified_at: Mapped[datetime | None] = mapped_column(DateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=datetime.now)

    @property
    def amount(self) -> Decimal:
        return from_cents(self.amount_cents)

    @property
    def amount_display(self) -> str:
        return format_eur(self.amount_cents)

    def status(self, today: date) -> str:
        """``paid``, ``overdue`` or ``open`` as of ``today``."""
        if self.paid_at is not None:
            return "paid"
        return "overdue" if self.due_date < today else "open"


class BtwPayment(Base):
    """What the user actually paid (or will pay) the Belastingdienst for one quarter."""

    __tablename__ = "btw_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    quarter: Mapped[str] = mapped_column(String(7), unique=True)  # "2025-Q3"
    manual_amount_cents: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=datetime.now, onupdate=datetime.now)


class FeedbackMessage(Base):
    __tablename__ = "feedback_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=datetime.now)
