"""Business events → notices: ``invoice.created`` with its amount becomes "🟢 INVOICE_CREATED".

An event is anything with an event name: a log record's ``event_name`` (the
logging bridge moves ``extra={"event.name": ...}`` there), an ``event.name``
attribute, or a span event carrying one. Each becomes one ``Kind.EVENT`` notice
rendered from its template (``templates.py``), never grouped (fingerprint ""),
with the original attributes kept for routing filters, and is handed to
``observe.business_event`` for the summaries. The suspicious-activity
detectors watch the same stream.

Spans contribute two more things here: business events recorded as span events,
and schema changes (a CREATE/ALTER/DROP TABLE/INDEX statement on a database span).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.trace import SpanKind

from otel_discord.detect import observations as observe
from otel_discord.health.log import get_logger
from otel_discord.config import ConfigError, Settings
from otel_discord.config.parse import parse_duration, parse_int_non_negative
from otel_discord.detect import semconv as sc
from otel_discord.detect.money import DEFAULT_STYLE, parse_style, to_decimal
from otel_discord.detect.sql import short_db_name
from otel_discord.detect.stack import describe_frame, read_traceback
from otel_discord.detect.suspicious import Finding, SuspiciousActivity
from otel_discord.detect.templates import BUILT_IN, HIGH_VALUE_NOTE, HIGH_VALUE_TITLE, Templates
from otel_discord.notice import Category, Field, Kind, Notice, Severity

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

_logger = get_logger(__name__)

EVENT_NAME: Final = "event.name"
#: Events that move money: at or above ``HIGH_VALUE_AMOUNT`` they become HIGH_VALUE_TRANSACTION.
HIGH_VALUE_EVENTS: Final = frozenset({"invoice.created", "invoice.updated", "invoice.paid"})
#: Events that are good news at INFO level.
SUCCESS_EVENTS: Final = frozenset({"invoice.paid", "import.completed", "job.completed"})
_CATEGORY_BY_PREFIX: Final = {
    "invoice": Category.INVOICE,
    "payment": Category.PAYMENT,
    "btw": Category.BTW,
    "import": Category.IMPORT,
    "export": Category.EXPORT,
    "auth": Category.USER,
    "form": Category.USER,
    "user": Category.USER,
    "job": Category.SYSTEM,
    "config": Category.SYSTEM,
    "schema": Category.SYSTEM,
    "security": Category.SECURITY,
    "suspicious": Category.SECURITY,
}
_SECURITY_EVENTS: Final = frozenset({"auth.login_failed"})
_PAYMENT_EVENTS: Final = frozenset({"invoice.paid"})
_MAX_NAME: Final = 128
_MAX_BODY: Final = 2000
_DDL: Final = re.compile(
    r"^\s*(?:(?:/\*.*?\*/|--[^\n]*\n)\s*)*(CREATE|ALTER|DROP)\s+(?:UNIQUE\s+)?(TABLE|INDEX)\s+"
    r"(?:CONCURRENTLY\s+)?(?:IF\s+(?:NOT\s+)?EXISTS\s+)?([^\s(;]+)",
    re.IGNORECASE | re.DOTALL,
)
_DDL_WORDS: Final = ("CREATE", "ALTER", "DROP", "create", "alter", "drop")
_MAX_STATEMENTS: Final = 20


# --- settings ------------------------------------------------------------------------------


def _non_negative_amount(value: Any) -> Decimal:
    number = to_decimal(value)
    if number is None or number < 0:
        raise ValueError(f"must be an amount of at least 0, got {value!r}")
    return number


@dataclass(frozen=True)
class EventOptions:
    """The settings of business events and suspicious-activity detection (see the README's table)."""

    templates: Templates = field(default_factory=Templates)
    amount_style: str = DEFAULT_STYLE
    high_value_amount: Decimal = Decimal(5000)
    duplicate_window_s: float = 600.0
    failed_login_limit: int = 5
    failed_login_window_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings, **arguments: Any) -> EventOptions:
        """Resolve each option (argument → env → file → default); ``ConfigError`` naming the bad one."""
        def get(name: str, parse: Any, default: Any) -> Any:
            return settings.lookup(name.upper(), parse, default, arguments.get(name))

        return cls(
            templates=Templates.from_config(settings.raw_file),
            amount_style=get("amount_style", parse_style, DEFAULT_STYLE),
            high_value_amount=get("high_value_amount", _non_negative_amount, Decimal(5000)),
            duplicate_window_s=get("duplicate_window_s", parse_duration, 600.0),
            failed_login_limit=get("failed_login_limit", parse_int_non_negative, 5),
            failed_login_window_s=get("failed_login_window_s", parse_duration, 600.0),
        )


# --- classification ------------------------------------------------------------------------


def event_name_of(event_name: Any, attributes: Mapping[str, Any]) -> str | None:
    """The business-event name of a record: its ``event_name`` field, else its ``event.name`` attribute."""
    for candidate in (event_name, attributes.get(EVENT_NAME)):
        if isinstance(candidate, str):
            name = candidate.strip()
            if name:
                return name[:_MAX_NAME]
    return None


def category_for(event_name: str, attributes: Mapping[str, Any]) -> Category:
    """``invoice.*`` → INVOICE, ``invoice.paid`` → PAYMENT, ``auth.login_failed`` → SECURITY, …"""
    explicit = attributes.get("event.category")
    if isinstance(explicit, str):
        try:
            return Category.parse(explicit)
        except ValueError:
            pass
    if event_name in _SECURITY_EVENTS:
        return Category.SECURITY
    if event_name in _PAYMENT_EVENTS:
        return Category.PAYMENT
    return _CATEGORY_BY_PREFIX.get(event_name.split(".", 1)[0].lower(), Category.SYSTEM)


