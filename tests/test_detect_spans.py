"""SpanDetector on real SDK spans: which spans alert, and what the notice says."""

from __future__ import annotations

import json
import traceback

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from otel_discord.config import resolve
from otel_discord.detect import SpanDetector
from otel_discord.notice import Category, Kind, Notice, Severity

WEBHOOK = "https://discord.com/api/webhooks/1/x"
T0 = 1_700_000_000_000_000_000  # ns
MS = 1_000_000


def detector(**kwargs) -> SpanDetector:
    kwargs.setdefault("slow_request_ms", 1_000_000)  # errors tests must not also see slow requests
    kwargs.setdefault("slow_query_ms", 1_000_000)
    return SpanDetector(resolve(webhook_url=WEBHOOK, environ={}, **kwargs))


@pytest.fixture
def resource_attributes():
    return {"service.name": "shop", "deployment.environment.name": "staging", "host.name": "web-1"}


@pytest.fixture
def provider(resource_attributes):
    provider = TracerProvider(resource=Resource.create(resource_attributes))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    provider.exporter = exporter  # type: ignore[attr-defined]
    yield provider
    provider.shutdown()


@pytest.fixture
def tracer(provider):
    return provider.get_tracer("tests")


def finished(provider) -> list[ReadableSpan]:
    return list(provider.exporter.get_finished_spans())


def fields(notice: Notice) -> dict[str, str]:
    return {field.name: field.value for field in notice.fields}


def timed(tracer, name, *, kind=SpanKind.INTERNAL, parent=None, ms=1.0, start=T0, attributes=None, status=None):
    """A finished span with an exact duration."""
    context = trace.set_span_in_context(parent) if parent is not None else None
    span = tracer.start_span(name, context=context, kind=kind, attributes=attributes, start_time=start)
    if status is not None:
        span.set_status(status)
    span.end(end_time=start + int(ms * MS))
    return span


OLD_SERVER = {
    "http.method": "GET",
    "http.route": "/orders/<int:order_id>",
    "http.target": "/orders/7?x=1",
    "http.status_code": 500,
    "net.peer.ip": "10.1.2.3",
    "http.user_agent": "probe/1.0",
}
NEW_SERVER = {
    "http.request.method": "POST",
    "url.path": "/api/orders",
    "url.query": "dry=1",
    "http.response.status_code": 502,
    "client.address": "192.0.2.9",
    "user_agent.original": "curl/8.0",
    "enduser.id": "u-42",
}


def _decode(body: str) -> dict:
    return json.loads(body)  # the app line that calls into the stdlib, which raises


def _fail_in_app(tracer, attributes) -> BaseException:
    try:
        with tracer.start_as_current_span("GET /orders/<int:order_id>", kind=SpanKind.SERVER, attributes=attributes):
            _decode("{broken")
    except ValueError as exc:
        return exc
    raise AssertionError("expected the app to fail")


