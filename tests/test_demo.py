"""``./dev demo`` (``python -m otel_discord.commands.demo``): the whole run, and the choices it makes on the way."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests
import yaml

from otel_discord.commands.demo import (
    Demo,
    DemoOptions,
    example_config,
    exporter_flags,
    has_exporter,
    wait_for_delivery,
)
from otel_discord.config import resolve
from otel_discord.testing.preview import Preview

REPO = Path(__file__).resolve().parents[1]
DEMO_TIMEOUT_S = 240  # app start under opentelemetry-instrument + the session + delivery, on 2 busy cores


@pytest.fixture
def preview() -> Iterator[Preview]:
    page = Preview.start(["default", "finance-activity"], port=0)
    try:
        yield page
    finally:
        page.stop()


@pytest.mark.e2e
def test_demo_exit_runs_the_session_and_prints_a_summary():
    """On a clone with no Discord configured, ``--exit`` drives the app against the local preview and ends
    with the preview URL and a summary line counting at least one message, then exits 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_discord.commands.demo", "--exit", "--port", "0"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=DEMO_TIMEOUT_S)
    finally:
        _kill_tree(proc)
    assert proc.returncode == 0, out + err
    assert re.search(r"==> local Discord preview at http://127\.0\.0\.1:\d+/", out)
    assert len(re.findall(r"^    \[\s*\d+\] ok ", out, re.M)) == 13, out
    assert re.search(r"^==> preview: http://127\.0\.0\.1:\d+/$", out, re.M)
    summary = re.search(
        r"^summary: (\d+) messages? \((#[a-z-]+ \d+(, )?)+\), (\d+) embeds?, \d+ edited, "
        r"(\d+) rate-limited \(429\), (\d+) rejected$",
        out,
        re.M,
    )
    assert summary, out
    assert int(summary[1]) >= 1 and int(summary[4]) >= 2  # at least the error and the slow query
    assert summary[6] == "0", out  # Discord would have accepted everything that was sent
    assert "Traceback" not in out + err


@pytest.mark.e2e
def test_demo_keeps_the_preview_and_the_app_up_until_ctrl_c():
    """Without --exit the preview and the app stay up after the summary; Ctrl-C stops both, exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_discord.commands.demo", "--port", "0"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    printed = ""
    try:
        deadline = time.monotonic() + DEMO_TIMEOUT_S
        while "Ctrl-C to stop" not in printed and time.monotonic() < deadline and proc.poll() is None:
            try:
                printed += lines.get(timeout=0.5)
            except queue.Empty:
                pass
        assert "Ctrl-C to stop" in printed, printed
        preview_url = re.search(r"^==> preview: (\S+)$", printed, re.M)[1]
        app_url = re.search(r"the app keeps running at (http://127\.0\.0\.1:\d+)", printed)[1]
        assert 'class="msg"' in requests.get(preview_url, timeout=10).text
        assert requests.get(f"{app_url}/healthz", timeout=10).ok

        proc.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends the demo
        assert proc.wait(timeout=60) == 0, printed
        for url in (preview_url, f"{app_url}/healthz"):
            with pytest.raises(requests.ConnectionError):
                requests.get(url, timeout=5)
    finally:
        _kill_tree(proc)


def _kill_tree(proc: subprocess.Popen) -> None:
    """After a failure: the demo and the app it started (in a session of its own) must not outlive the test."""
    if proc.poll() is not None:
        return
    family = psutil.Process(proc.pid).children(recursive=True)
    for process in [*family, psutil.Process(proc.pid)]:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()


@pytest.mark.e2e
def test_with_a_webhook_configured_the_demo_posts_there_and_starts_no_preview(discord_server):
    """OTEL_EXPORTER_DISCORD_WEBHOOK_URL set: the alerts go to that webhook (here a local stand-in for
    Discord, so nothing leaves the machine) and the demo says where they went."""
    hook = discord_server.create_webhook("alerts")
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        "OTEL_EXPORTER_DISCORD_WEBHOOK_URL": hook.url,
        "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS": discord_server.host_port,
    }
    said: list[str] = []
    demo = Demo(DemoOptions(exit=True), environ=environ, out=said.append)
    try:
        result = demo.run()
    finally:
        demo.close()  # the app flushes on the way out
    text = "\n".join(said)
    assert demo.preview is None and result.summary is None and result.drive["ok"], text
    assert (
        f"posting to your real Discord webhook: #default {discord_server.base_url}/api/v10/webhooks/{hook.id}/****"
        in text
    )
    assert hook.token not in text
    assert any("ValueError" in str(m.embeds) for m in discord_server.wait_for_messages(1, timeout=30))


def test_local_mode_ignores_the_users_discord_settings(preview, tmp_path):
    """Without OTEL_EXPORTER_DISCORD_WEBHOOK_URL, the app is configured for the preview only: a leftover
    per-channel webhook or config file of the user's cannot send the demo to a real channel."""
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "OTEL_EXPORTER_DISCORD_WEBHOOK_URL_FINANCE_ACTIVITY": "https://discord.com/api/webhooks/1/" + "r" * 68,
        "OTEL_EXPORTER_DISCORD_CONFIG": str(tmp_path / "mine.yaml"),
    }
    demo = Demo(DemoOptions(), preview=preview, environ=environ, out=lambda line: None)
    try:
        assert not demo.real_discord
        env = demo._app_env()
        settings = resolve("traces", environ=env)
        hooks = {name: channel.webhook.webhook_id for name, channel in settings.channels.items()}
        assert set(hooks.values()) <= {hook.id for hook in preview.webhooks.values()}
        assert hooks["finance-activity"] == preview.webhooks["finance-activity"].id
        assert env.get("OTEL_EXPORTER_DISCORD_CONFIG") != str(tmp_path / "mine.yaml")
        assert env["OTEL_EXPORTER_DISCORD_SPOOL_DIR"].startswith(str(demo.workdir))
        assert env["OZARK_DATABASE_URL"] == f"sqlite:///{demo.workdir / 'ozark.db'}"
        assert env["OTEL_BSP_SCHEDULE_DELAY"] == "500"
    finally:
        demo.close()
    assert not demo.workdir.exists()


