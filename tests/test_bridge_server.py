"""The bridge answers OTLP/HTTP exactly as a Collector's otlp_http exporter expects (real HTTP)."""

from __future__ import annotations

import gzip
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricsData, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from otel_discord.bridge.server import BridgeServer, make_app, serve

PB = "application/x-protobuf"
JSON = "application/json"


class RecordingSink:
    """Keeps what it is given; ``full = True`` makes it refuse (as a full queue would)."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self.logs: list[ReadableLogRecord] = []
        self.metrics: list[MetricsData] = []
        self.full = False
        self.calls = 0
        self._lock = threading.Lock()

    def _take(self, into: list[Any], items: Sequence[Any]) -> bool:
        with self._lock:
            self.calls += 1
            if self.full:
                return False
            into.extend(items)
            return True

    def export_spans(self, spans: Sequence[ReadableSpan]) -> bool:
        return self._take(self.spans, spans)

    def export_logs(self, records: Sequence[ReadableLogRecord]) -> bool:
        return self._take(self.logs, records)

    def export_metrics(self, metrics_data: MetricsData) -> bool:
        return self._take(self.metrics, [metrics_data])


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def bridge(sink: RecordingSink) -> Iterator[BridgeServer]:
    server = serve(sink, port=0, threads=2, retry_after=7)
    try:
        yield server
    finally:
        server.stop()


def finished_spans() -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shop")
    try:
        with tracer.start_as_current_span("GET /boom"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    return list(exporter.get_finished_spans())


def trace_body() -> bytes:
    return encode_spans(finished_spans()).SerializeToString()


def post(bridge: BridgeServer, path: str, body: bytes, content_type: str = PB, **headers: str) -> requests.Response:
    return requests.post(bridge.url + path, data=body, headers={"Content-Type": content_type, **headers}, timeout=10)


class TestAccepted:
    def test_protobuf_traces(self, bridge: BridgeServer, sink: RecordingSink) -> None:
        """200 with an empty protobuf ExportTraceServiceResponse; the sink gets the span."""
        response = post(bridge, "/v1/traces", trace_body())
        assert response.status_code == 200
        assert response.headers["Content-Type"] == PB
        assert ExportTraceServiceResponse.FromString(response.content) == ExportTraceServiceResponse()
        (span,) = sink.spans
        assert span.name == "GET /boom"
        assert span.status.status_code is StatusCode.ERROR
        assert span.events[0].attributes["exception.type"] == "RuntimeError"

    def test_json_traces(self, bridge: BridgeServer, sink: RecordingSink) -> None:
        """An OTLP/JSON request is answered in JSON: exactly `{}`."""
        body = {
            "resourceSpans": [
                {
                    "scopeSpans": [
                        {
                            "spans": [
                                {
                                    "traceId": "5b8efff798038103d269b633813fc60c",
                                    "spanId": "eee19b7ec3c1b174",
                                    "name": "charge",
                                    "startTimeUnixNano": "1",
                                    "endTimeUnixNano": "2",
                                }
                            ]
                        }
                    ]
                }
            ]
        }
        response = post(bridge, "/v1/traces", json.dumps(body).encode(), JSON)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == JSON
        assert response.json() == {}
        assert [s.context.trace_id for s in sink.spans] == [0x5B8EFFF798038103D269B633813FC60C]

    def test_gzip_body(self, bridge: BridgeServer, sink: RecordingSink) -> None:
        """The Collector gzips by default."""
        response = post(bridge, "/v1/traces", gzip.compress(trace_body()), **{"Content-Encoding": "gzip"})
        assert response.status_code == 200
        assert [s.name for s in sink.spans] == ["GET /boom"]

    def test_empty_request_does_not_reach_the_sink(self, bridge: BridgeServer, sink: RecordingSink) -> None:
        """Nothing to export is still a success, without bothering the sink."""
        assert post(bridge, "/v1/logs", b"").status_code == 200
        assert sink.calls == 0

    def test_sdk_otlp_http_exporters(self, bridge: BridgeServer, sink: RecordingSink) -> None:
        """The SDK's own OTLP/HTTP exporters for all three signals report success."""
        spans = finished_spans()
        assert OTLPSpanExporter(endpoint=bridge.url + "/v1/traces").export(spans).name == "SUCCESS"

        log_provider = LoggerProvider()
        log_provider.add_log_record_processor(
            SimpleLogRecordProcessor(OTLPLogExporter(endpoint=bridge.url + "/v1/logs"))
        )
        log_provider.get_logger("shop").emit(body="disk full", severity_text="ERROR")
        log_provider.shutdown()

        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=bridge.url + "/v1/metrics"), export_interval_millis=3_600_000
        )
        meter_provider = MeterProvider(metric_readers=[reader])
        meter_provider.get_meter("shop").create_counter("orders").add(3)
        meter_provider.shutdown()  # one final collect and export

        assert [s.name for s in sink.spans] == ["GET /boom"]
        assert [r.log_record.body for r in sink.logs] == ["disk full"]
        (data,) = sink.metrics
        (metric,) = data.resource_metrics[0].scope_metrics[0].metrics
        assert (metric.name, metric.data.data_points[0].value) == ("orders", 3)

    def test_health(self, bridge: BridgeServer) -> None:
        """GET /health is a 200 JSON document."""
        response = requests.get(bridge.url + "/health", timeout=10)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "unauthorized_requests": 0}


