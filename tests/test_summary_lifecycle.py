"""The service lease: one primary per service instance, clean and unclean stops."""

from __future__ import annotations

import json
import os

from test_summary_support import AMS, local

from otel_discord.notice import Severity
from otel_discord.summary.lifecycle import Lifecycle, process_token
from otel_discord.summary.state import Store

NOW = local(2025, 10, 14, 9, 0)
CHANNELS = {"default": "https://discord.com/api/v10/webhooks/1/****"}


def lifecycle(store: Store, service: str = "ozark") -> Lifecycle:
    return Lifecycle(store, service, version="1.4.2", tz=AMS, channels=CHANNELS, host="web-1")


def test_one_primary_per_service_and_only_it_says_goodbye(tmp_path):
    store = Store.open(tmp_path)
    first, second = lifecycle(store), lifecycle(Store.open(tmp_path))
    (started,) = first.start(NOW)
    assert started.title == "ozark started" and started.severity is Severity.INFO
    fields = {f.name: f.value for f in started.fields}
    assert fields["Version"] == "1.4.2" and fields["PID"] == str(os.getpid())
    assert fields["Channels"] == "default: https://discord.com/api/v10/webhooks/1/****"
    assert second.start(NOW + 1) == []  # the holder (this very process) is alive
    assert second.stop(NOW + 2) == []
    (stopped,) = first.stop(NOW + 3600)
    assert stopped.title == "ozark stopped"
    assert {f.name: f.value for f in stopped.fields}["Uptime"] == "1 h 0 min"
    assert first.stop(NOW + 3601) == []  # once


def test_clean_stop_then_start_is_an_ordinary_start(tmp_path):
    store = Store.open(tmp_path)
    first = lifecycle(store)
    first.start(NOW)
    first.stop(NOW + 60)
    (notice,) = lifecycle(store).start(NOW + 120)
    assert notice.title == "ozark started"


def test_reused_pid_of_a_dead_holder_is_not_taken_for_alive(tmp_path):
    """After a container restart the app may get the same pid; the process start time tells them apart."""
    store = Store.open(tmp_path)
    with store.transaction() as db:
        db.execute(
            "INSERT INTO lease(service, host, pid, token, version, started_at, heartbeat_at, stopped_at) "
            "VALUES ('ozark', 'web-1', ?, 'some-other-boot:123', '1.4.1', ?, ?, NULL)",
            (os.getpid(), NOW - 7200, local(2025, 10, 14, 8, 12, 5)),
        )
    (notice,) = lifecycle(store).start(NOW)
    assert notice.severity is Severity.WARNING
    assert notice.title == "ozark started after an unclean stop"
    assert "stopped uncleanly at Tue 14 Oct 2025 08:12:05 (Europe/Amsterdam)" in notice.description


def test_heartbeats_move_the_unclean_stop_time(tmp_path):
    store = Store.open(tmp_path)
    first = lifecycle(store)
    first.start(NOW)
    with store.transaction() as db:
        first.beat(db, NOW + 600)
        db.execute("UPDATE lease SET token='gone:1'")  # the holder died without a word
    (notice,) = lifecycle(store).start(NOW + 3600)
    assert "09:10:00" in notice.description


def test_process_token_identifies_this_process():
    """Linux: the token is stable for a live process and absent for a pid that does not exist."""
    assert process_token(os.getpid()) == process_token(os.getpid())
    assert process_token(2**22 + 12345) is None


def test_a_forked_worker_never_releases_the_lease(tmp_path):
    """gunicorn workers inherit the primary's exporter; their exit must not post "stopped"."""
    store = Store.open(tmp_path)
    primary = lifecycle(store)
    primary.start(NOW)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(len(primary.stop(NOW + 60))).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        notices_in_child = json.loads(pipe.read() or "-1")
    os.waitpid(pid, 0)
    assert notices_in_child == 0
    assert len(primary.stop(NOW + 120)) == 1


def test_health_heartbeat_is_posted_once_per_tick_by_one_process(tmp_path):
    from test_summary_support import App, Clock, drain_observations, make_monitor

    drain_observations()
    clock = Clock(local(2025, 10, 14, 5, 0))
    first = make_monitor(tmp_path, summaries="off", health_heartbeat="every 6h")
    second = make_monitor(tmp_path, summaries="off", health_heartbeat="every 6h")
    app = App()
    app.request("/a", 20, n=4)
    first.process(app.collect(), clock())
    clock.now = local(2025, 10, 14, 6, 0, 30)
    notices = [p.notice for m in (first, second) for p in m.process(app.collect(), clock())]
    (health,) = [n for n in notices if n.title == "ozark is running"]
    assert {f.name: f.value for f in health.fields}["Requests"] == "4"
