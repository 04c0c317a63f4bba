"""The Ozark Finances example app (examples/flask_app): pages, business events, auth.

Business events are plain log records on the ``ozark`` logger with ``event.name``
and attributes in ``extra``; ``caplog`` sees exactly what the OTel logging handler
on the root logger would see.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from examples.flask_app.ozark import config, create_app  # noqa: E402
from examples.flask_app.ozark.db import get_database  # noqa: E402
from examples.flask_app.ozark.models import FeedbackMessage, Invoice  # noqa: E402
from examples.flask_app.ozark.seed import DEMO_USERS  # noqa: E402

PRIMITIVES = (str, int, float, bool)


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ozark.db'}",
            "SECRET_KEY": "test-secret",
            "OVERDUE_CHECK_INTERVAL": 0,  # tests drive check_overdue directly
            "SLOW_REPORT_SIZE": 5_000,
            "BACKUP_DIR": str(tmp_path / "backups"),
            "TESTING": True,
        }
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="ozark")
    yield caplog


def login(client: FlaskClient, username: str = "anna") -> None:
    password = dict((u, p) for u, _, p in DEMO_USERS)[username]
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 302, response.data


def emitted(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    """Attributes of every business event called ``name``, as the OTel handler would take them."""
    return [vars(r) for r in caplog.records if getattr(r, "event.name", None) == name]


def invoice_by_number(app: Flask, number: str) -> Invoice | None:
    with get_database(app).sessions() as session:
        return session.query(Invoice).filter_by(number=number).one_or_none()


def create_invoice(client: FlaskClient, client_name: str, amount: str, **extra: str) -> tuple[int, str]:
    response = client.post("/invoices/new", data={"client": client_name, "amount": amount, **extra})
    assert response.status_code == 302, response.data
    invoice_id = int(response.location.rsplit("/", 1)[1])
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    number = re.search(r'data-invoice-number="(\d+)"', page)[1]
    return invoice_id, number


class TestInvoices:
    def test_pages_require_login(self, client: FlaskClient) -> None:
        """Anonymous visitors are sent to the login page and come back after logging in."""
        response = client.get("/invoices")
        assert response.status_code == 302
        assert response.location == "/login?next=/invoices"
        password = DEMO_USERS[0][2]
        response = client.post("/login", data={"username": "anna", "password": password, "next": "/btw"})
        assert response.location == "/btw"

    def test_login_never_redirects_off_site(self, client: FlaskClient) -> None:
        response = client.post(
            "/login", data={"username": "anna", "password": DEMO_USERS[0][2], "next": "//evil.example/phish"}
        )
        assert response.location == "/invoices"

    def test_seeded_invoices_are_listed_with_status(self, client: FlaskClient) -> None:
        """A fresh database has demo invoices, one paid and one already overdue."""
        login(client)
        page = client.get("/invoices").get_data(as_text=True)
        statuses = dict(re.findall(r'data-invoice-number="(\d+)" data-status="(\w+)"', page))
        assert statuses == {"250085": "paid", "250086": "overdue", "250087": "open", "250088": "open"}
        assert "€ 5.600,00" in page
        overdue = client.get("/invoices?status=overdue").get_data(as_text=True)
        assert re.findall(r'data-invoice-number="(\d+)"', overdue) == ["250086"]

    def test_create_numbers_sequentially_and_emits_invoice_created(
        self, app: Flask, client: FlaskClient, events: pytest.LogCaptureFixture
    ) -> None:
        login(client)
        _, first = create_invoice(client, "Bakkerij de Vries", "2.450,00", due_date="2030-01-31")
        _, second = create_invoice(client, "Installatiebedrijf Mulder B.V.", "€ 7.850,00")
        assert (first, second) == ("250089", "250090")
        stored = invoice_by_number(app, "250090")
        assert stored is not None and stored.amount_cents == 785000
        created = emitted(events, "invoice.created")
        assert [e["invoice.number"] for e in created] == ["250089", "250090"]
        event = created[1]
        assert event["invoice.amount"] == 7850.0
        assert event["invoice.currency"] == "EUR"
        assert event["invoice.client"] == "Installatiebedrijf Mulder B.V."
        assert event["user.name"] == "anna"
        assert event["levelno"] == logging.INFO
        assert event["msg"] == "Invoice #250090 created for Installatiebedrijf Mulder B.V. (€ 7.850,00)"
        assert created[0]["invoice.due_date"] == "2030-01-31"

    def test_invalid_form_is_refused_without_an_event(
        self, app: Flask, client: FlaskClient, events: pytest.LogCaptureFixture
    ) -> None:
        login(client)
        response = client.post("/invoices/new", data={"client": "", "amount": "12,345"})
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "Client name is required." in page
        assert "more than two decimals" in page
        response = client.post(
            "/invoices/new", data={"client": "X", "amount": "10", "issue_date": "2025-05-01", "due_date": "2025-04-01"}
        )
        assert response.status_code == 400
        assert emitted(events, "invoice.created") == []
        assert invoice_by_number(app, "250089") is None

    def test_edit_emits_changed_fields(self, app: Flask, client: FlaskClient, events: pytest.LogCaptureFixture) -> None:
        login(client)
        invoice_id, number = create_invoice(client, "Bakkerij de Vries", "2.450,00")
        form = client.get(f"/invoices/{invoice_id}/edit").get_data(as_text=True)
        assert 'value="2450,00"' in form
        response = client.post(
            f"/invoices/{invoice_id}/edit",
            data={
                "client": "Bakkerij de Vries",
                "amount": "2.750,00",
                "issue_date": "2025-10-01",
                "due_date": "2025-10-31",
            },
        )
        assert response.status_code == 302
        stored = invoice_by_number(app, number)
        assert stored is not None and stored.amount_cents == 275000
        (updated,) = emitted(events, "invoice.updated")
        assert updated["invoice.changed_fields"] == "amount,issue_date,due_date"
        assert updated["invoice.amount"] == 2750.0
        assert updated["invoice.previous_amount"] == 2450.0
        # Saving the same values again changes nothing and says nothing.
        client.post(
            f"/invoices/{invoice_id}/edit",
            data={
                "client": "Bakkerij de Vries",
                "amount": "2750",
                "issue_date": "01-10-2025",
                "due_date": "31-10-2025",
            },
        )
        assert len(emitted(events, "invoice.updated")) == 1

    def test_mark_paid_once(self, app: Flask, client: FlaskClient, events: pytest.LogCaptureFixture) -> None:
        login(client)
        invoice_id, number = create_invoice(client, "Installatiebedrijf Mulder B.V.", "7.850,00")
        page = client.post(f"/invoices/{invoice_id}/pay", follow_redirects=True).get_data(as_text=True)
        assert 'data-status="paid"' in page
        client.post(f"/invoices/{invoice_id}/pay")
        (paid,) = emitted(events, "invoice.paid")
        assert paid["invoice.number"] == number
        assert paid["invoice.amount"] == 7850.0
        assert paid["invoice.paid_late"] is False
        stored = invoice_by_number(app, number)
        assert stored is not None and stored.paid_at is not None

    def test_paying_an_overdue_invoice_reports_days_late(
        self, client: FlaskClient, events: pytest.LogCaptureFixture
    ) -> None:
        login(client)
        page = client.get("/invoices?status=overdue").get_data(as_text=True)
        invoice_id = re.search(r'href="/invoices/(\d+)">#250086', page)[1]
        client.post(f"/invoices/{invoice_id}/pay")
        (paid,) = emitted(events, "invoice.paid")
        assert paid["invoice.paid_late"] is True
        assert paid["invoice.days_late"] == 10

    def test_delete(self, app: Flask, client: FlaskClient, events: pytest.LogCaptureFixture) -> None:
        login(client)
        invoice_id, number = create_invoice(client, "Bakkerij de Vries", "99,95")
        assert client.post(f"/invoices/{invoice_id}/delete").status_code == 302
        assert invoice_by_number(app, number) is None
        assert client.get(f"/invoices/{invoice_id}").status_code == 404
        (deleted,) = emitted(events, "invoice.deleted")
        assert deleted["invoice.number"] == number
        assert deleted["invoice.amount"] == 99.95
        assert deleted["invoice.was_paid"] is False


class TestAuth:
    def test_failed_login_names_user_and_address(self, client: FlaskClient, events: pytest.LogCaptureFixture) -> None:
        response = client.post(
            "/login", data={"username": "anna", "password": "raden"}, environ_base={"REMOTE_ADDR": "203.0.113.7"}
        )
        assert response.status_code == 401
        assert "Unknown username or wrong password." in response.get_data(as_text=True)
        client.post("/login", data={"username": "mallory", "password": "x"})
        first, second = emitted(events, "auth.login_failed")
        assert first["user.name"] == "anna"
        assert first["client.address"] == "203.0.113.7"
        assert first["auth.reason"] == "wrong password"
        assert first["levelno"] == logging.WARNING
        assert second["user.name"] == "mallory"
        assert second["auth.reason"] == "unknown user"
        assert emitted(events, "auth.login") == []

    def test_login_and_logout(self, client: FlaskClient, events: pytest.LogCaptureFixture) -> None:
        login(client, "bram")
        assert client.get("/invoices").status_code == 200
        response = client.post("/logout")
        assert response.location == "/login"
        assert client.get("/invoices").status_code == 302
        (logged_in,) = emitted(events, "auth.login")
        (logged_out,) = emitted(events, "auth.logout")
        assert logged_in["user.name"] == logged_out["user.name"] == "bram"
        assert logged_in["client.address"] == "127.0.0.1"

    def test_idle_session_times_out(self, client: FlaskClient, events: pytest.LogCaptureFixture) -> None:
        login(client)
        with client.session_transaction() as session:
            session["last_seen"] = time.time() - 2 * 3600
        response = client.get("/invoices")
        assert response.status_code == 302
        assert response.location.startswith("/login")
        (timeout,) = emitted(events, "auth.session_timeout")
        assert timeout["user.name"] == "anna"
        assert timeout["auth.idle_seconds"] >= 7200
        # The session is gone: the next request is anonymous and not another timeout.
        assert client.get("/invoices").status_code == 302
        assert len(emitted(events, "auth.session_timeout")) == 1

    def test_active_session_stays_logged_in(self, client: FlaskClient) -> None:
        login(client)
        with client.session_transaction() as session:
            session["last_seen"] = time.time() - 60
        assert client.get("/invoices").status_code == 200

    def test_enduser_id_is_set_on_the_current_span(self, client: FlaskClient) -> None:
        """With a span active (as under opentelemetry-instrument), the logged-in user is tagged on it."""
        tracer = TracerProvider().get_tracer("test")
        login(client)
        with tracer.start_as_current_span("GET /invoices") as span:
            assert client.get("/invoices").status_code == 200
        assert span.attributes["enduser.id"] == "anna"
        client.post("/logout")
        with tracer.start_as_current_span("GET /feedback") as anonymous_span:
            assert client.get("/feedback").status_code == 200
        assert "enduser.id" not in anonymous_span.attributes
        assert trace.get_current_span() is trace.INVALID_SPAN


class TestOtherRoutes:
    def test_boom_is_a_500_with_a_realistic_error(
        self, app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        app.config["PROPAGATE_EXCEPTIONS"] = False  # answer 500 as in production, not re-raise into the test
        login(client)
        response = client.get("/boom")
        assert response.status_code == 500
        (record,) = [r for r in caplog.records if r.exc_info and r.exc_info[0] is ValueError]
        assert "cannot compute margin report for" in str(record.exc_info[1])
        assert "cost basis is zero for client" in str(record.exc_info[1])

    def test_slow_report_runs_the_recursive_query(self, client: FlaskClient) -> None:
        login(client)
        response = client.get("/reports/slow")
        assert response.status_code == 200
        assert 'data-days="5000"' in response.get_data(as_text=True)

    def test_export_csv(self, client: FlaskClient, events: pytest.LogCaptureFixture) -> None:
        login(client)
        create_invoice(client, "Café 't Hoekje", "1.234,56")
        response = client.get("/export.csv")
        assert response.status_code == 200
        assert response.mimetype == "text/csv"
        assert re.match(
            r'attachment; filename="ozark-invoices-\d{8}-\d{6}\.csv"', response.headers["Content-Disposition"]
        )
        lines = response.get_data().decode("utf-8-sig").splitlines()
        assert lines[0] == "number;client;amount;currency;issue_date;due_date;paid_on;description"
        assert len(lines) == 1 + 5
        assert lines[-1].startswith("250089;Café 't Hoekje;1234,56;EUR;")
        (exported,) = emitted(events, "export.downloaded")
        assert exported["export.rows"] == 5
        assert exported["export.format"] == "csv"
        assert exported["export.amount"] == 1250.00 + 860.50 + 3420.00 + 5600.00 + 1234.56

    def test_feedback_form(self, app: Flask, client: FlaskClient, events: pytest.LogCaptureFixture) -> None:
        """The contact form works without login; the event carries no personal data."""
        response = client.post(
            "/feedback", data={"name": "Joris", "email": "joris@example", "topic": "bug", "message": "x"}
        )
        assert response.status_code == 400
        assert emitted(events, "form.submitted") == []
        response = client.post(
            "/feedback",
            data={
                "name": "Joris",
                "email": "joris@example.nl",
                "topic": "bug",
                "message": "De export mist de omschrijving.",
            },
        )
        assert response.status_code == 200
        assert "feedback-sent" in response.get_data(as_text=True)
        (submitted,) = emitted(events, "form.submitted")
        assert submitted["form.name"] == "feedback"
        assert submitted["form.topic"] == "bug"
        assert submitted["form.message_length"] == len("De export mist de omschrijving.")
        assert "joris@example.nl" not in repr(submitted)
        with get_database(app).sessions() as session:
            assert session.query(FeedbackMessage).one().email == "joris@example.nl"

    def test_healthz(self, client: FlaskClient) -> None:
        assert client.get("/healthz").get_json() == {"status": "ok"}


class TestConfig:
    @pytest.mark.parametrize(
        ("label", "env", "overrides", "key", "expected"),
        [
            ("default", {}, {}, "OVERDUE_CHECK_INTERVAL", 30.0),
            ("env", {"OZARK_OVERDUE_CHECK_INTERVAL": "2.5"}, {}, "OVERDUE_CHECK_INTERVAL", 2.5),
            (
                "override beats env",
                {"OZARK_OVERDUE_CHECK_INTERVAL": "2.5"},
                {"OVERDUE_CHECK_INTERVAL": 7},
                "OVERDUE_CHECK_INTERVAL",
                7,
            ),
            ("bad env falls back", {"OZARK_OVERDUE_CHECK_INTERVAL": "vaak"}, {}, "OVERDUE_CHECK_INTERVAL", 30.0),
            ("negative env falls back", {"OZARK_SLOW_REPORT_SIZE": "-1"}, {}, "SLOW_REPORT_SIZE", 2_000_000),
            ("slow report size", {"OZARK_SLOW_REPORT_SIZE": "50000"}, {}, "SLOW_REPORT_SIZE", 50_000),
            ("session timeout", {"OZARK_SESSION_TIMEOUT": "600"}, {}, "SESSION_TIMEOUT", 600),
            ("seed off", {"OZARK_SEED_DEMO_DATA": "false"}, {}, "SEED_DEMO_DATA", False),
            ("secret", {"OZARK_SECRET_KEY": "s3cr3t"}, {}, "SECRET_KEY", "s3cr3t"),
            ("empty env is unset", {"OZARK_SECRET_KEY": " "}, {}, "SECRET_KEY", "ozark-dev-only-not-a-secret"),
            ("database default", {}, {}, "DATABASE_URL", "sqlite:////srv/ozark/instance/ozark.db"),
            (
                "database env",
                {"OZARK_DATABASE_URL": "sqlite:////data/books.db"},
                {},
                "DATABASE_URL",
                "sqlite:////data/books.db",
            ),
            ("backup default", {}, {}, "BACKUP_DIR", "/srv/ozark/instance/backups"),
        ],
    )
    def test_precedence(
        self,
        monkeypatch: pytest.MonkeyPatch,
        label: str,
        env: dict[str, str],
        overrides: dict[str, Any],
        key: str,
        expected: Any,
    ) -> None:
        """An explicit value wins over the OZARK_* variable, which wins over the default; bad values fall back."""
        for name in [n for n in os.environ if n.startswith("OZARK_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert config.resolve("/srv/ozark/instance", overrides)[key] == expected, label

    def test_bad_value_is_named_in_a_warning(
        self, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        monkeypatch.setenv("OZARK_SESSION_TIMEOUT", "half an hour")
        assert config.resolve("/tmp/x")["SESSION_TIMEOUT"] == 1800
        assert "ignoring OZARK_SESSION_TIMEOUT='half an hour'" in caplog.text

    def test_env_configures_the_app(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("OZARK_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
        monkeypatch.setenv("OZARK_SEED_DEMO_DATA", "no")
        monkeypatch.setenv("OZARK_OVERDUE_CHECK_INTERVAL", "0")
        app = create_app()
        assert (tmp_path / "env.db").is_file()
        client = app.test_client()
        # Without seeding there are no users, so even the demo password does not work.
        assert client.post("/login", data={"username": "anna", "password": DEMO_USERS[0][2]}).status_code == 401


def test_every_event_attribute_is_a_primitive(client: FlaskClient, events: pytest.LogCaptureFixture) -> None:
    """OTel attributes must be str/int/float/bool; the app never passes a Decimal or a date."""
    client.post("/login", data={"username": "anna", "password": "fout"})
    login(client)
    invoice_id, _ = create_invoice(client, "Bakkerij de Vries", "2.450,00")
    client.post(f"/invoices/{invoice_id}/pay")
    client.get("/export.csv")
    client.post("/logout")
    records = [vars(r) for r in events.records if hasattr(r, "event.name")]
    assert len(records) == 6
    standard = set(vars(logging.LogRecord("x", 0, "", 0, "", None, None)))
    for record in records:
        custom = {k: v for k, v in record.items() if k not in standard and k not in {"message", "asctime"}}
        assert custom, record
        for key, value in custom.items():
            assert isinstance(value, PRIMITIVES), (record["event.name"], key, value)


def test_business_events_reach_the_root_logger(app: Flask, client: FlaskClient) -> None:
    """The OTel logging handler sits on the root logger, whose level stays WARNING: INFO events must arrive."""
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    root = logging.getLogger()
    handler = Collect()
    previous_level = root.level
    root.setLevel(logging.WARNING)
    root.addHandler(handler)
    try:
        login(client)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
    assert [getattr(r, "event.name", None) for r in seen if hasattr(r, "event.name")] == ["auth.login"]
    assert seen[-1].levelno == logging.INFO
