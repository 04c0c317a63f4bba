"""Business events: log records and span events with an event name become EVENT notices."""

from __future__ import annotations

import logging
import time

import pytest
from opentelemetry.trace import SpanKind
from test_logs_support import settings, telemetry

from otel_discord.config import ConfigError
from otel_discord.detect import observations as observe
from otel_discord.detect.dedupe import ExceptionRegistry
from otel_discord.detect.events import EventDetector, EventOptions
from otel_discord.detect.logs import LogDetector, LogOptions
from otel_discord.detect.spans import SpanDetector
from otel_discord.notice import Category, Kind, Severity

INVOICE = {
    "invoice.number": "250089",
    "invoice.amount": 2450.0,
    "invoice.currency": "EUR",
    "invoice.client": "Bakkerij de Vries",
    "user.name": "anna",
}


def detect(t, environ=None, config_file=None):
    s = settings(environ, config_file)
    detector = LogDetector(
        s, LogOptions.from_settings(s), EventDetector(EventOptions.from_settings(s)), exceptions=ExceptionRegistry()
    )
    return detector(t.records(), now=time.time())


@pytest.fixture(autouse=True)
def drained_observations():
    observe.drain()
    yield
    observe.drain()


@pytest.mark.parametrize(
    ("name", "level", "category", "severity"),
    [
        ("invoice.created", logging.INFO, Category.INVOICE, Severity.INFO),
        ("invoice.deleted", logging.WARNING, Category.INVOICE, Severity.WARNING),
        ("invoice.paid", logging.INFO, Category.PAYMENT, Severity.SUCCESS),
        ("invoice.overdue", logging.WARNING, Category.INVOICE, Severity.WARNING),
        ("payment.received", logging.INFO, Category.PAYMENT, Severity.INFO),
        ("btw.payment.updated", logging.INFO, Category.BTW, Severity.INFO),
        ("import.completed", logging.INFO, Category.IMPORT, Severity.SUCCESS),
        ("import.completed", logging.WARNING, Category.IMPORT, Severity.WARNING),  # rows were rejected
        ("import.failed", logging.WARNING, Category.IMPORT, Severity.WARNING),
        ("export.downloaded", logging.INFO, Category.EXPORT, Severity.INFO),
        ("auth.login", logging.INFO, Category.USER, Severity.INFO),
        ("auth.login_failed", logging.WARNING, Category.SECURITY, Severity.WARNING),
        ("auth.logout", logging.INFO, Category.USER, Severity.INFO),
        ("auth.session_timeout", logging.INFO, Category.USER, Severity.INFO),
        ("form.submitted", logging.INFO, Category.USER, Severity.INFO),
        ("job.completed", logging.INFO, Category.SYSTEM, Severity.SUCCESS),
        ("job.failed", logging.ERROR, Category.SYSTEM, Severity.ERROR),
        ("config.changed", logging.INFO, Category.SYSTEM, Severity.INFO),
        ("invoice.created", logging.DEBUG, Category.INVOICE, Severity.DEBUG),  # events pass at any level
    ],
)
def test_category_and_severity(name, level, category, severity):
    """Each event lands in its category with the record's level (good news at INFO is SUCCESS)."""
    with telemetry() as t:
        t.event(name, level=level, **{"x.y": 1})
        (notice,) = detect(t)
    assert (notice.kind, notice.category, notice.severity, notice.event_name) == (Kind.EVENT, category, severity, name)
    assert notice.fingerprint == ""  # business events are never grouped


def test_attributes_keep_the_record_plus_event_name_and_reach_observe():
    """Routing filters see every attribute and event.name; the summaries get the same event."""
    with telemetry() as t:
        t.event("invoice.created", "Invoice #250089 created", **INVOICE)
        (notice,) = detect(t)
    assert notice.attributes == {**INVOICE, "event.name": "invoice.created"}
    assert notice.signal == "logs" and notice.service == "ozark-finances"
    _, events = observe.drain()
    assert events == [("invoice.created", {**INVOICE, "event.name": "invoice.created"})]


def test_event_name_attribute_also_makes_an_event():
    """A record that kept event.name as an attribute (other bridges, the OTLP gateway) is an event too."""
    with telemetry() as t:
        t.log.info("paid", extra={"otel_event": 1})
        t.provider.get_logger("direct").emit(body="x", attributes={"event.name": "invoice.paid", **INVOICE})
        notices = detect(t)
    assert [n.event_name for n in notices] == ["invoice.paid"]


