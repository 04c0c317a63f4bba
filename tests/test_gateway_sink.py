"""PipelineSink: telemetry decoded from OTLP goes through the very exporters an app runs in-process."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from otel_discord import DiscordSpanExporter
from otel_discord.bridge import sink as sink_module
from otel_discord.bridge.decode import decode_traces
from otel_discord.bridge.sink import PipelineSink
from otel_discord.config import ConfigError
from otel_discord.deliver import engine as engine_module
from otel_discord.testing import DiscordServer, WebhookInfo

PB = "application/x-protobuf"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No OTEL_EXPORTER_DISCORD_* from the environment, and no engine left over by another test.

    The delivery engine is one per process; a sink must build its own so that its
    queue size is the one these tests set.
    """
    for name in [n for n in os.environ if n.startswith("OTEL_EXPORTER_DISCORD_")]:
        monkeypatch.delenv(name)
    leftover = engine_module._engine
    if leftover is not None and not leftover.closed:
        leftover.shutdown(1.0)
    yield


@pytest.fixture
def capture(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    logger = logging.getLogger("otel_discord")  # does not propagate to root (see _log.py)
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def settings(discord_server: DiscordServer, hook: WebhookInfo, tmp_path, spool: str = "spool", **extra) -> dict:
    return dict(
        webhook_url=hook.url,
        allowed_hosts=discord_server.host_port,
        spool_dir=str(tmp_path / spool),
        trace_url="http://jaeger.example:16686/trace/{trace_id}",
        **extra,
    )


def failing_request(order: int, service: str = "billing", route: str = "/orders/<id>") -> ReadableSpan:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "host.name": "web-1"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("flask-app")
    try:
        with tracer.start_as_current_span(
            f"GET {route}",
            kind=SpanKind.SERVER,
            attributes={"http.route": route, "http.method": "GET", "http.status_code": 500},
        ):
            raise KeyError(f"order {order}")
    except KeyError:
        pass
    (span,) = exporter.get_finished_spans()
    return span


def distinct_failure(order: int) -> ReadableSpan:
    """A failure of its own (another route): repeats of one failure would be grouped, not queued."""
    return failing_request(order, route=f"/orders/{order}/pay")


def over_the_wire(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """What the bridge hands the sink after a Collector forwarded ``spans`` as OTLP/protobuf."""
    return decode_traces(encode_spans(spans).SerializeToString(), PB)


def with_new_trace_id(span: ReadableSpan, trace_id: bytes) -> list[ReadableSpan]:
    """``span`` as the bridge receives it, in another trace (the process remembers reported traces)."""
    request = ExportTraceServiceRequest.FromString(encode_spans([span]).SerializeToString())
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = trace_id
    return decode_traces(request.SerializeToString(), PB)


def occurrences(embed: dict) -> int:
    """How many failures an embed stands for: its "Seen ×N" field when repeats were grouped, else 1."""
    seen = [f["value"] for f in embed.get("fields", []) if f.get("name") == "Seen"]
    return int(seen[0].lstrip("×").split()[0].replace(",", "")) if seen else 1


def errors(discord_server: DiscordServer) -> list[dict]:
    """The KeyError embeds in Discord (other features post too, e.g. "service started")."""
    found = [embed for message in discord_server.messages() for embed in message.payload.get("embeds", [])]
    return [embed for embed in found if "KeyError" in embed.get("title", "")]


def test_embed_through_the_bridge_equals_the_in_process_embed(discord_server, webhook, tmp_path):
    """The same failure yields the same embed whether exported in-process or via OTLP and the sink."""
    span = failing_request(250090)
    direct = DiscordSpanExporter(**settings(discord_server, webhook, tmp_path, spool="direct"))
    direct.export([span])
    direct.shutdown()
    (in_process,) = errors(discord_server)

    discord_server.reset()
    bridged_trace = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    sink = PipelineSink(**settings(discord_server, webhook, tmp_path, spool="bridge"))
    assert sink.export_spans(with_new_trace_id(span, bridged_trace)) is True
    assert sink.shutdown(10.0) is True
    (via_bridge,) = errors(discord_server)

    assert "250090" in via_bridge["title"]
    old, new = format(span.context.trace_id, "032x"), bridged_trace.hex()
    assert new in via_bridge["url"]
    expected = json.loads(json.dumps(in_process).replace(old, new).replace(old[:8], new[:8]))
    assert via_bridge == expected
    assert discord_server.rejected() == []


def test_full_backlog_refuses_before_anything_is_dropped(discord_server, webhook, tmp_path, monkeypatch, capture):
    """With Discord down the backlog grows; the sink says "retry later" before the engine would drop."""
    capture.set_level(logging.INFO, logger="otel_discord")
    monkeypatch.setenv("OTEL_EXPORTER_DISCORD_SPOOL_MAX_ROWS", "10")  # the spool keeps 10, then trims
    discord_server.set_down(True)
    sink = PipelineSink(**settings(discord_server, webhook, tmp_path, queue_size=10))
    (engine,) = sink._engines()
    answers = [sink.export_spans(over_the_wire([distinct_failure(n)])) for n in range(12)]

    # Refused from 90 % of 10 on (other notices, such as "service started", may share the backlog).
    accepted = answers.count(True)
    assert answers == [True] * accepted + [False] * (12 - accepted)
    assert 0 < accepted < 12
    health = sink.health()
    assert health["status"] == "full"
    assert health["queue"]["capacity"] == 10 and health["queue"]["pending"] >= 9
    assert health["items"] == {"traces.accepted": accepted, "traces.refused": 12 - accepted}
    assert engine.stats.dropped() == 0

    discord_server.set_down(False)
    assert sink.flush(30.0)
    assert sink.export_spans(over_the_wire([distinct_failure(99)])) is True  # room again
    assert sink.shutdown(30.0)
    assert sum(occurrences(embed) for embed in errors(discord_server)) == accepted + 1
    assert engine.stats.dropped() == 0
    # One warning for the episode, however many batches were refused, and one line when it ends.
    said = [r.getMessage() for r in capture.records if "delivery backlog" in r.getMessage()]
    assert len(said) == 2 and "90% full" in said[0] and "room again" in said[1]


def test_after_shutdown_batches_are_refused_so_the_collector_keeps_them(discord_server, webhook, tmp_path):
    """A stopping bridge answers False (503): the Collector holds the batch for the next bridge."""
    sink = PipelineSink(**settings(discord_server, webhook, tmp_path))
    assert sink.shutdown(5.0) is True
    assert sink.export_spans(over_the_wire([failing_request(1)])) is False
    assert sink.health()["status"] == "stopping"
    assert errors(discord_server) == []
    assert sink.shutdown(5.0) is True  # idempotent


def test_missing_exporter_means_accepted_and_ignored_with_one_warning(
    discord_server, webhook, tmp_path, monkeypatch, capture
):
    """A signal this installation cannot export is acknowledged (a retry could never succeed) and said once."""
    real = sink_module._exporter_class
    monkeypatch.setattr(
        sink_module, "_exporter_class", lambda module, name: None if module.endswith(".logs") else real(module, name)
    )
    sink = PipelineSink(**settings(discord_server, webhook, tmp_path))
    try:
        assert "logs" not in sink.exporters
        assert "DiscordLogExporter" in sink.missing["logs"]
        assert sink.export_logs([object(), object()]) is True
        assert sink.export_logs([object()]) is True
        assert sink.health()["items"]["logs.ignored"] == 3
        assert sink.health()["signals"]["logs"] == "off"
        warnings = [r.getMessage() for r in capture.records if "ignored" in r.getMessage()]
        assert len(warnings) == 1 and "logs" in warnings[0]
    finally:
        sink.shutdown(5.0)


def test_a_batch_that_breaks_the_sink_never_raises(discord_server, webhook, tmp_path, monkeypatch, capture):
    """Garbage, or a bug below the sink, costs a log line, never an exception in the server thread."""
    sink = PipelineSink(**settings(discord_server, webhook, tmp_path), signals=("traces",))
    try:
        assert sink.export_spans([object()]) is True  # the detector skips what it cannot read
        assert sink.export_metrics(object()) is True  # not MetricsData at all
        assert any("internal error while exporting metrics" in r.getMessage() for r in capture.records)

        def broken(batch):
            raise RuntimeError("bug")

        monkeypatch.setattr(sink.exporters["traces"], "export", broken)
        assert sink.export_spans(over_the_wire([failing_request(7)])) is True
        assert any("internal error while exporting traces" in r.getMessage() for r in capture.records)
        assert sink.health()["items"]["traces.failed"] == 1
        assert sink.flush(5.0)
        assert errors(discord_server) == []
    finally:
        sink.shutdown(5.0)


def test_settings_errors_surface_at_construction(discord_server, webhook, tmp_path):
    """Strict by default: a gateway with a bad setting must not start half-configured."""
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_DISCORD_WEBHOOK_URL"):
        PipelineSink()
    with pytest.raises(ConfigError, match="slow_query_ms"):
        PipelineSink(**settings(discord_server, webhook, tmp_path, slow_query_ms="fast"))
    with pytest.raises(TypeError, match="colour"):
        PipelineSink(**settings(discord_server, webhook, tmp_path), colour="red")
    with pytest.raises(ValueError, match="unknown signal"):
        PipelineSink(**settings(discord_server, webhook, tmp_path), signals=("profiles",))


def test_channels_are_listed_with_tokens_masked(discord_server, webhook, tmp_path):
    """The startup line shows where alerts go, never the webhook token."""
    sink = PipelineSink(**settings(discord_server, webhook, tmp_path))
    try:
        channels = sink.channels()
        assert list(channels) == ["default"]
        assert webhook.token not in channels["default"]
        assert webhook.id in channels["default"]
        assert webhook.token not in repr(sink) and webhook.token not in str(sink.health())
    finally:
        sink.shutdown(5.0)
