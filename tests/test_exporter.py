"""The span exporter as the SDK and users see it: construction, export, flush, shutdown."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind

from otel_discord import DiscordSpanExporter

DISCORD_VARS = [
    "OTEL_EXPORTER_DISCORD_WEBHOOK_URL",
    "OTEL_EXPORTER_DISCORD_CONFIG",
    "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS",
    "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in DISCORD_VARS:
        monkeypatch.delenv(name, raising=False)


def _captured(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records)


@pytest.fixture
def capture_otel_discord_logs(caplog):
    # otel_discord's logger does not propagate to root (see _log.py); attach caplog's handler directly.
    logger = logging.getLogger("otel_discord")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def test_entry_point_names_the_exporter():
    """`OTEL_TRACES_EXPORTER=discord` resolves to DiscordSpanExporter."""
    (ep,) = entry_points(group="opentelemetry_traces_exporter", name="discord")
    assert ep.load() is DiscordSpanExporter


def test_no_argument_constructor_never_raises_and_disables_itself(capture_otel_discord_logs):
    """Under opentelemetry-instrument a missing webhook logs one ERROR naming the variable; export is a no-op."""
    exporter = DiscordSpanExporter()
    assert not exporter.enabled
    errors = [r for r in capture_otel_discord_logs.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "OTEL_EXPORTER_DISCORD_WEBHOOK_URL" in errors[0].getMessage()
    assert exporter.export([]) is SpanExportResult.SUCCESS
    exporter.shutdown()


def test_bad_env_value_disables_with_masked_message(monkeypatch, capture_otel_discord_logs):
    """A bad webhook in the environment is reported with the token masked, and nothing raises."""
    secret = "Zz9" * 22
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_WEBHOOK_URL", f"https://evil.example/api/webhooks/5/{secret}")
    exporter = DiscordSpanExporter()
    assert not exporter.enabled
    text = _captured(capture_otel_discord_logs)
    assert "OTEL_EXPORTER_DISCORD_WEBHOOK_URL" in text and "evil.example" in text
    assert secret not in text


def test_programmatic_bad_argument_raises_value_error():
    """A programmer passing a bad setting gets a ValueError naming it."""
    with pytest.raises(ValueError, match="slow_query_ms"):
        DiscordSpanExporter("https://discord.com/api/webhooks/1/" + "a" * 68, slow_query_ms=-5)


def test_strict_false_keeps_programmatic_use_lenient(capture_otel_discord_logs):
    """strict=False turns a bad argument into a logged, disabled exporter."""
    exporter = DiscordSpanExporter("https://evil.example/api/webhooks/1/x", strict=False)
    assert not exporter.enabled


def test_programmatic_registration_delivers_an_error(discord_server, tmp_path):
    """A TracerProvider with the exporter posts a failing server span to Discord as one embed."""
    hook = discord_server.create_webhook(channel="errors")
    exporter = DiscordSpanExporter(hook.url, allowed_hosts=discord_server.host_port, spool_dir=str(tmp_path))
    provider = TracerProvider(resource=Resource.create({"service.name": "billing"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("test")
    with pytest.raises(KeyError):
        with tracer.start_as_current_span(
            "GET /invoices/<id>",
            kind=SpanKind.SERVER,
            attributes={"http.route": "/invoices/<id>", "http.method": "GET"},
        ):
            raise KeyError("invoice 250090")
    provider.force_flush()
    assert exporter.force_flush(10_000)
    (message,) = discord_server.wait_for_messages(1, channel="errors")
    (embed,) = message.payload["embeds"]
    assert "KeyError" in embed["title"]
    assert "billing" in str(embed)
    provider.shutdown()
    assert not exporter.enabled


def test_shutdown_twice_only_warns(discord_server, tmp_path, capture_otel_discord_logs):
    """A second shutdown() is harmless and says so."""
    hook = discord_server.create_webhook()
    exporter = DiscordSpanExporter(hook.url, allowed_hosts=discord_server.host_port, spool_dir=str(tmp_path))
    exporter.shutdown()
    exporter.shutdown()
    assert "already shut down" in _captured(capture_otel_discord_logs)


def test_ignored_spans_produce_nothing(discord_server, tmp_path):
    """Fast, successful spans never reach Discord."""
    hook = discord_server.create_webhook()
    exporter = DiscordSpanExporter(hook.url, allowed_hosts=discord_server.host_port, spool_dir=str(tmp_path))
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=50))
    tracer = provider.get_tracer("test")
    for _ in range(50):
        with tracer.start_as_current_span("GET /ok", kind=SpanKind.SERVER, attributes={"http.status_code": 200}):
            pass
    provider.force_flush()
    exporter.force_flush(5_000)
    provider.shutdown()
    assert discord_server.messages() == []
    assert discord_server.stats()["requests"] <= 1  # at most the GET that learns the channel


def test_bad_route_in_config_file_disables_instead_of_raising(monkeypatch, tmp_path, capture_otel_discord_logs):
    """A broken `routes:` entry is reported by its path; the no-argument constructor still never raises."""
    config = tmp_path / "otel-discord.yaml"
    config.write_text("routes:\n  - match: {level: loud}\n    channel: default\n")
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_WEBHOOK_URL", "https://discord.com/api/webhooks/1/" + "a" * 68)
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_CONFIG", str(config))
    exporter = DiscordSpanExporter()
    assert not exporter.enabled
    text = _captured(capture_otel_discord_logs)
    assert "routes" in text and "loud" in text
