"""Log records → notices: business events, logged exceptions, and warnings worth a look.

Most records are INFO chatter (access logs, "fetched user 1"), and this runs on
the SDK's export thread for every batch, so a record is rejected on two cheap
reads (its event name and its severity number) before anything else is touched.

* A record with an event name is a business event at any level (``events.py``).
* A record at ``LOG_MIN_LEVEL`` (WARNING) or above with ``exception.*``
  attributes reads like a span error: the exception, the first application frame,
  the innermost frames; the same exception on a span of the same trace gives one
  alert (``dedupe.py``).
* Any other record at or above ``LOG_MIN_LEVEL`` is a SYSTEM notice with its message.

Records of our own loggers (scope ``otel_discord…``) are ignored: they never
reach the logging bridge (``_log.py``), and this makes sure of it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from otel_discord.detect import semconv as sc
from otel_discord.detect.dedupe import ExceptionRegistry, fingerprint, registry, short_type
from otel_discord.detect.events import EventDetector, Occurrence, event_name_of, severity_of
from otel_discord.detect.sql import scrub_db_error
from otel_discord.detect.stack import describe_frame, display_path, read_traceback, stack_language
from otel_discord.health.log import ROOT_NAME, get_logger
from otel_discord.notice import Category, Field, Kind, Notice, Severity

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadableLogRecord

    from otel_discord.config import Settings

_logger = get_logger(__name__)

DEFAULT_MIN_LEVEL: Final = Severity.WARNING
DEFAULT_HOLD_MS: Final = 10_000.0
LOGGER_ATTRIBUTE: Final = "log.logger"
_MAX_TITLE: Final = 200
_MAX_DESCRIPTION: Final = 1500
_SEPARATOR: Final = " · "
# Flask logs an unhandled exception as "Exception on /boom [GET]": the request it broke.
_FLASK_EXCEPTION: Final = re.compile(r"^Exception on (\S+) \[([A-Z]+)\]")
_EXCEPTION_LINE: Final = re.compile(r"^([A-Za-z_][\w.]*)(?::[ \t]?(.*))?$")
# Variable parts of a message (numbers, ids, quoted values) do not make a new kind of warning.
_VARIABLE: Final = re.compile(r"'[^']*'|\"[^\"]*\"|\b[0-9a-fA-F]{8,}\b|\d+(?:[.,]\d+)*")
_STACKTRACE_TAIL: Final = 64 * 1024


def parse_min_level(value: Any) -> Severity | None:
    """``LOG_MIN_LEVEL``: a level name or number, or ``off`` (only business events then)."""
    if isinstance(value, str) and value.strip().lower() in ("off", "none"):
        return None
    return Severity.parse(value)


def _non_negative_ms(value: Any) -> float:
    number = float(value)
    if not 0 <= number < float("inf"):
        raise ValueError(f"must be a number of milliseconds, at least 0, got {value!r}")
    return number


@dataclass(frozen=True)
class LogOptions:
    """Settings of plain log records (business events have ``EventOptions``)."""

    min_level: Severity | None = DEFAULT_MIN_LEVEL
    hold_s: float = DEFAULT_HOLD_MS / 1000

    @classmethod
    def from_settings(
        cls, settings: Settings, *, log_min_level: Any = None, log_error_hold_ms: Any = None
    ) -> LogOptions:
        """Resolve ``LOG_MIN_LEVEL`` and ``LOG_ERROR_HOLD_MS`` (argument → env → file → default)."""
        return cls(
            min_level=settings.lookup("LOG_MIN_LEVEL", parse_min_level, DEFAULT_MIN_LEVEL, log_min_level),
            hold_s=settings.lookup("LOG_ERROR_HOLD_MS", _non_negative_ms, DEFAULT_HOLD_MS, log_error_hold_ms) / 1000,
        )


@dataclass(frozen=True, slots=True)
class _Exception:
    type: str  # qualified as Python prints it ("sqlalchemy.exc.OperationalError")
    message: str
    stacktrace: str


def _exception(attributes: Mapping[str, Any]) -> _Exception | None:
    """The record's exception, with the type and full message read from the traceback's last line.

    The logging bridge stores ``str(args[0])`` as the message and the bare class
    name as the type; the traceback has ``str(exc)`` and the module-qualified name
    that spans use, so fingerprints match.
    """
    exc_type = sc.text(attributes, (sc.EXCEPTION_TYPE,))
    stacktrace = attributes.get(sc.EXCEPTION_STACKTRACE)
    stacktrace = stacktrace[-_STACKTRACE_TAIL:] if isinstance(stacktrace, str) else ""
    message = sc.text(attributes, (sc.EXCEPTION_MESSAGE,)) or ""
    if not exc_type and not stacktrace:
        return None
    if stacktrace:
        lines = stacktrace.rstrip("\n").splitlines()
        wanted = short_type(exc_type)
        for index in range(len(lines) - 1, -1, -1):
            match = _EXCEPTION_LINE.match(lines[index])
            if match and (not wanted or short_type(match[1]) == wanted) and not lines[index].startswith("Traceback"):
                exc_type = match[1]
                message = "\n".join([match[2] or "", *lines[index + 1 :]]).strip() or message
                break
    return _Exception(exc_type or "Exception", scrub_db_error(message), stacktrace)


def _body(value: Any) -> str:
    if isinstance(value, str):
        return value[: _MAX_DESCRIPTION * 2]
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value[:_MAX_DESCRIPTION].decode("utf-8", "replace")
    return str(value)[: _MAX_DESCRIPTION * 2]


def _hex(value: Any, width: int) -> str | None:
    return format(value, f"0{width}x") if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class LogDetector:
    """Turn a batch of log records into notices. Thread-safe, never raises, bounded state.

    ``deliver`` receives a held exception notice later (see ``dedupe.py``); without
    it nothing is held.
    """

    def __init__(
        self,
        settings: Settings,
        options: LogOptions,
        events: EventDetector,
        *,
        exceptions: ExceptionRegistry | None = None,
        deliver: Callable[[Notice], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Compared as OTel severity numbers so the hot loop needs no conversion: WARNING → 13.
        self._min_number = _OTEL_NUMBER[options.min_level] if options.min_level is not None else 99
        self._hold = options.hold_s if deliver is not None else 0.0
        self._events = events
        self._environment = settings.environment
        self._registry = exceptions or registry()
        self._deliver = deliver
        self._owner: Hashable = id(self)
        self._clock = clock

    def take_held(self) -> list[tuple[Callable[[Notice], None], Notice]]:
        """Remove and return this detector's notices still waiting for their span (flush, shutdown)."""
        return self._registry.take_held(self._owner)

    def __call__(self, records: Sequence[ReadableLogRecord], now: float) -> list[Notice]:
        """Notices for ``records``; ``now`` (unix seconds) stands in for a missing timestamp."""
        notices: list[Notice] = []
        for item in records:
            try:
                record = item.log_record
                attributes = record.attributes or {}
                name = event_name_of(record.event_name, attributes)
                if name is None:
                    number = getattr(record.severity_number, "value", record.severity_number)
                    if not isinstance(number, int) or not number:
                        severity = severity_of(None, record.severity_text)
                        number = _OTEL_NUMBER.get(severity, 0) if severity else 0
                    if number < self._min_number:
                        continue
                scope = getattr(item.instrumentation_scope, "name", "") or ""
                if scope == ROOT_NAME or scope.startswith(ROOT_NAME + "."):
                    continue
                notices.extend(self._record(item, record, attributes, name, scope, now))
            except Exception:  # one odd record must not cost the batch
                _logger.debug("skipping a log record that could not be read", exc_info=True)
        return notices

    def _record(
        self, item: Any, record: Any, attributes: Mapping[str, Any], name: str | None, scope: str, now: float
    ) -> list[Notice]:
        severity = severity_of(record.severity_number, record.severity_text) or Severity.INFO
        timestamp = (record.timestamp or record.observed_timestamp or 0) / 1e9 or now
        resource = sc.resource_attributes(item.resource)
        origin = {
            "service": sc.text(resource, sc.SERVICE_NAME),
            "environment": sc.text(resource, sc.ENVIRONMENT) or self._environment,
            "host": sc.text(resource, sc.HOST_NAME),
        }
        trace_id, span_id = _hex(record.trace_id, 32), _hex(record.span_id, 16)
        body = _body(record.body)
        exception = _exception(attributes)
        if name is not None:
            occurrence = Occurrence(
                name=name,
                attributes=attributes,
                severity=severity,
                timestamp=timestamp,
                body=body,
                trace_id=trace_id,
                span_id=span_id,
                signal="logs",
                **origin,
            )
            if exception is not None:
                self._registry.mark_sent(trace_id, exception.type)
            return self._events(occurrence)
        values = dict(origin, trace_id=trace_id, span_id=span_id, timestamp=timestamp)
        if exception is None:
            return [self._plain(attributes, severity, scope, body, values)]
        notice = self._error(attributes, severity, scope, body, exception, values)
        flags = getattr(record.trace_flags, "value", record.trace_flags)
        ready = self._registry.log_error(
            notice,
            exception.type,
            sampled=isinstance(flags, int) and bool(flags & 1),
            hold=self._hold,
            deliver=self._deliver or (lambda _: None),
            owner=self._owner,
            now=self._clock(),
        )
        return [ready] if ready is not None else []

    # --- layouts ----------------------------------------------------------------------------

    def _error(
        self,
        attributes: Mapping[str, Any],
        severity: Severity,
        scope: str,
        body: str,
        exception: _Exception,
        values: dict[str, Any],
    ) -> Notice:
        method, route = sc.http_method(attributes), sc.http_route(attributes)
        flask = _FLASK_EXCEPTION.match(body)
        if flask and not route:
            route, method = flask[1], method or flask[2]
        label = " ".join(part for part in (method, route) if part) or None
        frame, traceback_text = read_traceback(exception.stacktrace)
        first_line, _, rest = exception.message.partition("\n")
        title = f"{exception.type}: {first_line.strip()}" if first_line.strip() else exception.type
        said = [rest.strip()[:300]] if rest.strip() else []
        if body and body.strip() != exception.message.strip() and not flask:
            said.append(body.strip())
        description = "\n".join(said) or (f"Raised while handling {label}." if label else f"Logged by {scope}.")
        fields = []
        if label:
            fields.append(Field("Route", label))
        if frame is not None:
            fields.append(Field("Location", describe_frame(frame), inline=False))
        user = self._user(attributes)
        if user:
            fields.append(Field("User", user))
        fields.extend(self._common(scope, values))
        location = f"{display_path(frame.file)}:{frame.function}" if frame else ""
        details = {
            **{k: v for k, v in attributes.items() if k != sc.EXCEPTION_STACKTRACE},
            sc.EXCEPTION_TYPE: exception.type,
            sc.ATTR_ROUTE: route,
            sc.ATTR_METHOD: method,
            LOGGER_ATTRIBUTE: scope,
        }
        return self._notice(
            kind=Kind.ERROR,
            severity=severity,
            category=Category.ERROR if severity >= Severity.ERROR else Category.SYSTEM,
            title=title[:_MAX_TITLE],
            description=description[:_MAX_DESCRIPTION],
            fields=tuple(fields),
            code=scrub_db_error(traceback_text) or None,
            code_language=stack_language(exception.stacktrace),
            details=details,
            fingerprint=fingerprint(exception.type, location, route or scope),  # as the span detector
            values=values,
        )

    def _plain(
        self, attributes: Mapping[str, Any], severity: Severity, scope: str, body: str, values: dict[str, Any]
    ) -> Notice:
        first_line, _, rest = body.strip().partition("\n")
        fields = []
        label = " ".join(p for p in (sc.http_method(attributes), sc.http_route(attributes)) if p)
        if label:
            fields.append(Field("Route", label))
        user = self._user(attributes)
        if user:
            fields.append(Field("User", user))
        fields.extend(self._common(scope, values))
        shape = _VARIABLE.sub("#", first_line)
        return self._notice(
            kind=Kind.SYSTEM,
            severity=severity,
            category=Category.SYSTEM,
            title=first_line[:_MAX_TITLE] or f"{severity.name.title()} from {scope or 'a logger'}",
            description=rest.strip()[:_MAX_DESCRIPTION],
            fields=tuple(fields),
            details={**attributes, LOGGER_ATTRIBUTE: scope},
            fingerprint=fingerprint(scope, severity.name, shape),
            values=values,
        )

    @staticmethod
    def _user(attributes: Mapping[str, Any]) -> str:
        enduser = sc.text(attributes, (*sc.ENDUSER_ID, "user.name"))
        client = sc.text(attributes, sc.CLIENT_ADDRESS)
        return _SEPARATOR.join(p for p in (enduser, client) if p)

    @staticmethod
    def _common(scope: str, values: Mapping[str, Any]) -> list[Field]:
        fields = [Field("Logger", scope)] if scope else []
        origin = _SEPARATOR.join(p for p in (values["service"], values["environment"], values["host"]) if p)
        if origin:
            fields.append(Field("Service", origin))
        return fields

    @staticmethod
    def _notice(*, details: Mapping[str, Any], values: Mapping[str, Any], **fields: Any) -> Notice:
        attributes = {key: value for key, value in details.items() if value is not None}
        for key, value in (("service.name", values["service"]), ("deployment.environment.name", values["environment"])):
            if value:
                attributes.setdefault(key, value)
        return Notice(attributes=attributes, signal="logs", **values, **fields)


#: Each level's lowest OpenTelemetry severity number (DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21).
_OTEL_NUMBER: Final[dict[Severity, int]] = {
    Severity.DEBUG: 5,
    Severity.INFO: 9,
    Severity.SUCCESS: 9,
    Severity.WARNING: 13,
    Severity.ERROR: 17,
    Severity.CRITICAL: 21,
}
