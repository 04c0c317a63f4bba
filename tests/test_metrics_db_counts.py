"""The span detector counts database queries and slow queries for the summaries."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_discord.config import resolve
from otel_discord.detect import SpanDetector
from otel_discord.detect import observations as observe

MS = 1_000_000


def test_every_query_span_is_counted_and_slow_ones_separately():
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    start = 1_760_000_000 * 10**9

    def span(name: str, ms: int, attributes: dict) -> None:
        s = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes, start_time=start)
        s.end(end_time=start + ms * MS)

    span("SELECT ozark.db", 3, {"db.system": "sqlite", "db.statement": "SELECT 1"})
    span("SELECT ozark.db", 12, {"db.system.name": "postgresql", "db.query.text": "SELECT 2"})
    span("WITH ozark.db", 900, {"db.system": "sqlite", "db.statement": "WITH RECURSIVE c(x) AS (SELECT 1) SELECT 1"})
    span("connect", 1, {"db.system": "sqlite"})  # opening a connection is not a query
    span("GET", 2000, {"http.url": "https://example.com/"})  # a slow HTTP call is not a query either
    observe.drain()
    settings = resolve(
        "traces", webhook_url="https://discord.com/api/webhooks/1/" + "a" * 68, slow_query_ms=500, environ={}
    )
    SpanDetector(settings)(exporter.get_finished_spans())
    counts, _ = observe.drain()
    assert counts.get("db.queries") == 3
    assert counts.get("db.slow_queries") == 1
    provider.shutdown()