def test_user_field_and_message_fallback():
    """The user who caused it is a field; an event without a template shows its log message."""
    with telemetry() as t:
        t.event("invoice.created", **INVOICE)
        t.event("order.shipped", "Order 17 shipped to Utrecht")
        created, shipped = detect(t)
    assert {"name": "User", "value": "anna"} in [{"name": f.name, "value": f.value} for f in created.fields]
    assert shipped.title == "🔵 ORDER_SHIPPED" and shipped.description == "Order 17 shipped to Utrecht"


class TestHighValue:
    def test_at_threshold_becomes_high_value_transaction(self):
        """invoice ≥ €5,000: the HIGH_VALUE_TRANSACTION variant with the threshold."""
        with telemetry() as t:
            t.event("invoice.paid", **{**INVOICE, "invoice.number": "250090", "invoice.amount": 7850.0})
            t.event("invoice.created", **{**INVOICE, "invoice.amount": 4999.99})
            high, normal = detect(t)
        assert high.title == "💰 HIGH_VALUE_TRANSACTION"
        assert high.description == (
            "Invoice #250090 paid - Amount: €7,850.00 - Client: Bakkerij de Vries\n"
            "⚠️ Amount exceeds threshold (€5,000.00)"
        )
        assert high.category is Category.PAYMENT and high.event_name == "invoice.paid"
        assert normal.title == "🟢 INVOICE_CREATED"

    def test_threshold_and_style_settings(self):
        """HIGH_VALUE_AMOUNT and AMOUNT_STYLE come from the environment (or file, or arguments)."""
        with telemetry() as t:
            t.event("invoice.created", **{**INVOICE, "invoice.amount": 1200.0})
            (notice,) = detect(
                t, {"OTEL_EXPORTER_DISCORD_HIGH_VALUE_AMOUNT": "1000", "OTEL_EXPORTER_DISCORD_LOGS_AMOUNT_STYLE": "nl"}
            )
        assert notice.title == "💰 HIGH_VALUE_TRANSACTION"
        assert "€1.200,00" in notice.description and "(€1.000,00)" in notice.description

    def test_zero_turns_it_off_and_other_events_never_qualify(self):
        """HIGH_VALUE_AMOUNT=0 disables the variant; an export total is not a transaction."""
        with telemetry() as t:
            t.event("invoice.created", **{**INVOICE, "invoice.amount": 90_000.0})
            (notice,) = detect(t, {"OTEL_EXPORTER_DISCORD_HIGH_VALUE_AMOUNT": "0"})
            t.log_exporter.clear()
            t.event("export.downloaded", **{"export.amount": 90_000.0})
            (export,) = detect(t)
        assert notice.title == "🟢 INVOICE_CREATED" and export.title == "📤 EXPORT_DOWNLOADED"

    def test_bad_setting_names_the_variable(self):
        """A bad amount is a ConfigError naming the variable."""
        with pytest.raises(ConfigError, match="OTEL_EXPORTER_DISCORD_HIGH_VALUE_AMOUNT"):
            EventOptions.from_settings(settings({"OTEL_EXPORTER_DISCORD_HIGH_VALUE_AMOUNT": "lots"}))


def test_config_file_templates_and_links(tmp_path):
    """Overrides and links from the YAML file shape the notice and its URL."""
    config = tmp_path / "otel-discord.yaml"
    config.write_text(
        "templates:\n"
        "  invoice.created:\n"
        "    description: 'Invoice #{invoice.number} for {invoice.client}: {invoice.amount:money}'\n"
        "links:\n"
        "  invoice.*: 'https://ozark.example/invoices/{invoice.number}'\n",
        encoding="utf-8",
    )
    with telemetry() as t:
        t.event("invoice.created", **INVOICE)
        (notice,) = detect(t, config_file=str(config))
    assert notice.description == "Invoice #250089 for Bakkerij de Vries: €2,450.00"
    assert notice.url == "https://ozark.example/invoices/250089"


