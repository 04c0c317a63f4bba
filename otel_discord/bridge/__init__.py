"""Gateway mode: receive OTLP/HTTP from an OpenTelemetry Collector.

``wire`` reads OTLP/HTTP bodies (media types, compression, OTLP/JSON); ``decode`` rebuilds
SDK objects (spans, log records, metrics) from them so the in-process pipeline handles
them unchanged; ``server`` serves the OTLP/HTTP routes the Collector's ``otlp_http``
exporter posts to, answering with the status codes that make the Collector retry (or not)
correctly; ``sink`` feeds the Discord exporters and pushes back when their queue is full;
``auth`` decides who may post (a bearer token; no listening beyond loopback without one);
``tls`` serves HTTPS with the stdlib ``ssl`` module in front of the server.
``otel-discord serve`` (``otel_discord/commands/serve.py``) runs it all.

Needs ``opentelemetry-proto``, ``googleapis-common-protos`` and (to serve) ``waitress``.
"""

from __future__ import annotations

from otel_discord.bridge.decode import DecodeError, decode_logs, decode_metrics, decode_traces
from otel_discord.bridge.server import BridgeServer, Sink, make_app, serve
from otel_discord.bridge.sink import PipelineSink

__all__ = [
    "BridgeServer",
    "DecodeError",
    "PipelineSink",
    "Sink",
    "decode_logs",
    "decode_metrics",
    "decode_traces",
    "make_app",
    "serve",
]