class TestRejected:
    def test_malformed_protobuf_is_400_with_status(self, bridge: BridgeServer, sink: RecordingSink) -> None:
        """A permanent error, explained in a google.rpc.Status the Collector logs."""
        response = post(bridge, "/v1/traces", b"\xff\xff\xff\xff")
        assert response.status_code == 400
        assert "ExportTraceServiceRequest" in status_pb2.Status.FromString(response.content).message
        assert sink.calls == 0

    def test_malformed_json_is_400_in_json(self, bridge: BridgeServer) -> None:
        response = post(bridge, "/v1/logs", b"{oops", JSON)
        assert response.status_code == 400
        assert "not JSON" in response.json()["message"]

    def test_bad_gzip_is_400(self, bridge: BridgeServer) -> None:
        response = post(bridge, "/v1/traces", b"plain", **{"Content-Encoding": "gzip"})
        assert response.status_code == 400

    @pytest.mark.parametrize("content_type", ["text/plain", "application/grpc", ""])
    def test_unknown_content_type_is_415(self, bridge: BridgeServer, content_type: str) -> None:
        assert post(bridge, "/v1/traces", trace_body(), content_type).status_code == 415

    def test_unknown_content_encoding_is_415(self, bridge: BridgeServer) -> None:
        assert post(bridge, "/v1/traces", trace_body(), **{"Content-Encoding": "br"}).status_code == 415

    @pytest.mark.parametrize("path, status", [("/v1/nope", 404), ("/", 404)])
    def test_unknown_path(self, bridge: BridgeServer, path: str, status: int) -> None:
        assert post(bridge, path, b"").status_code == status

    def test_wrong_method_is_405(self, bridge: BridgeServer) -> None:
        response = requests.get(bridge.url + "/v1/traces", timeout=10)
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"


