"""Startup and shutdown notices once per service instance, and the start after an unclean stop.

The unclean stop is real: a child process builds the exporter and is killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from otel_discord.exporters.metrics import DiscordMetricExporter

CHILD = textwrap.dedent("""
    import sys, time
    from otel_discord.exporters.metrics import DiscordMetricExporter
    url, hosts, spool = sys.argv[1:4]
    exporter = DiscordMetricExporter(url, allowed_hosts=hosts, spool_dir=spool, service_name="ozark",
                                     summary_schedule="off", _tick_interval=0)
    exporter.force_flush(5000)
    print("ready", flush=True)
    time.sleep(60)
""")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("OTEL_EXPORTER_DISCORD_"):
            monkeypatch.delenv(name)


def titles(server) -> list[str]:
    return [e["title"] for m in server.messages() for e in m.embeds]


def exporter(server, hook, spool) -> DiscordMetricExporter:
    return DiscordMetricExporter(
        hook.url,
        allowed_hosts=server.host_port,
        spool_dir=str(spool),
        service_name="ozark",
        summary_schedule="off",
        _tick_interval=0,
    )


def start_child(server, hook, spool) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, hook.url, server.host_port, str(spool)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    except BaseException:
        child.kill()
        child.wait(10)
        raise
    return child


def test_second_exporter_in_a_live_instance_stays_quiet(discord_server, webhook, tmp_path):
    """A reloader child or a second exporter: no second "started", and only the primary says "stopped"."""
    first = exporter(discord_server, webhook, tmp_path)
    second = exporter(discord_server, webhook, tmp_path)
    second.shutdown()
    first.shutdown()
    assert titles(discord_server) == ["⚙️ 📘 SYSTEM · ozark started", "⚙️ 📘 SYSTEM · ozark stopped"]


def test_start_after_sigkill_reports_the_unclean_stop(discord_server, webhook, tmp_path):
    child = start_child(discord_server, webhook, tmp_path)
    child_pid = child.pid
    discord_server.wait_for_messages(1)
    os.kill(child_pid, signal.SIGKILL)
    child.wait(10)

    restarted = exporter(discord_server, webhook, tmp_path)
    restarted.force_flush(5000)
    restarted.shutdown()
    messages = [e for m in discord_server.messages() for e in m.embeds]
    assert [e["title"] for e in messages] == [
        "⚙️ 📘 SYSTEM · ozark started",
        "⚙️ ⚠️ SYSTEM · ozark started after an unclean stop",
        "⚙️ 📘 SYSTEM · ozark stopped",
    ]
    assert f"pid {child_pid} on" in messages[1]["description"]
    assert "stopped uncleanly at" in messages[1]["description"]


def test_a_live_primary_in_another_process_keeps_this_one_secondary(discord_server, webhook, tmp_path):
    child = start_child(discord_server, webhook, tmp_path)
    try:
        discord_server.wait_for_messages(1)
        here = exporter(discord_server, webhook, tmp_path)
        here.shutdown()
        assert titles(discord_server) == ["⚙️ 📘 SYSTEM · ozark started"]
    finally:
        child.kill()
        child.wait(10)
