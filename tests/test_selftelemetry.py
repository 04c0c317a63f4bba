"""Self-telemetry: the engine's own counters as OpenTelemetry metrics of meter scope ``otel_discord``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_discord.config import resolve
from otel_discord.deliver.engine import DeliveryEngine, Outgoing
from otel_discord.deliver.retry import RetryPolicy
from otel_discord.health import selftelemetry
from otel_discord.notice import Category, Kind, Notice, Severity


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    yield reader, provider
    provider.shutdown()


def points(reader: InMemoryMetricReader) -> dict[str, list]:
    """Data points by metric name, from the ``otel_discord`` scope only."""
    found: dict[str, list] = {}
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            if scope_metrics.scope.name != selftelemetry.METER_NAME:
                continue
            for metric in scope_metrics.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def item(i: int, **kw) -> Outgoing:
    notice = Notice(Kind.EVENT, Severity.INFO, Category.SYSTEM, f"notice {i}", channel=kw.pop("channel", "default"))
    return Outgoing(notice.channel, kw.pop("embed", {"title": notice.title}), notice, **kw)


def test_counters_drops_depth_and_latency_are_reported(discord_server, tmp_path, reader):
    """Delivered, edited, dropped (by reason) and waiting notices, and how long delivery took."""
    reader, provider = reader
    hook = discord_server.create_webhook("alerts")
    settings = resolve(webhook_url=hook.url, allowed_hosts=discord_server.host_port, spool_dir=tmp_path, environ={})
    engine = DeliveryEngine(settings, retry=RetryPolicy(base=0.05, cap=0.2), linger=30)
    selftelemetry.watch(engine, meter_provider=provider)
    try:
        for i in range(3):
            engine.submit(item(i))
        engine.submit(item(9, channel="nowhere"))
        engine.submit(item(10, embed={"title": "x" * 300}, flags=4096))  # Discord refuses it: 400
        assert engine.flush(10)
        found = points(reader)
        value = {name: sum(p.value for p in found[name]) for name in found if name != "otel_discord.delivery.latency"}
        assert value["otel_discord.messages.sent"] == 1
        assert value["otel_discord.notices.sent"] == 3
        assert value["otel_discord.rate_limited"] == 0
        drops = {p.attributes[selftelemetry.DROP_REASON]: p.value for p in found["otel_discord.notices.dropped"]}
        assert drops == {"unknown_channel": 1, "invalid_payload": 1}
        assert value["otel_discord.spool.depth"] == 0
        (latency,) = found["otel_discord.delivery.latency"]
        assert latency.count == 3 and 0 <= latency.sum < 30
    finally:
        engine.shutdown(1)


def test_spool_depth_shows_what_waits_for_discord(discord_server, tmp_path, reader):
    reader, provider = reader
    hook = discord_server.create_webhook("alerts")
    settings = resolve(webhook_url=hook.url, allowed_hosts=discord_server.host_port, spool_dir=tmp_path, environ={})
    engine = DeliveryEngine(settings, retry=RetryPolicy(base=0.05, cap=0.2))
    selftelemetry.watch(engine, meter_provider=provider)
    discord_server.set_down(True)
    try:
        for i in range(4):
            engine.submit(item(i, content=f"#{i}"))
        assert discord_server.wait_for(lambda: engine.spool_depth() == 4, timeout=10)
        (depth,) = points(reader)["otel_discord.spool.depth"]
        assert depth.value == 4
    finally:
        engine.shutdown(0.2)


def test_without_own_drops_only_our_scope(discord_server, tmp_path, reader):
    """What the Discord metric exporter is handed: the application's metrics, none of ours."""
    reader, provider = reader
    hook = discord_server.create_webhook("alerts")
    settings = resolve(webhook_url=hook.url, allowed_hosts=discord_server.host_port, spool_dir=tmp_path, environ={})
    engine = DeliveryEngine(settings)
    selftelemetry.watch(engine, meter_provider=provider)
    provider.get_meter("ozark.billing").create_counter("invoices.paid").add(3)
    try:
        data = reader.get_metrics_data()
        scopes = [s.scope.name for rm in data.resource_metrics for s in rm.scope_metrics]
        assert sorted(scopes) == ["otel_discord", "ozark.billing"]
        kept = selftelemetry.without_own(data)
        assert [s.scope.name for rm in kept.resource_metrics for s in rm.scope_metrics] == ["ozark.billing"]
        assert selftelemetry.without_own(kept) is kept  # nothing of ours: handed through untouched
        assert selftelemetry.without_own(None) is None
    finally:
        engine.shutdown(1)


def test_counters_never_go_down_when_an_engine_goes_away(discord_server, tmp_path, reader):
    """Cumulative counters: an engine shut down and collected leaves its counts behind."""
    import gc

    reader, provider = reader
    hook = discord_server.create_webhook("alerts")
    settings = resolve(webhook_url=hook.url, allowed_hosts=discord_server.host_port, spool_dir=tmp_path, environ={})

    def deliver_one(i: int) -> None:
        engine = DeliveryEngine(settings)
        selftelemetry.watch(engine, meter_provider=provider)
        engine.submit(item(i))
        assert engine.flush(10)
        engine.shutdown(1)

    deliver_one(0)
    gc.collect()
    (sent,) = points(reader)["otel_discord.messages.sent"]
    assert sent.value == 1
    deliver_one(1)
    gc.collect()
    (sent,) = points(reader)["otel_discord.messages.sent"]
    assert sent.value == 2
