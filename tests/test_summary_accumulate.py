"""Temporality-correct accumulation, fed by real SDK collections."""

from __future__ import annotations

import json
import os
import time

import pytest
from opentelemetry.sdk.metrics.export import MetricsData
from test_summary_support import App

from otel_discord.summary.accumulate import Accumulator
from otel_discord.summary.collect import BusinessMetric, tallies


def combined(*datas) -> MetricsData:
    return MetricsData(resource_metrics=[rm for data in datas for rm in data.resource_metrics])


def requests_of(changes, metric="http.server.duration") -> float:
    return sum(sum(c.counts) for c in changes if c.metric == metric and c.kind == "histogram")


@pytest.mark.parametrize("delta", [False, True], ids=["cumulative", "delta"])
class TestEitherTemporality:
    def test_each_export_yields_only_what_is_new(self, delta):
        """Three intervals of 5, 0 and 3 requests come out as 5, 0 and 3 whatever the temporality."""
        app = App(delta=delta)
        acc = Accumulator()
        app.request("/invoices", 40, n=5)
        assert requests_of(acc.changes(app.collect()).changes) == 5
        assert requests_of(acc.changes(app.collect()).changes) == 0
        app.request("/invoices", 40, n=3)
        assert requests_of(acc.changes(app.collect()).changes) == 3

    def test_histogram_buckets_and_sum_are_per_interval(self, delta):
        app = App(delta=delta)
        acc = Accumulator()
        app.request("/a", 7)
        acc.changes(app.collect())
        app.request("/a", 300, n=2)
        (change,) = [c for c in acc.changes(app.collect()).changes if c.kind == "histogram"]
        by_bound = dict(zip((*change.bounds, float("inf")), change.counts))
        assert by_bound[500.0] == 2 and by_bound[10.0] == 0
        assert change.value == pytest.approx(600.0)

    def test_counter_sums(self, delta):
        app = App(delta=delta)
        counter = app.meter.create_counter("ozark.invoices.created")
        acc = Accumulator()
        counter.add(2)
        acc.changes(app.collect())
        counter.add(3)
        (change,) = [c for c in acc.changes(app.collect()).changes if c.metric == "ozark.invoices.created"]
        assert change.kind == "count" and change.value == 3


def test_new_start_time_means_the_counter_restarted():
    """The same instance id with a new stream start (a restarted SDK): its whole total is new."""
    acc = Accumulator()
    first = App(instance="same")
    first.request("/a", 5, n=5)
    assert requests_of(acc.changes(first.collect()).changes) == 5
    second = App(instance="same")  # new provider: new start_time, lower total
    second.request("/a", 5, n=2)
    assert requests_of(acc.changes(second.collect()).changes) == 2


def test_streams_older_than_the_accumulator_are_only_a_baseline():
    """A bridge restarting mid-life must not count again what apps reported before it restarted."""
    app = App()
    app.request("/a", 5, n=7)
    later = time.time_ns() + 60 * 10**9
    acc = Accumulator(wall_clock_ns=lambda: later)
    assert requests_of(acc.changes(app.collect()).changes) == 0
    app.request("/a", 5, n=2)
    assert requests_of(acc.changes(app.collect()).changes) == 2


def test_instances_are_kept_apart_in_one_export():
    """Gateway mode: one MetricsData with two app instances of one service; each keeps its own history."""
    a, b = App(instance="a"), App(instance="b")
    acc = Accumulator()
    a.request("/x", 5, n=4)
    b.request("/x", 5, n=1)
    batch = acc.changes(combined(a.collect(), b.collect()))
    assert set(batch.identities) == {("ozark", "a"), ("ozark", "b")}
    b.request("/x", 5, n=2)
    batch = acc.changes(combined(a.collect(), b.collect()))
    per_instance = {c.identity.instance: sum(c.counts) for c in batch.changes if c.kind == "histogram"}
    assert per_instance == {"b": 2}
    assert tallies(batch, now=0)["ozark"].instances == {"a", "b"}


def test_up_down_counters_are_levels():
    """Active requests (a non-monotonic sum) is a level, not something to add up."""
    app = App()
    active = app.meter.create_up_down_counter("http.server.active_requests")
    acc = Accumulator()
    active.add(3)
    active.add(-1)
    (change,) = [c for c in acc.changes(app.collect()).changes if c.metric == "http.server.active_requests"]
    assert change.kind == "level" and change.value == 2


def test_forked_worker_continues_from_the_masters_points():
    """gunicorn: a worker inherits the master's SDK storage under a new instance id; only its own
    requests are new."""
    app = App(instance="master")
    acc = Accumulator()
    app.request("/a", 5, n=5)
    assert requests_of(acc.changes(app.collect()).changes) == 5
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            os.close(read_end)
            app.provider._sdk_config.resource = app.provider._sdk_config.resource.merge(
                type(app.provider._sdk_config.resource)({"service.instance.id": "worker"})
            )
            app.request("/a", 5, n=2)
            batch = acc.changes(app.collect())
            result = {"requests": requests_of(batch.changes), "instances": sorted(i for _, i in batch.identities)}
            os.write(write_end, json.dumps(result).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        result = json.loads(pipe.read() or "{}")
    os.waitpid(pid, 0)
    assert result == {"requests": 2, "instances": ["worker"]}


class TestCollect:
    def test_old_and_new_semantic_conventions_and_errors(self):
        """Old ms histogram with http.target, new s histogram with http.route: same figures, in ms."""
        for new in (False, True):
            app = App(new_semconv=new)
            app.request("/invoices/<int:invoice_id>", 120, n=9)
            app.request("/boom", 30, status=500)
            tally = tallies(Accumulator().changes(app.collect()), now=0)["ozark"]
            assert tally.get("requests") == 10 and tally.get("errors") == 1
            assert set(tally.routes) == {"GET /invoices/<int:invoice_id>", "GET /boom"}
            assert tally.latency.mean == pytest.approx((9 * 120 + 30) / 10)

    def test_dual_emission_counts_each_request_once(self):
        """OTEL_SEMCONV_STABILITY_OPT_IN=http/dup emits both histograms; the new one wins."""
        old, new = App(instance="dup"), App(instance="dup", new_semconv=True)
        old.request("/a", 50, n=4)
        new.request("/a", 50, n=4)
        tally = tallies(Accumulator().changes(combined(old.collect(), new.collect())), now=0)["ozark"]
        assert tally.get("requests") == 4

    def test_business_metric_mapping_and_memory(self):
        """Mapped counters become figures (money in cents); process.memory.usage becomes MB per instance."""
        app = App()
        revenue = app.meter.create_counter("ozark.revenue")
        paid = app.meter.create_counter("ozark.invoices")
        memory = app.meter.create_up_down_counter("process.memory.usage", unit="By")
        revenue.add(1250.5)
        paid.add(2, {"status": "paid"})
        paid.add(5, {"status": "created"})
        memory.add(300 * 1024 * 1024)
        business = (
            BusinessMetric("revenue", "ozark.revenue"),
            BusinessMetric("invoices_paid", "ozark.invoices", {"status": "paid"}),
        )
        tally = tallies(Accumulator().changes(app.collect()), business, now=10)["ozark"]
        assert tally.get("revenue") == 125050
        assert tally.get("invoices_paid") == 2
        assert tally.gauges["memory_mb|instance-a"].last == pytest.approx(300.0)
