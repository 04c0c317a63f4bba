"""The metric exporter as the SDK and users see it, against the strict local Discord server."""

from __future__ import annotations

import logging
import os
from importlib.metadata import entry_points

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from test_summary_support import App, Clock, drain_observations, local

from otel_discord.exporters.metrics import DiscordMetricExporter


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("OTEL_EXPORTER_DISCORD_"):
            monkeypatch.delenv(name)
    drain_observations()


@pytest.fixture
def otel_discord_logs(caplog):
    logger = logging.getLogger("otel_discord")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def exporter_for(server, hook, tmp_path, clock, **kwargs) -> DiscordMetricExporter:
    kwargs.setdefault("summary_schedule", "daily@18:00")
    kwargs.setdefault("service_name", "ozark")
    return DiscordMetricExporter(
        hook.url,
        allowed_hosts=server.host_port,
        spool_dir=str(tmp_path / "spool"),
        _clock=clock,
        _tick_interval=0,
        **kwargs,
    )


def embeds(server) -> list[dict]:
    return [embed for message in server.messages() for embed in message.embeds]


def unescaped(text: str) -> str:
    """Field text as Discord shows it (render escapes markdown characters with a backslash)."""
    return text.replace("\\", "")


def titled(server, text: str) -> list[dict]:
    return [e for e in embeds(server) if text in e.get("title", "")]


def test_entry_point_names_the_exporter():
    (ep,) = entry_points(group="opentelemetry_metrics_exporter", name="discord")
    assert ep.load() is DiscordMetricExporter


def test_no_argument_constructor_never_raises_and_disables_itself(otel_discord_logs):
    exporter = DiscordMetricExporter()
    assert not exporter.enabled
    errors = [r for r in otel_discord_logs.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "OTEL_EXPORTER_DISCORD_WEBHOOK_URL" in errors[0].getMessage()
    assert exporter.export(MetricsData(resource_metrics=[])) is MetricExportResult.SUCCESS
    exporter.shutdown(timeout=1000)


def test_bad_summary_setting_in_the_environment_disables_with_its_name(monkeypatch, tmp_path, otel_discord_logs):
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/" + "a" * 68)
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_SPOOL_DIR", str(tmp_path))
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_METRICS_SUMMARY_SCHEDULE", "hourly")
    exporter = DiscordMetricExporter()
    assert not exporter.enabled
    text = "\n".join(r.getMessage() for r in otel_discord_logs.records)
    assert "OTEL_EXPORTER_DISCORD_METRICS_SUMMARY_SCHEDULE" in text and "'hourly'" in text
    assert "a" * 68 not in text


def test_programmatic_bad_setting_raises_naming_it(tmp_path):
    with pytest.raises(ValueError, match="summary_schedule"):
        DiscordMetricExporter(
            "https://discord.com/api/webhooks/1/" + "a" * 68, spool_dir=str(tmp_path), summary_schedule="fortnightly"
        )


def test_summary_reaches_discord_through_a_real_reader(discord_server, webhook, tmp_path):
    """The SDK's periodic reader exports at shutdown and then calls shutdown(timeout=...)."""
    clock = Clock(local(2025, 10, 14, 17, 0))
    exporter = exporter_for(discord_server, webhook, tmp_path, clock)
    app = App()
    app.request("/invoices", 42, n=12)
    exporter.export(app.collect())
    clock.now = local(2025, 10, 14, 18, 0, 5)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "ozark"}))
    provider.get_meter("x").create_counter("ticks").add(1)
    provider.shutdown()  # final collect → export (the tick is due) → exporter.shutdown(timeout=...)
    assert [e["title"] for e in embeds(discord_server)] == [
        "⚙️ 📘 SYSTEM · ozark started",
        "📊 📘 PERFORMANCE · Daily summary · ozark · Tue 14 Oct",
        "⚙️ 📘 SYSTEM · ozark stopped",
    ]
    (summary,) = titled(discord_server, "Daily summary")
    assert {f["name"]: f["value"] for f in summary["fields"]}["Requests"] == "12"
    assert discord_server.rejected() == []
    assert all(webhook.token not in str(m.payload) for m in discord_server.messages())


