"""Gateway mode end to end: SDK -> real otelcol-gw (collector-config.yaml) -> bridge + OTLP/JSON backend.

The Collector is built from pinned Go modules by gateway/build-collector.sh (cached in
.cache/otelcol/). If it cannot be built, these tests fail with the build's own output: a
gateway that cannot be built is a broken deliverable, not an optional extra.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from otel_discord.bridge.server import serve

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "gateway" / "build-collector.sh"
CONFIG = REPO / "collector-config.yaml"
BUILD_TIMEOUT = 1800  # a cold build downloads ~150 modules and compiles for minutes on 2 cores
WAIT = 60.0  # upper bound for anything to arrive; the batch processor flushes every second


@pytest.fixture(scope="module")
def otelcol() -> Path:
    """The gateway Collector binary, built (or reused) by the project's build script."""
    try:
        result = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"gateway/build-collector.sh did not finish in {BUILD_TIMEOUT} s:\n{exc.stderr}")
    if result.returncode != 0:
        pytest.fail(f"gateway/build-collector.sh failed (exit {result.returncode}):\n{result.stderr[-6000:]}")
    binary = Path(result.stdout.strip().splitlines()[-1])
    assert binary.is_file() and os.access(binary, os.X_OK), f"build script printed no binary: {result.stdout!r}"
    return binary


class RecordingSink:
    """The bridge's sink: records what it is given; ``full = True`` refuses like a full queue."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self.logs: list[Any] = []
        self.metrics: list[Any] = []
        self.full = False
        self.calls = 0

    def _take(self, into: list[Any], items: Any) -> bool:
        self.calls += 1
        if self.full:
            return False
        into.extend(items)
        return True

    def export_spans(self, spans: Any) -> bool:
        return self._take(self.spans, spans)

    def export_logs(self, records: Any) -> bool:
        return self._take(self.logs, records)

    def export_metrics(self, metrics_data: Any) -> bool:
        return self._take(self.metrics, [metrics_data])


class JsonBackend:
    """A minimal OTLP/HTTP backend that records raw requests (path, headers, parsed JSON)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                backend.requests.append(
                    {
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type"),
                        "json": json.loads(body) if body else None,
                    }
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def spans(self) -> list[dict[str, Any]]:
        return [
            span
            for request in self.requests
            if request["path"] == "/v1/traces"
            for rs in request["json"].get("resourceSpans", [])
            for ss in rs.get("scopeSpans", [])
            for span in ss.get("spans", [])
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], bool], what: str, collector: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if collector.poll() is not None:
            pytest.fail(f"the Collector exited ({collector.returncode}) while waiting for {what}:\n{tail(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; Collector log:\n{tail(log)}")
        time.sleep(0.1)


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-6000:] if log.exists() else "(no log)"