class TestErrors:
    def test_real_exception_in_server_span(self, provider, tracer):
        """A recorded exception gives one ERROR notice that says what, where, for whom and on which service."""
        exc = _fail_in_app(tracer, OLD_SERVER)
        (span,) = finished(provider)
        (notice,) = detector()(finished(provider))

        assert (notice.kind, notice.severity, notice.category) == (Kind.ERROR, Severity.ERROR, Category.ERROR)
        assert notice.title == f"json.decoder.JSONDecodeError: {exc}"
        app_frame = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == __file__][-1]
        assert fields(notice) == {
            "Route": "GET /orders/<int:order_id>",
            "Status": "500",
            "Location": f"tests/test_detect_spans.py:{app_frame.lineno} in _decode",
            "User": "Anonymous · 10.1.2.3 · probe/1.0",
            "Service": "shop · staging · web-1",
        }
        # The code block starts at the app, not at OTel's use_span wrapper, and ends with the error.
        assert notice.code_language == "py"
        assert notice.code.startswith('Traceback (most recent call last):\n  File "' + __file__)
        assert "opentelemetry/trace" not in notice.code
        assert "json/decoder.py" in notice.code
        assert notice.code.endswith(f"json.decoder.JSONDecodeError: {exc}")
        assert notice.trace_id == format(span.context.trace_id, "032x") and len(notice.trace_id) == 32
        assert notice.span_id == format(span.context.span_id, "016x") and len(notice.span_id) == 16
        assert notice.timestamp == span.end_time / 1e9
        assert (notice.service, notice.environment, notice.host) == ("shop", "staging", "web-1")
        assert notice.attributes == {
            "http.route": "/orders/<int:order_id>",
            "http.request.method": "GET",
            "http.response.status_code": 500,
            "exception.type": "json.decoder.JSONDecodeError",
            "client.address": "10.1.2.3",
            "user_agent.original": "probe/1.0",
            "span.name": "GET /orders/<int:order_id>",
            "service.name": "shop",
            "deployment.environment.name": "staging",
        }
        assert len(notice.fingerprint) == 40

    @pytest.mark.parametrize("resource_attributes", [{"service.name": "api", "deployment.environment": "prod"}])
    def test_new_semconv_names(self, provider, tracer):
        """Stable attribute names (and the old resource environment key) are read as well as the old ones."""
        _fail_in_app(tracer, NEW_SERVER)
        (notice,) = detector()(finished(provider))
        shown = fields(notice)
        assert shown["Route"] == "POST /api/orders"  # url.path when there is no http.route
        assert shown["Status"] == "502"
        assert shown["User"] == "u-42 · 192.0.2.9 · curl/8.0"
        assert shown["Service"] == "api · prod"
        assert notice.attributes["enduser.id"] == "u-42"
        assert notice.environment == "prod"

    def test_environment_falls_back_to_settings(self, provider, tracer):
        _fail_in_app(tracer, OLD_SERVER)
        spans = finished(provider)
        span = spans[0]
        bare = ReadableSpan(
            name=span.name, context=span.context, kind=span.kind, attributes=span.attributes,
            events=span.events, status=span.status, start_time=span.start_time, end_time=span.end_time,
            resource=Resource({"service.name": "shop"}),
        )  # fmt: skip
        (notice,) = detector(environment="qa")([bare])
        assert notice.environment == "qa" and fields(notice)["Service"] == "shop · qa"

    def test_each_notice_names_its_own_service(self, provider, tracer):
        """Spans of two services in one batch: each notice names the service, environment and host of its span."""
        other = TracerProvider(resource=Resource({"service.name": "worker", "host.name": "job-1"}))
        exporter = InMemorySpanExporter()
        other.add_span_processor(SimpleSpanProcessor(exporter))
        _fail_in_app(tracer, OLD_SERVER)
        _fail_in_app(other.get_tracer("tests"), NEW_SERVER)
        _fail_in_app(tracer, OLD_SERVER)
        first, second = finished(provider)
        notices = detector(environment="qa")([first, *exporter.get_finished_spans(), second])
        other.shutdown()
        assert [fields(n)["Service"] for n in notices] == [
            "shop · staging · web-1",
            "worker · qa · job-1",
            "shop · staging · web-1",
        ]
        assert [n.host for n in notices] == ["web-1", "job-1", "web-1"]

    def test_span_type_with_its_own_events(self, provider, tracer):
        """A span type whose events property is its own (a wrapper, a gateway) is read through that property."""
        _fail_in_app(tracer, OLD_SERVER)
        (span,) = finished(provider)
        recorded = span.events

        class Wrapped(ReadableSpan):
            @property
            def events(self):
                return recorded

        bare = Wrapped(
            name=span.name, context=span.context, kind=span.kind, attributes=span.attributes, events=(),
            status=Status(StatusCode.UNSET), start_time=span.start_time, end_time=span.end_time, resource=span.resource,
        )  # fmt: skip
        (notice,) = detector()([bare])
        assert notice.title.startswith("json.decoder.JSONDecodeError")

    def test_server_span_with_many_attributes(self, provider, tracer):
        """A server span with dozens of attributes still gives route, status and user."""
        _fail_in_app(tracer, {**OLD_SERVER, "enduser.id": "u-7", **{f"app.extra.{i}": i for i in range(40)}})
        (notice,) = detector()(finished(provider))
        assert fields(notice)["Route"] == "GET /orders/<int:order_id>"
        assert fields(notice)["Status"] == "500"
        assert fields(notice)["User"] == "u-7 · 10.1.2.3 · probe/1.0"

    def test_5xx_server_span_without_exception(self, provider, tracer):
        """A 503 answered without an exception is still an error, titled by status and route."""
        attributes = {"http.method": "GET", "http.route": "/five", "http.status_code": 503}
        timed(tracer, "GET /five", kind=SpanKind.SERVER, attributes=attributes)
        (notice,) = detector()(finished(provider))
        assert notice.title == "HTTP 503 on GET /five"
        assert notice.code is None
        assert "Location" not in fields(notice)
        assert fields(notice)["Status"] == "503"

    def test_4xx_is_not_an_error(self, provider, tracer):
        attributes = {"http.method": "GET", "http.target": "/nope", "http.status_code": 404}
        timed(tracer, "GET /nope", kind=SpanKind.SERVER, attributes=attributes)
        assert detector()(finished(provider)) == []

    def test_db_error_and_server_exception_give_one_notice(self, provider, tracer):
        """The failing DB span and the server span that caught the exception are one failure."""
        try:
            with tracer.start_as_current_span("GET /badsql", kind=SpanKind.SERVER, attributes={
                "http.method": "GET", "http.route": "/badsql", "http.status_code": 500,
            }):  # fmt: skip
                timed(
                    tracer, "SELECT app.sqlite3", kind=SpanKind.CLIENT, parent=trace.get_current_span(),
                    attributes={"db.system": "sqlite", "db.statement": "SELECT * FROM no_such_table"},
                    status=Status(StatusCode.ERROR, "no such table: no_such_table"),
                )  # fmt: skip
                raise LookupError("no such table: no_such_table")
        except LookupError:
            pass
        spans = finished(provider)
        assert len(spans) == 2
        (notice,) = detector()(spans)
        assert notice.title == "LookupError: no such table: no_such_table"
        assert fields(notice)["Route"] == "GET /badsql"
        assert notice.span_id == format(spans[1].context.span_id, "016x")  # the server span's

    def test_exception_in_child_wins_and_borrows_the_route(self, provider, tracer):
        """A child span's stack trace beats a bare server span; route and user come from the server span."""
        server = tracer.start_span("GET /pay", kind=SpanKind.SERVER, start_time=T0, attributes={
            "http.method": "GET", "http.route": "/pay", "http.status_code": 500, "enduser.id": "alice",
        })  # fmt: skip
        with trace.use_span(server, end_on_exit=False):
            try:
                with tracer.start_as_current_span("charge"):
                    _decode("{")
            except ValueError:
                pass
        server.end(end_time=T0 + 50 * MS)
        spans = finished(provider)
        (notice,) = detector()(spans)
        assert notice.title.startswith("json.decoder.JSONDecodeError")
        assert fields(notice)["Route"] == "GET /pay"
        assert fields(notice)["User"].startswith("alice")
        assert notice.span_id == format(spans[0].context.span_id, "016x")  # the child's

    def test_db_error_alone_shows_the_statement(self, provider, tracer):
        """Without a stack trace a DB error shows its normalised statement."""
        timed(
            tracer, "SELECT shop", kind=SpanKind.CLIENT,
            attributes={"db.system.name": "postgresql", "db.query.text": "SELECT * FROM users WHERE email = 'a@b.c'"},
            status=Status(StatusCode.ERROR, "relation \"users\" does not exist"),
        )  # fmt: skip
        (notice,) = detector()(finished(provider))
        assert notice.title == 'Database error: relation "users" does not exist'
        assert notice.code == "SELECT * FROM users WHERE email = ?"
        assert notice.code_language == "sql"
        assert "a@b.c" not in repr(notice)

    def test_same_trace_in_two_batches_alerts_once(self, provider, tracer):
        """A late span of an already reported trace does not alert again; other traces still do."""
        server = tracer.start_span("GET /badsql", kind=SpanKind.SERVER, start_time=T0, attributes={
            "http.method": "GET", "http.route": "/badsql", "http.status_code": 500,
        })  # fmt: skip
        timed(
            tracer, "SELECT x", kind=SpanKind.CLIENT, parent=server, attributes={"db.system": "sqlite"},
            status=Status(StatusCode.ERROR, "no such table: x"),
        )  # fmt: skip
        server.end(end_time=T0 + 10 * MS)
        db_span, server_span = finished(provider)
        detect = detector()
        first = detect([db_span])
        assert [n.title for n in first] == ["Database error: no such table: x"]
        assert detect([server_span]) == []
        timed(tracer, "GET /five", kind=SpanKind.SERVER, attributes={"http.status_code": 503})
        assert len(detect(finished(provider)[2:])) == 1

    def test_same_failure_same_fingerprint(self, provider, tracer):
        """The same bug in two requests groups together; another route does not."""
        _fail_in_app(tracer, OLD_SERVER)
        _fail_in_app(tracer, {**OLD_SERVER, "http.target": "/orders/8"})
        _fail_in_app(tracer, {**OLD_SERVER, "http.route": "/refunds/<int:id>"})
        first, second, other = detector()(finished(provider))
        assert first.trace_id != second.trace_id
        assert first.fingerprint == second.fingerprint != other.fingerprint

    def test_own_webhook_calls_never_alert(self, provider):
        """A failed, traced call to a Discord webhook is never reported (no alert loop)."""
        for scope in ("opentelemetry.instrumentation.requests", "opentelemetry.instrumentation.urllib3"):
            client = provider.get_tracer(scope)
            timed(
                client, "POST", kind=SpanKind.CLIENT,
                attributes={"http.url": "https://discord.com/api/v10/webhooks/123/token", "http.status_code": 503},
                status=Status(StatusCode.ERROR),
            )  # fmt: skip
            timed(
                client, "POST", kind=SpanKind.CLIENT,
                attributes={"url.full": "http://127.0.0.1:8080/api/webhooks/123/token?wait=true"},
                status=Status(StatusCode.ERROR),
            )  # fmt: skip
        assert detector()(finished(provider)) == []
        # Any other failing HTTP call is an error as usual.
        timed(
            provider.get_tracer("opentelemetry.instrumentation.requests"), "GET", kind=SpanKind.CLIENT,
            attributes={"http.url": "https://api.example.com/v1/rates"}, status=Status(StatusCode.ERROR, "timeout"),
        )  # fmt: skip
        assert len(detector()(finished(provider))) == 1


