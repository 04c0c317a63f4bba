"""End to end: an uninstrumented Flask + SQLAlchemy app run under
``opentelemetry-instrument --traces_exporter discord`` posts its exception and
its slow query to the strict local Discord server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from procs import free_port, stop_group, venv_bin, wait_http

pytestmark = pytest.mark.e2e

APPS = Path(__file__).parent / "apps"


@pytest.fixture
def instrumented_app(discord_server, tmp_path):
    hook = discord_server.create_webhook(channel="alerts")
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "OTEL_SERVICE_NAME": "mini-app",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        "OTEL_TRACES_EXPORTER": "discord",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_EXPORTER_DISCORD_WEBHOOK_URL": hook.url,
        "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS": discord_server.host_port,
        "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS": "30",
        "OTEL_EXPORTER_DISCORD_SPOOL_DIR": str(tmp_path / "spool"),
        "OTEL_EXPORTER_DISCORD_TRACE_URL": "http://jaeger.example:16686/trace/{trace_id}",
        "MINI_APP_DB": f"sqlite:///{tmp_path / 'mini.db'}",
        "PYTHONPATH": str(APPS),
        "FLASK_APP": "mini_app",
    }
    proc = subprocess.Popen(
        [venv_bin("opentelemetry-instrument"), "flask", "run", "--port", str(port), "--no-reload"],
        cwd=APPS,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/ok", proc)
        yield base, proc
    finally:
        stop_group(proc, timeout=15)


def test_exception_and_slow_query_arrive_as_embeds(instrumented_app, discord_server):
    """The exception and the slow query each arrive as one well-formed embed with what a person needs."""
    base, proc = instrumented_app
    assert requests.get(f"{base}/boom", timeout=10).status_code == 500
    assert requests.get(f"{base}/slow", timeout=30).status_code == 200

    def embeds():
        return [e for m in discord_server.messages() for e in m.payload.get("embeds", [])]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(embeds()) < 2:
        time.sleep(0.2)
    found = embeds()
    errors = [e for e in found if "ValueError" in e.get("title", "")]
    slow = [e for e in found if "Slow query" in e.get("title", "")]
    assert len(errors) == 1, found
    assert len(slow) == 1, found

    error = errors[0]
    error_text = str(error)
    assert "could not convert string to float" in error_text
    assert "/boom" in error_text
    assert "compute_vat" in error_text and "mini_app.py" in error_text  # first application frame
    assert "Anonymous" in error_text
    assert "mini-app" in error_text
    assert "```" in error.get("description", "")  # stack trace in a code block
    assert error["url"].startswith("http://jaeger.example:16686/trace/")
    assert error["color"] == 0xE74C3C

    query = slow[0]
    query_text = str(query)
    assert "RECURSIVE" in query_text and "x < ?" in query_text
    assert "/slow" in query_text  # the route of the request the query belonged to
    assert "30 ms" in query_text  # the threshold

    for message in discord_server.messages():
        assert message.payload["allowed_mentions"] == {"parse": []}
    assert discord_server.rejected() == []
    assert proc.poll() is None  # the app kept running
