"""OTLP request bodies become the same SDK objects an in-process exporter would receive."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import zlib
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    InMemoryMetricReader,
    MetricsData,
    Sum,
)
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    TraceState,
)
from opentelemetry.trace.status import Status, StatusCode

from otel_discord.bridge.decode import (
    BodyTooLarge,
    DecodeError,
    UnsupportedMediaType,
    decode_logs,
    decode_metrics,
    decode_traces,
    decompress,
)

PB = "application/x-protobuf"
JSON = "application/json"
REMOTE_PARENT = SpanContext(
    trace_id=0x5B8EFFF798038103D269B633813FC60C,
    span_id=0xEEE19B7EC3C1B174,
    is_remote=True,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
    trace_state=TraceState([("vendor", "abc")]),
)
# The Python encoder drops a link's trace state, so the linked context has none.
LINKED = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=True)
ATTRS_OLD_AND_NEW_SEMCONV = {
    "http.method": "GET",
    "http.target": "/orders/42",
    "http.status_code": 500,
    "http.request.method": "GET",
    "url.path": "/orders/42",
    "http.response.status_code": 500,
    "http.route": "/orders/<id>",
    "retry.delays": (0.5, 1.0),
    "feature.flags": ("new-checkout", "dark-mode"),
    "cache.hit": False,
}


# ------------------------------------------------------------------ real SDK telemetry


def make_spans() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop", "deployment.environment": "prod"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shop.web", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.26.0")
    remote = trace.set_span_in_context(NonRecordingSpan(REMOTE_PARENT))
    with tracer.start_as_current_span(
        "GET /orders/<id>", context=remote, kind=SpanKind.SERVER, attributes=ATTRS_OLD_AND_NEW_SEMCONV
    ) as server:
        with tracer.start_as_current_span(
            "SELECT shop",
            kind=SpanKind.CLIENT,
            attributes={"db.system": "postgresql", "db.statement": "SELECT * FROM orders WHERE id = 42"},
        ):
            pass
        try:
            with tracer.start_as_current_span("checkout", links=[Link(LINKED, {"link.kind": "retry"})]):
                raise ValueError("card declined")
        except ValueError:
            pass
        server.set_status(Status(StatusCode.ERROR, "checkout failed"))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def make_logs() -> list[ReadableLogRecord]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    std_logger = logging.getLogger("tests.bridge.shop")
    std_logger.propagate = False
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    std_logger.addHandler(handler)
    tracer = TracerProvider().get_tracer("t")
    try:
        with tracer.start_as_current_span("POST /pay"):
            try:
                1 / 0
            except ZeroDivisionError:
                std_logger.exception("payment failed for %s", "order-42")
    finally:
        std_logger.removeHandler(handler)
    provider.get_logger("shop.events", "0.1").emit(
        LogRecord(
            event_name="order.refused",
            severity_number=SeverityNumber.WARN,
            severity_text="WARN",
            body={"order": "42", "reasons": ["fraud", "limit"]},
            attributes={"order.id": 42, "user.roles": ("admin", "ops")},
        )
    )
    provider.shutdown()
    return list(exporter.get_finished_logs())


def make_metrics() -> MetricsData:
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
    provider = MeterProvider(
        resource=Resource.create({"service.name": "shop"}),
        metric_readers=[reader],
        views=[
            View(
                instrument_name="http.server.request.duration",
                aggregation=ExplicitBucketHistogramAggregation([0.1, 0.5, 1.0]),
            ),
        ],
    )
    meter = provider.get_meter("shop.metrics", "1.0")
    orders = meter.create_counter("orders", unit="{order}", description="orders placed")
    orders.add(2, {"status": "ok"})
    orders.add(1, {"status": "failed"})
    depth = meter.create_up_down_counter("queue.depth")
    depth.add(5)
    depth.add(-2)
    duration = meter.create_histogram("http.server.request.duration", unit="s")
    for seconds in (0.05, 0.3, 0.3, 2.0):
        duration.record(seconds, {"http.route": "/orders/<id>"})
    meter.create_gauge("cpu.temperature").set(71.5)
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def otlp_json(message: Message) -> bytes:
    """OTLP/JSON as the Collector writes it: camelCase, int enums, hex ids."""
    document = json_format.MessageToDict(message, use_integers_for_enums=True)

    def hexify(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                hexify(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key in ("traceId", "spanId", "parentSpanId"):
                    node[key] = base64.b64decode(value).hex()
                else:
                    hexify(value)

    hexify(document)
    return json.dumps(document).encode()


def scope_key(scope: Any) -> tuple[Any, ...]:
    """OTLP cannot tell an empty version or schema URL from a missing one."""
    return (scope.name, scope.version or None, scope.schema_url or None, dict(scope.attributes or {}))


@pytest.fixture(scope="module")
def spans() -> list[ReadableSpan]:
    return make_spans()


def by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


# ------------------------------------------------------------------ traces


class TestTraces:
    def test_protobuf_round_trip_keeps_every_field(self, spans: list[ReadableSpan]) -> None:
        """Every span decodes to exactly what the SDK produced (ids, times, status, events, links)."""
        decoded = decode_traces(encode_spans(spans).SerializeToString(), PB)
        assert [s.to_json() for s in decoded] == [s.to_json() for s in spans]
        for original, copy in zip(spans, decoded):
            assert scope_key(copy.instrumentation_scope) == scope_key(original.instrumentation_scope)
            assert copy.instrumentation_scope.schema_url == "https://opentelemetry.io/schemas/1.26.0"

    def test_json_round_trip_with_hex_ids(self, spans: list[ReadableSpan]) -> None:
        """OTLP/JSON as the Collector sends it decodes like protobuf."""
        decoded = decode_traces(otlp_json(encode_spans(spans)), JSON)
        assert [s.to_json() for s in decoded] == [s.to_json() for s in spans]

    def test_server_span_fields(self, spans: list[ReadableSpan]) -> None:
        """Kind, status, remote parent, resource and both semconv generations survive."""
        server = by_name(decode_traces(encode_spans(spans).SerializeToString(), PB))["GET /orders/<id>"]
        assert server.kind is SpanKind.SERVER
        assert server.status.status_code is StatusCode.ERROR
        assert server.status.description == "checkout failed"
        assert server.parent is not None and server.parent.is_remote
        assert server.parent.span_id == REMOTE_PARENT.span_id
        assert server.context.trace_id == REMOTE_PARENT.trace_id
        assert server.resource.attributes["service.name"] == "shop"
        assert dict(server.attributes) == ATTRS_OLD_AND_NEW_SEMCONV
        assert server.end_time > server.start_time > 0

    def test_exception_event_and_link(self, spans: list[ReadableSpan]) -> None:
        """The exception event keeps type, message and stack trace; links keep their context."""
        decoded = by_name(decode_traces(encode_spans(spans).SerializeToString(), PB))
        checkout = decoded["checkout"]
        assert checkout.status.status_code is StatusCode.ERROR
        assert checkout.status.description == "ValueError: card declined"
        (event,) = checkout.events
        assert event.name == "exception"
        assert event.attributes["exception.type"] == "ValueError"
        assert event.attributes["exception.message"] == "card declined"
        assert 'raise ValueError("card declined")' in event.attributes["exception.stacktrace"]
        (link,) = checkout.links
        assert (link.context.trace_id, link.context.span_id) == (LINKED.trace_id, LINKED.span_id)
        assert link.context.is_remote
        assert link.attributes == {"link.kind": "retry"}
        assert checkout.parent.span_id == decoded["GET /orders/<id>"].context.span_id
        assert not checkout.parent.is_remote
        assert decoded["SELECT shop"].kind is SpanKind.CLIENT

    @pytest.mark.parametrize(
        "encoding, compress",
        [
            ("gzip", gzip.compress),
            ("deflate", zlib.compress),
            ("deflate", lambda data: zlib.compress(data, wbits=-15)),  # raw deflate
            ("identity", lambda data: data),
            (None, lambda data: data),
        ],
    )
    def test_content_encodings(self, spans: list[ReadableSpan], encoding: str | None, compress: Any) -> None:
        """gzip, zlib-wrapped and raw deflate bodies decode to the same spans."""
        body = compress(encode_spans(spans).SerializeToString())
        assert [s.name for s in decode_traces(body, PB, encoding)] == [s.name for s in spans]

    def test_content_type_parameters_are_ignored(self, spans: list[ReadableSpan]) -> None:
        """`application/json; charset=utf-8` is JSON."""
        assert decode_traces(otlp_json(encode_spans(spans)), "Application/JSON; charset=utf-8")

    def test_hand_written_otlp_json(self) -> None:
        """A body from a non-Python SDK: hex ids, int64 as strings, every AnyValue kind."""
        body = {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
                    "scopeSpans": [
                        {
                            "scope": {"name": "io.billing", "version": "2.0"},
                            "spans": [
                                {
                                    "traceId": "5B8EFFF798038103D269B633813FC60C",
                                    "spanId": "eee19b7ec3c1b174",
                                    "parentSpanId": "eee19b7ec3c1b173",
                                    "name": "charge",
                                    "kind": 3,
                                    "startTimeUnixNano": "1544712660000000000",
                                    "endTimeUnixNano": "1544712661000000000",
                                    "status": {"code": 2, "message": "card declined"},
                                    "attributes": [
                                        {"key": "payment.amount", "value": {"intValue": "9007199254740993"}},
                                        {"key": "payment.ratio", "value": {"doubleValue": 0.25}},
                                        {"key": "payment.ok", "value": {"boolValue": False}},
                                        {"key": "payment.raw", "value": {"bytesValue": "AQL/"}},
                                        {
                                            "key": "tags",
                                            "value": {
                                                "arrayValue": {"values": [{"stringValue": "a"}, {"stringValue": "b"}]}
                                            },
                                        },
                                        {
                                            "key": "mixed",
                                            "value": {
                                                "arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "x"}]}
                                            },
                                        },
                                        {
                                            "key": "card",
                                            "value": {
                                                "kvlistValue": {
                                                    "values": [
                                                        {"key": "brand", "value": {"stringValue": "visa"}},
                                                        {"key": "last4", "value": {"intValue": "4242"}},
                                                    ]
                                                }
                                            },
                                        },
                                        {"key": "unset", "value": {}},
                                    ],
                                    "events": [
                                        {
                                            "timeUnixNano": "1544712660500000000",
                                            "name": "exception",
                                            "attributes": [
                                                {"key": "exception.type", "value": {"stringValue": "CardError"}},
                                            ],
                                        }
                                    ],
                                    "futureField": "ignored, as the OTLP spec requires",
                                }
                            ],
                        }
                    ],
                }
            ],
        }
        (span,) = decode_traces(json.dumps(body).encode(), JSON)
        assert span.context.trace_id == 0x5B8EFFF798038103D269B633813FC60C
        assert span.context.span_id == 0xEEE19B7EC3C1B174
        assert span.parent.span_id == 0xEEE19B7EC3C1B173
        assert span.kind is SpanKind.CLIENT
        assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "card declined")
        assert (span.start_time, span.end_time) == (1544712660000000000, 1544712661000000000)
        assert dict(span.attributes) == {
            "payment.amount": 9007199254740993,
            "payment.ratio": 0.25,
            "payment.ok": False,
            "payment.raw": "0102ff",
            "tags": ("a", "b"),
            "mixed": '[1,"x"]',
            "card": '{"brand":"visa","last4":4242}',
        }
        assert span.events[0].timestamp == 1544712660500000000
        assert span.events[0].attributes["exception.type"] == "CardError"
        assert span.resource.attributes["service.name"] == "billing"
        assert (span.instrumentation_scope.name, span.instrumentation_scope.version) == ("io.billing", "2.0")

    @settings(max_examples=60, deadline=None)
    @given(
        attributes=st.dictionaries(
            st.text(min_size=1, max_size=20),
            st.one_of(
                st.text(max_size=30),
                st.booleans(),
                st.integers(min_value=-(2**63), max_value=2**63 - 1),
                st.floats(allow_nan=False),
                st.lists(st.text(max_size=5), max_size=4).map(tuple),
                st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=4).map(tuple),
                st.lists(st.floats(allow_nan=False), max_size=4).map(tuple),
            ),
            max_size=8,
        )
    )
    def test_attribute_values_round_trip(self, attributes: dict[str, Any]) -> None:
        """Any valid SDK attribute value comes back equal, in protobuf and in JSON."""
        tracer_provider = TracerProvider()
        exporter = InMemorySpanExporter()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer_provider.get_tracer("t").start_span("s", attributes=attributes).end()
        (span,) = exporter.get_finished_spans()
        request = encode_spans([span])
        for body, content_type in ((request.SerializeToString(), PB), (otlp_json(request), JSON)):
            (decoded,) = decode_traces(body, content_type)
            assert dict(decoded.attributes) == dict(span.attributes)


# ------------------------------------------------------------------ logs


@pytest.fixture(scope="module")
def records() -> list[ReadableLogRecord]:
    return make_logs()


@pytest.fixture(scope="module")
def data() -> MetricsData:
    return make_metrics()


class TestLogs:
    @pytest.mark.parametrize("wire", ["protobuf", "json"])
    def test_round_trip(self, records: list[ReadableLogRecord], wire: str) -> None:
        """Severity, body, attributes, event name, ids, resource and scope survive."""
        request = encode_logs(records)
        body = request.SerializeToString() if wire == "protobuf" else otlp_json(request)
        decoded = decode_logs(body, PB if wire == "protobuf" else JSON)
        assert [json.loads(r.to_json()) for r in decoded] == [json.loads(r.to_json()) for r in records]
        assert [scope_key(r.instrumentation_scope) for r in decoded] == [
            scope_key(r.instrumentation_scope) for r in records
        ]

    def test_error_log_from_logging_module(self, records: list[ReadableLogRecord]) -> None:
        """A `logger.exception` record keeps its level, message, exception and span."""
        decoded = decode_logs(encode_logs(records).SerializeToString(), PB)
        error = decoded[0].log_record
        assert error.severity_number is SeverityNumber.ERROR
        assert error.severity_text == "ERROR"
        assert error.body == "payment failed for order-42"
        assert error.attributes["exception.type"] == "ZeroDivisionError"
        assert "1 / 0" in error.attributes["exception.stacktrace"]
        assert error.trace_id == records[0].log_record.trace_id != 0
        assert error.span_id == records[0].log_record.span_id != 0
        assert decoded[0].resource.attributes["service.name"] == "shop"

    def test_event_with_structured_body(self, records: list[ReadableLogRecord]) -> None:
        """An event keeps its name, a map body stays a map, an unset trace id stays 0."""
        event = decode_logs(encode_logs(records).SerializeToString(), PB)[1]
        assert event.log_record.event_name == "order.refused"
        assert event.log_record.severity_number is SeverityNumber.WARN
        assert event.log_record.body == {"order": "42", "reasons": ["fraud", "limit"]}
        assert event.log_record.attributes == {"order.id": 42, "user.roles": ("admin", "ops")}
        assert event.log_record.trace_id == 0
        assert event.instrumentation_scope.name == "shop.events"

    def test_hand_written_json_log(self) -> None:
        """Hex ids and string timestamps in an OTLP/JSON log record."""
        body = {
            "resourceLogs": [
                {
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "timeUnixNano": "1700000000000000001",
                                    "severityNumber": 17,
                                    "severityText": "Error",
                                    "body": {
                                        "kvlistValue": {"values": [{"key": "msg", "value": {"stringValue": "db down"}}]}
                                    },
                                    "traceId": "0af7651916cd43dd8448eb211c80319c",
                                    "spanId": "b7ad6b7169203331",
                                    "eventName": "db.outage",
                                }
                            ]
                        }
                    ]
                }
            ]
        }
        (record,) = decode_logs(json.dumps(body).encode(), JSON)
        assert record.log_record.timestamp == 1700000000000000001
        assert record.log_record.severity_number is SeverityNumber.ERROR
        assert record.log_record.body == {"msg": "db down"}
        assert record.log_record.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
        assert record.log_record.span_id == 0xB7AD6B7169203331
        assert record.log_record.event_name == "db.outage"


# ------------------------------------------------------------------ metrics


class TestMetrics:
    @pytest.mark.parametrize("wire", ["protobuf", "json"])
    def test_round_trip(self, data: MetricsData, wire: str) -> None:
        """Every metric, point, temporality and bucket decodes to what the SDK produced."""
        request = encode_metrics(data)
        body = request.SerializeToString() if wire == "protobuf" else otlp_json(request)
        decoded = decode_metrics(body, PB if wire == "protobuf" else JSON)
        assert json.loads(decoded.to_json()) == json.loads(data.to_json())

    def test_metric_kinds(self, data: MetricsData) -> None:
        """Sum, Gauge and Histogram keep the values an alert rule would read."""
        decoded = decode_metrics(encode_metrics(data).SerializeToString(), PB)
        (scope_metrics,) = decoded.resource_metrics[0].scope_metrics
        metrics = {m.name: m for m in scope_metrics.metrics}
        assert decoded.resource_metrics[0].resource.attributes["service.name"] == "shop"

        orders = metrics["orders"]
        assert isinstance(orders.data, Sum) and orders.data.is_monotonic
        assert orders.data.aggregation_temporality is AggregationTemporality.DELTA
        assert {p.attributes["status"]: p.value for p in orders.data.data_points} == {"ok": 2, "failed": 1}
        assert (orders.unit, orders.description) == ("{order}", "orders placed")

        depth = metrics["queue.depth"]
        assert isinstance(depth.data, Sum) and not depth.data.is_monotonic
        assert depth.data.aggregation_temporality is AggregationTemporality.CUMULATIVE
        assert depth.data.data_points[0].value == 3

        (point,) = metrics["http.server.request.duration"].data.data_points
        assert isinstance(metrics["http.server.request.duration"].data, Histogram)
        assert list(point.explicit_bounds) == [0.1, 0.5, 1.0]
        assert list(point.bucket_counts) == [1, 2, 0, 1]
        assert (point.count, point.min, point.max) == (4, 0.05, 2.0)
        assert point.sum == pytest.approx(2.65)
        assert point.attributes == {"http.route": "/orders/<id>"}

        assert isinstance(metrics["cpu.temperature"].data, Gauge)
        assert metrics["cpu.temperature"].data.data_points[0].value == 71.5

    def test_summary_is_skipped_and_gaps_are_not_zeros(self) -> None:
        """Summary has no SDK type; a point flagged "no recorded value" is not read as 0."""
        body = {
            "resourceMetrics": [
                {
                    "scopeMetrics": [
                        {
                            "metrics": [
                                {"name": "legacy", "summary": {"dataPoints": [{"count": "1", "sum": 1.0}]}},
                                {
                                    "name": "up",
                                    "gauge": {
                                        "dataPoints": [
                                            {"asInt": "1", "timeUnixNano": "1"},
                                            {"timeUnixNano": "2", "flags": 1},
                                        ]
                                    },
                                },
                            ]
                        }
                    ]
                }
            ]
        }
        decoded = decode_metrics(json.dumps(body).encode(), JSON)
        (metric,) = decoded.resource_metrics[0].scope_metrics[0].metrics
        assert metric.name == "up"
        assert [p.value for p in metric.data.data_points] == [1]


# ------------------------------------------------------------------ errors


class TestMalformed:
    @pytest.mark.parametrize(
        "body, content_type, encoding, message",
        [
            (b"\xff\xff\xff\xff", PB, None, "not a protobuf ExportTraceServiceRequest"),
            (b"{not json", JSON, None, "not JSON"),
            (b"[1, 2]", JSON, None, "must be an object"),
            (b'{"resourceSpans": 3}', JSON, None, "not an OTLP/JSON"),
            (
                b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
                JSON,
                None,
                "traceId 'zz' is not hex",
            ),
            (
                b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "abcd"}]}]}]}',
                JSON,
                None,
                "span trace id has 2 bytes, expected 16",
            ),
            (b"this is not gzip", PB, "gzip", "not valid gzip"),
            (gzip.compress(b"abc")[:-6], PB, "gzip", "truncated"),
        ],
    )
    def test_malformed_body_raises_decode_error(
        self, body: bytes, content_type: str, encoding: str | None, message: str
    ) -> None:
        """A bad body is a DecodeError (a ValueError) whose message says what is wrong."""
        with pytest.raises(DecodeError, match=message) as info:
            decode_traces(body, content_type, encoding)
        assert isinstance(info.value, ValueError)

    @pytest.mark.parametrize(
        "content_type, encoding",
        [("text/plain", None), ("", None), (PB, "br"), ("application/protobuf+x", None)],
    )
    def test_unsupported_media(self, content_type: str, encoding: str | None) -> None:
        """Unknown Content-Type or Content-Encoding is its own DecodeError subclass."""
        with pytest.raises(UnsupportedMediaType):
            decode_logs(b"", content_type, encoding)

    def test_decompression_bomb_is_refused(self) -> None:
        """A small body that inflates past the limit is refused before it fills memory."""
        bomb = gzip.compress(b"\0" * 200_000)
        with pytest.raises(BodyTooLarge):
            decompress(bomb, "gzip", limit=100_000)
        assert len(decompress(bomb, "gzip", limit=200_000)) == 200_000

    def test_concatenated_gzip_members(self) -> None:
        """gzip bodies may consist of several members; all are read."""
        assert decompress(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip") == b"abcd"

    def test_empty_request_is_valid(self) -> None:
        """An empty protobuf body is an empty request, not an error."""
        assert decode_traces(b"", PB) == []
        assert decode_metrics(b"{}", JSON).resource_metrics == []