class TestSlowQueries:
    def test_slow_query_with_route_from_its_server_span(self, provider, tracer):
        """The DB span ends before its server span, yet the notice names the request's route."""
        server = tracer.start_span("GET /slow", kind=SpanKind.SERVER, start_time=T0, attributes={
            "http.method": "GET", "http.route": "/slow", "http.status_code": 200,
        })  # fmt: skip
        timed(
            tracer, "WITH /srv/app/demo.sqlite3", kind=SpanKind.CLIENT, parent=server, ms=1234.4,
            attributes={
                "db.system": "sqlite", "db.name": "/srv/app/demo.sqlite3",
                "db.operation": "WITH /srv/app/demo.sqlite3",
                "db.statement": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1500000) "
                "SELECT count(*) FROM c",
            },
        )  # fmt: skip
        server.end(end_time=T0 + 1300 * MS)
        (notice,) = detector(slow_query_ms=500)(finished(provider))
        assert (notice.kind, notice.severity, notice.category) == (
            Kind.SLOW_QUERY, Severity.WARNING, Category.PERFORMANCE,
        )  # fmt: skip
        assert notice.title == "Slow query: 1,234 ms (threshold 500 ms)"
        assert fields(notice) == {
            "Duration": "1,234 ms",
            "Database": "demo.sqlite3",
            "Operation": "WITH",
            "Route": "GET /slow",
            "Threshold": "500 ms",
        }
        assert notice.code == (
            "WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x+? FROM c WHERE x < ?) SELECT count(*) FROM c"
        )
        assert notice.code_language == "sql"
        assert notice.attributes["http.route"] == "/slow"

    def test_new_semconv_and_threshold_is_inclusive(self, provider, tracer):
        """db.system.name / db.namespace / db.query.text work; exactly the threshold counts as slow."""
        attributes = {"db.system.name": "postgresql", "db.namespace": "shop", "db.query.text": "SELECT 1"}
        timed(tracer, "SELECT shop", kind=SpanKind.CLIENT, ms=500, attributes=attributes)
        timed(tracer, "SELECT shop", kind=SpanKind.CLIENT, ms=499.999, attributes=attributes)
        (notice,) = detector(slow_query_ms=500)(finished(provider))
        assert fields(notice)["Database"] == "shop"
        assert "Route" not in fields(notice)

    def test_route_remembered_from_an_earlier_batch(self, provider, tracer):
        """A query that ends after its request was exported still gets the route."""
        server = timed(tracer, "GET /report", kind=SpanKind.SERVER, ms=5, attributes={
            "http.request.method": "GET", "http.route": "/report", "http.response.status_code": 202,
        })  # fmt: skip
        timed(
            tracer, "SELECT shop", kind=SpanKind.CLIENT, parent=server, ms=900,
            attributes={"db.system": "postgresql", "db.statement": "SELECT * FROM big"},
        )  # fmt: skip
        server_span, db_span = finished(provider)
        detect = detector(slow_query_ms=100)
        assert detect([server_span]) == []
        (notice,) = detect([db_span])
        assert fields(notice)["Route"] == "GET /report"

    def test_same_statement_shape_same_fingerprint(self, provider, tracer):
        for user in ("alice", "bob"):
            timed(tracer, "SELECT", kind=SpanKind.CLIENT, ms=800, attributes={
                "db.system": "mysql", "db.statement": f"SELECT * FROM users WHERE name = \"{user}\"",
            })  # fmt: skip
        timed(tracer, "SELECT", kind=SpanKind.CLIENT, ms=800, attributes={
            "db.system": "mysql", "db.statement": "SELECT * FROM orders",
        })  # fmt: skip
        alice, bob, orders = detector(slow_query_ms=100)(finished(provider))
        assert alice.code == "SELECT * FROM users WHERE name = ?"
        assert alice.fingerprint == bob.fingerprint != orders.fingerprint

    def test_slow_non_db_client_span_is_not_a_query(self, provider, tracer):
        timed(tracer, "GET", kind=SpanKind.CLIENT, ms=5000, attributes={"http.url": "https://example.com"})
        assert detector(slow_query_ms=100)(finished(provider)) == []


