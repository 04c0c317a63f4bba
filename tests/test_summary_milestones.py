"""Financial milestones: one celebration per period, across exports, processes and restarts."""

from __future__ import annotations

import pytest
from test_summary_support import Clock, drain_observations, local, make_monitor

from otel_discord.detect import observations as observe
from otel_discord.notice import Severity

MILESTONES = [{"name": "Q revenue", "metric": "revenue", "period": "quarter", "target": 10000}]


@pytest.fixture(autouse=True)
def clean_observe():
    drain_observations()
    yield
    drain_observations()


def paid(amount):
    observe.business_event("invoice.paid", {"invoice.amount": amount, "invoice.currency": "EUR"})


def milestones(posts):
    return [p.notice for p in posts if "milestone.name" in p.notice.attributes]


def test_crossing_the_target_celebrates_once_per_quarter(tmp_path):
    clock = Clock(local(2025, 10, 2, 12, 0))
    monitor = make_monitor(tmp_path, summaries="off", milestones=MILESTONES)
    paid(6000)
    assert milestones(monitor.process(None, clock())) == []
    clock.advance(60)
    paid(3999.99)
    assert milestones(monitor.process(None, clock())) == []  # €9,999.99
    clock.advance(60)
    paid(0.01)
    (notice,) = milestones(monitor.process(None, clock()))
    assert notice.severity is Severity.SUCCESS
    assert notice.title == "🎉 Q revenue: €10,000 reached (2025-Q4)"

    clock.advance(60)
    paid(5000)
    restarted = make_monitor(tmp_path, summaries="off", milestones=MILESTONES)
    assert milestones(restarted.process(None, clock())) == []

    clock.now = local(2026, 1, 5, 12, 0)  # a new quarter starts from zero
    paid(10000)
    (next_quarter,) = milestones(restarted.process(None, clock()))
    assert "2026-Q1" in next_quarter.title


def test_counting_milestone_on_a_business_figure(tmp_path):
    clock = Clock(local(2025, 10, 14, 12, 0))
    monitor = make_monitor(
        tmp_path,
        summaries="off",
        milestones=[{"name": "Busy day", "metric": "invoices.created", "period": "day", "target": 3}],
    )
    for _ in range(3):
        observe.business_event("invoice.created", {"invoice.amount": 10})
    (notice,) = milestones(monitor.process(None, clock()))
    assert notice.title.startswith("🎉 Busy day: 3 reached")
