"""Ozark example app: CSV and Excel import of invoices, and export → import round trip."""

from __future__ import annotations

import io
import logging
import re
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook
from werkzeug.test import TestResponse

_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from examples.flask_app.ozark import create_app  # noqa: E402
from examples.flask_app.ozark.db import get_database  # noqa: E402
from examples.flask_app.ozark.importer import import_invoices  # noqa: E402
from examples.flask_app.ozark.models import Invoice  # noqa: E402
from examples.flask_app.ozark.seed import DEMO_USERS  # noqa: E402


def make_app(tmp_path: Path, name: str = "ozark.db", seed: bool = True) -> Flask:
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / name}",
            "SECRET_KEY": "test-secret",
            "OVERDUE_CHECK_INTERVAL": 0,
            "SEED_DEMO_DATA": seed,
            "TESTING": True,
        }
    )


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    client = app.test_client()
    assert client.post("/login", data={"username": "anna", "password": DEMO_USERS[0][2]}).status_code == 302
    return client


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="ozark")
    return caplog


def emitted(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    return [vars(r) for r in caplog.records if getattr(r, "event.name", None) == name]


def upload(client: FlaskClient, filename: str, data: bytes) -> TestResponse:
    return client.post("/import", data={"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def stored(app: Flask) -> dict[str, Invoice]:
    with get_database(app).sessions() as session:
        return {invoice.number: invoice for invoice in session.query(Invoice)}


DUTCH_CSV = (
    "\ufeffklant;bedrag;factuurdatum;vervaldatum;omschrijving\r\n"
    "Kaasboerderij Van Dam;€ 1.234,56;01-10-2025;31-10-2025;Website onderhoud\r\n"
    "Tandartspraktijk Smit;980,00;2025-10-02;2025-11-01;Licentie\r\n"
    ";;;;\r\n"
    "Drukkerij Peters;twaalf euro;03-10-2025;02-11-2025;Flyers\r\n"
    "Schildersbedrijf Kok;1.500;04-10-2025;;\r\n"
)


class TestCsv:
    def test_good_rows_are_imported_and_the_bad_row_is_reported(
        self, app: Flask, client: FlaskClient, events: pytest.LogCaptureFixture
    ) -> None:
        response = upload(client, "facturen oktober.csv", DUTCH_CSV.encode("utf-8"))
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert 'data-rows-read="4" data-rows-imported="3" data-rows-rejected="1"' in page
        assert "row 5: amount: not an amount: &#39;twaalf euro&#39;" in page  # blank row 4 is skipped
        invoices = stored(app)
        assert invoices["250089"].client == "Kaasboerderij Van Dam"
        assert invoices["250089"].amount_cents == 123456
        assert invoices["250089"].issue_date == date(2025, 10, 1)
        assert invoices["250090"].amount_cents == 98000
        assert invoices["250091"].amount_cents == 150000
        assert invoices["250091"].due_date == date(2025, 11, 3)  # default 30-day term
        (event,) = emitted(events, "import.completed")
        assert event["import.rows_read"] == 4
        assert event["import.rows_imported"] == 3
        assert event["import.rows_rejected"] == 1
        assert event["import.errors"] == "row 5: amount: not an amount: 'twaalf euro'"
        assert event["import.filename"] == "facturen oktober.csv"
        assert event["import.format"] == "csv"
        assert event["import.amount"] == 1234.56 + 980.00 + 1500.00
        assert event["import.currency"] == "EUR"
        assert event["user.name"] == "anna"
        assert event["levelno"] == logging.WARNING  # partly rejected: someone should look
        assert emitted(events, "import.failed") == []

    def test_comma_separated_with_english_headers_and_numbers(self, app: Flask) -> None:
        data = b'number,client,amount,issue_date,due_date\n260001,"Acme, Inc.","1,234.50",2025-01-10,2025-02-09\n'
        with get_database(app).sessions() as session:
            result = import_invoices(session, "invoices.CSV", data, date(2025, 1, 10))
        assert (result.rows_read, result.rows_imported, result.errors) == (1, 1, [])
        assert stored(app)["260001"].client == "Acme, Inc."
        assert stored(app)["260001"].amount_cents == 123450

    def test_every_reason_of_a_row_is_listed_and_the_first_three_rows_are_reported(
        self, app: Flask, events: pytest.LogCaptureFixture
    ) -> None:
        data = (
            b"number;client;amount;issue_date;due_date\n"
            b"250085;Dubbel;10,00;2025-01-01;2025-01-31\n"  # number exists (seeded)
            b"abc;;-5;2025-02-01;2025-01-01\n"
            b"260001;Later;1,234;gisteren;\n"
            b"260002;Ok;12,00;2025-01-01;2025-01-31\n"
            b"260002;Nog eens;12,00;2025-01-01;2025-01-31\n"  # duplicate inside the file
        )
        with get_database(app).sessions() as session:
            result = import_invoices(session, "x.csv", data, date(2025, 1, 1))
        assert result.imported == ["260002"]
        assert result.errors == [
            "row 2: invoice #250085 already exists",
            "row 3: client is empty; amount must be positive, got -5.00; due date before issue date; "
            "invoice number must be digits, got 'abc'",
            "row 4: amount: more than two decimals: '1,234'; not a date (use 2025-07-01 or 01-07-2025): 'gisteren'",
            "row 6: invoice #260002 already exists",
        ]
        (event,) = emitted(events, "import.completed")
        assert event["import.errors"].startswith("row 2: invoice #250085 already exists | row 3: client is empty")
        assert event["import.errors"].endswith(" | (+1 more)")

    @pytest.mark.parametrize(
        ("filename", "data", "reason"),
        [
            ("invoices.pdf", b"%PDF-1.7", "unsupported file type '.pdf'"),
            ("empty.csv", b"", "the file is empty"),
            ("wrong.csv", b"name;total\nA;1\n", "missing column(s): client, amount"),
            ("header-only.csv", b"klant;bedrag\r\n;\r\n", "the file has a header but no invoice rows"),
            ("broken.xlsx", b"PK\x03\x04 not really a zip", "not a readable Excel file"),
            (
                "all-bad.csv",
                b"client;amount\nA;x\nB;\n",
                "row 2: amount: not an amount: 'x' | row 3: amount: amount is empty",
            ),
        ],
    )
    def test_import_failed_when_nothing_is_imported(
        self, app: Flask, client: FlaskClient, events: pytest.LogCaptureFixture, filename: str, data: bytes, reason: str
    ) -> None:
        response = upload(client, filename, data)
        assert response.status_code == 422
        assert len(stored(app)) == 4
        (event,) = emitted(events, "import.failed")
        assert event["import.errors"].startswith(reason)
        assert event["import.rows_imported"] == 0
        assert event["import.filename"] == filename
        assert emitted(events, "import.completed") == []

    def test_upload_without_a_file(self, client: FlaskClient, events: pytest.LogCaptureFixture) -> None:
        response = client.post("/import", data={}, content_type="multipart/form-data")
        assert response.status_code == 400
        assert emitted(events, "import.failed") == []


class TestXlsx:
    def test_excel_sheet_with_numbers_dates_and_one_bad_row(
        self, app: Flask, client: FlaskClient, events: pytest.LogCaptureFixture
    ) -> None:
        workbook = Workbook()
        sheet = workbook.active
        sheet.append(["Factuurnummer", "Klant", "Bedrag excl. BTW", "Factuurdatum", "Vervaldatum", "Omschrijving"])
        sheet.append([260010, "Bakkerij de Vries", 2450, datetime(2025, 11, 3), datetime(2025, 12, 3), "Jaarwerk"])
        sheet.append([None, "Studio Noord B.V.", 1234.56, "04-11-2025", "04-12-2025", None])
        sheet.append([None, "Garage Hendriks", "€ 7.850,00", datetime(2025, 11, 5), None, "APK-administratie"])
        sheet.append([None, "Foutje B.V.", "n.v.t.", datetime(2025, 11, 6), None, None])
        buffer = io.BytesIO()
        workbook.save(buffer)

        response = upload(client, "november.xlsx", buffer.getvalue())
        assert response.status_code == 200
        invoices = stored(app)
        assert invoices["260010"].amount_cents == 245000
        assert invoices["260010"].issue_date == date(2025, 11, 3)
        assert invoices["260011"].amount_cents == 123456  # a float cell, rounded to cents
        assert invoices["260012"].amount_cents == 785000
        assert invoices["260012"].client == "Garage Hendriks"
        (event,) = emitted(events, "import.completed")
        assert (event["import.rows_read"], event["import.rows_imported"], event["import.rows_rejected"]) == (4, 3, 1)
        assert event["import.errors"] == "row 5: amount: not an amount: 'n.v.t.'"
        assert event["import.format"] == "xlsx"


def test_export_imports_back_into_an_empty_database(tmp_path: Path) -> None:
    """A backup by export: every invoice comes back with its number, client, amount and dates."""
    source = make_app(tmp_path, "source.db")
    client = source.test_client()
    client.post("/login", data={"username": "anna", "password": DEMO_USERS[0][2]})
    client.post("/invoices/new", data={"client": "Café 't Hoekje; terras", "amount": "1.234.567,89"})
    exported = client.get("/export.csv").get_data()

    target = make_app(tmp_path, "target.db", seed=False)
    with get_database(target).sessions() as session:
        result = import_invoices(session, "export.csv", exported, date.today())
    assert result.errors == []
    original, copy = stored(source), stored(target)
    assert sorted(copy) == sorted(original) == ["250085", "250086", "250087", "250088", "250089"]
    for number, invoice in original.items():
        assert (copy[number].client, copy[number].amount_cents, copy[number].issue_date, copy[number].due_date) == (
            invoice.client,
            invoice.amount_cents,
            invoice.issue_date,
            invoice.due_date,
        )
    assert re.fullmatch(
        r"ozark-invoices-\d{8}-\d{6}\.csv", client.get("/export.csv").headers["Content-Disposition"].split('"')[1]
    )
