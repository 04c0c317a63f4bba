"""Business events → notices: ``invoice.created`` with its amount becomes "🟢 INVOICE_CREATED".

An event is anything with an event name: a log record's ``event_name`` (the
logging bridge moves ``extra={"event.name": ...}`` there), an ``event.name``
attribute, or a span event carrying one. Each becomes one ``Kind.EVENT`` notice
rendered from its template (``templates.py``), never grouped (fingerprint ""),
with the original attributes kept for routing filters, and is handed to
``observe.business_event`` for the summaries. The suspicious-activity
detectors watch the same stream.

Spans carry business events too (as span events): ``span_extras.py`` finds them
and hands them to the ``EventDetector`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from otel_discord.config import Settings
from otel_discord.config.parse import parse_duration, parse_int_non_negative
from otel_discord.detect import observations as observe
from otel_discord.detect import semconv as sc
from otel_discord.detect.money import DEFAULT_STYLE, parse_style, to_decimal
from otel_discord.detect.stack import describe_frame, read_traceback
from otel_discord.detect.suspicious import Finding, SuspiciousActivity
from otel_discord.detect.templates import HIGH_VALUE_NOTE, HIGH_VALUE_TITLE, Templates
from otel_discord.health.log import get_logger
from otel_discord.notice import Category, Field, Kind, Notice, Severity

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
        return (Severity.DEBUG, Severity.DEBUG, Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL)[
            (value - 1) // 4
        ]
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

    def render(
        self,
        event: Occurrence,
        attributes: Mapping[str, Any],
        *,
        category: Category | None = None,
        code: str | None = None,
        code_language: str = "",
    ) -> Notice:
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
