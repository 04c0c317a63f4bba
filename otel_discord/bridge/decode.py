"""Turn OTLP request bodies into the SDK's own telemetry objects.

In gateway mode a Collector forwards OTLP to the bridge. Rather than writing a second
detector for protobuf messages, the bridge rebuilds exactly what an in-process exporter
receives (``ReadableSpan``, ``ReadableLogRecord``, ``MetricsData``) and hands it to the
same pipeline, so every rule lives in one place. The wire format itself (media types,
compression, OTLP/JSON's hex ids) is ``wire.py``'s job.

OTLP ``AnyValue`` becomes a value the SDK accepts as an attribute: str, bool, int, float,
or a tuple of one of those. Bytes become hex; arrays of mixed or nested values and
key-value lists become a compact JSON string. Log bodies keep their structure (dict/list),
because the log API allows any value there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Buckets,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)  # fmt: skip
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope as SdkScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

from otel_discord.bridge.wire import (
    JSON,
    MAX_DECOMPRESSED_BYTES,
    PROTOBUF,
    BodyTooLarge,
    DecodeError,
    UnsupportedMediaType,
    decompress,
    media_type,
    parse_request,
)
from otel_discord.health.log import get_logger

# The wire names stay importable from here: callers decode and catch in one place.
__all__ = [
    "BodyTooLarge", "DecodeError", "JSON", "MAX_DECOMPRESSED_BYTES", "PROTOBUF", "UnsupportedMediaType",
    "decode_logs", "decode_metrics", "decode_traces", "decompress", "media_type",
]  # fmt: skip

_logger = get_logger(__name__)

_SPAN_KINDS: Final = {
    1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT, 4: SpanKind.PRODUCER, 5: SpanKind.CONSUMER
}  # fmt: skip
_STATUS_CODES: Final = {1: StatusCode.OK, 2: StatusCode.ERROR}
# Span/link `flags`: bits 0-7 are W3C trace flags, bit 8 says whether bit 9 ("the
# parent or linked context is remote") is known.
_HAS_IS_REMOTE: Final = 0x100
_IS_REMOTE: Final = 0x200
# Data point flag FLAG_NO_RECORDED_VALUE: a gap marker, not a measurement of zero.
_NO_RECORDED_VALUE: Final = 1


# ---------------------------------------------------------------- shared pieces


def _id(raw: bytes, size: int, what: str) -> int:
    if not raw:
        return 0
    if len(raw) != size:
        raise DecodeError(f"{what} has {len(raw)} bytes, expected {size}")
    return int.from_bytes(raw, "big")


def _plain(value: AnyValue) -> Any:
    """AnyValue as plain Python (dict/list allowed); bytes as hex."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_plain(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _attribute(value: AnyValue) -> Any:
    """AnyValue as a valid SDK attribute value (primitive or homogeneous tuple)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        items = [_plain(item) for item in value.array_value.values]
        types = {type(item) for item in items}
        if len(types) <= 1 and types <= {str, bool, int, float}:
            return tuple(items)
        return json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    if kind == "kvlist_value":
        return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))
    return _plain(value)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    # An unset value has no SDK equivalent (the SDK rejects None attributes): drop it.
    out = {}
    for kv in pairs:
        value = _attribute(kv.value)
        if value is not None:
            out[kv.key] = value
    return out


def _resource(resource: PbResource, schema_url: str) -> Resource:
    return Resource(_attributes(resource.attributes), schema_url or None)


def _scope(scope: InstrumentationScope, schema_url: str) -> SdkScope:
    return SdkScope(scope.name, scope.version or None, schema_url or None, _attributes(scope.attributes) or None)


def _trace_state(header: str) -> TraceState | None:
    return TraceState.from_header([header]) if header else None


def _context(trace_id: bytes, span_id: bytes, flags: int, remote: bool, trace_state: str, what: str) -> SpanContext:
    # Only sampled spans are exported, but the Python SDK's encoder leaves the trace-flag
    # bits of `flags` empty; keep whatever is there and add SAMPLED.
    return SpanContext(
        _id(trace_id, 16, f"{what} trace id"),
        _id(span_id, 8, f"{what} span id"),
        is_remote=remote,
        trace_flags=TraceFlags((flags & 0xFF) | TraceFlags.SAMPLED),
        trace_state=_trace_state(trace_state),
    )


def _is_remote(flags: int) -> bool:
    return bool(flags & _HAS_IS_REMOTE and flags & _IS_REMOTE)


# ---------------------------------------------------------------- traces


def decode_traces(body: bytes, content_type: str, content_encoding: str | None = None) -> list[ReadableSpan]:
    """Decode an ``ExportTraceServiceRequest`` into SDK spans."""
    request = parse_request(ExportTraceServiceRequest, body, content_type, content_encoding)
    spans: list[ReadableSpan] = []
    for resource_spans in request.resource_spans:
        resource = _resource(resource_spans.resource, resource_spans.schema_url)
        for scope_spans in resource_spans.scope_spans:
            scope = _scope(scope_spans.scope, scope_spans.schema_url)
            spans.extend(_span(span, resource, scope) for span in scope_spans.spans)
    return spans


def _span(span: Any, resource: Resource, scope: SdkScope) -> ReadableSpan:
    # A span's `flags` hold its own trace flags (bits 0-7) and whether its parent is remote.
    context = _context(span.trace_id, span.span_id, span.flags, False, span.trace_state, "span")
    parent = None
    if span.parent_span_id:
        parent = _context(span.trace_id, span.parent_span_id, span.flags, _is_remote(span.flags), "", "parent")
    status_code = _STATUS_CODES.get(span.status.code, StatusCode.UNSET)
    # The SDK keeps a status description only for ERROR (and warns otherwise).
    description = span.status.message if status_code is StatusCode.ERROR else None
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=_attributes(span.attributes),
        events=[Event(event.name, _attributes(event.attributes), event.time_unix_nano) for event in span.events],
        links=[_link(link) for link in span.links],
        kind=_SPAN_KINDS.get(span.kind, SpanKind.INTERNAL),
        status=Status(status_code, description or None),
        start_time=span.start_time_unix_nano,
        end_time=span.end_time_unix_nano,
        instrumentation_scope=scope,
    )


def _link(link: Any) -> Link:
    flags = link.flags
    context = _context(link.trace_id, link.span_id, flags, _is_remote(flags), link.trace_state, "link")
    return Link(context, _attributes(link.attributes))


# ---------------------------------------------------------------- logs


def decode_logs(body: bytes, content_type: str, content_encoding: str | None = None) -> list[ReadableLogRecord]:
    """Decode an ``ExportLogsServiceRequest`` into SDK log records."""
    request = parse_request(ExportLogsServiceRequest, body, content_type, content_encoding)
    records: list[ReadableLogRecord] = []
    for resource_logs in request.resource_logs:
        resource = _resource(resource_logs.resource, resource_logs.schema_url)
        for scope_logs in resource_logs.scope_logs:
            scope = _scope(scope_logs.scope, scope_logs.schema_url)
            records.extend(
                ReadableLogRecord(log_record=_log_record(record), resource=resource, instrumentation_scope=scope)
                for record in scope_logs.log_records
            )
    return records


def _log_record(record: Any) -> LogRecord:
    try:
        severity = SeverityNumber(record.severity_number)
    except ValueError:  # outside 0..24: the number carries no meaning we could keep
        severity = SeverityNumber.UNSPECIFIED
    return LogRecord(
        # 0 means "unknown" in OTLP; the API spells that None.
        timestamp=record.time_unix_nano or None,
        observed_timestamp=record.observed_time_unix_nano or None,
        trace_id=_id(record.trace_id, 16, "log trace id"),
        span_id=_id(record.span_id, 8, "log span id"),
        trace_flags=TraceFlags(record.flags & 0xFF),
        severity_text=record.severity_text or None,
        severity_number=severity,
        body=_plain(record.body),
        attributes=_attributes(record.attributes),
        event_name=record.event_name or None,
    )


# ---------------------------------------------------------------- metrics


def decode_metrics(body: bytes, content_type: str, content_encoding: str | None = None) -> MetricsData:
    """Decode an ``ExportMetricsServiceRequest`` into SDK ``MetricsData``.

    Summary metrics have no SDK type and are skipped with a warning.
    """
    request = parse_request(ExportMetricsServiceRequest, body, content_type, content_encoding)
    resource_metrics = []
    for pb_resource in request.resource_metrics:
        scope_metrics = [
            ScopeMetrics(
                scope=_scope(pb_scope.scope, pb_scope.schema_url),
                metrics=[m for m in map(_metric, pb_scope.metrics) if m is not None],
                schema_url=pb_scope.schema_url,
            )
            for pb_scope in pb_resource.scope_metrics
        ]
        resource = _resource(pb_resource.resource, pb_resource.schema_url)
        resource_metrics.append(ResourceMetrics(resource, scope_metrics, pb_resource.schema_url))
    return MetricsData(resource_metrics=resource_metrics)


def _metric(metric: Any) -> Metric | None:
    kind = metric.WhichOneof("data")
    data: Sum | Gauge | Histogram | ExponentialHistogram
    if kind == "sum":
        points = _points(metric.sum.data_points, _number_point)
        data = Sum(points, _temporality(metric.sum.aggregation_temporality), metric.sum.is_monotonic)
    elif kind == "gauge":
        data = Gauge(_points(metric.gauge.data_points, _number_point))
    elif kind == "histogram":
        points = _points(metric.histogram.data_points, _histogram_point)
        data = Histogram(points, _temporality(metric.histogram.aggregation_temporality))
    elif kind == "exponential_histogram":
        exponential = metric.exponential_histogram
        points = _points(exponential.data_points, _exponential_point)
        data = ExponentialHistogram(points, _temporality(exponential.aggregation_temporality))
    else:
        _logger.warning("skipping metric %r: OTLP %s has no SDK equivalent", metric.name, kind)
        return None
    return Metric(metric.name, metric.description, metric.unit, data)


_P = TypeVar("_P")


def _points(points: Iterable[Any], convert: Callable[[Any], _P]) -> list[_P]:
    # A point flagged "no recorded value" is a gap, not a zero; alert rules must not see it.
    return [convert(p) for p in points if not p.flags & _NO_RECORDED_VALUE]


def _temporality(value: int) -> AggregationTemporality:
    try:
        return AggregationTemporality(value)
    except ValueError:
        return AggregationTemporality.UNSPECIFIED


def _number(message: Any) -> int | float:
    return message.as_int if message.WhichOneof("value") == "as_int" else message.as_double


def _exemplars(exemplars: Iterable[Any]) -> list[Exemplar]:
    return [
        Exemplar(
            _attributes(e.filtered_attributes),
            _number(e),
            e.time_unix_nano,
            _id(e.span_id, 8, "exemplar span id") or None,
            _id(e.trace_id, 16, "exemplar trace id") or None,
        )
        for e in exemplars
    ]


def _number_point(p: Any) -> NumberDataPoint:
    # A start of 0 means "unknown" (gauges have none); the SDK spells that None.
    start = p.start_time_unix_nano or None
    value, exemplars = _number(p), _exemplars(p.exemplars)
    return NumberDataPoint(_attributes(p.attributes), start, p.time_unix_nano, value, exemplars)  # type: ignore[arg-type]


def _histogram_fields(p: Any) -> dict[str, Any]:
    """Fields shared by explicit-bucket and exponential histogram points."""
    return {
        "attributes": _attributes(p.attributes),
        "start_time_unix_nano": p.start_time_unix_nano,
        "time_unix_nano": p.time_unix_nano,
        "count": p.count,
        "sum": p.sum if p.HasField("sum") else 0,
        # Absent min/max: the SDK's own "nothing recorded" values are +inf / -inf.
        "min": p.min if p.HasField("min") else math.inf,
        "max": p.max if p.HasField("max") else -math.inf,
        "exemplars": _exemplars(p.exemplars),
    }


def _histogram_point(p: Any) -> HistogramDataPoint:
    return HistogramDataPoint(
        bucket_counts=list(p.bucket_counts), explicit_bounds=list(p.explicit_bounds), **_histogram_fields(p)
    )


def _exponential_point(p: Any) -> ExponentialHistogramDataPoint:
    return ExponentialHistogramDataPoint(
        scale=p.scale,
        zero_count=p.zero_count,
        positive=Buckets(p.positive.offset, list(p.positive.bucket_counts)),
        negative=Buckets(p.negative.offset, list(p.negative.bucket_counts)),
        flags=p.flags,
        **_histogram_fields(p),
    )
