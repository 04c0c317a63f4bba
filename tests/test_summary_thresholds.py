"""Threshold alerts: fire once, resolve once, hysteresis against flapping, one sender among many."""

from __future__ import annotations

import pytest
from test_summary_support import App, Clock, drain_observations, local, make_monitor

from otel_discord.notice import Kind, Severity
from otel_discord.summary.state import Store

P95_RULE = {"metric": "p95_ms", "above": 800, "window": "5m", "min_requests": 10, "hysteresis": 0.2}


@pytest.fixture(autouse=True)
def clean_observe():
    drain_observations()


def alerts(posts):
    return [p.notice for p in posts if p.notice.kind is Kind.THRESHOLD]


def test_p95_fires_once_resolves_once_and_does_not_flap(tmp_path):
    clock = Clock(local(2025, 10, 14, 10, 0))
    monitor = make_monitor(tmp_path, summaries="off", thresholds=[P95_RULE])
    app = App()

    def minute(ms: float, n: int = 20):
        app.request("/a", ms, n=n)
        notices = alerts(monitor.process(app.collect(), clock()))
        clock.advance(60)
        return notices

    assert minute(30) == []
    (fired,) = minute(2000)
    assert fired.severity is Severity.WARNING
    assert fired.title.startswith("p95 latency") and "above 800 ms" in fired.title
    assert minute(2000) == []  # still above: no repeat

    clock.advance(10 * 60)  # the slow minutes leave the 5-minute window
    assert minute(700) == []  # 737 ms: below 800 but above the 640 ms resolve line: still firing
    clock.advance(10 * 60)
    (resolved,) = minute(40)
    assert resolved.severity is Severity.SUCCESS and resolved.title.startswith("Resolved: p95 latency back to")
    clock.advance(10 * 60)
    assert minute(700) == []  # 737 ms again: not above 800, so no new alert (no flapping)
    clock.advance(10 * 60)
    assert len(minute(2000)) == 1


def test_too_few_requests_leave_the_state_alone(tmp_path):
    clock = Clock(local(2025, 10, 14, 10, 0))
    monitor = make_monitor(tmp_path, summaries="off", thresholds=[P95_RULE])
    app = App()
    app.request("/a", 5000, n=3)
    assert alerts(monitor.process(app.collect(), clock())) == []


def test_error_rate_over_a_window(tmp_path):
    clock = Clock(local(2025, 10, 14, 10, 0))
    rule = {"metric": "error_rate", "above": 5, "window": "10m", "min_requests": 20}
    monitor = make_monitor(tmp_path, summaries="off", thresholds=[rule])
    app = App()
    app.request("/a", 30, n=90)
    app.request("/a", 30, status=500, n=10)
    (fired,) = alerts(monitor.process(app.collect(), clock()))
    assert fired.title == "Error rate 10.0% is above 5.0%"


def test_memory_per_instance_resolves_when_the_instance_goes_away(tmp_path):
    """system-metrics' process.memory.usage above the limit alerts for that instance; silence resolves it."""
    clock = Clock(local(2025, 10, 14, 10, 0))
    monitor = make_monitor(
        tmp_path, summaries="off", thresholds=[{"metric": "memory_mb", "above": 512, "window": "5m"}]
    )
    app = App(instance="worker-7", extra_resource={"host.name": "web-1", "process.pid": 4242})
    memory = app.meter.create_up_down_counter("process.memory.usage", unit="By")
    memory.add(900 * 1024 * 1024)
    (fired,) = alerts(monitor.process(app.collect(), clock()))
    assert fired.title == "Memory 900 MB is above 512 MB on instance worker-7 (host web-1, pid 4242)"
    clock.advance(60)
    assert alerts(monitor.process(app.collect(), clock())) == []
    clock.advance(20 * 60)  # the instance stopped exporting
    (resolved,) = alerts(monitor.process(None, clock()))
    assert resolved.title.startswith("Resolved: Memory on instance worker-7")
    assert "stopped reporting" in resolved.title


def test_many_processes_send_each_transition_once(tmp_path):
    """Three workers share one state file and all see the slow minute: one alert goes out."""
    clock = Clock(local(2025, 10, 14, 10, 0))
    path = tmp_path / "spool"
    monitors = [
        make_monitor(tmp_path, summaries="off", thresholds=[P95_RULE], store=Store.open(path)) for _ in range(3)
    ]
    apps = [App(instance=f"w{i}") for i in range(3)]
    fired = []
    for monitor, app in zip(monitors, apps):
        app.request("/a", 3000, n=20)
        fired += alerts(monitor.process(app.collect(), clock()))
    clock.advance(60)
    for monitor, app in zip(monitors, apps):
        app.request("/a", 3000, n=20)
        fired += alerts(monitor.process(app.collect(), clock()))
    assert len(fired) == 1
