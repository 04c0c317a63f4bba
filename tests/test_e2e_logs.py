"""End to end: the Ozark example app, run under ``opentelemetry-instrument --logs_exporter discord
--traces_exporter discord``, logs business events through plain ``logging`` with ``extra=`` and the
strict local Discord server receives them; the /boom failure, both a span exception and a logged error,
arrives once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from procs import free_port, stop_group, venv_bin, wait_http

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def ozark(discord_server, tmp_path):
    hook = discord_server.create_webhook(channel="ozark")
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "OTEL_SERVICE_NAME": "ozark-finances",
        "OTEL_TRACES_EXPORTER": "discord",
        "OTEL_LOGS_EXPORTER": "discord",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "300",
        "OTEL_BLRP_SCHEDULE_DELAY": "100",  # logs first: the logged error must wait for its span
        "OTEL_EXPORTER_DISCORD_WEBHOOK_URL": hook.url,
        "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS": discord_server.host_port,
        "OTEL_EXPORTER_DISCORD_SPOOL_DIR": str(tmp_path / "spool"),
        "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS": "60000",
        "OZARK_DATABASE_URL": f"sqlite:///{tmp_path / 'ozark.db'}",
        "OZARK_SECRET_KEY": "e2e-secret",
        "OZARK_OVERDUE_CHECK_INTERVAL": "0",
        "OZARK_BACKUP_DIR": str(tmp_path / "backups"),
    }
    for name in ("OTEL_EXPORTER_DISCORD_CONFIG", "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [
            venv_bin("opentelemetry-instrument"),
            "flask",
            "--app",
            "examples.flask_app.ozark",
            "run",
            "--port",
            str(port),
            "--no-reload",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", proc)
        yield base, proc
    finally:
        stop_group(proc)


def _plain(value):
    """Embed text without render's markdown escapes (``INVOICE\\_CREATED`` reads INVOICE_CREATED)."""
    if isinstance(value, str):
        return re.sub(r"\\([^\w\s]|_)", r"\1", value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _embeds(server) -> list[dict]:
    return [_plain(embed) for message in server.messages() for embed in message.payload.get("embeds", [])]


def test_business_events_and_one_error_reach_discord(ozark, discord_server):
    """Events logged with extra= arrive rendered from their templates; /boom alerts exactly once."""
    base, proc = ozark
    browser = requests.Session()
    assert browser.post(f"{base}/login", data={"username": "anna", "password": "wrong"}, timeout=10).status_code == 401
    response = browser.post(f"{base}/login", data={"username": "anna", "password": "ozark-anna-2025"}, timeout=10)
    assert response.url.endswith("/invoices")
    for client, amount in (("Bakkerij de Vries", "2.450,00"), ("Installatiebedrijf Mulder B.V.", "7.850,00")):
        created = browser.post(
            f"{base}/invoices/new", data={"client": client, "amount": amount, "description": "werk"}, timeout=10
        )
        assert created.status_code == 200
    assert browser.get(f"{base}/boom", timeout=10).status_code == 500

    def arrived() -> bool:
        text = str(_embeds(discord_server))
        return "HIGH_VALUE_TRANSACTION" in text and "ValueError" in text and "AUTH_LOGIN_FAILED" in text

    assert discord_server.wait_for(arrived, timeout=60), _embeds(discord_server)
    output = stop_group(proc)  # flush everything still queued or held, so a duplicate would show now

    embeds = _embeds(discord_server)
    high = [e for e in embeds if "HIGH_VALUE_TRANSACTION" in e["title"]]
    assert len(high) == 1, embeds
    assert high[0]["description"].startswith("Invoice #250090 created - Amount: €7,850.00 - Client: Installatiebedrijf")
    assert "⚠️ Amount exceeds threshold (€5,000.00)" in high[0]["description"]

    normal = [e for e in embeds if "INVOICE_CREATED" in e["title"]]
    assert len(normal) == 1, embeds
    assert normal[0]["description"] == "Invoice #250089 created - Amount: €2,450.00 - Client: Bakkerij de Vries"
    assert {"name": "User", "value": "anna", "inline": True} in normal[0]["fields"]

    errors = [e for e in embeds if "ValueError" in e["title"]]
    assert len(errors) == 1, embeds  # a span exception and Flask's "Exception on /boom [GET]" log: one alert
    error = errors[0]
    assert "cannot compute margin report" in error["title"]
    names = {field["name"]: field["value"] for field in error["fields"]}
    assert names["Route"] == "GET /boom" and names["Status"] == "500"  # the span's report, the richer one
    assert "margin_report" in str(error["fields"])  # the application frame that raised
    assert "```py" in error["description"]

    schema = [e for e in embeds if "SCHEMA_CHANGED" in e["title"]]
    assert schema and "CREATE TABLE invoices" in schema[0]["description"], embeds

    assert discord_server.rejected() == []
    assert "Traceback" not in output.split("Exception on /boom", 1)[0], output  # nothing of ours failed
