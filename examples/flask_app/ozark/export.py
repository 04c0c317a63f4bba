"""CSV export of all invoices, in the shape Dutch Excel opens without a wizard."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import events
from .models import Invoice
from .money import format_plain

COLUMNS: Final = ("number", "client", "amount", "currency", "issue_date", "due_date", "paid_on", "description")


def export_csv(session: Session, now: datetime | None = None) -> tuple[str, bytes, int]:
    """Return ``(filename, body, row count)`` and emit ``export.downloaded``.

    ';' as delimiter and a decimal comma (``1234,56``) because Dutch Excel reads
    ',' as the decimal mark; a UTF-8 byte-order mark so Excel does not show
    "CafÃ©". The importer reads this format back unchanged.
    """
    invoices = session.scalars(select(Invoice).order_by(Invoice.number)).all()
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    total = 0
    for invoice in invoices:
        total += invoice.amount_cents
        writer.writerow(
            [
                invoice.number,
                invoice.client,
                format_plain(invoice.amount_cents),
                invoice.currency,
                invoice.issue_date.isoformat(),
                invoice.due_date.isoformat(),
                invoice.paid_at.date().isoformat() if invoice.paid_at else "",
                invoice.description,
            ]
        )
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    filename = f"ozark-invoices-{stamp}.csv"
    events.emit(
        "export.downloaded",
        f"Invoice export downloaded ({len(invoices)} invoices)",
        {
            "export.filename": filename,
            "export.format": "csv",
            "export.rows": len(invoices),
            **events.money("export", total),
        },
    )
    return filename, ("\ufeff" + buffer.getvalue()).encode("utf-8"), len(invoices)
