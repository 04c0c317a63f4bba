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

Two more endpoints belong to the benchmark, not to the app; the runner calls them between load runs,
never during one:

* ``/_threads``: ``{native thread id: thread name}`` of the live threads, so the runner can split the
  process's CPU time into request threads (``waitress-N``) and telemetry threads.
* ``/_flush`` (POST): exports what the SDK's batch processors still hold, on a thread of its own
  (``bench-telemetry-flush``). A load run leaves up to a batch of spans queued; exporting them before
  the runner's "after" sample puts the export of every span of a run inside that run's window, and on
  a thread counted as telemetry rather than a request thread.

Run: ``waitress-serve --listen=127.0.0.1:PORT bench_app:app`` with ``BENCH_APP_DB`` set to a SQLite file.
"""

from __future__ import annotations

import os
import queue
import threading
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


# --------------------------------------------------------------------------- the benchmark's probes

FLUSH_THREAD_NAME = "bench-telemetry-flush"


class _Flusher:
    """Runs the tracer provider's ``force_flush`` on one long-lived thread and waits for it.

    The SDK's ``BatchProcessor.force_flush`` exports on the calling thread: called
    from a view, it would bill a waitress thread for telemetry work. A thread that
    lives as long as the process keeps its CPU time visible to the runner's samples
    (a thread that ended would take its time out of the per-thread view).
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[threading.Event, list[str]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __call__(self, timeout: float) -> str | None:
        """None once everything queued is exported; otherwise what went wrong."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=FLUSH_THREAD_NAME, daemon=True)
                self._thread.start()
        done, errors = threading.Event(), []
        self._jobs.put((done, errors))
        if not done.wait(timeout):
            return f"not flushed within {timeout} s"
        return errors[0] if errors else None

    def _run(self) -> None:
        while True:
            done, errors = self._jobs.get()
            try:
                from opentelemetry import trace

                flush = getattr(trace.get_tracer_provider(), "force_flush", None)  # absent without the SDK
                if flush is not None and flush() is False:
                    errors.append("force_flush() returned False")
            except Exception as exc:  # noqa: BLE001 - a probe must not take the app down; the runner is told
                errors.append(repr(exc))
            finally:
                done.set()


_flush_telemetry = _Flusher()


@app.get("/_threads")
def live_threads() -> dict:
    return {str(t.native_id): t.name for t in threading.enumerate() if t.native_id is not None}


@app.post("/_flush")
def flush_telemetry() -> tuple[dict, int]:
    error = _flush_telemetry(timeout=30)
    return {"error": error}, 200 if error is None else 500
