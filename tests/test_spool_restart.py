"""The spool across processes: SIGKILL mid-delivery, then a restart delivers what was left, in order."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_discord.testing import DiscordServer

pytestmark = pytest.mark.e2e

CHILD = Path(__file__).parent / "apps" / "spool_child.py"


@pytest.fixture
def children(discord_server: DiscordServer, tmp_path: Path) -> Iterator:
    hook = discord_server.create_webhook("alerts")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_EXPORTER_DISCORD_")},
        "OTEL_EXPORTER_DISCORD_WEBHOOK_URL": hook.url,
        "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS": discord_server.host_port,
        "OTEL_EXPORTER_DISCORD_SPOOL_DIR": str(tmp_path / "spool"),
    }
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        # Same working directory, program and config: the restarted process is the same application.
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), *args],
            cwd=CHILD.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(proc)
        return proc

    yield start, tmp_path / "spool"
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _read_line(proc: subprocess.Popen) -> str:
    """The child's next protocol word; our own log lines (stderr shares the pipe) may come first or
    not, depending on how fast the retry fires on a busy machine."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline().strip()
        if not line:
            raise AssertionError(f"child exited ({proc.wait()}): {proc.stdout.read()}")
        if not line.startswith("otel-discord "):
            return line


def test_sigkill_mid_delivery_then_restart_replays_in_order_exactly_once(discord_server, children):
    """Discord is down while the process retries 12 notices; it is SIGKILLed; Discord comes back;
    the restarted process delivers all 12, in order, once, and the spool ends empty."""
    start, spool_dir = children
    discord_server.set_down(True)
    first = start("submit", "12")
    assert _read_line(first) == "SPOOLED"
    assert discord_server.wait_for(lambda: discord_server.stats()["dropped"] >= 1, timeout=10)  # it is trying
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert discord_server.messages() == []
    discord_server.set_down(False)
    restarted = start("replay")
    assert _read_line(restarted) == "REPLAYING"
    assert discord_server.wait_for(lambda: sum(len(m.embeds) for m in discord_server.messages()) >= 12, timeout=20), (
        discord_server.stats()
    )
    messages = discord_server.messages()
    titles = [embed["title"] for message in messages for embed in message.embeds]
    contents = [message.content for message in messages]
    assert titles == [f"invoice {i} paid" for i in range(12)]
    assert contents == [f"#{i}" for i in range(12)]  # distinct content: one message each, in order
    assert discord_server.wait_for(lambda: _rows(spool_dir) == 0, timeout=10)
    assert discord_server.rejected() == []
    assert not (spool_dir / "dropped.jsonl").exists()


def _rows(spool_dir: Path) -> int:
    with sqlite3.connect(spool_dir / "spool.sqlite3") as db:
        return db.execute("SELECT count(*) FROM outbox").fetchone()[0]
