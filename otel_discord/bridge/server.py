"""The OTLP/HTTP endpoint a Collector's ``otlp_http`` exporter posts to.

Status codes are chosen for what the Collector does with them (``otlphttpexporter``):

* 200 with an empty ``Export*ServiceResponse`` in the request's encoding: delivered.
* 400 (malformed body), 413 (too large), 415 (unknown Content-Type/-Encoding): permanent,
  the Collector drops the data; retrying the same bytes could never succeed.
* 401 with ``WWW-Authenticate: Bearer`` when a token is configured and the request lacks it
  (``bridge/auth.py``): permanent for the Collector, which logs it and drops the batch, so
  a Collector without the token is loud at once instead of retrying for an hour.
* 503 with ``Retry-After`` when the sink is full: the Collector keeps the data in its
  (persistent) queue and retries after at least that delay. 500 is never used for a
  temporary condition, because the Collector treats 500 as permanent and drops the data.

``GET /health`` needs no token (load balancers and liveness probes do not send one); it
holds counts only, never a channel or a webhook.

Why waitress: it is a production-grade, pure-Python WSGI server (no C extension, works on
every platform the SDK does) with a bounded worker pool, request-size limits enforced
before the body is buffered, keep-alive, and HTTP/1.1 chunked uploads. The stdlib's
``wsgiref`` is single-threaded and documented as not for production; the Collector holds
keep-alive connections from several consumers at once.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics.export import MetricsData
from opentelemetry.sdk.trace import ReadableSpan

from otel_discord.bridge.auth import BearerCheck, RejectCounter, Verdict
from otel_discord.bridge.decode import decode_logs, decode_metrics, decode_traces
from otel_discord.bridge.tls import TLSFront
from otel_discord.bridge.wire import JSON, PROTOBUF, BodyTooLarge, DecodeError, UnsupportedMediaType, media_type
from otel_discord.health.log import get_logger

__all__ = ["BridgeServer", "MAX_BODY_BYTES", "Sink", "make_app", "serve"]

_logger = get_logger(__name__)

DEFAULT_PORT: Final = 4319  # next to the Collector's 4317 (gRPC) and 4318 (HTTP)
MAX_BODY_BYTES: Final = 16 * 1024 * 1024
DEFAULT_RETRY_AFTER: Final = 5  # seconds; the Collector waits max(its backoff, this)
_OK_JSON: Final = b"{}"

_StartResponse = Callable[..., Any]


class Sink(Protocol):
    """Where decoded telemetry goes. ``False`` means "full, ask the sender to retry".

    Called from several server threads at once, so it must be thread-safe, and it should
    only enqueue: a reply slower than the Collector's timeout makes it send the batch again.
    """

    def export_spans(self, spans: Sequence[ReadableSpan]) -> bool: ...

    def export_logs(self, records: Sequence[ReadableLogRecord]) -> bool: ...

    def export_metrics(self, metrics_data: MetricsData) -> bool: ...


class _Route:
    __slots__ = ("decode", "export", "response", "is_empty")

    def __init__(
        self,
        decode: Callable[[bytes, str, str | None], Any],
        export: Callable[[Any], bool],
        response: bytes,
        is_empty: Callable[[Any], bool],
    ) -> None:
        self.decode = decode
        self.export = export
        self.response = response  # the empty Export*ServiceResponse, serialized
        self.is_empty = is_empty


def _no_metrics(data: MetricsData) -> bool:
    return not any(sm.metrics for rm in data.resource_metrics for sm in rm.scope_metrics)


class BridgeApp:
    """WSGI application serving ``/v1/traces``, ``/v1/logs``, ``/v1/metrics`` and ``/health``."""

    def __init__(
        self,
        sink: Sink,
        *,
        retry_after: int = DEFAULT_RETRY_AFTER,
        max_body_bytes: int = MAX_BODY_BYTES,
        token: str | None = None,
    ) -> None:
        missing = [m for m in ("export_spans", "export_logs", "export_metrics") if not hasattr(sink, m)]
        if missing:
            raise TypeError(f"sink {sink!r} lacks {', '.join(missing)}")
        self._sink_health: Callable[[], Any] | None = getattr(sink, "health", None)
        self._retry_after = str(max(1, int(retry_after)))
        self._max_body = max_body_bytes
        self._check = BearerCheck(token) if token else None
        self.unauthorized = RejectCounter()
        self._routes: dict[str, _Route] = {
            "/v1/traces": _Route(
                decode_traces,
                sink.export_spans,
                ExportTraceServiceResponse().SerializeToString(),
                lambda spans: not spans,
            ),
            "/v1/logs": _Route(
                decode_logs,
                sink.export_logs,
                ExportLogsServiceResponse().SerializeToString(),
                lambda records: not records,
            ),
            "/v1/metrics": _Route(
                decode_metrics,
                sink.export_metrics,
                ExportMetricsServiceResponse().SerializeToString(),
                _no_metrics,
            ),
        }

    def __call__(self, environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/health":
            if method not in ("GET", "HEAD"):
                return _reply(start_response, "405 Method Not Allowed", b"", [("Allow", "GET")])
            body = json.dumps(self._health(), default=str).encode()
            return _reply(start_response, "200 OK", body, [("Content-Type", JSON)])
        route = self._routes.get(path)
        if route is None:
            return _reply(start_response, "404 Not Found", b"not found\n", [("Content-Type", "text/plain")])
        if self._check is not None:
            verdict = self._check(environ.get("HTTP_AUTHORIZATION"))
            if verdict is not Verdict.OK:
                return self._unauthorized(verdict, environ, start_response)
        if method != "POST":
            return _reply(start_response, "405 Method Not Allowed", b"", [("Allow", "POST")])
        return self._export(route, environ, start_response)

    def _health(self) -> dict[str, Any]:
        # Always 200 while serving: a liveness probe must not restart the bridge because
        # Discord is slow. "status" says more ("full" means the Collector is being told to retry).
        report: dict[str, Any] = {"status": "ok", "unauthorized_requests": self.unauthorized.count}
        if callable(self._sink_health):
            try:
                report.update(self._sink_health())
            except Exception:  # noqa: BLE001 - a health check must answer
                _logger.debug("the sink's health() failed", exc_info=True)
        return report

    def _unauthorized(
        self, verdict: Verdict, environ: dict[str, Any], start_response: _StartResponse
    ) -> Iterable[bytes]:
        if (total := self.unauthorized.add()) is not None:
            # Never the token, nor what was presented instead (it may be a near miss).
            _logger.warning(
                "refused %s request with %s (%d refused so far; 401, the sender drops it)",
                environ.get("PATH_INFO"),
                verdict.value,
                total,
            )
        try:
            mime: str | None = media_type(environ.get("CONTENT_TYPE", ""))
        except UnsupportedMediaType:
            mime = None
        # RFC 6750 §3: say which scheme is expected; "invalid_token" when one was presented.
        challenge = 'Bearer realm="otel-discord"'
        if verdict in (Verdict.WRONG, Verdict.EMPTY):
            challenge += ', error="invalid_token"'
        return _error(
            start_response,
            "401 Unauthorized",
            "a valid bearer token is required",
            mime,
            [("WWW-Authenticate", challenge)],
            code=code_pb2.UNAUTHENTICATED,
        )

    def _export(self, route: _Route, environ: dict[str, Any], start_response: _StartResponse) -> Iterable[bytes]:
        content_type = environ.get("CONTENT_TYPE", "")
        try:
            mime = media_type(content_type)
        except UnsupportedMediaType as exc:
            return _error(start_response, "415 Unsupported Media Type", str(exc), None)
        try:
            body = self._read_body(environ)
            decoded = route.decode(body, content_type, environ.get("HTTP_CONTENT_ENCODING"))
        except BodyTooLarge as exc:
            return _error(start_response, "413 Content Too Large", str(exc), mime)
        except UnsupportedMediaType as exc:
            return _error(start_response, "415 Unsupported Media Type", str(exc), mime)
        except DecodeError as exc:
            _logger.warning("rejected a malformed %s request: %s", environ.get("PATH_INFO"), exc)
            return _error(start_response, "400 Bad Request", str(exc), mime)

        if not route.is_empty(decoded):
            try:
                accepted = route.export(decoded)
            except Exception:  # noqa: BLE001 - a sink bug must not kill the worker thread
                # 500 is permanent for the Collector: a batch that crashed the sink would
                # only crash it again, so retrying it would just block the queue.
                _logger.exception("the sink failed on a %s request", environ.get("PATH_INFO"))
                return _error(start_response, "500 Internal Server Error", "internal error", mime)
            if accepted is False:
                _logger.debug("sink full: asking the sender to retry in %s s", self._retry_after)
                return _error(
                    start_response,
                    "503 Service Unavailable",
                    "queue full, retry later",
                    mime,
                    [("Retry-After", self._retry_after)],
                    code=code_pb2.UNAVAILABLE,
                )
        if mime == JSON:
            return _reply(start_response, "200 OK", _OK_JSON, [("Content-Type", JSON)])
        return _reply(start_response, "200 OK", route.response, [("Content-Type", PROTOBUF)])

    def _read_body(self, environ: dict[str, Any]) -> bytes:
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            raise DecodeError("Content-Length is not a number") from None
        if length > self._max_body:
            raise BodyTooLarge(f"body of {length} bytes exceeds the limit of {self._max_body}")
        stream = environ["wsgi.input"]
        # Read one byte more than allowed, so an over-long body without a length is caught.
        body = stream.read(length if length >= 0 else self._max_body + 1)
        if len(body) > self._max_body:
            raise BodyTooLarge(f"body exceeds the limit of {self._max_body} bytes")
        return body


def _reply(start_response: _StartResponse, status: str, body: bytes, headers: list[tuple[str, str]]) -> list[bytes]:
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def _error(
    start_response: _StartResponse,
    status: str,
    message: str,
    mime: str | None,
    headers: Sequence[tuple[str, str]] = (),
    *,
    code: int = code_pb2.INVALID_ARGUMENT,
) -> list[bytes]:
    # OTLP/HTTP: error bodies are a google.rpc.Status in the request's encoding; the
    # Collector puts its message into its own log line.
    detail = status_pb2.Status(code=code, message=message)
    if mime == JSON:
        body = json_format.MessageToJson(detail, indent=None).encode()
    elif mime == PROTOBUF:
        body = detail.SerializeToString()
    else:
        body, mime = (message + "\n").encode(), "text/plain; charset=utf-8"
    return _reply(start_response, status, body, [("Content-Type", mime), *headers])


def make_app(sink: Sink, **options: Any) -> BridgeApp:
    """Return the bridge as a WSGI app (options: ``retry_after``, ``max_body_bytes``, ``token``)."""
    return BridgeApp(sink, **options)


class BridgeServer:
    """A running bridge: ``.host``, ``.port``, ``.url``; ``stop()`` shuts it down gracefully.

    With TLS, ``host``/``port`` are those of the ``TLSFront`` and waitress listens on an
    ephemeral loopback port behind it.
    """

    def __init__(self, server: Any, thread: threading.Thread, front: TLSFront | None = None) -> None:
        self._server = server
        self._thread = thread
        self._front = front
        self._stopped = False
        self._lock = threading.Lock()
        if front is None:
            self.host: str = server.effective_host
            self.port: int = server.effective_port
        else:
            self.host, self.port = front.host, front.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url: str = f"{'https' if front else 'http'}://{host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in progress finish (up to ``timeout`` s), then close."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        from waitress import wasyncore

        deadline = time.monotonic() + timeout
        if self._front is not None:
            self._front.stop_accepting()  # open connections drain through it as waitress finishes them
        server = self._server
        socket_map = server._map
        # Everything that touches sockets runs on the server's own loop thread, via its
        # trigger: closing them from here would race with the poll loop.
        server.trigger.pull_trigger(lambda: wasyncore.dispatcher.close(server))
        busy = [True]

        def close_idle() -> None:
            channels = [c for c in list(socket_map.values()) if c is not server.trigger and c is not server]
            for channel in channels:
                if not channel.requests and not channel.total_outbufs_len:
                    channel.handle_close()
            busy[0] = any(c in socket_map.values() for c in channels)

        while busy[0] and time.monotonic() < deadline and self._thread.is_alive():
            server.trigger.pull_trigger(close_idle)
            time.sleep(0.02)
        try:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(socket_map))
        except OSError:  # the loop (and its trigger) is already gone
            pass
        self._thread.join(max(0.1, deadline - time.monotonic()))
        server.task_dispatcher.shutdown(timeout=max(0.1, deadline - time.monotonic()))
        if self._front is not None:
            self._front.close(timeout=max(0.1, deadline - time.monotonic()))

    def __enter__(self) -> BridgeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve(
    sink: Sink,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    threads: int = 4,
    *,
    tls: ssl.SSLContext | None = None,
    **options: Any,
) -> BridgeServer:
    """Serve the bridge on ``host:port`` (0 picks a free port) in a background thread.

    ``tls``: serve HTTPS with this server context (``bridge.tls.server_context``);
    ``token`` (an app option): require ``Authorization: Bearer <token>``. Whether a bridge
    without a token may listen beyond loopback is the caller's decision
    (``auth.check_exposure``; ``otel-discord serve`` refuses).
    """
    from waitress import create_server  # imported here: only gateway mode needs waitress

    max_body = options.get("max_body_bytes", MAX_BODY_BYTES)
    server = create_server(
        make_app(sink, **options),
        # Behind TLS, waitress is reachable on loopback only, from the TLSFront.
        host="127.0.0.1" if tls else host,
        port=0 if tls else port,
        threads=threads,
        # waitress answers 413 itself, before buffering a body this large.
        max_request_body_size=max_body,
        ident="otel-discord-bridge",
    )
    front = None
    if tls is not None:
        try:
            front = TLSFront(tls, host, port, ("127.0.0.1", server.effective_port))
        except BaseException:
            server.close()
            server.task_dispatcher.shutdown(timeout=1)
            raise
    thread = threading.Thread(target=server.run, name="otel-discord-bridge", daemon=True)
    thread.start()
    handle = BridgeServer(server, thread, front)
    _logger.debug("OTLP/HTTP bridge listening on %s", handle.url)  # `otel-discord serve` says more
    return handle
