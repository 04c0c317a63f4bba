"""Business events and schema changes found in spans, for the span detector.

Two things a batch of spans can say besides errors and slowness: a business
event recorded as a span event (``span.add_event("invoice.paid", {...})``), which
becomes the same notice as its log-record twin (``events.py``), and schema changes
(a CREATE/ALTER/DROP TABLE/INDEX statement on a database span), one notice per
database per batch.

Its own module so that ``spans.py`` and ``events.py`` do not import each other:
``spans.py`` needs this, this needs ``events.py``, and ``events.py`` knows nothing
of spans.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.trace import SpanKind

from otel_discord.config import ConfigError, Settings
from otel_discord.detect import semconv as sc
from otel_discord.detect.events import EVENT_NAME, EventDetector, EventOptions, Occurrence, event_name_of, severity_of
from otel_discord.detect.sql import short_db_name
from otel_discord.detect.templates import BUILT_IN
from otel_discord.health.log import get_logger
from otel_discord.notice import Notice, Severity

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

_logger = get_logger(__name__)

_DDL: Final = re.compile(
    r"^\s*(?:(?:/\*.*?\*/|--[^\n]*\n)\s*)*(CREATE|ALTER|DROP)\s+(?:UNIQUE\s+)?(TABLE|INDEX)\s+"
    r"(?:CONCURRENTLY\s+)?(?:IF\s+(?:NOT\s+)?EXISTS\s+)?([^\s(;]+)",
    re.IGNORECASE | re.DOTALL,
)
_DDL_WORDS: Final = ("CREATE", "ALTER", "DROP", "create", "alter", "drop")
_MAX_STATEMENTS: Final = 20


def _ids(span: ReadableSpan) -> tuple[str | None, str | None]:
    context = span.context
    trace_id = getattr(context, "trace_id", 0)
    span_id = getattr(context, "span_id", 0)
    return (
        format(trace_id, "032x") if isinstance(trace_id, int) and trace_id > 0 else None,
        format(span_id, "016x") if isinstance(span_id, int) and span_id > 0 else None,
    )


def _origin(span: ReadableSpan, environment: str | None) -> dict[str, str | None]:
    resource = sc.resource_attributes(span.resource)
    return {
        "service": sc.text(resource, sc.SERVICE_NAME),
        "environment": sc.text(resource, sc.ENVIRONMENT) or environment,
        "host": sc.text(resource, sc.HOST_NAME),
    }


class SpanExtras:
    """Business events and schema changes in a batch of spans. Never raises."""

    def __init__(self, events: EventDetector, environment: str | None = None) -> None:
        self._events = events
        self._environment = environment

    def __call__(self, spans: Sequence[ReadableSpan]) -> list[Notice]:
        notices: list[Notice] = []
        changes: dict[str | None, list[tuple[ReadableSpan, re.Match[str], str]]] = {}
        for span in spans:
            try:
                events = sc.span_events(span)
                if events:
                    notices.extend(self._span_events(span, events))
                if span.kind is SpanKind.CLIENT and span.name.startswith(_DDL_WORDS):
                    self._collect_ddl(span, changes)
            except Exception:
                _logger.debug("skipping a span whose events could not be read", exc_info=True)
        for database, found in changes.items():
            try:
                notices.append(self._schema_change(database, found))
            except Exception:
                _logger.debug("schema change could not be described", exc_info=True)
        return notices

    def _span_events(self, span: ReadableSpan, events: Sequence[Any]) -> list[Notice]:
        found: list[Notice] = []
        for event in events:
            attributes = event.attributes if isinstance(event.attributes, Mapping) else {}
            if event.name == sc.EXCEPTION_EVENT:
                continue
            name = event_name_of(None, attributes)
            if name is None and event.name in BUILT_IN:
                name = event.name
            if name is None:
                continue
            trace_id, span_id = _ids(span)
            timestamp = event.timestamp / 1e9 if isinstance(event.timestamp, int) else span.end_time / 1e9
            severity = severity_of(None, attributes.get("event.severity")) or Severity.INFO
            found.extend(
                self._events(
                    Occurrence(
                        name=name,
                        attributes=dict(attributes),
                        severity=severity,
                        timestamp=timestamp,
                        body=event.name,
                        trace_id=trace_id,
                        span_id=span_id,
                        signal="traces",
                        **_origin(span, self._environment),
                    )
                )
            )
        return found

    @staticmethod
    def _collect_ddl(span: ReadableSpan, changes: dict[str | None, list[Any]]) -> None:
        attributes = span.attributes
        statement = sc.text(attributes, sc.DB_STATEMENT)
        match = _DDL.match(statement) if statement else None
        if match is None or statement is None:
            return
        system = sc.db_system(attributes)
        database = short_db_name(sc.text(attributes, sc.DB_NAME), system) or system
        changes.setdefault(database, []).append((span, match, statement))

    def _schema_change(self, database: str | None, found: list[tuple[ReadableSpan, re.Match[str], str]]) -> Notice:
        summaries = [f"{m[1].upper()} {m[2].upper()} {m[3].strip(chr(34) + '`[]')}" for _, m, _ in found]
        shown = summaries[:_MAX_STATEMENTS]
        more = len(summaries) - len(shown)
        first = found[0][0]
        trace_id, span_id = _ids(first)
        attributes = {
            "schema.count": len(found),
            "schema.summary": ", ".join(shown) + (f" (+{more} more)" if more else ""),
            "schema.operations": tuple(sorted({m[1].upper() for _, m, _ in found})),
            sc.ATTR_DB_NAME: database,
            sc.ATTR_DB_SYSTEM: sc.db_system(first.attributes),
        }
        attributes = {key: value for key, value in attributes.items() if value is not None}
        severity = Severity.WARNING if "DROP" in attributes["schema.operations"] else Severity.INFO
        event = Occurrence(
            name="schema.changed",
            attributes=attributes,
            severity=severity,
            timestamp=first.end_time / 1e9,
            trace_id=trace_id,
            span_id=span_id,
            signal="traces",
            **_origin(first, self._environment),
        )
        code = "\n\n".join(statement.strip() for _, _, statement in found[:_MAX_STATEMENTS])
        return self._events.render(event, {**attributes, EVENT_NAME: event.name}, code=code, code_language="sql")


def span_extras(settings: Settings) -> SpanExtras | None:
    """``SpanExtras`` for the span detector; None (logged) when the template settings are invalid."""
    try:
        return SpanExtras(EventDetector(EventOptions.from_settings(settings)), settings.environment)
    except ConfigError as exc:
        _logger.error("business events on spans are off: %s", exc)
        return None
