"""The numbers in a posted summary, from real SDK metrics and business events over several exports."""

from __future__ import annotations

import pytest
from test_summary_support import (
    App,
    Clock,
    drain_observations,
    field,
    local,
    make_monitor,
    summaries,
)

from otel_discord.detect import observations as observe


@pytest.fixture(autouse=True)
def clean_observe():
    drain_observations()
    yield
    drain_observations()


def paid(amount: float) -> None:
    observe.business_event("invoice.paid", {"invoice.amount": amount, "invoice.currency": "EUR"})


def created(amount: float) -> None:
    observe.business_event("invoice.created", {"invoice.amount": amount, "invoice.currency": "EUR"})


@pytest.mark.parametrize("delta", [False, True], ids=["cumulative", "delta"])
def test_daily_summary_figures_over_several_exports(tmp_path, delta):
    """Two export intervals of traffic and business events add up in the 18:00 summary, exactly."""
    clock = Clock(local(2025, 10, 14, 12, 0))
    monitor = make_monitor(tmp_path, summaries=["daily@18:00"])
    app = App(delta=delta)

    app.request("/invoices", 30, n=40)
    app.request("/reports/slow", 300, n=10)
    app.request("/boom", 30, status=500, n=2)
    for _ in range(3):
        created(1000.00)
    paid(2500.50)
    paid(1000)
    observe.count("db.queries", 120)
    observe.count("db.slow_queries", 2)
    assert summaries(monitor.process(app.collect(), clock())) == []

    clock.advance(60)
    app.request("/invoices", 30, n=50)
    paid(499.50)
    assert summaries(monitor.process(app.collect(), clock())) == []

    clock.now = local(2025, 10, 14, 18, 0, 30)
    (notice,) = summaries(monitor.process(app.collect(), clock()))
    assert notice.title == "Daily summary · ozark · Tue 14 Oct"
    assert field(notice, "Requests") == "102"
    assert field(notice, "Error rate") == f"{2 / 102 * 100:.2f}% (2)"
    # 92 requests in (25, 50] ms, 10 in (250, 500]: rank 96.9 lies 4.9/10 into the upper bucket.
    assert field(notice, "p95") == f"{250 + 250 * (0.95 * 102 - 92) / 10:,.0f} ms"
    p50 = 25 + 25 * (0.5 * 102) / 92
    assert field(notice, "p50 · p99 · avg").startswith(f"{p50:,.0f} · ")
    assert field(notice, "DB queries") == "120"
    assert field(notice, "Slow queries") == "2"
    assert field(notice, "Invoices") == "created 3\npaid 3\npending +0"
    assert field(notice, "Revenue") == "€4,000"
    assert field(notice, "Invoiced") == "€3,000"
    assert field(notice, "Revenue to date") == "today €4,000 · MTD €4,000 · QTD €4,000"
    assert "GET /reports/slow" in notice.code and "GET /invoices" in notice.code

    # The same tick is never posted twice, by this process or after the next export.
    clock.advance(60)
    assert summaries(monitor.process(app.collect(), clock())) == []


def test_trend_arrows_compare_with_the_previous_summary(tmp_path):
    clock = Clock(local(2025, 10, 13, 12, 0))
    monitor = make_monitor(tmp_path, summaries=["daily@18:00"])
    app = App()
    app.request("/a", 30, n=100)
    monitor.process(app.collect(), clock())
    clock.now = local(2025, 10, 13, 18, 1)
    (first,) = summaries(monitor.process(app.collect(), clock()))
    assert field(first, "Requests") == "100"  # no previous summary, no arrow

    clock.now = local(2025, 10, 14, 12, 0)
    app.request("/a", 30, n=150)
    app.request("/a", 30, status=503, n=3)
    monitor.process(app.collect(), clock())
    clock.now = local(2025, 10, 14, 18, 1)
    (second,) = summaries(monitor.process(app.collect(), clock()))
    assert field(second, "Requests") == "153 ▲ 53%"
    assert field(second, "Error rate").endswith("▲ 1.96 pt")


def test_period_before_the_schedule_existed_is_not_summarised(tmp_path):
    """A fresh install at 19:00 does not post a summary of the day before it was installed."""
    clock = Clock(local(2025, 10, 14, 19, 0))
    monitor = make_monitor(tmp_path, summaries=["daily@18:00"])
    app = App()
    app.request("/a", 30, n=5)
    assert summaries(monitor.process(app.collect(), clock())) == []


def test_restart_loses_nothing(tmp_path):
    """Morning traffic from one process life and afternoon traffic from the next end up in one summary."""
    clock = Clock(local(2025, 10, 14, 9, 0))
    morning = make_monitor(tmp_path, summaries=["daily@18:00"])
    app = App(instance="before-restart")
    app.request("/a", 30, n=30)
    paid(100)
    morning.process(app.collect(), clock())

    clock.now = local(2025, 10, 14, 14, 0)
    afternoon = make_monitor(tmp_path, summaries=["daily@18:00"])
    app = App(instance="after-restart")
    app.request("/a", 30, n=12)
    paid(50)
    afternoon.process(app.collect(), clock())
    clock.now = local(2025, 10, 14, 18, 0)
    (notice,) = summaries(afternoon.process(app.collect(), clock()))
    assert field(notice, "Requests") == "42"
    assert field(notice, "Revenue") == "€150.00"
    assert field(notice, "Instances") == "2"


def test_quiet_period_posts_nothing(tmp_path):
    clock = Clock(local(2025, 10, 14, 17, 0))
    monitor = make_monitor(tmp_path, summaries=["every 15m"])
    monitor.process(None, clock())
    clock.now = local(2025, 10, 14, 17, 15)
    assert summaries(monitor.process(None, clock())) == []
