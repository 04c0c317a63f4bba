"""Many processes, one webhook: ``gunicorn -w 4`` under ``opentelemetry-instrument --traces_exporter discord``.

The strict local server enforces Discord's limits, scaled down for speed: a
channel takes 6 messages per 4 s and a webhook 5 requests per second, so the
workers' 13 notices (packed up to 10 per message) and the count edits cannot all go at once. Four workers
each believing they have the whole budget would collect 429s; sharing one
sender through the spool, they get none, and the error repeated across all
workers ends up as one message edited to show the total count.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from otel_discord.testing import DiscordServer

pytestmark = pytest.mark.e2e

APPS = Path(__file__).parent / "apps"
WORKERS = 4
DISTINCT = 12
REPEATS = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bin(name: str) -> str:
    found = Path(sys.executable).with_name(name)
    return str(found) if found.exists() else (shutil.which(name) or name)


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited early:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer at {url}")


def _seen_count(embed: dict) -> int:
    for field in embed.get("fields") or ():
        if field.get("name") == "Seen":
            match = re.match(r"×(\d+)", field.get("value", ""))
            return int(match.group(1)) if match else 0
    return 1


@pytest.fixture
def server():
    with DiscordServer(webhook_limit=5, webhook_window=1.0, channel_limit=6, channel_window=4.0) as server:
        yield server


@pytest.fixture
def gunicorn(server, tmp_path):
    hook = server.create_webhook("alerts")
    port = _free_port()
    spool = tmp_path / "spool"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "OTEL_SERVICE_NAME": "gunicorn-app",
        "OTEL_TRACES_EXPORTER": "discord",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_EXPORTER_DISCORD_WEBHOOK_URL": hook.url,
        "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS": server.host_port,
        "OTEL_EXPORTER_DISCORD_SPOOL_DIR": str(spool),
        "OTEL_EXPORTER_DISCORD_CHANNEL_LIMIT": "6",
        "OTEL_EXPORTER_DISCORD_CHANNEL_WINDOW": "4s",
        "OTEL_EXPORTER_DISCORD_GROUP_EDIT_INTERVAL": "1s",
        "GUNICORN_APP_DISTINCT": str(DISTINCT),
        "PYTHONPATH": str(APPS),
    }
    proc = subprocess.Popen(
        [
            _bin("opentelemetry-instrument"),
            "gunicorn",
            "-w",
            str(WORKERS),
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "10",
            "gunicorn_app:app",
        ],
        cwd=APPS,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/ok", proc)
        yield base, spool, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def test_four_workers_share_one_webhook_without_a_429_and_group_across_workers(server, gunicorn):
    """Zero 429s across all workers; each distinct error once; the repeated error one message, edited
    as repeats keep arriving from every worker, ending with the total count; nothing dropped."""
    base, spool, proc = gunicorn

    def get(path: str) -> requests.Response:
        return requests.get(f"{base}{path}", timeout=10)

    def embeds() -> list[tuple]:
        # First occurrences of different errors may share a message: look at every embed.
        return [(m, e) for m in server.messages() for e in m.embeds]

    def repeated() -> list[tuple]:
        return [(m, e) for m, e in embeds() if "ValueError" in e.get("title", "")]

    with ThreadPoolExecutor(8) as pool:  # concurrent requests, so every worker serves some
        pids = {r.text for r in pool.map(lambda _: get("/ok"), range(40))}
        statuses = [r.status_code for r in pool.map(lambda n: get(f"/distinct/{n}"), range(DISTINCT))]
        statuses += [r.status_code for r in pool.map(lambda _: get("/repeat"), range(REPEATS // 4))]
        # The rest arrives once the message exists: folded into it, then written by editing it.
        assert server.wait_for(lambda: len(repeated()) == 1, timeout=60), server.stats()
        statuses += [r.status_code for r in pool.map(lambda _: get("/repeat"), range(REPEATS - REPEATS // 4))]
    assert statuses == [500] * (DISTINCT + REPEATS)
    assert len(pids) > 1, "the requests should have been spread over several workers"

    def done() -> bool:
        found = repeated()
        return len(embeds()) >= DISTINCT + 1 and len(found) == 1 and _seen_count(found[0][1]) >= REPEATS

    finished = server.wait_for(done, timeout=90)
    stats = server.stats()
    assert finished, f"not delivered in time: {stats} {[(e.get('title'), m.edits) for m, e in embeds()]}"
    assert stats["rate_limited"] == {"user": 0, "shared": 0, "global": 0} and stats["banned"] == 0
    assert server.rejected() == []
    ((message, embed),) = repeated()
    assert _seen_count(embed) == REPEATS  # the total over all workers, written last
    assert message.edits >= 1
    distinct = sorted(
        int(re.search(r"ledger (\d+)", str(e)).group(1)) for _, e in embeds() if "LookupError" in e.get("title", "")
    )
    assert distinct == list(range(DISTINCT))  # each once: nothing lost, nothing twice
    assert len(embeds()) == DISTINCT + 1
    assert not (spool / "dropped.jsonl").exists()
    assert proc.poll() is None
