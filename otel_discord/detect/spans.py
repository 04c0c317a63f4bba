"""Spans → notices: errors, slow queries, slow requests.

Almost every span is uninteresting, and this runs on the SDK's export thread
for every batch, so the scan looks only at cheap fields (end time, kind, status,
whether there are events) and touches attributes only for the few candidates.

One failure shows up on several spans of one trace (the DB span with ERROR
status, the server span with the exception event), and a trace may be split
across export batches. So errors are grouped by trace id within a batch, the
most informative span speaks for the trace, and a bounded memory of reported
trace ids keeps a late span from alerting twice.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import SpanKind, StatusCode

from otel_discord.detect import dedupe
from otel_discord.detect import observations as observe
from otel_discord.detect import semconv as sc
from otel_discord.detect.span_extras import span_extras
from otel_discord.detect.sql import normalize_sql, scrub_db_error, short_db_name, sql_operation
from otel_discord.detect.stack import describe_frame, display_path, read_traceback, stack_language
from otel_discord.health.log import get_logger
from otel_discord.notice import Category, Field, Kind, Notice, Severity

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

    from otel_discord.config import Settings

_logger = get_logger(__name__)

REMEMBERED_TRACES: Final = 4096  # trace ids kept for "already reported" and "route of this trace"
_NS_PER_MS: Final = 1_000_000
_MAX_DESCRIPTION: Final = 300
_SEPARATOR: Final = " · "
# Our own Discord calls must never alert about themselves, even if a user
# instruments HTTP clients without suppressing ours.
_HTTP_CLIENT_SCOPES: Final = frozenset(
    f"opentelemetry.instrumentation.{name}" for name in ("requests", "urllib3", "urllib", "httpx", "aiohttp_client")
)
_WEBHOOK_PATH: Final = re.compile(r"/api/(?:v\d+/)?webhooks/\d+/")


class _Bounded:
    """An insertion-ordered map that forgets its oldest keys beyond ``size``."""

    __slots__ = ("_data", "_size")

    def __init__(self, size: int) -> None:
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._size = size

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def get(self, key: Hashable) -> Any:
        return self._data.get(key)

    def put(self, key: Hashable, value: Any = None) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self._size:
            self._data.popitem(last=False)


class _TraceRequests:
    """The request each trace of one batch belongs to, read from its server span on demand.

    User details are read only for traces that produce a notice; a trace whose
    server span came in an earlier batch falls back to the remembered route.
    """

    __slots__ = ("_cache", "_of_span", "_remembered", "_servers")

    def __init__(self, remembered: _Bounded) -> None:
        self._servers: dict[Hashable, ReadableSpan] = {}
        self._cache: dict[Hashable, sc.RequestInfo | None] = {}
        self._of_span: dict[int, sc.RequestInfo] = {}  # id(server span) → what it says
        self._remembered = remembered

    def add(self, key: Hashable, span: ReadableSpan) -> None:
        # Several server spans in one trace (a proxy in the same process): the local root speaks.
        known = self._servers.get(key)
        if known is None or _is_root(span) or not _is_root(known):
            self._servers[key] = span

    def get(self, key: Hashable) -> sc.RequestInfo | None:
        if key not in self._cache:
            span = self._servers.get(key)
            if span is not None:
                self._cache[key] = self.of(span)
            else:
                remembered = self._remembered.get(key)
                self._cache[key] = sc.RequestInfo(*remembered) if remembered else None
        return self._cache[key]

    def of(self, span: ReadableSpan) -> sc.RequestInfo:
        """What ``span``'s own attributes say, read once per batch (a failed server span is often its trace's)."""
        info = self._of_span.get(id(span))
        if info is None:
            info = self._of_span[id(span)] = sc.RequestInfo.of(span.attributes)
        return info


def _trace_key(span: ReadableSpan) -> tuple[Hashable, int | None]:
    """(grouping key, trace id); spans without a valid context group alone."""
    context = span.context
    trace_id = getattr(context, "trace_id", None)
    if isinstance(trace_id, int) and trace_id > 0:
        return trace_id, trace_id
    return ("span", id(span)), None


def _is_root(span: ReadableSpan) -> bool:
    parent = span.parent
    return parent is None or bool(getattr(parent, "is_remote", False))


def _is_own_delivery(span: ReadableSpan, attributes: Mapping[str, Any]) -> bool:
    scope = getattr(span.instrumentation_scope, "name", None)
    if scope not in _HTTP_CLIENT_SCOPES and span.kind is not SpanKind.CLIENT:
        return False
    url = sc.text(attributes, sc.HTTP_URL) or sc.text(attributes, sc.HTTP_PATH)
    return url is not None and _WEBHOOK_PATH.search(url) is not None


def _fingerprint(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode("utf-8", "replace"), usedforsecurity=False).hexdigest()


def _ms(value: float) -> str:
    """``1,234`` for whole-ish milliseconds, ``0.25`` for tiny ones (tests, fast thresholds)."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.3g}"


