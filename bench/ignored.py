"""§5 Ignored-span cost: what ``DiscordSpanExporter.export()`` spends on a span that is not a notice,
next to what the OTLP exporter spends on the same span.

Almost every span an app produces is uninteresting (a 200 response, a fast
query, an internal step), and the exporter sees them all on the SDK's export
thread. Batches of 512 such spans, made by the SDK from a typical request mix
(server span, two fast database spans, an internal span), are exported
repeatedly, in one process, by three exporters taking turns so that drift hits
them alike: ``DiscordSpanExporter``; ``OTLPSpanExporter``
(opentelemetry-exporter-otlp-proto-http, protobuf, to the local sink
``otlp_sink.py`` in the runner's process), the exporter otel-discord is meant to
cost less than; and a no-op exporter (the floor: the call itself). Costs are the
exporting thread's CPU time per span (``time.thread_time``): what the app pays,
and steadier on a shared machine than wall time, which is kept in the raw
results (for OTLP it includes waiting for the sink's answer). They are also
compared with what the SDK spends to create and end one span.

This is the in-process view of §1's "telemetry threads' CPU per request,
otel-discord / otlp", without the app, the load generator and their noise, for
the spans that make up nearly all of the traffic (§1 also has its notices).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any, Final

from benchlib import Mode, emit, metric, run_worker
from otlp_sink import OTLPSink

from otel_discord.testing import DiscordServer

TITLE: Final = "5. Ignored-span cost"
BATCH: Final = 512


def _make_spans(count: int) -> tuple[list[Any], float]:
    """``count`` finished spans of ordinary requests, and the SDK's seconds per span to make them."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind

    spans: list[Any] = []

    class Collect(SpanExporter):
        def export(self, batch: Sequence[Any]) -> SpanExportResult:
            spans.extend(batch)
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=Resource.create({"service.name": "ozark-finances"}), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(Collect()))
    tracer = provider.get_tracer("bench.ignored")
    start = time.thread_time()
    while len(spans) < count:
        with tracer.start_as_current_span(
            "GET /invoices/<int:id>",
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": "GET",
                "http.route": "/invoices/<int:id>",
                "url.path": "/invoices/7",
                "http.response.status_code": 200,
                "client.address": "127.0.0.1",
            },
        ):
            for statement in (
                "SELECT invoices.id FROM invoices WHERE invoices.id = ?",
                "SELECT lines.id FROM lines WHERE lines.invoice_id = ?",
            ):
                with tracer.start_as_current_span(
                    "SELECT bench.sqlite",
                    kind=SpanKind.CLIENT,
                    attributes={
                        "db.system": "sqlite",
                        "db.statement": statement,
                        "db.name": "bench.sqlite",
                    },
                ):
                    pass
            with tracer.start_as_current_span("render invoice"):
                pass
    per_span = (time.thread_time() - start) / len(spans)
    return spans[:count], per_span


def _per_span(exporter: Any, batches: list[list[Any]], rounds: int) -> tuple[float, float, int]:
    """CPU seconds and wall seconds per span of exporting every batch ``rounds`` times, and the failed calls."""
    from opentelemetry.sdk.trace.export import SpanExportResult

    failed = 0
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(rounds):
        for batch in batches:
            failed += exporter.export(batch) is not SpanExportResult.SUCCESS
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    spans = rounds * sum(len(b) for b in batches)
    return cpu / spans, wall / spans, failed


