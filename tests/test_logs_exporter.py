"""DiscordLogExporter as the SDK and users see it: construction, export to a strict Discord, flush, shutdown."""

from __future__ import annotations

import logging
import re
from importlib.metadata import entry_points

import pytest
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    LogRecordExportResult,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

from otel_discord import DiscordLogExporter, DiscordSpanExporter

DISCORD_VARS = (
    "WEBHOOK_URL",
    "CONFIG",
    "ALLOWED_HOSTS",
    "LOG_MIN_LEVEL",
    "LOGS_LOG_MIN_LEVEL",
    "HIGH_VALUE_AMOUNT",
    "MIN_AMOUNT",
    "PRESET",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in DISCORD_VARS:
        monkeypatch.delenv(f"OTEL_EXPORTER_DISCORD_{name}", raising=False)


@pytest.fixture
def our_logs(caplog):
    # otel_discord's logger does not propagate to root (see _log.py); attach caplog's handler directly.
    logger = logging.getLogger("otel_discord")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def plain(text: str) -> str:
    """Embed text without render's markdown escapes."""
    return re.sub(r"\\([^\w\s]|_)", r"\1", text)


class App:
    """An app's logging wired to a LoggerProvider with the Discord exporter, as opentelemetry-instrument does."""

    def __init__(self, exporter: DiscordLogExporter, name: str = "ozark") -> None:
        self.exporter = exporter
        self.provider = LoggerProvider(resource=Resource.create({"service.name": "ozark-finances"}))
        self.provider.add_log_record_processor(BatchLogRecordProcessor(exporter, schedule_delay_millis=20))
        self.handler = LoggingHandler(logger_provider=self.provider)
        self.log = logging.getLogger(name)
        self._level = self.log.level
        self.log.setLevel(logging.INFO)
        self.log.addHandler(self.handler)

    def close(self) -> None:
        self.log.removeHandler(self.handler)
        self.log.setLevel(self._level)
        self.provider.shutdown()


@pytest.fixture
def app_factory(discord_server, tmp_path):
    made: list[App] = []

    def make(name: str = "ozark", **kwargs) -> App:
        hook = discord_server.create_webhook("finance")
        kwargs.setdefault("spool_dir", str(tmp_path / "spool"))
        exporter = DiscordLogExporter(hook.url, allowed_hosts=discord_server.host_port, **kwargs)
        made.append(App(exporter, name))
        made[-1].hook_url = hook.url
        return made[-1]

    yield make
    for app in made:
        app.close()


def test_entry_point_names_the_exporter():
    """`OTEL_LOGS_EXPORTER=discord` resolves to DiscordLogExporter."""
    (ep,) = entry_points(group="opentelemetry_logs_exporter", name="discord")
    assert ep.load() is DiscordLogExporter


def test_no_argument_constructor_never_raises(our_logs):
    """Under opentelemetry-instrument a missing webhook logs one ERROR naming the variable; export is a no-op."""
    exporter = DiscordLogExporter()
    assert not exporter.enabled
    errors = [r.getMessage() for r in our_logs.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "OTEL_EXPORTER_DISCORD_WEBHOOK_URL" in errors[0]
    assert exporter.export([]) is LogRecordExportResult.SUCCESS
    exporter.shutdown(timeout_millis=100, extra="ignored")  # processors may pass more keywords


def test_bad_feature_setting_disables_with_a_message(monkeypatch, our_logs, discord_server):
    """A bad log setting in the environment disables the exporter and names the variable; nothing raises."""
    hook = discord_server.create_webhook()
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_WEBHOOK_URL", hook.url)
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS", discord_server.host_port)
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_LOGS_LOG_MIN_LEVEL", "loud")
    exporter = DiscordLogExporter()
    assert not exporter.enabled
    assert "OTEL_EXPORTER_DISCORD_LOGS_LOG_MIN_LEVEL" in our_logs.text
    assert hook.token not in our_logs.text


def test_programmatic_mistakes_raise(tmp_path):
    """In code a bad argument, or a bad template in the config file, is a ValueError naming it."""
    url = "https://discord.com/api/webhooks/1/" + "a" * 68
    with pytest.raises(ValueError, match="amount_style"):
        DiscordLogExporter(url, amount_style="fr")
    config = tmp_path / "otel-discord.yaml"
    config.write_text("templates:\n  invoice.created: {description: '{invoice.amount:>999999}'}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="templates.invoice.created.description"):
        DiscordLogExporter(url, config_file=str(config))


def test_business_event_reaches_discord(app_factory, discord_server):
    """A logger.info(..., extra=...) business event arrives as its template's embed; INFO chatter does not."""
    app = app_factory()
    app.log.info("fetched 3 invoices")
    app.log.info(
        "Invoice #250090 created",
        extra={
            "event.name": "invoice.created",
            "invoice.number": "250090",
            "invoice.amount": 7850.0,
            "invoice.currency": "EUR",
            "invoice.client": "Installatiebedrijf Mulder B.V.",
            "user.name": "anna",
        },
    )
    app.provider.force_flush()
    assert app.exporter.force_flush(10_000)
    (message,) = discord_server.wait_for_messages(1, channel="finance")
    (embed,) = message.payload["embeds"]
    assert "💰 HIGH_VALUE_TRANSACTION" in plain(embed["title"])
    assert plain(embed["description"]) == (
        "Invoice #250090 created - Amount: €7,850.00 - Client: Installatiebedrijf "
        "Mulder B.V.\n⚠️ Amount exceeds threshold (€5,000.00)"
    )
    assert {"name": "User", "value": "anna", "inline": True} in embed["fields"]
    assert discord_server.rejected() == []


def test_records_of_our_own_loggers_are_never_sent(app_factory, discord_server):
    """Even if someone bridges the otel_discord logger, its records do not become messages (no feedback loop)."""
    app = app_factory(name="otel_discord.deliver.engine")
    app.log.error("webhook answered 500")
    app.provider.force_flush()
    assert app.exporter.force_flush(5_000)
    assert discord_server.messages() == []


def test_log_and_span_of_one_failure_alert_once(app_factory, discord_server, tmp_path):
    """A request that raises and is logged by Flask: the span exporter and the log exporter post one alert."""
    app = app_factory()
    spans = DiscordSpanExporter(app.hook_url, allowed_hosts=discord_server.host_port, spool_dir=str(tmp_path / "spool"))
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "ozark-finances"}))
    tracer_provider.add_span_processor(BatchSpanProcessor(spans, schedule_delay_millis=200))
    tracer = tracer_provider.get_tracer("flask")
    with pytest.raises(ZeroDivisionError):
        with tracer.start_as_current_span(
            "GET /boom",
            kind=SpanKind.SERVER,
            attributes={
                "http.route": "/boom",
                "http.method": "GET",
                "http.status_code": 500,
            },
        ):
            try:
                1 / 0
            except ZeroDivisionError:
                app.log.exception("Exception on /boom [GET]")
                raise
    assert discord_server.wait_for(lambda: len(discord_server.messages()) >= 1, timeout=10)
    tracer_provider.shutdown()
    app.close()
    embeds = [e for m in discord_server.messages() for e in m.payload["embeds"]]
    assert len(embeds) == 1, embeds
    assert "ZeroDivisionError" in embeds[0]["title"]
    assert {f["name"] for f in embeds[0]["fields"]} >= {"Route", "Status"}  # the span's richer report


def test_flush_delivers_a_logged_error_still_waiting_for_its_span(app_factory, discord_server, tmp_path):
    """force_flush does not wait out LOG_ERROR_HOLD_MS: a held error goes out now."""
    app = app_factory(log_error_hold_ms=600_000)
    keep_alive = DiscordSpanExporter(
        app.hook_url, allowed_hosts=discord_server.host_port, spool_dir=str(tmp_path / "spool")
    )
    tracer = TracerProvider().get_tracer("no exporter: this span is never exported")
    with tracer.start_as_current_span("job"):
        try:
            {}["missing"]
        except KeyError:
            app.log.exception("nightly sync failed")
    app.provider.force_flush()
    assert discord_server.messages() == []  # waiting for a span that will not come
    assert app.exporter.force_flush(10_000)
    (message,) = discord_server.wait_for_messages(1)
    assert "KeyError" in message.payload["embeds"][0]["title"]
    keep_alive.shutdown()