def test_two_exporters_sharing_a_spool_post_one_summary(discord_server, webhook, tmp_path):
    """Two worker processes' exporters (same spool dir) both pass the tick: one summary with both's numbers."""
    clock = Clock(local(2025, 10, 14, 17, 0))
    first = exporter_for(discord_server, webhook, tmp_path, clock)
    second = exporter_for(discord_server, webhook, tmp_path, clock)
    worker_a, worker_b = App(instance="a"), App(instance="b")
    worker_a.request("/a", 10, n=7)
    worker_b.request("/a", 10, n=5)
    first.export(worker_a.collect())
    second.export(worker_b.collect())
    clock.now = local(2025, 10, 14, 18, 0, 20)
    first.export(worker_a.collect())
    second.export(worker_b.collect())
    clock.advance(60)
    second.export(worker_b.collect())
    first.export(worker_a.collect())
    second.shutdown()
    first.shutdown()
    (summary,) = titled(discord_server, "Daily summary")
    fields = {f["name"]: f["value"] for f in summary["fields"]}
    assert fields["Requests"] == "12" and fields["Instances"] == "2"
    assert len(titled(discord_server, "started")) == 1
    assert len(titled(discord_server, "stopped")) == 1


def test_gateway_mode_summarises_each_service_of_the_fleet(discord_server, webhook, tmp_path):
    """The OTLP bridge passes many apps' metrics through one exporter: one summary per service."""
    clock = Clock(local(2025, 10, 14, 17, 0))
    exporter = exporter_for(discord_server, webhook, tmp_path, clock, service_name="bridge", system_events=False)
    ozark_1, ozark_2, billing = App("ozark", "o1"), App("ozark", "o2"), App("billing", "b1")
    ozark_1.request("/a", 10, n=3)
    ozark_2.request("/a", 10, n=4)
    billing.request("/pay", 10, status=500, n=2)

    def fleet() -> MetricsData:
        return MetricsData(
            resource_metrics=[rm for app in (ozark_1, ozark_2, billing) for rm in app.collect().resource_metrics]
        )

    exporter.export(fleet())
    clock.now = local(2025, 10, 14, 18, 0, 20)
    exporter.export(fleet())
    exporter.shutdown()
    by_service = {
        e["title"].split(" · ")[2]: {f["name"]: f["value"] for f in e["fields"]}
        for e in titled(discord_server, "Daily summary")
    }
    assert by_service["ozark"]["Requests"] == "7" and by_service["ozark"]["Instances"] == "2"
    assert unescaped(by_service["billing"]["Error rate"]) == "100.00% (2)"
    assert "bridge" not in by_service  # the bridge itself served no requests


def test_export_never_raises_into_the_sdk(discord_server, webhook, tmp_path, otel_discord_logs):
    clock = Clock(local(2025, 10, 14, 17, 0))
    exporter = exporter_for(discord_server, webhook, tmp_path, clock, system_events=False)
    assert exporter.export(object()) is MetricExportResult.SUCCESS  # not MetricsData at all
    exporter.shutdown()


def test_idle_ticker_runs_the_checks_when_no_export_comes(discord_server, webhook, tmp_path):
    """With delta temporality an idle app exports nothing; the dead man's switch must still fire."""
    from otel_discord.detect import observations as observe

    clock = Clock(local(2025, 10, 14, 3, 0))
    config = tmp_path / "jobs.yaml"
    config.write_text("jobs: [{name: nightly-backup, every: 24h}]\n", encoding="utf-8")
    exporter = DiscordMetricExporter(
        webhook.url,
        allowed_hosts=discord_server.host_port,
        spool_dir=str(tmp_path / "spool"),
        config_file=str(config),
        service_name="ozark",
        summary_schedule="off",
        system_events=False,
        _clock=clock,
        _tick_interval=0.05,
    )
    observe.business_event("job.completed", {"job.name": "nightly-backup", "job.duration_ms": 10})
    exporter.export(MetricsData(resource_metrics=[]))  # the last export for a long time
    clock.now = local(2025, 10, 15, 3, 5)  # a day later, nothing was exported meanwhile
    try:
        (message,) = discord_server.wait_for_messages(1, timeout=10)
        assert unescaped(message.embeds[0]["title"]).endswith("Job nightly-backup has not completed for 24 h 5 min")
    finally:
        exporter.shutdown()