class TestSlowRequests:
    def test_slow_request(self, provider, tracer):
        """A server span over slow_request_ms is a warning with duration, route and status."""
        for path in ("/users/1", "/users/2"):
            timed(tracer, "GET /users/<id>", kind=SpanKind.SERVER, ms=2500, attributes={
                "http.method": "GET", "http.route": "/users/<id>", "http.target": path, "http.status_code": 200,
            })  # fmt: skip
        timed(tracer, "GET /other", kind=SpanKind.SERVER, ms=2500, attributes={
            "http.method": "GET", "http.route": "/other", "http.status_code": 200,
        })  # fmt: skip
        first, second, other = detector(slow_request_ms=2000)(finished(provider))
        assert (first.kind, first.severity, first.category) == (
            Kind.SLOW_REQUEST, Severity.WARNING, Category.PERFORMANCE,
        )  # fmt: skip
        assert first.title == "Slow request: 2,500 ms on GET /users/<id> (threshold 2,000 ms)"
        assert fields(first) == {
            "Duration": "2,500 ms", "Route": "GET /users/<id>", "Status": "200", "Threshold": "2,000 ms",
        }  # fmt: skip
        assert first.fingerprint == second.fingerprint != other.fingerprint


def test_fast_healthy_spans_give_nothing(provider, tracer):
    """Ordinary traffic produces no notice at all."""
    for i in range(20):
        server = tracer.start_span("GET /users/<id>", kind=SpanKind.SERVER, start_time=T0, attributes={
            "http.method": "GET", "http.route": "/users/<id>", "http.status_code": 200 if i % 2 else 404,
        })  # fmt: skip
        timed(tracer, "SELECT", kind=SpanKind.CLIENT, parent=server, ms=3, attributes={"db.system": "sqlite"})
        timed(tracer, "render", parent=server, ms=1, status=Status(StatusCode.OK))
        server.end(end_time=T0 + 20 * MS)
    assert detector(slow_query_ms=500, slow_request_ms=2000)(finished(provider)) == []