class TestBackPressure:
    @pytest.mark.parametrize("content_type", [PB, JSON])
    def test_full_sink_is_503_with_retry_after(
        self, bridge: BridgeServer, sink: RecordingSink, content_type: str
    ) -> None:
        """Full means "retry later": 503 + Retry-After, which the Collector retries (never 500)."""
        sink.full = True
        body = (
            trace_body() if content_type == PB else b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x"}]}]}]}'
        )
        response = post(bridge, "/v1/traces", body, content_type)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "7"
        assert sink.spans == []
        sink.full = False
        assert post(bridge, "/v1/traces", body, content_type).status_code == 200
        assert len(sink.spans) == 1

    def test_sdk_exporter_retries_after_503(self, bridge: BridgeServer, sink: RecordingSink) -> None:
        """A retrying client gets its data in once the sink has room again."""
        sink.full = True
        refusals: list[int] = []
        original = sink.export_spans

        def refuse_once(spans: Sequence[ReadableSpan]) -> bool:
            accepted = original(spans)
            if not accepted:
                refusals.append(len(spans))
                sink.full = False
            return accepted

        sink.export_spans = refuse_once  # type: ignore[method-assign]
        server = serve(sink, port=0, threads=1, retry_after=1)
        try:
            result = OTLPSpanExporter(endpoint=server.url + "/v1/traces", timeout=30).export(finished_spans())
        finally:
            server.stop()
        assert refusals == [1]
        assert result.name == "SUCCESS"
        assert [s.name for s in sink.spans] == ["GET /boom"]

    def test_body_over_limit_is_413(self, sink: RecordingSink) -> None:
        """Too large is permanent: the Collector must not retry it."""
        with serve(sink, port=0, max_body_bytes=1024) as server:
            assert post(server, "/v1/traces", b"\0" * 2048).status_code == 413
            bomb = gzip.compress(b"\n\x00" * 40 * 1024 * 1024)  # 80 MiB of empty ResourceSpans
            assert len(bomb) < 1024 * 1024
        with serve(sink, port=0) as server:
            assert post(server, "/v1/traces", bomb, **{"Content-Encoding": "gzip"}).status_code == 413
        assert sink.calls == 0

    def test_sink_exception_is_logged_not_fatal(self, sink: RecordingSink) -> None:
        """A crashing sink gets a 500 (dropping the batch) and the server keeps serving."""

        def explode(spans: Sequence[ReadableSpan]) -> bool:
            raise RuntimeError("bug")

        sink.export_spans = explode  # type: ignore[method-assign]
        with serve(sink, port=0) as server:
            assert post(server, "/v1/traces", trace_body()).status_code == 500
            assert requests.get(server.url + "/health", timeout=10).status_code == 200


class TestLifecycle:
    def test_stop_finishes_request_in_progress(self, sink: RecordingSink) -> None:
        """stop() lets a request that is being handled finish, then refuses connections."""
        entered, release = threading.Event(), threading.Event()
        original = sink.export_spans

        def slow(spans: Sequence[ReadableSpan]) -> bool:
            entered.set()
            release.wait(10)
            return original(spans)

        sink.export_spans = slow  # type: ignore[method-assign]
        server = serve(sink, port=0)
        statuses: list[int] = []
        client = threading.Thread(target=lambda: statuses.append(post(server, "/v1/traces", trace_body()).status_code))
        client.start()
        assert entered.wait(10)
        stopper = threading.Thread(target=server.stop, kwargs={"timeout": 20})
        stopper.start()
        release.set()
        client.join(20)
        stopper.join(20)
        assert statuses == [200]
        assert not stopper.is_alive()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()

    def test_stop_is_idempotent(self, sink: RecordingSink) -> None:
        server = serve(sink, port=0)
        server.stop()
        server.stop()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()

    def test_sink_must_have_all_three_methods(self) -> None:
        """A wiring mistake fails at start-up, not on the first request."""
        with pytest.raises(TypeError, match="export_metrics"):
            make_app(type("SpansOnly", (), {"export_spans": None, "export_logs": None})())

    def test_wsgi_app_without_waitress(self, sink: RecordingSink) -> None:
        """make_app is a plain WSGI app (usable under any WSGI server)."""
        import io

        body = trace_body()
        captured: dict[str, Any] = {}
        app = make_app(sink)
        chunks = app(
            {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/v1/traces",
                "CONTENT_TYPE": PB,
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
            },
            lambda status, headers: captured.update(status=status, headers=dict(headers)),
        )
        assert captured["status"] == "200 OK"
        assert b"".join(chunks) == b""
        assert len(sink.spans) == 1