def _split_message(message: str) -> tuple[str, str]:
    first, _, rest = message.strip().partition("\n")
    return first.strip(), rest.strip()[:_MAX_DESCRIPTION]


def _error_text(
    name: str,
    exc_type: str | None,
    message: str,
    status: int | None,
    label: str | None,
    system: str | None,
    status_text: str,
) -> tuple[str, str]:
    """(title, description) of an error: by exception, else by HTTP status, else by span status."""
    if exc_type:
        first_line, rest = _split_message(message)
        where = f"while handling {label}" if label else f"in {name}"
        return (f"{exc_type}: {first_line}" if first_line else exc_type), rest or f"Raised {where}."
    if status is not None and status >= 500:
        title = f"HTTP {status} on {label}" if label else f"HTTP {status}"
        return title, f"{label or name} answered HTTP {status} without an exception."
    subject = "Database error" if system else name
    title = f"{subject}: {_split_message(status_text)[0]}" if status_text else f"{name} failed"
    return title, f"{name} ended with status ERROR."


class SpanDetector:
    """Turn a batch of finished spans into notices. Never raises; keeps bounded state.

    Thread-safe: a ``SimpleSpanProcessor`` calls exporters from application threads.
    """

    def __init__(self, settings: Settings) -> None:
        self._slow_query_ms = float(settings.slow_query_ms)
        self._slow_request_ms = float(settings.slow_request_ms)
        # Thresholds in ns, computed once: the hot loop compares ints only.
        self._slow_query_ns = int(self._slow_query_ms * _NS_PER_MS)
        self._slow_request_ns = int(self._slow_request_ms * _NS_PER_MS)
        self._environment = settings.environment
        self._last_origin: tuple[Any, tuple[str | None, str | None, str | None]] | None = None
        self._reported = _Bounded(REMEMBERED_TRACES)  # trace id → None
        self._routes = _Bounded(REMEMBERED_TRACES)  # trace id → (method, route) of its server span
        self._lock = threading.Lock()
        # One alert when a log record and a span report the same exception (dedupe.py).
        self._exceptions = dedupe.registry()
        self._exceptions.expect_spans(self)
        self._extras = span_extras(settings)  # business events on span events, schema changes

    def __call__(self, spans: Sequence[ReadableSpan]) -> list[Notice]:
        try:
            with self._lock:
                notices = self._detect(spans)
            self._exceptions.spans_exported(spans)
        except Exception:  # a bug here must not cost the application its export
            _logger.warning("span detection failed for a batch", exc_info=True)
            notices = []
        return notices + self._extras(spans) if self._extras is not None else notices

    def _detect(self, spans: Sequence[ReadableSpan]) -> list[Notice]:
        failed: list[ReadableSpan] = []
        servers: list[tuple[ReadableSpan, int, bool]] = []
        slow_clients: list[tuple[ReadableSpan, int]] = []
        slow_query_ns = self._slow_query_ns
        db_queries = db_slow = 0
        for span in spans:
            try:
                end, start = span.end_time, span.start_time
                if end is None or start is None:
                    continue
                duration = end - start
                kind = span.kind
                is_error = span.status.status_code is StatusCode.ERROR
                if not is_error:
                    events = sc.span_events(span)
                    is_error = bool(events) and any(event.name == sc.EXCEPTION_EVENT for event in events)
                if kind is SpanKind.SERVER:
                    servers.append((span, duration, is_error))
                    continue
                if is_error:
                    failed.append(span)
                if kind is SpanKind.CLIENT:
                    # Summaries count queries (SQLAlchemy has no such metric); "connect" is not one.
                    if span.name != "connect" and sc.db_system(span.attributes or {}):
                        db_queries += 1
                        db_slow += duration >= slow_query_ns
                    if duration >= slow_query_ns:
                        slow_clients.append((span, duration))
            except Exception:
                _logger.debug("skipping a malformed span", exc_info=True)
        if db_queries:
            observe.count("db.queries", db_queries)
            if db_slow:
                observe.count("db.slow_queries", db_slow)
        if not (failed or servers or slow_clients):
            return []

        # Server spans end after their children, so read them all before
        # building notices for the children of the same batch.
        requests = _TraceRequests(self._routes)
        slow_requests: list[tuple[ReadableSpan, int]] = []
        for span, duration, is_error in servers:
            try:
                attributes = span.attributes
                key, trace_id = _trace_key(span)
                requests.add(key, span)
                if trace_id is not None:
                    route = sc.http_route(attributes)
                    if route:
                        self._routes.put(trace_id, (sc.http_method(attributes), route))
                if is_error:
                    failed.append(span)
                else:
                    status = sc.http_status(attributes)
                    if status is not None and status >= 500:
                        failed.append(span)
                if duration >= self._slow_request_ns:
                    slow_requests.append((span, duration))
            except Exception:
                _logger.debug("skipping a malformed server span", exc_info=True)

        notices = self._errors(failed, requests)
        for span, duration in slow_clients:
            notice = self._guarded(self._slow_query, span, duration, requests)
            if notice is not None:
                notices.append(notice)
        for span, duration in slow_requests:
            notice = self._guarded(self._slow_request, span, duration)
            if notice is not None:
                notices.append(notice)
        return notices

    def _guarded(self, build: Callable[..., Notice | None], *args: Any) -> Notice | None:
        try:
            return build(*args)
        except Exception:
            _logger.debug("skipping a span that could not be described", exc_info=True)
            return None

    # --- errors -------------------------------------------------------------------

    def _errors(self, failed: list[ReadableSpan], requests: _TraceRequests) -> list[Notice]:
        best: dict[Hashable, tuple[tuple[bool, bool, int], ReadableSpan, Mapping[str, Any] | None]] = {}
        for span in failed:
            try:
                if _is_own_delivery(span, span.attributes):
                    continue
                key, _ = _trace_key(span)
                event = sc.exception_event(sc.span_events(span))
                stack = event.get(sc.EXCEPTION_STACKTRACE) if event is not None else None
                # Most informative first: a stack trace, then the server span; among
                # equals the earliest-ending span, which is closest to the cause.
                rank = (isinstance(stack, str) and bool(stack), span.kind is SpanKind.SERVER, -int(span.end_time))
                if key not in best or rank > best[key][0]:
                    best[key] = (rank, span, event)
            except Exception:
                _logger.debug("skipping a malformed error span", exc_info=True)
        notices = []
        for key, (_, span, event) in best.items():
            if key in self._reported:
                continue
            notice = self._guarded(self._error, span, event or {}, requests.get(key), requests)
            if notice is not None:
                if notice.trace_id is not None:
                    self._reported.put(key)
                    if not self._exceptions.span_error(notice.trace_id, notice.attributes.get(sc.EXCEPTION_TYPE)):
                        continue  # a log record already reported (or explains) it
                notices.append(notice)
        return notices

    def _error(
        self,
        span: ReadableSpan,
        event: Mapping[str, Any],
        trace_request: sc.RequestInfo | None,
        requests: _TraceRequests,
    ) -> Notice:
        """The notice for ``span``; ``event`` is its exception event's attributes (``{}`` without one)."""
        attributes = span.attributes
        request: sc.RequestInfo | None
        if span.kind is SpanKind.SERVER:
            request = requests.of(span).merged(trace_request)
            # The request was read from this span's own attributes: nothing more to find there.
            enduser, client, agent = request.enduser, request.client, request.user_agent
        else:
            request = trace_request
            attributes = sc.readable(attributes)  # up to seven names to look for, most of them absent
            enduser = (request.enduser if request else None) or sc.text(attributes, sc.ENDUSER_ID)
            client = (request.client if request else None) or sc.text(attributes, sc.CLIENT_ADDRESS)
            agent = (request.user_agent if request else None) or sc.text(attributes, sc.USER_AGENT)
        label = request.label if request else None
        status = request.status if request else None
        exc_type = sc.text(event, (sc.EXCEPTION_TYPE,))
        message = scrub_db_error(sc.text(event, (sc.EXCEPTION_MESSAGE,)) or "")
        stacktrace = event.get(sc.EXCEPTION_STACKTRACE)
        stacktrace = stacktrace if isinstance(stacktrace, str) else ""
        frame, traceback_text = read_traceback(stacktrace)
        system = sc.db_system(attributes)
        status_text = span.status.description if isinstance(span.status.description, str) else ""

        title, description = _error_text(span.name, exc_type, message, status, label, system, status_text)
        fields = []
        if label:
            fields.append(Field("Route", label))
        if status is not None:
            fields.append(Field("Status", str(status)))
        where = display_path(frame.file) if frame is not None else ""
        if frame is not None:
            fields.append(Field("Location", describe_frame(frame, where), inline=False))
        if request is not None or enduser or client or agent:
            # Only requests have users; a failing background job gets no "Anonymous".
            fields.append(Field("User", _SEPARATOR.join(p for p in (enduser or "Anonymous", client, agent) if p)))
        service, environment, host = self._origin(span)
        origin = _SEPARATOR.join(part for part in (service, environment, host) if part)
        if origin:
            fields.append(Field("Service", origin))

        code: str | None = None
        language = ""
        if stacktrace:
            code, language = scrub_db_error(traceback_text) or None, stack_language(stacktrace, span.resource)
        elif system:
            statement = sc.text(attributes, sc.DB_STATEMENT)
            if statement:
                code, language = normalize_sql(statement, dialect=system), "sql"

        route = request.route if request else None
        location = f"{where}:{frame.function}" if frame else ""
        kind_of_failure = exc_type or (f"HTTP {status}" if status is not None and status >= 500 else span.name)
        details = {
            sc.ATTR_ROUTE: route,
            sc.ATTR_METHOD: request.method if request else None,
            sc.ATTR_STATUS: status,
            sc.EXCEPTION_TYPE: exc_type,
            sc.ATTR_ENDUSER: enduser,
            sc.ATTR_CLIENT: client,
            sc.ATTR_USER_AGENT: agent,
            sc.ATTR_DB_SYSTEM: system,
            "span.name": span.name,
        }
        return self._notice(
            span,
            kind=Kind.ERROR,
            severity=Severity.ERROR,
            category=Category.ERROR,
            title=title,
            description=description[:_MAX_DESCRIPTION],
            fields=tuple(fields),
            code=code,
            code_language=language if code else "",
            details=details,
            fingerprint=_fingerprint(kind_of_failure, location, route or span.name),
            origin=(service, environment, host),
        )

    # --- slowness -----------------------------------------------------------------

    def _slow_query(self, span: ReadableSpan, duration: int, requests: _TraceRequests) -> Notice | None:
        attributes = span.attributes
        system = sc.db_system(attributes)
        if system is None or _is_own_delivery(span, attributes):
            return None
        statement = sc.text(attributes, sc.DB_STATEMENT)
        normalized = normalize_sql(statement, dialect=system) if statement else ""
        database = short_db_name(sc.text(attributes, sc.DB_NAME), system) or system
        operation = sql_operation(sc.text(attributes, sc.DB_OPERATION), normalized, span.name)
        request = requests.get(_trace_key(span)[0])
        label = request.label if request else None
        elapsed = _ms(duration / _NS_PER_MS)
        threshold = _ms(self._slow_query_ms)
        fields = [Field("Duration", f"{elapsed} ms"), Field("Database", database), Field("Operation", operation)]
        if label:
            fields.append(Field("Route", label))
        fields.append(Field("Threshold", f"{threshold} ms"))
        details = {
            sc.ATTR_DB_SYSTEM: system,
            sc.ATTR_DB_NAME: database,
            sc.ATTR_DB_OPERATION: operation,
            sc.ATTR_ROUTE: request.route if request else None,
            sc.ATTR_METHOD: request.method if request else None,
            "duration_ms": round(duration / _NS_PER_MS, 3),
        }
        return self._notice(
            span,
            kind=Kind.SLOW_QUERY,
            severity=Severity.WARNING,
            category=Category.PERFORMANCE,
            title=f"Slow query: {elapsed} ms (threshold {threshold} ms)",
            fields=tuple(fields),
            code=normalized or None,
            code_language="sql" if normalized else "",
            details=details,
            fingerprint=_fingerprint(normalized or span.name),
        )

    def _slow_request(self, span: ReadableSpan, duration: int) -> Notice:
        request = sc.RequestInfo.of(span.attributes)
        label = request.label or span.name
        elapsed = _ms(duration / _NS_PER_MS)
        threshold = _ms(self._slow_request_ms)
        fields = [Field("Duration", f"{elapsed} ms"), Field("Route", label)]
        if request.status is not None:
            fields.append(Field("Status", str(request.status)))
        fields.append(Field("Threshold", f"{threshold} ms"))
        details = {
            sc.ATTR_ROUTE: request.route,
            sc.ATTR_METHOD: request.method,
            sc.ATTR_STATUS: request.status,
            "duration_ms": round(duration / _NS_PER_MS, 3),
        }
        return self._notice(
            span,
            kind=Kind.SLOW_REQUEST,
            severity=Severity.WARNING,
            category=Category.PERFORMANCE,
            title=f"Slow request: {elapsed} ms on {label} (threshold {threshold} ms)",
            fields=tuple(fields),
            details=details,
            fingerprint=_fingerprint(request.method or "", request.route or span.name),
        )

    # --- shared -------------------------------------------------------------------

    def _origin(self, span: ReadableSpan) -> tuple[str | None, str | None, str | None]:
        """(service, environment, host) from the span's resource, environment defaulting to settings."""
        resource = span.resource
        # Every span of a provider shares one Resource, and the SDK's is immutable: read
        # it once, not per notice (anything else that quacks like one is read each time).
        cached = self._last_origin
        if cached is not None and cached[0] is resource:
            return cached[1]
        attributes = sc.resource_attributes(resource)
        origin = (
            sc.text(attributes, sc.SERVICE_NAME),
            sc.text(attributes, sc.ENVIRONMENT) or self._environment,
            sc.text(attributes, sc.HOST_NAME),
        )
        if isinstance(resource, Resource):
            self._last_origin = (resource, origin)
        return origin

    def _notice(
        self,
        span: ReadableSpan,
        *,
        details: Mapping[str, Any],
        origin: tuple[str | None, str | None, str | None] | None = None,
        **values: Any,
    ) -> Notice:
        context = span.context
        trace_id = getattr(context, "trace_id", 0)
        span_id = getattr(context, "span_id", 0)
        service, environment, host = origin or self._origin(span)
        attributes = {key: value for key, value in details.items() if value is not None}
        for key, value in (("service.name", service), ("deployment.environment.name", environment)):
            if value:
                attributes[key] = value
        return Notice(
            attributes=attributes,
            trace_id=format(trace_id, "032x") if isinstance(trace_id, int) and trace_id > 0 else None,
            span_id=format(span_id, "016x") if isinstance(span_id, int) and span_id > 0 else None,
            service=service,
            environment=environment,
            host=host,
            timestamp=span.end_time / 1e9,
            **values,
        )