def test_malformed_spans_are_skipped(provider, tracer):
    """Unfinished spans, odd attribute types and missing contexts never stop a batch."""
    _fail_in_app(tracer, OLD_SERVER)
    good = finished(provider)
    odd = [
        ReadableSpan("unfinished", kind=SpanKind.SERVER, start_time=T0, end_time=None),
        ReadableSpan(
            "odd",
            kind=SpanKind.SERVER,
            start_time=T0,
            end_time=T0 + 1,
            attributes={"http.status_code": "boom", "http.route": ["x"], "http.method": None},
            status=Status(StatusCode.ERROR),
            events=[Event("exception", {"exception.stacktrace": 42})],
        ),  # fmt: skip
        ReadableSpan("no attributes", kind=SpanKind.CLIENT, start_time=T0, end_time=T0 + 10**12, attributes=None),
        ReadableSpan(
            "not a mapping",
            kind=SpanKind.SERVER,
            start_time=T0,
            end_time=T0 + 1,
            attributes=[("http.status_code", 500)],  # type: ignore[arg-type]
        ),  # fmt: skip
        None,
    ]
    notices = detector(slow_query_ms=1)(odd + good)  # type: ignore[operator]
    titles = [n.title for n in notices]
    assert titles[0] == "odd failed"  # the ERROR span without a context is reported, alone
    assert any(title.startswith("json.decoder.JSONDecodeError") for title in titles)


