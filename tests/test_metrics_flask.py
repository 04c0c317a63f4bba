"""From an instrumented Flask + SQLAlchemy app to the numbers of its summary.

FlaskInstrumentor records ``http.server.duration`` into an in-memory reader; the
SQLAlchemy spans pass through the span detector, which counts database queries
for the summary. Nothing is faked between the app and the summary.
"""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import create_engine, text
from test_summary_support import (
    Clock,
    drain_observations,
    field,
    local,
    make_monitor,
    summaries,
)

from otel_discord.config import resolve
from otel_discord.detect import SpanDetector


@pytest.fixture
def ozark(tmp_path):
    resource = Resource.create({"service.name": "ozark", "service.instance.id": "flask-1"})
    tracer_provider = TracerProvider(resource=resource)
    spans = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
    engine = create_engine(f"sqlite:///{tmp_path / 'ozark.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount INTEGER)"))
        connection.execute(text("INSERT INTO invoices (id, amount) VALUES (1, 500), (2, 7500)"))
    app = Flask(__name__)
    app.logger.disabled = True  # /boom's traceback is expected

    @app.route("/invoices/<int:invoice_id>")
    def invoice(invoice_id: int):
        with engine.connect() as connection:
            row = connection.execute(text("SELECT amount FROM invoices WHERE id = :id"), {"id": invoice_id}).first()
        return (str(row[0]), 200) if row else ("not found", 404)

    @app.route("/boom")
    def boom():
        raise ValueError("kaboom")

    FlaskInstrumentor().instrument_app(app, tracer_provider=tracer_provider, meter_provider=meter_provider)
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=tracer_provider)
    try:
        yield app.test_client(), reader, spans
    finally:
        SQLAlchemyInstrumentor().uninstrument()
        FlaskInstrumentor().uninstrument_app(app)
        engine.dispose()
        tracer_provider.shutdown()
        meter_provider.shutdown()
        app.logger.disabled = False
        logging.getLogger("werkzeug").disabled = False


def test_flask_requests_become_a_daily_summary(ozark, tmp_path):
    drain_observations()
    client, reader, spans = ozark
    detector = SpanDetector(resolve("traces", webhook_url="https://discord.com/api/webhooks/1/" + "a" * 68, environ={}))
    clock = Clock(local(2025, 10, 14, 16, 0))
    monitor = make_monitor(tmp_path, summaries=["daily@18:00"])

    for invoice_id in (1, 2, 1, 2, 3):
        client.get(f"/invoices/{invoice_id}")
    for _ in range(2):
        assert client.get("/boom").status_code == 500
    assert client.get("/no/such/page").status_code == 404
    detector(spans.get_finished_spans())
    spans.clear()
    monitor.process(reader.get_metrics_data(), clock())

    clock.advance(60)
    client.get("/invoices/1")
    detector(spans.get_finished_spans())
    monitor.process(reader.get_metrics_data(), clock())

    clock.now = local(2025, 10, 14, 18, 0, 30)
    (summary,) = summaries(monitor.process(reader.get_metrics_data(), clock()))
    assert field(summary, "Requests") == "9"
    assert field(summary, "Error rate") == f"{2 / 9 * 100:.2f}% (2)"
    table = summary.code
    assert "GET /invoices/*" in table  # GET /invoices/<int:invoice_id>, shortened for the column
    assert "GET /boom" in table
    busiest = table.split("\n\n")[0].splitlines()[1].split()
    assert busiest[0:2] == ["GET", "/invoices/*"] and busiest[2] == "6"
    assert field(summary, "Instances") == "1"
    assert field(summary, "DB queries") == "6"  # one SELECT per invoice request; "connect" is no query
