"""§5 Ignored-span cost: what ``DiscordSpanExporter.export()`` spends on a span that is not a notice.

Almost every span an app produces is uninteresting (a 200 response, a fast
query, an internal step), and the exporter sees them all on the SDK's export
thread. Batches of 512 such spans, made by the SDK from a typical request mix
(server span, two fast database spans, an internal span), are exported
repeatedly; the per-span time is compared with a no-op exporter (the floor:
the call itself) and with what the SDK spends to create and end one span.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any, Final

from benchlib import Mode, emit, metric, run_worker
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
    start = time.perf_counter()
    while len(spans) < count:
        with tracer.start_as_current_span("GET /invoices/<int:id>", kind=SpanKind.SERVER, attributes={
            "http.request.method": "GET", "http.route": "/invoices/<int:id>", "url.path": "/invoices/7",
            "http.response.status_code": 200, "client.address": "127.0.0.1",
        }):
            for statement in ("SELECT invoices.id FROM invoices WHERE invoices.id = ?",
                              "SELECT lines.id FROM lines WHERE lines.invoice_id = ?"):
                with tracer.start_as_current_span("SELECT bench.sqlite", kind=SpanKind.CLIENT, attributes={
                    "db.system": "sqlite", "db.statement": statement, "db.name": "bench.sqlite",
                }):
                    pass
            with tracer.start_as_current_span("render invoice"):
                pass
    per_span = (time.perf_counter() - start) / len(spans)
    return spans[:count], per_span


def _per_span(exporter: Any, batches: list[list[Any]], rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        for batch in batches:
            exporter.export(batch)
    return (time.perf_counter() - start) / (rounds * sum(len(b) for b in batches))


def worker(args: argparse.Namespace) -> dict[str, Any]:
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from otel_discord.exporters import DiscordSpanExporter

    class Noop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    spans, create = _make_spans(BATCH * 8)
    batches = [spans[i:i + BATCH] for i in range(0, len(spans), BATCH)]
    ours = DiscordSpanExporter(webhook_url=args.url, allowed_hosts=args.host_port,
                               spool_dir=tempfile.mkdtemp(prefix="bench-ignored-"))
    noop = Noop()
    _per_span(ours, batches, 1)  # warm-up
    discord, floor = [], []
    for _ in range(args.reps):  # interleaved, so drift hits both alike
        discord.append(_per_span(ours, batches, args.rounds))
        floor.append(_per_span(noop, batches, args.rounds))
    ours.force_flush(5_000)  # a notice made by mistake would now reach the server and be counted
    stats: dict[str, Any] = {}
    try:
        from otel_discord.deliver.engine import get_engine

        stats = get_engine(ours.settings).stats.snapshot()
    except Exception as exc:  # the engine's API is being reworked
        stats = {"error": repr(exc)}
    return {"discord_s": discord, "noop_s": floor, "create_s": create, "engine_stats": stats}


def run(mode: Mode) -> dict[str, Any]:
    with DiscordServer() as discord:
        hook = discord.create_webhook("s5-ignored")
        result = run_worker("ignored", ["--url", hook.url, "--host-port", discord.host_port,
                                        "--reps", str(mode.pick(3, 7)), "--rounds", str(mode.pick(5, 15))],
                            timeout=600)
        notices = len(discord.messages("s5-ignored"))
    us = 1e6
    ours = [v * us for v in result["discord_s"]]
    floor = [v * us for v in result["noop_s"]]
    create = result["create_s"] * us
    share = [v / create for v in ours]
    return {
        "title": TITLE,
        "config": {"batch": BATCH, "spans": BATCH * 8, "mix": "1 server, 2 fast db, 1 internal span per request"},
        "metrics": [
            metric("DiscordSpanExporter.export() per ignored span", "µs", ours, headline=True),
            metric("no-op exporter per span", "µs", floor),
            metric("SDK: create + end one span", "µs", create),
            metric("export() cost / SDK span cost", "ratio", share, headline=True,
                   note="what rejecting a span adds to what the SDK already spent on it"),
            metric("notices made from ignored spans", "count", notices, target="0", passed=notices == 0),
        ],
        "raw": result,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["worker"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--host-port", required=True)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    emit(worker(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