_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/v/lib/python3.11/site-packages/flask/app.py", line 1, in wsgi_app\n'
    "    return f()\n"
    '  File "/srv/app/app.py", line 45, in boom\n'
    "    raise ValueError(1)\n"
    "ValueError: 1\n"
)
_values = st.one_of(
    st.none(), st.text(max_size=20), st.just(_TRACEBACK), st.just("/api/v10/webhooks/1/t"),
    st.integers(), st.floats(), st.booleans(), st.binary(max_size=5),
    st.lists(st.one_of(st.text(max_size=5), st.integers(), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip
_keys = st.one_of(
    st.sampled_from([
        "http.method", "http.request.method", "http.route", "http.target", "url.path", "http.status_code",
        "http.response.status_code", "db.system", "db.system.name", "db.statement", "db.query.text",
        "db.name", "db.namespace", "db.operation", "enduser.id", "client.address", "net.peer.ip",
        "user_agent.original", "http.url", "url.full", "exception.type", "exception.message",
        "exception.stacktrace",
    ]),
    st.text(min_size=1, max_size=10),
)  # fmt: skip
_attributes = st.one_of(st.none(), st.dictionaries(_keys, _values, max_size=8))
_times = st.one_of(st.none(), st.integers(min_value=-(2**64), max_value=2**64))


_contexts = st.one_of(st.none(), st.builds(
    SpanContext, trace_id=st.integers(0, 2**128 - 1), span_id=st.integers(0, 2**64 - 1), is_remote=st.just(False),
))  # fmt: skip
_statuses = st.one_of(
    st.sampled_from([Status(StatusCode.UNSET), Status(StatusCode.OK)]),
    st.builds(Status, st.just(StatusCode.ERROR), st.one_of(st.none(), st.text(max_size=20))),
)
_spans = st.builds(
    ReadableSpan,
    name=st.text(max_size=30),
    context=_contexts,
    kind=st.sampled_from(list(SpanKind)),
    attributes=_attributes,
    events=st.lists(st.builds(Event, st.sampled_from(["exception", "log", ""]), _attributes), max_size=3),
    status=_statuses,
    start_time=_times,
    end_time=_times,
    resource=st.builds(Resource, st.dictionaries(_keys, st.one_of(st.text(max_size=10), st.integers()), max_size=3)),
    instrumentation_scope=st.sampled_from([None, InstrumentationScope("opentelemetry.instrumentation.requests")]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_spans, max_size=6))
def test_arbitrary_spans_never_raise(spans):
    """Whatever names, attributes, events, kinds and times arrive, the detector returns notices."""
    detect = SpanDetector(resolve(webhook_url=WEBHOOK, environ={}, slow_query_ms=0.001, slow_request_ms=0.001))
    notices = detect(spans)
    assert isinstance(notices, list)
    for notice in notices:
        assert isinstance(notice, Notice)
        assert isinstance(notice.title, str) and notice.title
        assert all(isinstance(f.value, str) for f in notice.fields)