def test_a_real_webhook_is_used_as_configured():
    """With OTEL_EXPORTER_DISCORD_WEBHOOK_URL set the demo starts no preview and passes the user's settings on,
    their own tuning included."""
    url = "https://discord.com/api/webhooks/123/" + "t" * 68
    environ = {"OTEL_EXPORTER_DISCORD_WEBHOOK_URL": url, "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS": "900"}
    demo = Demo(DemoOptions(), environ=environ, out=lambda line: None)
    try:
        assert demo.real_discord and demo.preview is None
        env = demo._app_env()
        assert env["OTEL_EXPORTER_DISCORD_WEBHOOK_URL"] == url
        assert env["OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS"] == "900"
        assert "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS" not in env
    finally:
        demo.close()


def test_example_config_is_pointed_at_the_preview(preview, tmp_path):
    """A focused-preset config naming its webhooks with ${VARIABLES} is copied with the preview's webhooks,
    every other key kept but the schedules (the demo must show its alerts at any hour); a channel the
    preview lacked gets a webhook of its own."""
    source = tmp_path / "otel-discord.example.yaml"
    source.write_text(
        "preset: focused\n"
        "channels:\n"
        "  finance-activity:\n    webhook_url: ${DISCORD_FINANCE_WEBHOOK}\n    username: Ozark Finance\n"
        "  system-debug: ${DISCORD_SYSTEM_WEBHOOK}\n"
        "routes:\n  - match: {category: security}\n    channel: system-debug\n"
        "schedules:\n  finance-activity: {quiet_hours: '18:00-08:00'}\n",
        encoding="utf-8",
    )
    (tmp_path / "out").mkdir()
    written = example_config(preview, tmp_path / "out", lambda line: None, source=source)
    assert written is not None
    data = yaml.safe_load(written.read_text(encoding="utf-8"))
    assert "schedules" not in data
    assert data["preset"] == "focused" and data["routes"] == [
        {"match": {"category": "security"}, "channel": "system-debug"}
    ]
    assert data["channels"]["finance-activity"] == {
        "webhook_url": preview.webhooks["finance-activity"].url,
        "username": "Ozark Finance",
    }
    assert data["channels"]["system-debug"] == preview.webhooks["system-debug"].url
    settings = resolve(
        "traces", config_file=written, environ={"OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS": preview.server.host_port}
    )
    assert settings.channels["system-debug"].webhook.webhook_id == preview.webhooks["system-debug"].id
    assert example_config(preview, tmp_path, lambda line: None, source=tmp_path / "absent.yaml") is None


def test_a_busy_preview_port_falls_back_to_a_free_one(preview):
    """Port 8085 taken (say, by a preview already running): the demo's preview takes another and says so."""
    said: list[str] = []
    busy_port = int(preview.server.host_port.rsplit(":", 1)[1])
    demo = Demo(DemoOptions(port=busy_port), environ={}, out=said.append)
    try:
        own = demo._start_preview()
        try:
            assert own.server.host_port != preview.server.host_port
            assert list(own.webhooks) == ["default", "finance-activity", "system-debug", "user-activity"]
            assert any("is busy" in line for line in said)
        finally:
            own.stop()
    finally:
        demo.close()


def test_exporters_follow_what_is_installed():
    """discord for every signal whose exporter is installed (traces always), plus --also; none otherwise."""
    flags = exporter_flags(("console",))
    values = dict(zip(flags[::2], flags[1::2]))
    assert values["--traces_exporter"] == "discord,console"
    for signal_name in ("logs", "metrics"):
        expected = "discord,console" if has_exporter(signal_name) else "console"
        assert values[f"--{signal_name}_exporter"] == expected
    bare = dict(zip(exporter_flags(())[::2], exporter_flags(())[1::2]))
    assert bare["--metrics_exporter"] == ("discord" if has_exporter("metrics") else "none")


def test_waiting_for_delivery_ends_when_the_markers_arrived_and_reports_missing_ones(preview):
    """The wait returns once every marker arrived and the preview went quiet; a marker that never
    comes is reported instead of waited for forever."""
    hook = preview.webhooks["default"]
    timer = threading.Timer(
        0.3, lambda: requests.post(hook.url, json={"embeds": [{"title": "ValueError: x"}]}, timeout=10)
    )
    timer.start()
    try:
        assert wait_for_delivery(preview, ["ValueError"], timeout=30) == []
    finally:
        timer.join()
    assert wait_for_delivery(preview, ["ValueError", "Slow query"], timeout=0.5) == ["Slow query"]