def test_job_failed_carries_its_traceback():
    """An event logged with exc_info shows where it failed and the innermost frames."""
    with telemetry() as t:
        try:
            open("/nonexistent/ozark.db", "rb")
        except OSError:
            t.log.error(
                "backup failed",
                exc_info=True,
                extra={
                    "event.name": "job.failed",
                    "job.name": "backup",
                    "job.duration_ms": 12.4,
                    "error.type": "FileNotFoundError",
                },
            )
        (notice,) = detect(t)
    assert notice.title == "❌ JOB_FAILED"
    assert notice.description == "Job backup failed after 12 ms - Error: FileNotFoundError"
    assert notice.code_language == "py" and "FileNotFoundError" in notice.code
    assert any(f.name == "Location" and "test_events_detect.py" in f.value for f in notice.fields)


class TestSpans:
    """The span exporter's detector also finds business events on span events, and schema changes."""

    def test_span_event_with_an_event_name(self):
        """span.add_event(...) with event.name (or a known event name) is a business event."""
        with telemetry() as t:
            with t.tracer.start_as_current_span("POST /invoices/<id>/pay") as span:
                span.add_event("payment", {"event.name": "invoice.paid", **INVOICE})
                span.add_event("invoice.created", INVOICE)
                span.add_event("cache.miss", {"key": "x"})
            notices = SpanDetector(settings())(t.spans())
        assert [(n.event_name, n.kind, n.signal) for n in notices] == [
            ("invoice.paid", Kind.EVENT, "traces"),
            ("invoice.created", Kind.EVENT, "traces"),
        ]
        assert notices[0].trace_id == format(span.get_span_context().trace_id, "032x")

    def test_ddl_on_a_database_span_is_one_schema_notice_per_batch(self):
        """CREATE/ALTER/DROP TABLE/INDEX statements become one SYSTEM notice; DROP makes it a warning."""
        statements = [
            ("CREATE sales.db", "CREATE TABLE invoices (\n\tid INTEGER NOT NULL,\n\tPRIMARY KEY (id)\n)"),
            ("CREATE sales.db", 'CREATE UNIQUE INDEX IF NOT EXISTS "ix_invoices_number" ON invoices (number)'),
            ("DROP sales.db", "DROP TABLE legacy_invoices"),
            ("CREATE sales.db", "CREATE TEMPORARY TABLE scratch (x INT)"),  # not a schema change
            ("SELECT sales.db", "SELECT 1"),
        ]
        with telemetry() as t:
            for name, statement in statements:
                with t.tracer.start_as_current_span(
                    name,
                    kind=SpanKind.CLIENT,
                    attributes={
                        "db.system": "sqlite",
                        "db.name": "/srv/data/sales.db",
                        "db.statement": statement,
                    },
                ):
                    pass
            (notice,) = SpanDetector(settings())(t.spans())
        assert (notice.kind, notice.category, notice.severity) == (Kind.EVENT, Category.SYSTEM, Severity.WARNING)
        assert notice.title == "🛠️ SCHEMA_CHANGED"
        assert notice.description == (
            "3 schema change(s) on sales.db - CREATE TABLE invoices, "
            "CREATE INDEX ix_invoices_number, DROP TABLE legacy_invoices"
        )
        assert notice.code_language == "sql" and "PRIMARY KEY (id)" in notice.code and "scratch" not in notice.code


@pytest.mark.parametrize(
    ("file", "environ", "argument", "expected"),
    [
        ({}, {}, None, "en"),
        ({"amount_style": "nl"}, {}, None, "nl"),
        ({"amount_style": "nl"}, {"OTEL_EXPORTER_DISCORD_AMOUNT_STYLE": "en"}, None, "en"),
        ({}, {"OTEL_EXPORTER_DISCORD_AMOUNT_STYLE": "en", "OTEL_EXPORTER_DISCORD_LOGS_AMOUNT_STYLE": "nl"}, None, "nl"),
        ({"amount_style": "en"}, {"OTEL_EXPORTER_DISCORD_LOGS_AMOUNT_STYLE": "en"}, "nl", "nl"),
    ],
)
def test_option_precedence(tmp_path, file, environ, argument, expected):
    """Argument → signal variable → generic variable → config file → default, like every setting."""
    config = tmp_path / "c.yaml"
    config.write_text("".join(f"{k}: {v}\n" for k, v in file.items()) or "{}\n", encoding="utf-8")
    options = EventOptions.from_settings(settings(environ, str(config)), amount_style=argument)
    assert options.amount_style == expected
