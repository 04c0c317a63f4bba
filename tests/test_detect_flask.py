"""SpanDetector on the spans a real instrumented Flask + SQLAlchemy app produces."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import create_engine, text

from otel_discord.config import resolve
from otel_discord.detect import SpanDetector
from otel_discord.notice import Kind

CTE = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < :n) SELECT count(*) FROM c"


@pytest.fixture
def traced_app(tmp_path):
    """A Flask app with /boom (bad SQL) and /slow (a recursive CTE), instrumented for one test only."""
    provider = TracerProvider(resource=Resource.create({"service.name": "demoapp", "host.name": "web-1"}))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = create_engine(f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    app = Flask(__name__)
    app.logger.disabled = True  # Flask logs the unhandled exception; it is expected here

    @app.route("/boom")
    def boom():
        email = "alice" + "@example.com"  # only the joined value may not reach Discord
        with engine.connect() as connection:
            connection.execute(text("SELECT * FROM no_such_table WHERE owner = 'carol' AND email = :e"), {"e": email})
        return "unreachable"

    @app.route("/slow")
    def slow():
        with engine.connect() as connection:
            return str(connection.execute(text(CTE), {"n": 20_000}).scalar())

    FlaskInstrumentor().instrument_app(app, tracer_provider=provider)
    SQLAlchemyInstrumentor().instrument(engine=engine, tracer_provider=provider)
    try:
        yield app, exporter
    finally:
        SQLAlchemyInstrumentor().uninstrument()
        FlaskInstrumentor().uninstrument_app(app)
        engine.dispose()
        provider.shutdown()
        app.logger.disabled = False
        logging.getLogger("werkzeug").disabled = False


def test_flask_error_and_slow_query(traced_app):
    """One failing request gives one error notice; the slow CTE names the request's route."""
    app, exporter = traced_app
    client = app.test_client()
    assert client.get("/boom").status_code == 500
    assert client.get("/slow").get_data(as_text=True) == "20000"
    spans = exporter.get_finished_spans()
    assert any(span.kind.name == "CLIENT" and span.status.status_code.name == "ERROR" for span in spans)

    detect = SpanDetector(resolve(webhook_url="https://discord.com/api/webhooks/1/x", environ={}, slow_query_ms=0.001))
    notices = detect(spans)

    errors = [n for n in notices if n.kind is Kind.ERROR]
    assert len(errors) == 1
    (error,) = errors
    assert error.title.startswith("sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such table")
    fields = {field.name: field.value for field in error.fields}
    assert fields["Route"] == "GET /boom"
    assert fields["Status"] == "500"
    assert fields["Location"].startswith("tests/test_detect_flask.py:")
    assert fields["Location"].endswith(" in boom")
    assert fields["User"].startswith("Anonymous · 127.0.0.1 · Werkzeug/")
    assert fields["Service"] == "demoapp · web-1"
    assert error.code.splitlines()[1].strip().startswith('File "' + __file__)  # wrappers dropped
    assert "\nsqlalchemy.exc.OperationalError: (sqlite3.OperationalError) no such table" in error.code
    # SQLAlchemy puts the statement and bound values into the message; neither literal is shown.
    assert "[SQL: SELECT * FROM no_such_table WHERE owner = ? AND email = ?]" in error.description
    assert "[parameters: hidden]" in error.code
    assert "alice@example.com" not in repr(error)

    queries = [n for n in notices if n.kind is Kind.SLOW_QUERY and (n.code or "").startswith("WITH RECURSIVE")]
    assert len(queries) == 1
    (query,) = queries
    fields = {field.name: field.value for field in query.fields}
    assert fields["Route"] == "GET /slow"
    assert fields["Database"] == "demo.sqlite3"
    assert fields["Operation"] == "WITH"
    assert query.code == (
        "WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x+? FROM c WHERE x < ?) SELECT count(*) FROM c"
    )
    assert query.trace_id == next(format(span.context.trace_id, "032x") for span in spans if span.name == "GET /slow")

    # The same spans exported again (a retry, a second exporter) do not alert twice.
    assert [n for n in detect(spans) if n.kind is Kind.ERROR] == []
