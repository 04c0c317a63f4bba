"""Ozark example app: the overdue check, quarterly BTW, and the backup job."""

from __future__ import annotations

import logging
import sqlite3
import sys
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from examples.flask_app.ozark import (  # noqa: E402
    btw,  # noqa: E402
    create_app,
    overdue_checker,
)
from examples.flask_app.ozark.backup import KEEP, run_backup  # noqa: E402
from examples.flask_app.ozark.db import Database, get_database  # noqa: E402
from examples.flask_app.ozark.models import Invoice  # noqa: E402
from examples.flask_app.ozark.overdue import OverdueChecker, check_overdue  # noqa: E402
from examples.flask_app.ozark.seed import DEMO_USERS  # noqa: E402

TODAY = date.today()


def make_app(tmp_path: Path, **overrides: Any) -> Flask:
    config = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'ozark.db'}",
        "SECRET_KEY": "test-secret",
        "OVERDUE_CHECK_INTERVAL": 0,
        "SLOW_REPORT_SIZE": 1_000,
        "BACKUP_DIR": str(tmp_path / "backups"),
        "TESTING": True,
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    client = app.test_client()
    response = client.post("/login", data={"username": "anna", "password": DEMO_USERS[0][2]})
    assert response.status_code == 302
    return client


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="ozark")
    return caplog


