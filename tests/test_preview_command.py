"""``otel-discord preview`` as a person runs it: a subprocess that prints where to send, then serves."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import requests

STARTUP_S = 30.0


def _start(*args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_discord.cli", "preview", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def _read_until(lines: queue.Queue[str], marker: str, timeout: float) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=0.2))
        except queue.Empty:
            continue
        if marker in seen[-1]:
            return seen
    raise AssertionError(f"{marker!r} not printed within {timeout} s; got {seen}")


def test_prints_webhooks_and_env_lines_serves_the_page_and_summarises_on_ctrl_c():
    """With --preset focused: one webhook per preset channel plus default, usable env lines, a live page,
    and on Ctrl-C a summary of what arrived and exit code 0."""
    proc, lines = _start("--port", "0", "--preset", "focused")
    try:
        printed = _read_until(lines, "Ctrl-C to stop", STARTUP_S)
        text = "\n".join(printed)
        page_url = re.search(r"open (http://127\.0\.0\.1:\d+/) in a browser", text)[1]
        channels = re.findall(r"^  #([a-z-]+)\s+http://127\.0\.0\.1:\d+/api/webhooks/\d+/\S+$", text, re.M)
        assert channels == ["default", "finance-activity", "system-debug", "user-activity"]
        env = dict(re.findall(r"^  export (OTEL_EXPORTER_DISCORD_[A-Z_]+)=(\S+)$", text, re.M))
        assert env["OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS"] == page_url[len("http://") : -1]
        assert set(env) == {
            "OTEL_EXPORTER_DISCORD_WEBHOOK_URL",
            "OTEL_EXPORTER_DISCORD_WEBHOOK_URL_FINANCE_ACTIVITY",
            "OTEL_EXPORTER_DISCORD_WEBHOOK_URL_SYSTEM_DEBUG",
            "OTEL_EXPORTER_DISCORD_WEBHOOK_URL_USER_ACTIVITY",
            "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS",
            "OTEL_EXPORTER_DISCORD_PRESET",
        }
        assert env["OTEL_EXPORTER_DISCORD_PRESET"] == "focused"

        posted = requests.post(
            env["OTEL_EXPORTER_DISCORD_WEBHOOK_URL_FINANCE_ACTIVITY"],
            json={"embeds": [{"title": "Invoice #250090 paid", "color": 0x2ECC71}]},
            timeout=10,
        )
        assert posted.status_code == 204
        page = requests.get(page_url, timeout=10).text
        assert 'data-channel="finance-activity"' in page and "Invoice #250090 paid" in page

        os.killpg(proc.pid, signal.SIGINT)
        rest = _read_until(lines, "received:", 15)
        assert rest[-1] == (
            "received: 1 message (#finance-activity 1), 1 embed, 0 edited, 0 rate-limited (429), 0 rejected"
        )
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_a_busy_port_is_reported_not_a_traceback():
    """Another program on the port: one clear line naming --port, exit code 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "otel_discord.cli", "preview", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stdout and "--port" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_bad_channel_names_are_refused():
    """A channel name the config could never use is refused before anything starts."""
    result = subprocess.run(
        [sys.executable, "-m", "otel_discord.cli", "preview", "--port", "0", "--channels", "alerts,<b>"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "channel name '<b>'" in result.stdout