@pytest.fixture
def gateway(otelcol: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A running Collector with collector-config.yaml, wired to a bridge and a JSON backend."""
    sink = RecordingSink()
    bridge = serve(sink, port=0, retry_after=1)
    backend = JsonBackend()
    http_port = free_port()
    env = {
        **os.environ,
        "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{free_port()}",
        "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
        "OTEL_DISCORD_BRIDGE_ENDPOINT": bridge.url,
        "OTELCOL_BACKEND_ENDPOINT": backend.url,
        "OTELCOL_QUEUE_DIR": str(tmp_path / "queue"),
    }
    log = tmp_path / "otelcol.log"
    with log.open("wb") as out:
        collector = subprocess.Popen(
            [str(otelcol), f"--config={CONFIG}"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:

        def receiver_up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", http_port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_for(receiver_up, "the OTLP/HTTP receiver", collector, log)
        yield {
            "sink": sink,
            "backend": backend,
            "endpoint": f"http://127.0.0.1:{http_port}",
            "collector": collector,
            "log": log,
            "queue_dir": tmp_path / "queue",
        }
    finally:
        collector.send_signal(signal.SIGTERM)
        try:
            collector.wait(30)
        except subprocess.TimeoutExpired:
            collector.kill()
            collector.wait(10)
        bridge.stop()
        backend.close()


def error_span() -> ReadableSpan:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        with provider.get_tracer("shop.web", "1.0").start_as_current_span(
            "POST /pay", kind=SpanKind.SERVER, attributes={"http.route": "/pay", "http.response.status_code": 500}
        ):
            raise ValueError("card declined")
    except ValueError:
        pass
    (span,) = exporter.get_finished_spans()
    return span


def test_build_is_cached(otelcol: Path) -> None:
    """A second run with unchanged sources reuses the binary instead of rebuilding."""
    result = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(otelcol)


def test_build_without_go_fails_loudly(tmp_path: Path) -> None:
    """No Go toolchain: a non-zero exit and a message that says what is missing."""
    env = {**os.environ, "GO": str(tmp_path / "no-go"), "PATH": "/usr/bin:/bin", "OTELCOL_CACHE_DIR": str(tmp_path)}
    result = subprocess.run([str(BUILD_SCRIPT)], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode != 0
    assert "FAILED: no Go toolchain" in result.stderr
    assert not (tmp_path / "otelcol-gw").exists()


def test_gateway_config_is_valid(otelcol: Path, tmp_path: Path) -> None:
    """collector-config.yaml passes the built Collector's own validation, defaults included."""
    result = subprocess.run(
        [str(otelcol), "validate", f"--config={CONFIG}"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_spans_reach_bridge_and_json_backend(gateway: dict[str, Any]) -> None:
    """An SDK span sent to the gateway arrives, decoded, at the bridge and as OTLP/JSON at the backend."""
    sink, backend = gateway["sink"], gateway["backend"]
    span = error_span()
    result = OTLPSpanExporter(endpoint=gateway["endpoint"] + "/v1/traces", timeout=10).export([span])
    assert result.name == "SUCCESS"

    wait_for(lambda: bool(sink.spans) and bool(backend.spans()), "the span", gateway["collector"], gateway["log"])

    (received,) = sink.spans
    assert received.name == "POST /pay"
    assert received.kind is SpanKind.SERVER
    assert received.context.trace_id == span.context.trace_id
    assert received.context.span_id == span.context.span_id
    assert received.status.status_code is StatusCode.ERROR
    assert received.resource.attributes["service.name"] == "checkout"
    assert received.instrumentation_scope.name == "shop.web"
    (event,) = received.events
    assert (event.name, event.attributes["exception.type"]) == ("exception", "ValueError")
    assert received.attributes["http.response.status_code"] == 500

    (backend_span,) = backend.spans()
    assert backend.requests[0]["content_type"] == "application/json"
    assert backend_span["name"] == "POST /pay"
    assert backend_span["traceId"] == format(span.context.trace_id, "032x")  # OTLP/JSON: hex ids
    assert gateway["queue_dir"].is_dir()  # the persistent queue's file_storage is in use


def test_full_bridge_makes_the_collector_retry(gateway: dict[str, Any]) -> None:
    """503 + Retry-After from a full bridge: the Collector keeps the data and delivers it later."""
    sink = gateway["sink"]
    sink.full = True
    provider = LoggerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=gateway["endpoint"] + "/v1/logs", timeout=10))
    )
    provider.get_logger("shop").emit(body="payment provider down", severity_text="ERROR")
    provider.shutdown()

    wait_for(lambda: sink.calls >= 1, "the first (refused) delivery", gateway["collector"], gateway["log"])
    assert sink.logs == []
    sink.full = False
    wait_for(lambda: bool(sink.logs), "the retried delivery", gateway["collector"], gateway["log"])
    assert [r.log_record.body for r in sink.logs] == ["payment provider down"]
    assert sink.logs[0].resource.attributes["service.name"] == "checkout"
