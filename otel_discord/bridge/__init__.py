"""Gateway mode: receive OTLP/HTTP from an OpenTelemetry Collector.

``decode`` rebuilds SDK objects (spans, log records, metrics) from OTLP request bodies so
the in-process pipeline handles them unchanged; ``server`` serves the OTLP/HTTP routes
the Collector's ``otlp_http`` exporter posts to, answering with the status codes that
make the Collector retry (or not) correctly.

Needs ``opentelemetry-proto``, ``googleapis-common-protos`` and (to serve) ``waitress``.
"""

from __future__ import annotations

from otel_discord.bridge.decode import DecodeError, decode_logs, decode_metrics, decode_traces
from otel_discord.bridge.server import BridgeServer, Sink, make_app, serve

__all__ = [
    "BridgeServer",
    "DecodeError",
    "Sink",
    "decode_logs",
    "decode_metrics",
    "decode_traces",
    "make_app",
    "serve",
]