def worker(args: argparse.Namespace) -> dict[str, Any]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from otel_discord.exporters import DiscordSpanExporter

    class Noop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    spans, create = _make_spans(BATCH * 8)
    batches = [spans[i : i + BATCH] for i in range(0, len(spans), BATCH)]
    exporters = {
        "discord": DiscordSpanExporter(
            webhook_url=args.url, allowed_hosts=args.host_port, spool_dir=tempfile.mkdtemp(prefix="bench-ignored-")
        ),
        "otlp": OTLPSpanExporter(endpoint=args.otlp_endpoint),
        "noop": Noop(),
    }
    failed = {name: _per_span(exporter, batches, 1)[2] for name, exporter in exporters.items()}  # warm-up
    calls = dict.fromkeys(exporters, len(batches))
    cpu: dict[str, list[float]] = {name: [] for name in exporters}
    wall: dict[str, list[float]] = {name: [] for name in exporters}
    for _ in range(args.reps):  # taking turns, so drift hits all alike
        for name, exporter in exporters.items():
            cpu_s, wall_s, failures = _per_span(exporter, batches, args.rounds)
            cpu[name].append(cpu_s)
            wall[name].append(wall_s)
            failed[name] += failures
            calls[name] += args.rounds * len(batches)
    exporters["discord"].force_flush(5_000)  # a notice made by mistake would now reach the server and be counted
    exporters["otlp"].shutdown()
    ours = exporters["discord"]
    stats: dict[str, Any] = {}
    try:
        from otel_discord.deliver.engine import get_engine

        stats = get_engine(ours.settings).stats.snapshot()
    except Exception as exc:  # the engine's API is being reworked
        stats = {"error": repr(exc)}
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "failed_exports": failed,
        "export_calls": calls,
        "create_s": create,
        "engine_stats": stats,
    }


def run(mode: Mode) -> dict[str, Any]:
    with DiscordServer() as discord, OTLPSink() as sink:
        hook = discord.create_webhook("s5-ignored")
        result = run_worker(
            "ignored",
            [
                "--url",
                hook.url,
                "--host-port",
                discord.host_port,
                "--otlp-endpoint",
                f"{sink.endpoint}/v1/traces",
                "--reps",
                str(mode.pick(3, 7)),
                "--rounds",
                str(mode.pick(5, 15)),
            ],
            timeout=600,
        )
        notices = len(discord.messages("s5-ignored"))
        received = sink.counts()
    # The OTLP row means something only if every batch really went over HTTP and was accepted.
    if result["failed_exports"]["otlp"] or received["requests"] < result["export_calls"]["otlp"]:
        raise RuntimeError(
            f"the OTLP exporter did not deliver every batch: {result['failed_exports']['otlp']} "
            f"failed, the sink got {received['requests']} of {result['export_calls']['otlp']}"
        )
    us = 1e6
    cpu = {name: [v * us for v in values] for name, values in result["cpu_s"].items()}
    wall = {name: _median(values) * us for name, values in result["wall_s"].items()}
    create = result["create_s"] * us
    versus_otlp = [ours / otlp for ours, otlp in zip(cpu["discord"], cpu["otlp"]) if otlp]
    return {
        "title": TITLE,
        "config": {
            "batch": BATCH,
            "spans": BATCH * 8,
            "mix": "1 server, 2 fast db, 1 internal span per request",
            "clock": "the exporting thread's CPU time (time.thread_time); wall time in raw",
            "otlp": "OTLPSpanExporter, http/protobuf, no compression, to bench/otlp_sink.py",
        },
        "metrics": [
            metric(
                "DiscordSpanExporter.export() per ignored span",
                "µs",
                cpu["discord"],
                headline=True,
                ratio=f"wall {wall['discord']:.1f} µs",
            ),
            metric(
                "OTLPSpanExporter.export() per span (local sink)",
                "µs",
                cpu["otlp"],
                headline=True,
                ratio=f"wall {wall['otlp']:.1f} µs",
            ),
            metric(
                "DiscordSpanExporter / OTLPSpanExporter, CPU per span",
                "ratio",
                versus_otlp,
                headline=True,
                note="the same spans, batches and process, taking turns; < 1: ignoring a span costs less than "
                "sending it over OTLP",
            ),
            metric("no-op exporter per span", "µs", cpu["noop"]),
            metric("SDK: create + end one span", "µs", create),
            metric(
                "export() cost / SDK span cost",
                "ratio",
                [v / create for v in cpu["discord"]],
                headline=True,
                note="what rejecting a span adds to what the SDK already spent on it",
            ),
            metric("notices made from ignored spans", "count", notices, target="0", passed=notices == 0),
        ],
        "raw": {**result, "otlp_sink": received},
    }


def _median(values: list[float]) -> float:
    from statistics import median

    return median(values) if values else float("nan")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["worker"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--host-port", required=True)
    parser.add_argument("--otlp-endpoint", required=True)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    emit(worker(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