def severity_of(number: Any, text: Any) -> Severity | None:
    """An OpenTelemetry severity (number 1–24, else its text) as a ``Severity``; None when absent."""
    value = getattr(number, "value", number)
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 24:
        return (Severity.DEBUG, Severity.DEBUG, Severity.INFO, Severity.WARNING, Severity.ERROR,
                Severity.CRITICAL)[(value - 1) // 4]
    if isinstance(text, str) and text.strip():
        try:
            return Severity.parse(text)
        except ValueError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One business event, whichever signal it came from."""

    name: str
    attributes: Mapping[str, Any]
    severity: Severity
    timestamp: float
    body: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    service: str | None = None
    environment: str | None = None
    host: str | None = None
    signal: str = "logs"


# --- the detector --------------------------------------------------------------------------


class EventDetector:
    """Render business events and the suspicious activity they reveal. Thread-safe."""

    def __init__(self, options: EventOptions | None = None) -> None:
        self.options = options or EventOptions()
        self._suspicious = SuspiciousActivity(
            duplicate_window=self.options.duplicate_window_s,
            failed_login_limit=self.options.failed_login_limit,
            failed_login_window=self.options.failed_login_window_s,
        )

    def __call__(self, event: Occurrence) -> list[Notice]:
        """The event's notice, then any suspicious-activity notices it triggers."""
        attributes = {**event.attributes, EVENT_NAME: event.name}
        observe.business_event(event.name, attributes)
        notices = [self.render(event, attributes)]
        for finding in self._suspicious.observe(event.name, attributes, event.timestamp):
            notices.append(self._finding(event, finding))
        return notices

    def render(self, event: Occurrence, attributes: Mapping[str, Any], *, category: Category | None = None,
               code: str | None = None, code_language: str = "") -> Notice:
        """One event as a notice, using its template and link."""
        options = self.options
        style = options.amount_style
        severity = event.severity
        if event.name in SUCCESS_EVENTS and severity == Severity.INFO:
            severity = Severity.SUCCESS
        values: dict[str, Any] = {**attributes, "body": event.body, "severity": severity.name.lower()}
        high_value = self._is_high_value(event.name, attributes)
        if high_value:  # the pipeline makes it notify whatever its level (filters/amount.py)
            entity = event.name.split(".", 1)[0]
            values["high_value.threshold"] = float(options.high_value_amount)
            values["high_value.currency"] = attributes.get(f"{entity}.currency")
        template, title_overridden = options.templates.template(event.name, severity.name)
        title, description, field_pairs = template.render(values, style)
        if high_value:
            if not title_overridden:
                title = HIGH_VALUE_TITLE.render(values, style)
            description = "\n".join(p for p in (description, HIGH_VALUE_NOTE.render(values, style)) if p)
        if not description:
            description = event.body[:_MAX_BODY]
        fields = [Field(name, value) for name, value in field_pairs]
        used = {key for part in template.description for key in part.text.keys}
        user = sc.text(attributes, ("user.name", *sc.ENDUSER_ID))
        if user and "user.name" not in used:
            fields.append(Field("User", user))
        stacktrace = attributes.get(sc.EXCEPTION_STACKTRACE)
        if code is None and isinstance(stacktrace, str) and stacktrace:
            frame, traceback_text = read_traceback(stacktrace)
            if frame is not None:
                fields.append(Field("Location", describe_frame(frame), inline=False))
            code, code_language = traceback_text or None, "py"
        return Notice(
            kind=Kind.EVENT,
            severity=severity,
            category=category or category_for(event.name, attributes),
            title=title,
            description=description,
            fields=tuple(fields),
            code=code,
            code_language=code_language if code else "",
            url=options.templates.link(event.name, values, style),
            attributes=attributes,
            fingerprint="",
            event_name=event.name,
            trace_id=event.trace_id,
            span_id=event.span_id,
            service=event.service,
            environment=event.environment,
            host=event.host,
            signal=event.signal,
            timestamp=event.timestamp,
        )

    def _is_high_value(self, event_name: str, attributes: Mapping[str, Any]) -> bool:
        if event_name not in HIGH_VALUE_EVENTS and not event_name.startswith("payment."):
            return False
        threshold = self.options.high_value_amount
        amount = to_decimal(attributes.get(f"{event_name.split('.', 1)[0]}.amount"))
        # As filters/amount.py: 0 turns it off, and a credit note of -€6,000 is high value too.
        return amount is not None and threshold > 0 and abs(amount) >= threshold

    def _finding(self, event: Occurrence, finding: Finding) -> Notice:
        derived = Occurrence(
            name=finding.event_name,
            attributes=finding.attributes,
            severity=finding.severity,
            timestamp=event.timestamp,
            trace_id=event.trace_id,
            span_id=event.span_id,
            service=event.service,
            environment=event.environment,
            host=event.host,
            signal=event.signal,
        )
        attributes = {**finding.attributes, EVENT_NAME: finding.event_name}
        return self.render(derived, attributes, category=finding.category)


# --- spans: business events recorded as span events, schema changes --------------------------


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
            found.extend(self._events(Occurrence(
                name=name, attributes=dict(attributes), severity=severity, timestamp=timestamp, body=event.name,
                trace_id=trace_id, span_id=span_id, signal="traces", **_origin(span, self._environment),
            )))
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
            name="schema.changed", attributes=attributes, severity=severity, timestamp=first.end_time / 1e9,
            trace_id=trace_id, span_id=span_id, signal="traces", **_origin(first, self._environment),
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
