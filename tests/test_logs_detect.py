"""LogDetector on real SDK log records: which records alert, and what the notice says."""

from __future__ import annotations

import json
import logging
import time

import pytest
from opentelemetry.trace import SpanKind
from test_logs_support import settings, telemetry

from otel_discord.detect.dedupe import ExceptionRegistry
from otel_discord.detect.events import EventDetector, EventOptions
from otel_discord.detect.logs import LogDetector, LogOptions
from otel_discord.detect.spans import SpanDetector
from otel_discord.notice import Category, Kind, Severity


def detect(t, environ=None, records=None):
    s = settings(environ)
    detector = LogDetector(
        s, LogOptions.from_settings(s), EventDetector(EventOptions.from_settings(s)), exceptions=ExceptionRegistry()
    )
    return detector(t.records() if records is None else records, now=time.time())


def fields(notice):
    return {f.name: f.value for f in notice.fields}


def parse_invoice(raw: str) -> dict:
    return json.loads(raw)  # raises json.JSONDecodeError: a non-builtin, module-qualified exception


class TestLevels:
    def test_warning_and_above_alert_by_default(self):
        """INFO chatter is ignored; a WARNING becomes a SYSTEM notice with its message."""
        with telemetry() as t:
            t.log.debug("cache warmed")
            t.log.info("fetched invoice 7")
            t.log.warning("Disk 93%% full on %s\nonly 2 GB left", "/var")
            t.log.critical("database unreachable")
            notices = detect(t)
        assert [(n.kind, n.category, n.severity) for n in notices] == [
            (Kind.SYSTEM, Category.SYSTEM, Severity.WARNING),
            (Kind.SYSTEM, Category.SYSTEM, Severity.CRITICAL),
        ]
        warning = notices[0]
        assert warning.title == "Disk 93% full on /var" and warning.description == "only 2 GB left"
        assert fields(warning)["Logger"] == t.log.name
        assert fields(warning)["Service"] == "ozark-finances"

    @pytest.mark.parametrize(
        ("setting", "expected"), [("error", ["boom"]), ("info", ["hello", "careful", "boom"]), ("off", [])]
    )
    def test_minimum_level_is_configurable(self, setting, expected):
        """LOG_MIN_LEVEL raises or lowers the bar; 'off' leaves only business events."""
        with telemetry() as t:
            t.log.info("hello")
            t.log.warning("careful")
            t.log.error("boom")
            t.event("invoice.created", level=logging.DEBUG)
            notices = detect(t, {"OTEL_EXPORTER_DISCORD_LOGS_LOG_MIN_LEVEL": setting})
        assert [n.title for n in notices if n.kind is not Kind.EVENT] == expected
        assert [n.event_name for n in notices if n.kind is Kind.EVENT] == ["invoice.created"]

    def test_own_loggers_are_ignored(self):
        """Records from otel_discord loggers never alert (no feedback loop), not even as events."""
        with telemetry("otel_discord") as t:
            t.log.error("delivery failed")
            t.event("invoice.created")
            assert len(t.records()) == 2
            assert detect(t) == []

    def test_same_warning_with_other_numbers_groups(self):
        """Numbers and quoted values do not make a new fingerprint; another message does."""
        with telemetry() as t:
            t.log.warning("retrying invoice 250089 after 3 attempts ('timeout')")
            t.log.warning("retrying invoice 250090 after 4 attempts ('reset')")
            t.log.warning("queue almost full")
            a, b, c = detect(t)
        assert a.fingerprint == b.fingerprint != c.fingerprint

    def test_non_text_body(self):
        """A structured body is shown as text."""
        with telemetry() as t:
            t.provider.get_logger("direct").emit(
                body={"disk": "/var", "free_gb": 2}, severity_text="WARN", severity_number=13
            )
            (notice,) = detect(t)
        assert notice.title == "{'disk': '/var', 'free_gb': 2}"


class TestExceptions:
    def test_logged_exception_reads_like_a_span_error(self):
        """Type and message in the title, the application frame, the stack trace in a code block."""
        with telemetry() as t:
            try:
                parse_invoice("not json")
            except ValueError:
                t.log.exception("could not read invoice upload")
            (notice,) = detect(t)
        assert (notice.kind, notice.category, notice.severity) == (Kind.ERROR, Category.ERROR, Severity.ERROR)
        assert notice.title == "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)"
        assert notice.description == "could not read invoice upload"
        assert "test_logs_detect.py" in fields(notice)["Location"] and "parse_invoice" in fields(notice)["Location"]
        assert notice.code_language == "py"
        assert notice.code.startswith("Traceback (most recent call last):")
        assert "return json.loads(raw)" in notice.code
        assert notice.attributes["exception.type"] == "json.decoder.JSONDecodeError"
        assert "exception.stacktrace" not in notice.attributes
        assert notice.fingerprint

    def test_warning_with_exception_is_not_an_error_category(self):
        """An exception logged at WARNING keeps its level and is a SYSTEM notice."""
        with telemetry() as t:
            try:
                {}["missing"]
            except KeyError:
                t.log.warning("optional setting missing", exc_info=True)
            (notice,) = detect(t)
        assert (notice.kind, notice.category, notice.severity) == (Kind.ERROR, Category.SYSTEM, Severity.WARNING)
        assert notice.title == "KeyError: 'missing'"

    def test_fingerprint_matches_the_span_detector(self):
        """The same failure seen on a span and in Flask's log groups under one fingerprint."""
        with telemetry() as t:
            with pytest.raises(ValueError):
                with t.tracer.start_as_current_span(
                    "GET /boom",
                    kind=SpanKind.SERVER,
                    attributes={
                        "http.route": "/boom",
                        "http.method": "GET",
                        "http.status_code": 500,
                    },
                ):
                    try:
                        parse_invoice("not json")
                    except ValueError:
                        t.log.exception("Exception on /boom [GET]")
                        raise
            (log_notice,) = detect(t)
            (span_notice,) = SpanDetector(settings())(t.spans())
        assert log_notice.title == span_notice.title
        assert log_notice.fingerprint == span_notice.fingerprint
        assert fields(log_notice)["Route"] == "GET /boom"  # read from Flask's message
        assert log_notice.description == "Raised while handling GET /boom."

    def test_user_and_client_fields(self):
        """Who was affected, when the record says so."""
        with telemetry() as t:
            try:
                raise RuntimeError("payment provider down")
            except RuntimeError:
                t.log.exception(
                    "pay failed",
                    extra={
                        "enduser.id": "anna",
                        "client.address": "198.51.100.4",
                        "http.route": "/invoices/<int:id>/pay",
                        "http.method": "POST",
                    },
                )
            (notice,) = detect(t)
        assert fields(notice)["User"] == "anna · 198.51.100.4"
        assert fields(notice)["Route"] == "POST /invoices/<int:id>/pay"
        assert notice.attributes["http.route"] == "/invoices/<int:id>/pay"


def test_a_broken_record_does_not_cost_the_batch():
    """One record that cannot be read is skipped; the others still alert."""
    with telemetry() as t:
        t.log.warning("first")
        t.log.warning("second")
        good = list(t.records())

    class Broken:
        @property
        def log_record(self):
            raise RuntimeError("corrupt")

    notices = detect(t, records=[good[0], Broken(), good[1]])
    assert [n.title for n in notices] == ["first", "second"]
