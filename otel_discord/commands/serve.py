"""``otel-discord serve``: the OTLP/HTTP bridge an OpenTelemetry Collector exports to.

Gateway mode. Apps send OTLP to a Collector; the Collector's ``otlp_http`` exporter posts
it here; the bridge runs it through the same Discord exporters an app would run
in-process (``bridge/sink.py``). Settings are the usual ``OTEL_EXPORTER_DISCORD_*``
variables (or the config file), read once at startup; a bad one stops it with exit 2.

Who may post (``bridge/auth.py``): with ``OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN`` (or a token
file) every OTLP request must carry ``Authorization: Bearer <token>``, else 401. Without
one it listens on loopback only: any other address stops it with exit 2 before anything
is started, because anyone who could reach it could post to the team's channels. With a
certificate and key (``--tls-cert``/``--tls-key``) it serves HTTPS itself (``bridge/tls.py``).

SIGTERM or SIGINT stops it gracefully: stop accepting (requests in progress finish), then
deliver what is queued within ``--shutdown-timeout``. Anything still queued then goes to
the fallback log. A second signal during that time ends the process at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any, Final

from otel_discord.commands._extras import missing_extra_line
from otel_discord.config import ConfigError
from otel_discord.health.log import ROOT_NAME, get_logger

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 4319  # next to the Collector's 4317 (gRPC) and 4318 (HTTP)
DEFAULT_THREADS: Final = 4
DEFAULT_SHUTDOWN_TIMEOUT: Final = 10.0
DEFAULT_RETRY_AFTER: Final = 5
#: The bridge's own service name (its "started"/"stopped" notices) unless OTEL_SERVICE_NAME says otherwise.
SERVICE_NAME: Final = "otel-discord-bridge"
# Of the shutdown time, at most this goes to letting requests in progress finish; the
# rest is for delivering to Discord, which is what the time is really for.
_MAX_DRAIN: Final = 5.0
_STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)

_logger = get_logger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 for other hosts)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        default=DEFAULT_THREADS,
        help=f"worker threads answering the Collector (default {DEFAULT_THREADS})",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=_positive_float,
        default=DEFAULT_SHUTDOWN_TIMEOUT,
        metavar="SECONDS",
        help=f"on SIGTERM/SIGINT, how long to deliver queued notices (default {DEFAULT_SHUTDOWN_TIMEOUT:g})",
    )
    parser.add_argument(
        "--retry-after",
        type=_positive_int,
        default=DEFAULT_RETRY_AFTER,
        metavar="SECONDS",
        help=f"Retry-After of the 503 sent while the queue to Discord is full (default {DEFAULT_RETRY_AFTER})",
    )
    parser.add_argument(
        "--token-file",
        metavar="PATH",
        help="file holding the bearer token the Collector must send "
        "(default: OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN[_FILE]); required off loopback",
    )
    parser.add_argument(
        "--tls-cert",
        metavar="PATH",
        help="serve HTTPS with this PEM certificate (default OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT)",
    )
    parser.add_argument(
        "--tls-key",
        metavar="PATH",
        help="its unencrypted PEM key, unless in the certificate file (default OTEL_EXPORTER_DISCORD_BRIDGE_TLS_KEY)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="otel-discord's own log level on stderr (default info)",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    logging.getLogger(ROOT_NAME).setLevel(args.log_level.upper())
    # The metric exporter announces its own process by the SDK resource's service.name, which
    # would read "unknown_service:python" here; the apps' names come with their telemetry.
    os.environ.setdefault("OTEL_SERVICE_NAME", SERVICE_NAME)
    try:
        from otel_discord.bridge.auth import check_exposure, listens_on_loopback_only, resolve_access
        from otel_discord.bridge.server import serve
        from otel_discord.bridge.sink import PipelineSink
        from otel_discord.bridge.tls import server_context
    except ImportError as exc:
        print(missing_extra_line("serve", "gateway", exc.name), file=sys.stderr)
        return 2
    try:
        # Who may post is decided before anything starts: a refused bridge posts no "started".
        access = resolve_access(os.environ, token_file=args.token_file, cert_file=args.tls_cert, key_file=args.tls_key)
        check_exposure(args.host, access)
        tls = server_context(access.cert_file, access.key_file) if access.cert_file else None
        sink = PipelineSink()
    except ConfigError as exc:
        _fail(str(exc))
        return 2
    if not sink.exporters:
        _fail("no Discord exporter is available: " + "; ".join(f"{s}: {why}" for s, why in sink.missing.items()))
        return 2

    stopping = _StopSignal()
    stopping.install()
    try:
        try:
            server = serve(
                sink, args.host, args.port, args.threads, tls=tls, retry_after=args.retry_after, token=access.token
            )
        except OSError as exc:  # port in use, address not available, no permission
            _logger.error("cannot listen on %s:%s: %s", args.host, args.port, exc.strerror or exc)
            sink.shutdown(args.shutdown_timeout)
            return 1
        _logger.info("%s; %s", startup_line(server.url, sink), access.describe())
        if tls is None and not listens_on_loopback_only(args.host):
            _logger.warning(
                "serving plain HTTP on %s: the bearer token crosses the network unencrypted; "
                "set --tls-cert/--tls-key or keep the bridge on a private network",
                args.host,
            )
        stopping.wait()
        # From here on a second signal ends the process at once (default handlers).
        stopping.restore()
        return _shut_down(server, sink, args.shutdown_timeout, stopping.name)
    finally:
        stopping.restore()


def startup_line(url: str, sink: Any) -> str:
    """What the bridge is listening on and delivering to, tokens masked."""
    channels = ", ".join(f"{name} → {masked}" for name, masked in sorted(sink.channels().items()))
    line = (
        f"bridge listening on {url} (OTLP/HTTP {url}/v1/traces, /v1/logs, /v1/metrics; health {url}/health); "
        f"signals: {', '.join(sorted(sink.exporters))}; channels: {channels or 'none'}"
    )
    if sink.missing:
        line += "; ignored: " + ", ".join(f"{signal} ({why})" for signal, why in sorted(sink.missing.items()))
    return line


def _shut_down(server: Any, sink: Any, timeout: float, reason: str) -> int:
    deadline = time.monotonic() + timeout
    _logger.info("%s received: no new requests; delivering queued notices (up to %g s)", reason, timeout)
    server.stop(timeout=min(_MAX_DRAIN, timeout / 2))
    delivered = sink.shutdown(max(0.0, deadline - time.monotonic()))
    report = sink.health()
    if delivered:
        _logger.info("stopped; %d embed(s) delivered since start, nothing left queued", report["delivered_embeds"])
    else:
        # The engine has already said how many and where they were written.
        _logger.warning(
            "stopped before everything was delivered (%d embed(s) delivered since start)", report["delivered_embeds"]
        )
    return 0


def _fail(message: str) -> None:
    print(f"otel-discord serve: {message}", file=sys.stderr)


class _StopSignal:
    """SIGTERM/SIGINT set an event the main thread waits on, instead of raising in it."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._previous: dict[int, Any] = {}
        self.name = "signal"

    def install(self) -> None:
        for signum in _STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        while self._previous:
            signum, handler = self._previous.popitem()
            signal.signal(signum, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.name = signal.Signals(signum).name
        self._event.set()

    def wait(self) -> None:
        # A timeout, so the handler gets its turn promptly on every platform.
        while not self._event.wait(0.5):
            pass
