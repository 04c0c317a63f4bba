"""The application under load: a small Flask + SQLAlchemy bookkeeping app that knows nothing about
OpenTelemetry (``opentelemetry-instrument`` instruments it from outside, as a user's app would be).

* ``/ok``: reads one invoice (the bulk of the traffic).
* ``/boom``: converts an amount in application code and fails, a ``ValueError`` → an error notice.
  ``?ref=...`` makes it a new kind of error (its own exception class, so its own fingerprint: not
  folded into an earlier one's message) with the marker in its message, so time-to-alert can match
  the message to its request.
* ``/slow``: a report query that waits on the database (``sleep_ms``, 60 ms by default): a slow-query
  notice above the threshold. It waits rather than computes, so it costs every configuration the
  same CPU, and the fast queries of ``/ok`` stay far below any sensible threshold even on a busy
  machine.

Run: ``waitress-serve --listen=127.0.0.1:PORT bench_app:app`` with ``BENCH_APP_DB`` set to a SQLite file.
"""

from __future__ import annotations

import os
import time

from flask import Flask, request
from sqlalchemy import Column, Integer, Numeric, String, create_engine, event, select, text
from sqlalchemy.orm import Session, declarative_base

Base = declarative_base()


class Invoice(Base):
    __tablename__ = "invoices"
    id = Column(Integer, primary_key=True)
    number = Column(String(20), nullable=False)
    customer = Column(String(80), nullable=False)
    amount = Column(Numeric(12, 2), nullable=False)


INVOICES = 500
SLOW_MS = int(os.environ.get("BENCH_APP_SLOW_MS", "60"))

engine = create_engine(f"sqlite:///{os.environ.get('BENCH_APP_DB', ':memory:')}")


@event.listens_for(engine, "connect")
def _add_sleep(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # A database that takes its time, as a loaded server would: SQLite has no SLEEP().
    dbapi_connection.create_function("sleep_ms", 1, lambda ms: time.sleep(ms / 1000) or ms)


Base.metadata.create_all(engine)
with Session(engine) as setup:
    if setup.scalar(select(Invoice.id).limit(1)) is None:
        setup.add_all(
            Invoice(id=i, number=f"INV-{250000 + i}", customer=f"Klant {i % 37}", amount=f"{(i * 37) % 9000}.50")
            for i in range(1, INVOICES + 1)
        )
        setup.commit()

app = Flask(__name__)


def parse_amount(raw: str) -> float:
    return float(raw.replace(",", "."))


def vat_for(raw: str) -> float:
    return round(parse_amount(raw) * 0.21, 2)


@app.get("/ok")
def ok() -> dict:
    invoice_id = int(request.args.get("id", "1")) % INVOICES + 1
    with Session(engine) as session:
        invoice = session.get(Invoice, invoice_id)
        return {"number": invoice.number, "amount": str(invoice.amount)}


_KINDS: dict[str, type[ValueError]] = {}


def error_kind(ref: str) -> type[ValueError]:
    """One exception class per marker: each marked failure is a distinct problem, as distinct bugs are."""
    return _KINDS.setdefault(ref, type(f"InvalidAmount_{ref}", (ValueError,), {}))


@app.get("/boom")
def boom() -> str:
    ref = request.args.get("ref", "")
    try:
        vat_for("twelve euros")  # raises ValueError inside application code
    except ValueError as exc:
        if ref:
            raise error_kind(ref)(f"{exc} ({ref})") from exc
        raise
    return "unreachable"


@app.get("/slow")
def slow() -> str:
    with engine.connect() as conn:
        waited = conn.execute(
            text("SELECT sleep_ms(:ms) AS waited, count(*) AS invoices FROM invoices"), {"ms": SLOW_MS}
        ).first()
    return str(waited)
