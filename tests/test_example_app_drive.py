"""The scripted demo session (examples/flask_app/drive.py) against the app on a real HTTP server."""

from __future__ import annotations

import logging
import socket
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from examples.flask_app.drive import drive, main  # noqa: E402
from examples.flask_app.ozark import create_app  # noqa: E402


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'ozark.db'}",
            "SECRET_KEY": "test-secret",
            "OVERDUE_CHECK_INTERVAL": 0,
            "SLOW_REPORT_SIZE": 20_000,
            "BACKUP_DIR": str(tmp_path / "backups"),
        }
    )


@pytest.fixture
def server(app: Flask) -> Iterator[BaseWSGIServer]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="ozark-test-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def test_drive_runs_the_whole_session(server: BaseWSGIServer, caplog: pytest.LogCaptureFixture) -> None:
    """Every step behaves as expected and the app emits each business event the demo relies on."""
    caplog.set_level(logging.INFO, logger="ozark")
    lines: list[str] = []
    summary = drive(f"http://127.0.0.1:{server.server_port}", out=lines.append, timeout=60)

    assert summary["ok"], lines
    assert len(lines) == len(summary["steps"]) == 13
    assert all(line.startswith(f"[{i:2}] ok ") for i, line in enumerate(lines, start=1)), lines
    assert summary["invoices_created"] == ["250089", "250090"]
    assert summary["high_value_invoice"] == summary["paid_invoice"] == "250090"
    assert summary["login_failed_status"] == 401
    assert summary["logged_in"] is True
    assert summary["import"] == {"rows_read": 3, "rows_imported": 2, "rows_rejected": 1}
    assert summary["boom_status"] == 500
    assert summary["slow_report_status"] == 200
    assert summary["export_rows"] == 4 + 2 + 2  # seeded + created + imported
    assert summary["feedback_status"] == 200
    assert summary["backup_completed"] is True
    btw = summary["btw"]
    assert btw["difference"] == -25.0
    assert btw["manual"] == pytest.approx(btw["calculated"] - 25.0)

    names = Counter(getattr(r, "event.name") for r in caplog.records if hasattr(r, "event.name"))
    assert names == Counter(
        {
            "auth.login_failed": 1,
            "auth.login": 1,
            "invoice.created": 2,
            "invoice.paid": 1,
            "import.completed": 1,
            "export.downloaded": 1,
            "form.submitted": 1,
            "job.completed": 1,
            "btw.payment.updated": 1,
            "auth.logout": 1,
        }
    )
    (paid,) = [r for r in caplog.records if getattr(r, "event.name", None) == "invoice.paid"]
    assert getattr(paid, "invoice.amount") == 7850.0
    (btw_event,) = [r for r in caplog.records if getattr(r, "event.name", None) == "btw.payment.updated"]
    assert getattr(btw_event, "btw.calculated_amount") == btw["calculated"]
    assert getattr(btw_event, "btw.difference") == -25.0
    assert any(r.exc_info and "cannot compute margin report" in str(r.exc_info[1]) for r in caplog.records)


def test_main_reports_an_unreachable_app(capsys: pytest.CaptureFixture[str]) -> None:
    """Nobody listens on the port: the CLI says so and exits 2 instead of printing a traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    assert main(["--base-url", f"http://127.0.0.1:{free_port}", "--wait", "0.5"]) == 2
    assert "did not answer /healthz" in capsys.readouterr().err