def emitted(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [vars(r) for r in caplog.records if getattr(r, "event.name", None) == name]


def add_invoice(app: Flask, number: str, cents: int, issued: date, due: date, paid: bool = False) -> None:
    with get_database(app).sessions() as session:
        session.add(
            Invoice(
                number=number,
                client=f"Klant {number}",
                amount_cents=cents,
                issue_date=issued,
                due_date=due,
                paid_at=datetime(2025, 1, 1) if paid else None,
            )
        )
        session.commit()


class TestOverdue:
    def test_each_invoice_is_reported_once_when_it_passes_its_due_date(
        self, app: Flask, events: pytest.LogCaptureFixture
    ) -> None:
        sessions = get_database(app).sessions
        due = TODAY + timedelta(days=3)
        add_invoice(app, "260001", 120000, TODAY, due)
        add_invoice(app, "260002", 50000, TODAY, due, paid=True)

        assert check_overdue(sessions, TODAY) == ["250086"]  # the seeded invoice, 10 days late
        assert check_overdue(sessions, TODAY) == []
        assert check_overdue(sessions, due) == []  # due today is not overdue yet
        assert check_overdue(sessions, due + timedelta(days=1)) == ["260001"]  # paid 260002 never is
        assert check_overdue(sessions, due + timedelta(days=2)) == []

        seeded, ours = emitted(events, "invoice.overdue")
        assert seeded["invoice.number"] == "250086"
        assert seeded["invoice.days_overdue"] == 10
        assert seeded["invoice.amount"] == 860.50
        assert seeded["invoice.currency"] == "EUR"
        assert seeded["invoice.client"] == "Café 't Hoekje"
        assert seeded["levelno"] == logging.WARNING
        assert ours["invoice.number"] == "260001"
        assert ours["invoice.days_overdue"] == 1
        assert ours["msg"] == "Invoice #260001 for Klant 260001 (€ 1.200,00) is 1 day overdue"

    def test_flag_survives_a_restart(self, tmp_path: Path, events: pytest.LogCaptureFixture) -> None:
        """The flag is stored: a restarted app (new process, same database) stays quiet."""
        first = make_app(tmp_path)
        assert check_overdue(get_database(first).sessions, TODAY) == ["250086"]
        second = make_app(tmp_path)
        assert check_overdue(get_database(second).sessions, TODAY) == []
        assert len(emitted(events, "invoice.overdue")) == 1

    def test_concurrent_checkers_report_once(self, app: Flask, events: pytest.LogCaptureFixture) -> None:
        """Two processes' checkers (reloader, gunicorn workers) racing on one database report once."""
        for n in range(20):
            add_invoice(app, str(260100 + n), 1000 + n, TODAY - timedelta(days=40), TODAY - timedelta(days=5))
        url = app.config["DATABASE_URL"]
        barrier = threading.Barrier(4)
        results: list[list[str]] = []

        def run() -> None:
            database = Database(url)  # own engine, as another process would have
            barrier.wait()
            results.append(check_overdue(database.sessions, TODAY))

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        flagged = sorted(n for result in results for n in result)
        assert flagged == sorted(["250086", *(str(260100 + n) for n in range(20))])
        assert len(emitted(events, "invoice.overdue")) == 21

    def test_background_thread_checks_periodically(self, app: Flask, events: pytest.LogCaptureFixture) -> None:
        calls: list[date] = []
        third_call = threading.Event()

        def today() -> date:
            calls.append(TODAY)
            if len(calls) >= 3:
                third_call.set()
            return TODAY

        checker = OverdueChecker(get_database(app).sessions, interval=0.01, today=today)
        assert checker.start() is True
        assert checker.start() is False  # one thread per checker
        try:
            assert third_call.wait(timeout=30), "the checker did not run three rounds"
        finally:
            checker.stop()
        assert not checker.running
        # Two complete rounds (at least) ran, and the seeded overdue invoice was reported once.
        assert [e["invoice.number"] for e in emitted(events, "invoice.overdue")] == ["250086"]

    def test_app_starts_the_checker_on_the_first_request(
        self, tmp_path: Path, events: pytest.LogCaptureFixture
    ) -> None:
        app = make_app(tmp_path, OVERDUE_CHECK_INTERVAL=3600)
        checker = overdue_checker(app)
        assert checker is not None and not checker.running  # nothing runs on import or for CLI commands
        try:
            app.test_client().get("/healthz")
            assert checker.running
            deadline = time.monotonic() + 30
            while not emitted(events, "invoice.overdue") and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            checker.stop()
        assert [e["invoice.number"] for e in emitted(events, "invoice.overdue")] == ["250086"]

    def test_disabled_with_interval_zero(self, app: Flask) -> None:
        assert overdue_checker(app) is None

    def test_cli_command(self, app: Flask) -> None:
        result = app.test_cli_runner().invoke(args=["check-overdue"])
        assert result.exit_code == 0
        assert "1 invoice(s) newly overdue: 250086" in result.output


class TestBtw:
    @pytest.mark.parametrize(
        ("day", "quarter", "start", "end"),
        [
            (date(2025, 1, 1), "2025-Q1", date(2025, 1, 1), date(2025, 4, 1)),
            (date(2025, 3, 31), "2025-Q1", date(2025, 1, 1), date(2025, 4, 1)),
            (date(2025, 8, 15), "2025-Q3", date(2025, 7, 1), date(2025, 10, 1)),
            (date(2025, 12, 31), "2025-Q4", date(2025, 10, 1), date(2026, 1, 1)),
        ],
    )
    def test_quarters(self, day: date, quarter: str, start: date, end: date) -> None:
        assert btw.quarter_of(day) == quarter
        assert btw.quarter_bounds(quarter) == (start, end)

    @pytest.mark.parametrize("name", ["2025-Q5", "2025Q1", "Q1-2025", ""])
    def test_bad_quarter_names(self, name: str) -> None:
        with pytest.raises(ValueError):
            btw.quarter_bounds(name)

    @pytest.mark.parametrize(("net", "tax"), [(0, 0), (100, 21), (1234567, 259259), (250, 53), (50, 11), (2, 0)])
    def test_21_percent_rounded_half_up_to_cents(self, net: int, tax: int) -> None:
        assert btw.calculate_cents(net) == tax

    def test_calculated_amount_counts_invoices_issued_in_the_quarter(self, app: Flask) -> None:
        add_invoice(app, "260001", 100000, date(2025, 9, 30), date(2025, 10, 30))
        add_invoice(app, "260002", 250000, date(2025, 7, 1), date(2025, 7, 31), paid=True)
        add_invoice(app, "260003", 999999, date(2025, 10, 1), date(2025, 10, 31))
        with get_database(app).sessions() as session:
            summary = btw.summary(session, "2025-Q3")
        assert summary.net_cents == 350000
        assert summary.calculated_cents == 73500
        assert summary.manual_cents is None and summary.difference_cents is None

    def test_manual_amount_is_compared_with_the_calculated_one(
        self, app: Flask, client: FlaskClient, events: pytest.LogCaptureFixture
    ) -> None:
        add_invoice(app, "260001", 100000, date(2025, 8, 1), date(2025, 8, 31))
        add_invoice(app, "260002", 23456, date(2025, 9, 1), date(2025, 9, 30))
        page = client.get("/btw").get_data(as_text=True)
        assert 'data-quarter="2025-Q3" data-calculated="259.26"' in page  # 21 % of 1.234,56
        response = client.post(
            "/btw/2025-Q3", data={"manual_amount": "€ 234,26", "note": "correctie Q2"}, follow_redirects=True
        )
        assert response.status_code == 200
        assert 'data-manual="234.26"' in response.get_data(as_text=True)
        (event,) = emitted(events, "btw.payment.updated")
        assert event["btw.quarter"] == "2025-Q3"
        assert event["btw.calculated_amount"] == 259.26
        assert event["btw.manual_amount"] == 234.26
        assert event["btw.difference"] == -25.0
        assert event["btw.amount"] == 234.26
        assert event["btw.currency"] == "EUR"
        assert event["user.name"] == "anna"
        # Entering it again replaces the amount instead of adding a second payment.
        client.post("/btw/2025-Q3", data={"manual_amount": "259,26"})
        assert emitted(events, "btw.payment.updated")[-1]["btw.difference"] == 0.0
        assert btw.summary(get_database(app).sessions(), "2025-Q3").manual_cents == 25926

    def test_bad_manual_amount_is_refused(self, client: FlaskClient, events: pytest.LogCaptureFixture) -> None:
        response = client.post(f"/btw/{btw.quarter_of(TODAY)}", data={"manual_amount": "veel"})
        assert response.status_code == 400
        assert "not an amount" in response.get_data(as_text=True)
        assert client.post("/btw/2025-Q9", data={"manual_amount": "1"}).status_code == 404
        assert emitted(events, "btw.payment.updated") == []


class TestBackup:
    def test_backup_route_writes_a_consistent_copy(
        self, app: Flask, client: FlaskClient, tmp_path: Path, events: pytest.LogCaptureFixture
    ) -> None:
        response = client.post("/jobs/backup", follow_redirects=True)
        assert "Backup completed: ozark-" in response.get_data(as_text=True)
        (copy,) = (tmp_path / "backups").glob("ozark-*.db")
        with sqlite3.connect(copy) as connection:
            assert connection.execute("SELECT count(*) FROM invoices").fetchone() == (4,)
        connection.close()
        (event,) = emitted(events, "job.completed")
        assert event["job.name"] == "nightly-backup"
        assert isinstance(event["job.duration_ms"], float) and event["job.duration_ms"] >= 0
        assert event["job.output"] == copy.name

    def test_old_copies_are_pruned(self, app: Flask, tmp_path: Path) -> None:
        database = get_database(app)
        for day in range(1, KEEP + 3):
            assert run_backup(database, tmp_path / "backups", now=datetime(2025, 1, day, 2, 0)).ok
        copies = sorted(p.name for p in (tmp_path / "backups").glob("ozark-*.db"))
        assert len(copies) == KEEP
        assert copies[0].startswith("ozark-20250103-")

    def test_failure_is_reported_not_raised(self, tmp_path: Path, events: pytest.LogCaptureFixture) -> None:
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("a file where the backup directory should be")
        app = make_app(tmp_path, BACKUP_DIR=str(blocker))
        result = app.test_cli_runner().invoke(args=["backup"])
        assert result.exit_code == 1
        assert "backup failed: FileExistsError" in result.output
        (event,) = emitted(events, "job.failed")
        assert event["job.name"] == "nightly-backup"
        assert event["levelno"] == logging.ERROR
        assert event["error.type"] == "FileExistsError"
        assert event["exc_info"] is not None  # becomes exception.* attributes under OTel
        assert emitted(events, "job.completed") == []

    def test_cli_command(self, app: Flask, tmp_path: Path, events: pytest.LogCaptureFixture) -> None:
        result = app.test_cli_runner().invoke(args=["backup"])
        assert result.exit_code == 0, result.output
        assert "backup written to" in result.output
        assert len(list((tmp_path / "backups").glob("ozark-*.db"))) == 1
        assert len(emitted(events, "job.completed")) == 1

    def test_non_sqlite_database_fails_cleanly(self, tmp_path: Path, events: pytest.LogCaptureFixture) -> None:
        result = run_backup(Database("sqlite://"), tmp_path / "backups")
        assert not result.ok
        assert "SQLite database files only" in result.error
        assert len(emitted(events, "job.failed")) == 1
