"""Builders for the log tests: real SDK log records made the way an instrumented app makes them.

Records come from plain ``logging`` calls through opentelemetry-instrumentation-logging's
``LoggingHandler`` into a real ``LoggerProvider`` and an in-memory exporter, so the tests see
exactly what ``DiscordLogExporter.export`` receives under ``opentelemetry-instrument``. The
tests in this file pin the bridge behaviour the detectors rely on.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_discord.config import Settings, resolve

WEBHOOK = "https://discord.com/api/webhooks/1/" + "a" * 68
_names = itertools.count()


def settings(environ: Mapping[str, str] | None = None, config_file: str | None = None) -> Settings:
    """Log-signal settings with a default channel and whatever else ``environ`` says."""
    env = {"OTEL_EXPORTER_DISCORD_WEBHOOK_URL": WEBHOOK, **(environ or {})}
    return resolve("logs", environ=env, config_file=config_file)


class Telemetry:
    """A logger (``log``) and tracer (``tracer``) whose output lands in ``records()`` and ``spans()``."""

    def __init__(self, logger_name: str, resource: Mapping[str, Any]) -> None:
        resource_obj = Resource.create(dict(resource))
        self.log_exporter = InMemoryLogRecordExporter()
        self.provider = LoggerProvider(resource=resource_obj)
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))
        self.span_exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(resource=resource_obj)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.tracer = self.tracer_provider.get_tracer("tests")
        self.handler = LoggingHandler(logger_provider=self.provider)
        # A fresh stdlib logger per test: handlers never leak between tests.
        self.log = logging.getLogger(f"{logger_name}.{next(_names)}" if logger_name != "otel_discord" else logger_name)
        self.log.setLevel(logging.DEBUG)
        self.log.propagate = False
        self.log.addHandler(self.handler)

    def records(self) -> tuple[ReadableLogRecord, ...]:
        return self.log_exporter.get_finished_logs()

    def spans(self) -> tuple[Any, ...]:
        return self.span_exporter.get_finished_spans()

    def event(self, name: str, message: str = "", level: int = logging.INFO, **attributes: Any) -> None:
        """Log a business event the way the Ozark app does: ``extra={"event.name": name, ...}``."""
        self.log.log(level, message or name, extra={"event.name": name, **attributes})

    def close(self) -> None:
        self.log.removeHandler(self.handler)


@contextmanager
def telemetry(logger_name: str = "ozark", **resource: Any) -> Iterator[Telemetry]:
    resource = {"service.name": "ozark-finances", **resource}
    made = Telemetry(logger_name, resource)
    try:
        yield made
    finally:
        made.close()


def test_bridge_moves_event_name_out_of_the_attributes():
    """`extra={"event.name": ...}` arrives as the record's event_name, not as an attribute."""
    with telemetry() as t:
        t.event("invoice.created", **{"invoice.amount": 2450.0})
        (item,) = t.records()
    assert item.log_record.event_name == "invoice.created"
    assert "event.name" not in item.log_record.attributes
    assert item.log_record.attributes["invoice.amount"] == 2450.0


def test_bridge_records_exceptions_as_attributes_with_the_span_ids():
    """A logged exception carries exception.* attributes and the active span's trace id."""
    with telemetry() as t:
        with t.tracer.start_as_current_span("GET /boom") as span:
            try:
                raise KeyError("invoice 7")
            except KeyError:
                t.log.exception("lookup failed")
        (item,) = t.records()
    record = item.log_record
    assert record.attributes["exception.type"] == "KeyError"
    assert "Traceback (most recent call last)" in record.attributes["exception.stacktrace"]
    assert record.trace_id == span.get_span_context().trace_id
    assert int(record.trace_flags) & 1
