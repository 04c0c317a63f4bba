"""End to end: the Ozark example app under ``opentelemetry-instrument`` with a config file for the
focused preset and three webhooks; business events logged with plain ``logging`` land in the right
channels, the filters and mentions apply, and ``otel-discord export`` reads every event back."""

from __future__ import annotations

import csv
import io
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
FINANCE_ROLE = "123456789012345678"

CONFIG = f"""
channels:
  finance-activity: ${{HOOK_FINANCE}}
  system-debug: ${{HOOK_SYSTEM}}
  user-activity: ${{HOOK_USERS}}
preset: focused
routes:
  - match: {{event: "invoice.created", attributes: ["invoice.amount >= 5000"]}}
    channel: finance-activity
    mention: "<@&{FINANCE_ROLE}>"
filters:
  events:
    disabled: [auth.logout]
"""


@pytest.fixture
def ozark(discord_server, tmp_path):
    hooks = {
        var: discord_server.create_webhook(channel=name).url
        for var, name in (
            ("HOOK_FINANCE", "finance-activity"),
            ("HOOK_SYSTEM", "system-debug"),
            ("HOOK_USERS", "user-activity"),
        )
    }
    config = tmp_path / "otel-discord.yaml"
    config.write_text(CONFIG)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(hooks)
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "OTEL_SERVICE_NAME": "ozark-finances",
            "OTEL_TRACES_EXPORTER": "discord",
            "OTEL_LOGS_EXPORTER": "discord",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_BSP_SCHEDULE_DELAY": "300",
            "OTEL_BLRP_SCHEDULE_DELAY": "100",
            "OTEL_EXPORTER_DISCORD_CONFIG": str(config),
            "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS": discord_server.host_port,
            "OTEL_EXPORTER_DISCORD_SPOOL_DIR": str(tmp_path / "spool"),
            "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS": "60000",
            "OZARK_DATABASE_URL": f"sqlite:///{tmp_path / 'ozark.db'}",
            "OZARK_SECRET_KEY": "e2e-secret",
            "OZARK_OVERDUE_CHECK_INTERVAL": "0",
            "OZARK_BACKUP_DIR": str(tmp_path / "backups"),
        }
    )
    proc = subprocess.Popen(
        [
            venv_bin("opentelemetry-instrument"),
            "--logs_exporter",
            "discord",
            "--traces_exporter",
            "discord",
            "--metrics_exporter",
            "none",
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
        yield base, proc, tmp_path / "spool"
    finally:
        stop_group(proc)


def _titles(server, channel: str) -> list[str]:
    """Embed titles without the emoji prefix and render's markdown escapes."""
    return [re.sub(r"\\(.)", r"\1", e["title"].split(" · ", 1)[-1]) for m in server.messages(channel) for e in m.embeds]


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [text for item in items for text in _strings(item)]


def test_business_events_land_in_their_channels(ozark, discord_server):
    """Finance, users and the system each get their own notices; the filters and the mention apply."""
    base, proc, spool = ozark
    browser = requests.Session()
    assert browser.post(f"{base}/login", data={"username": "anna", "password": "wrong"}, timeout=10).status_code == 401
    browser.post(f"{base}/login", data={"username": "anna", "password": "ozark-anna-2025"}, timeout=10)
    for client, amount in (
        ("Bakkerij de Vries", "2.450,00"),
        ("Installatiebedrijf Mulder B.V.", "7.850,00"),
        ("Kapsalon Jansen", "250,00"),
    ):
        created = browser.post(
            f"{base}/invoices/new", data={"client": client, "amount": amount, "description": "werk"}, timeout=10
        )
        assert created.status_code == 200
    assert browser.get(f"{base}/boom", timeout=10).status_code == 500
    browser.post(f"{base}/logout", timeout=10)

    def arrived() -> bool:
        return (
            len(_titles(discord_server, "finance-activity")) >= 2
            and any("ValueError" in t for t in _titles(discord_server, "system-debug"))
            and len(_titles(discord_server, "user-activity")) >= 2
        )

    assert discord_server.wait_for(arrived, timeout=60), [(m.channel, m.embeds) for m in discord_server.messages()]
    output = stop_group(proc)

    finance = _titles(discord_server, "finance-activity")
    assert len(finance) == 2, (
        finance,
        [(m.channel, m.embeds) for m in discord_server.messages()],
    )  # the €250 invoice is below MIN_AMOUNT
    assert any("INVOICE_CREATED" in t for t in finance) and any("HIGH_VALUE_TRANSACTION" in t for t in finance), finance
    users = _titles(discord_server, "user-activity")
    assert len(users) == 2 and any("AUTH_LOGIN_FAILED" in t for t in users), users  # logout is disabled
    system = _titles(discord_server, "system-debug")
    assert any("ValueError" in t for t in system) and any("SCHEMA_CHANGED" in t for t in system), system
    assert not any("INVOICE" in t or "AUTH" in t for t in system)

    [high] = [m for m in discord_server.messages("finance-activity") if "HIGH" in str(m.embeds)]
    assert high.pings.roles == (FINANCE_ROLE,) and high.flags == 0
    [failed] = [m for m in discord_server.messages("user-activity") if "FAILED" in str(m.embeds)]
    failed_text = " ".join(re.sub(r"\\(.)", r"\1", text) for text in _strings(failed.embeds))
    assert "127.0.0.1" not in failed_text and "127.0.0.***" in failed_text, failed_text  # IPs masked
    for message in discord_server.messages():
        assert not message.pings.everyone
    assert discord_server.rejected() == []
    assert "Traceback" not in output.split("Exception on /boom", 1)[0], output

    exported = subprocess.run(
        [venv_bin("otel-discord"), "export", "--spool-dir", str(spool), "--event", "invoice.*"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert sorted(float(r["invoice.amount"]) for r in rows) == [250.0, 2450.0, 7850.0]
    assert {r["event"] for r in rows} == {"invoice.created"}
