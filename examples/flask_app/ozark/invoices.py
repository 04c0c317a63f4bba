"""Invoice bookkeeping: numbering, validation and the changes that emit business events."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import events
from .models import Invoice
from .money import AmountError, format_eur, from_cents, parse_amount, parse_date, to_cents

#: Numbers are "25" (the year the books started) plus a sequence: #250001, #250002, ...
FIRST_NUMBER: Final = 250001
#: Default payment term when a form leaves the due date empty.
PAYMENT_TERM_DAYS: Final = 30


@dataclass(frozen=True, slots=True)
class InvoiceData:
    """Validated input for creating or editing an invoice."""

    client: str
    amount_cents: int
    issue_date: date
    due_date: date
    description: str = ""


def next_number(session: Session) -> str:
    """The number after the highest one in use."""
    numbers = session.scalars(select(Invoice.number)).all()
    used = [int(n) for n in numbers if n.isdigit()]
    return str(max(used, default=FIRST_NUMBER - 1) + 1)


def parse_form(form: Mapping[str, str], today: date) -> tuple[InvoiceData | None, dict[str, str]]:
    """Validate an invoice form; returns the data or the error message per field."""
    errors: dict[str, str] = {}
    client = form.get("client", "").strip()
    if not client:
        errors["client"] = "Client name is required."
    amount_cents = 0
    try:
        amount = parse_amount(form.get("amount", ""))
        if amount <= 0:
            errors["amount"] = "Amount must be more than € 0,00."
        amount_cents = to_cents(amount)
    except AmountError as exc:
        errors["amount"] = f"Amount: {exc}."
    issue_date = today
    if form.get("issue_date", "").strip():
        try:
            issue_date = parse_date(form["issue_date"])
        except ValueError as exc:
            errors["issue_date"] = f"Issue date: {exc}."
    due_date = issue_date + timedelta(days=PAYMENT_TERM_DAYS)
    if form.get("due_date", "").strip():
        try:
            due_date = parse_date(form["due_date"])
        except ValueError as exc:
            errors["due_date"] = f"Due date: {exc}."
    if "issue_date" not in errors and "due_date" not in errors and due_date < issue_date:
        errors["due_date"] = "Due date cannot be before the issue date."
    if errors:
        return None, errors
    description = form.get("description", "").strip()
    return InvoiceData(client, amount_cents, issue_date, due_date, description), {}


def attributes(invoice: Invoice) -> dict[str, events.Primitive]:
    """The event attributes that describe one invoice."""
    return {
        "invoice.number": invoice.number,
        **events.money("invoice", invoice.amount_cents),
        "invoice.client": invoice.client,
        "invoice.due_date": invoice.due_date.isoformat(),
    }


def create(session: Session, data: InvoiceData) -> Invoice:
    """Store a new invoice under the next number and emit ``invoice.created``."""
    invoice = Invoice(
        number=next_number(session),
        client=data.client,
        description=data.description,
        amount_cents=data.amount_cents,
        issue_date=data.issue_date,
        due_date=data.due_date,
    )
    session.add(invoice)
    session.commit()
    events.emit(
        "invoice.created",
        f"Invoice #{invoice.number} created for {invoice.client} ({format_eur(invoice.amount_cents)})",
        attributes(invoice),
    )
    return invoice


def update(session: Session, invoice: Invoice, data: InvoiceData) -> list[str]:
    """Apply ``data``; emit ``invoice.updated`` naming the changed fields (nothing if none changed)."""
    changed = [
        name
        for name in ("client", "amount_cents", "issue_date", "due_date", "description")
        if getattr(invoice, name) != getattr(data, name)
    ]
    if not changed:
        return []
    old_amount = invoice.amount_cents
    for name in changed:
        setattr(invoice, name, getattr(data, name))
    session.commit()
    fields = ",".join("amount" if name == "amount_cents" else name for name in changed)
    events.emit(
        "invoice.updated",
        f"Invoice #{invoice.number} updated ({fields})",
        {
            **attributes(invoice),
            "invoice.changed_fields": fields,
            "invoice.previous_amount": float(from_cents(old_amount)) if "amount_cents" in changed else None,
        },
    )
    return changed


def delete(session: Session, invoice: Invoice) -> None:
    """Remove the invoice and emit ``invoice.deleted``."""
    attrs = attributes(invoice)
    number = invoice.number
    was_paid = invoice.paid_at is not None
    session.delete(invoice)
    session.commit()
    events.emit(
        "invoice.deleted",
        f"Invoice #{number} deleted",
        {**attrs, "invoice.was_paid": was_paid},
        level=logging.WARNING if was_paid else logging.INFO,  # deleting a paid invoice breaks the books
    )


def mark_paid(session: Session, invoice: Invoice, now: datetime) -> bool:
    """Record the payment and emit ``invoice.paid``; False if it was already paid."""
    if invoice.paid_at is not None:
        return False
    invoice.paid_at = now
    session.commit()
    days_late = (now.date() - invoice.due_date).days
    events.emit(
        "invoice.paid",
        f"Invoice #{invoice.number} paid by {invoice.client} ({format_eur(invoice.amount_cents)})",
        {**attributes(invoice), "invoice.days_late": max(days_late, 0), "invoice.paid_late": days_late > 0},
    )
    return True


def totals(session: Session, today: date) -> dict[str, int]:
    """Cents per status (``open``, ``overdue``, ``paid``) for the list page's summary line."""
    rows = session.execute(
        select(Invoice.paid_at.is_(None), Invoice.due_date < today, func.sum(Invoice.amount_cents)).group_by(
            Invoice.paid_at.is_(None), Invoice.due_date < today
        )
    ).all()
    result = {"open": 0, "overdue": 0, "paid": 0}
    for unpaid, past_due, cents in rows:
        status = "paid" if not unpaid else ("overdue" if past_due else "open")
        result[status] += int(cents or 0)
    return result
