"""Read span attributes under both the old and the stable semantic-convention names.

Instrumentations emit the old names by default and the new ones under
``OTEL_SEMCONV_STABILITY_OPT_IN=http,database`` (both with ``/dup``), see
https://opentelemetry.io/docs/specs/semconv/non-normative/http-migration/.
Each tuple lists the new name first. Values are untrusted: a wrong type reads
as "absent", never raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

from opentelemetry.sdk.trace import ReadableSpan

HTTP_METHOD: Final = ("http.request.method", "http.method")
HTTP_ROUTE: Final = ("http.route",)
HTTP_PATH: Final = ("url.path", "http.target")  # http.target also carries the query string
HTTP_STATUS: Final = ("http.response.status_code", "http.status_code")
HTTP_URL: Final = ("url.full", "http.url")
CLIENT_ADDRESS: Final = ("client.address", "net.peer.ip", "http.client_ip")
USER_AGENT: Final = ("user_agent.original", "http.user_agent")
# enduser.id is deprecated in favour of user.id in recent semconv; read both.
ENDUSER_ID: Final = ("enduser.id", "user.id")
DB_SYSTEM: Final = ("db.system.name", "db.system")
DB_NAME: Final = ("db.namespace", "db.name")
DB_STATEMENT: Final = ("db.query.text", "db.statement")
DB_OPERATION: Final = ("db.operation.name", "db.operation")
SERVICE_NAME: Final = ("service.name",)
HOST_NAME: Final = ("host.name",)
ENVIRONMENT: Final = ("deployment.environment.name", "deployment.environment")
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
EXCEPTION_STACKTRACE: Final = "exception.stacktrace"
EXCEPTION_EVENT: Final = "exception"
_COPY_AT_MOST: Final = 32  # attributes; see readable()

# Keys of Notice.attributes: the stable names, so routing filters need only one spelling.
ATTR_ROUTE: Final = "http.route"
ATTR_METHOD: Final = "http.request.method"
ATTR_STATUS: Final = "http.response.status_code"
ATTR_CLIENT: Final = "client.address"
ATTR_USER_AGENT: Final = "user_agent.original"
ATTR_ENDUSER: Final = "enduser.id"
ATTR_DB_SYSTEM: Final = "db.system.name"
ATTR_DB_NAME: Final = "db.namespace"
ATTR_DB_OPERATION: Final = "db.operation.name"


def text(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first non-empty value under ``keys`` as text; numbers are converted, other types skipped."""
    for key in keys:
        value = attributes.get(key)
        if value is None:  # the usual case for all but one of the names: no type checks
            continue
        if isinstance(value, str):
            if value:
                return value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    return None


def integer(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    """The first value under ``keys`` that is a whole number (``500``, ``"500"``, ``500.0``)."""
    for key in keys:
        value = attributes.get(key)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().isdigit() and len(value) < 10:
            return int(value)
    return None


def http_status(attributes: Mapping[str, Any]) -> int | None:
    return integer(attributes, HTTP_STATUS)


def http_method(attributes: Mapping[str, Any]) -> str | None:
    method = text(attributes, HTTP_METHOD)
    # The stable convention sends "_OTHER" for non-standard methods.
    return None if method == "_OTHER" else method


def http_route(attributes: Mapping[str, Any]) -> str | None:
    """The route template, else the request path without its query string."""
    route = text(attributes, HTTP_ROUTE)
    if route:
        return route
    path = text(attributes, HTTP_PATH)
    if path:
        return path.split("?", 1)[0] or path
    return None


def db_system(attributes: Mapping[str, Any]) -> str | None:
    return text(attributes, DB_SYSTEM)


# The SDK's ReadableSpan.events copies its events into a new tuple, under a lock, on
# every read (~1.5 µs); most spans have none, and the exporter asks for every span.
_SDK_EVENTS: Final = ReadableSpan.__dict__.get("events")


def span_events(span: Any) -> Sequence[Any]:
    """``span.events``, without the copy when an SDK span has no events (most spans)."""
    if _SDK_EVENTS is not None and getattr(type(span), "events", None) is _SDK_EVENTS:
        held = getattr(span, "_events", None)  # what the SDK's property copies
        if held is not None and len(held) == 0:
            return ()
    return span.events


def exception_event(events: Sequence[Any]) -> Mapping[str, Any] | None:
    """Attributes of the last ``exception`` event with a stack trace (else of the last one).

    The last one is the exception that ended the span; earlier ones were recorded and handled.
    """
    last: Mapping[str, Any] | None = None
    with_stack: Mapping[str, Any] | None = None
    for event in events:
        if event.name != EXCEPTION_EVENT or not isinstance(event.attributes, Mapping):
            continue
        last = event.attributes
        stack = last.get(EXCEPTION_STACKTRACE)
        if isinstance(stack, str) and stack:
            with_stack = last
    return with_stack or last


def readable(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """``attributes`` as a dict, for reading many keys of a span's attributes.

    ``span.attributes`` is a read-only view of the SDK's ``BoundedAttributes``, whose
    ``get`` raises and catches a KeyError for each absent key; most of the names read
    here are absent (only one of the old and new names is set), so copying a span's
    usual dozen attributes is cheaper. A big mapping is read as it is.
    """
    if type(attributes) is dict or len(attributes) > _COPY_AT_MOST:
        return attributes
    return dict(attributes)


def resource_attributes(resource: Any) -> Mapping[str, Any]:
    """A resource's attributes, or an empty mapping for a missing or odd resource."""
    attributes = getattr(resource, "attributes", None)
    return attributes if isinstance(attributes, Mapping) else {}


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What a SERVER span says about the request: for errors and slow spans of the same trace."""

    method: str | None = None
    route: str | None = None
    status: int | None = None
    enduser: str | None = None
    client: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, attributes: Mapping[str, Any]) -> RequestInfo:
        attributes = readable(attributes)
        return cls(
            method=http_method(attributes),
            route=http_route(attributes),
            status=http_status(attributes),
            enduser=text(attributes, ENDUSER_ID),
            client=text(attributes, CLIENT_ADDRESS),
            user_agent=text(attributes, USER_AGENT),
        )

    def merged(self, other: RequestInfo | None) -> RequestInfo:
        """This request with its gaps filled from ``other`` (the trace's outer server span)."""
        if other is None or other is self:
            return self
        # Field by field: dataclasses.astuple deep-copies, ~50 µs per error span on the export thread.
        values = []
        for name in _REQUEST_FIELDS:
            mine = getattr(self, name)
            values.append(getattr(other, name) if mine is None else mine)
        return RequestInfo(*values)

    @property
    def label(self) -> str | None:
        """``GET /users/<int:user_id>``, or whichever half is known."""
        method, route = self.method, self.route
        if method and route:
            return f"{method} {route}"
        return method or route or None


_REQUEST_FIELDS: Final = tuple(field.name for field in fields(RequestInfo))
