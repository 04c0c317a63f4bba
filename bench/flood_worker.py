"""The flood worker: one flood through ``DiscordSpanExporter`` in a fresh process (see ``flood.py``).

Run by the runner as ``python bench/flood_worker.py SCENARIO URL ...``. It prints
one JSON line when the flood is over, keeps the process (and its delivery
engine) alive while the runner watches the server, answers ``stats`` with the
engine's counters, and exits without teardown when stdin closes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any, Final

from benchlib import emit, letters_route
from ceiling import CHANNEL_LIMIT

BATCH: Final = 512  # OTEL_BSP_MAX_EXPORT_BATCH_SIZE's default


def _read_column(row: dict[str, str], column: str) -> float:
    try:
        return float(row[column])
    except ValueError:
        raise ValueError(f"invalid amount {row[column]!r} in column {column!r}") from None


def _import_row(row: dict[str, str], column: str) -> float:
    return _read_column(row, column) * 1.21


def _import_file(rows: list[dict[str, str]], column: str) -> float:
    return sum(_import_row(row, column) for row in rows)


_PLACEHOLDER: Final = "@@column@@"


def exception_event() -> dict[str, str]:
    """The attributes ``span.record_exception`` gives a real failure raised three calls deep.

    Made once: formatting a traceback costs more than what the exporter does with
    it, and this measures the exporter, not ``traceback``. Distinct errors replace
    the placeholder column name.
    """
    try:
        _import_file([{_PLACEHOLDER: "12,50 EUR"}], _PLACEHOLDER)
    except ValueError as exc:
        return {
            "exception.type": type(exc).__name__,
            "exception.message": str(exc),
            "exception.stacktrace": "".join(traceback.format_exception(exc)),
            "exception.escaped": "False",
        }
    raise AssertionError("unreachable")


def _scale_engine(settings: Any, channel_window: float) -> bool:
    """True if this build's engine budgets ``CHANNEL_LIMIT`` messages per ``channel_window`` seconds.

    The engine keeps Discord's hidden 30 / 60 s channel limit itself (no header
    reports it); against a scaled server it must use the scaled window too, which
    the ``CHANNEL_WINDOW`` setting (set by ``worker``) asks for. Checked through the
    engine's own options, so a build that ignores the setting says so in the row.
    """
    try:
        from otel_discord.deliver.options import DeliveryOptions

        options = DeliveryOptions.from_settings(settings)
    except Exception:  # an engine without these options: the row reports "not comparable"
        return False
    return options.channel_limit == CHANNEL_LIMIT and abs(options.channel_window - channel_window) < 1e-9


def _engine_stats(exporter: Any) -> dict[str, Any]:
    try:
        from otel_discord.deliver.engine import get_engine

        return dict(get_engine(exporter.settings).stats.snapshot())
    except Exception as exc:  # the engine's API may change; the server-side numbers still stand
        return {"error": repr(exc)}


def worker(args: argparse.Namespace) -> None:
    """Flood, report, then keep the engine delivering until the runner closes stdin."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind, Status, StatusCode

    from otel_discord.exporters import DiscordSpanExporter

    if args.rate_cap is not None:
        os.environ["OTEL_EXPORTER_DISCORD_RATE_CAP"] = args.rate_cap
    if args.channel_window:
        os.environ["OTEL_EXPORTER_DISCORD_CHANNEL_WINDOW"] = f"{args.channel_window}s"
    discord = DiscordSpanExporter(webhook_url=args.url, allowed_hosts=args.host_port, spool_dir=args.spool)
    scaled = _scale_engine(discord.settings, args.channel_window) if args.channel_window else None

    class Timed(SpanExporter):
        """Counts the spans that reach otel-discord and the time its export() takes (wall and CPU).

        CPU time is the calling thread's own (``thread_time``), so it holds even when
        other processes compete for the cores; wall time includes waiting for them.
        """

        spans = 0
        seconds = 0.0
        cpu_seconds = 0.0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            start, cpu = time.perf_counter(), time.thread_time()
            result = discord.export(spans)
            Timed.cpu_seconds += time.thread_time() - cpu
            Timed.seconds += time.perf_counter() - start
            Timed.spans += len(spans)
            return result

    timed = Timed()
    batch: list[Any] = []

    class Collect(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            batch.extend(spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=Resource.create({"service.name": "ozark-finances"}), shutdown_on_exit=False)
    direct = args.feed == "direct"
    provider.add_span_processor(SimpleSpanProcessor(Collect()) if direct else BatchSpanProcessor(timed))
    tracer = provider.get_tracer("bench.flood")
    distinct = args.scenario == "distinct"
    template = exception_event()

    start_wall, start = time.time(), time.monotonic()
    timeline: list[tuple[float, int]] = []  # (seconds since start, spans handed to export() so far)
    for i in range(args.count):
        route = letters_route(i) if distinct else "/imports/payments"
        with tracer.start_as_current_span(
            f"POST {route}",
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": "POST",
                "http.route": route,
                "url.path": route,
                "http.response.status_code": 500,
            },
        ) as span:
            column = f"amount_{route.rsplit('/', 1)[1]}" if distinct else "amount"
            span.add_event("exception", {k: v.replace(_PLACEHOLDER, column) for k, v in template.items()})
            span.set_status(Status(StatusCode.ERROR))
        last = i == args.count - 1
        if direct and (len(batch) >= BATCH or last):
            timed.export(batch)
            batch.clear()
            timeline.append((time.monotonic() - start, i + 1))
        if direct or i % 100 == 99 or last:
            ahead = (i + 1) / args.count * args.emit_seconds - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)  # the flood's pace: count per minute
    if not direct:
        provider.force_flush(60_000)  # the batch processor hands over what it still holds
        timeline.append((time.monotonic() - start, Timed.spans))
    emit(
        {
            "start_wall": start_wall,
            "emit_seconds": time.monotonic() - start,
            "handed_over": Timed.spans,
            "export_seconds": Timed.seconds,
            "export_cpu_seconds": Timed.cpu_seconds,
            "timeline": timeline,
            "engine_scaled": scaled,
        }
    )
    for line in sys.stdin:  # the engine keeps delivering meanwhile
        if line.strip() == "stats":
            emit(_engine_stats(discord))
    sys.stdout.flush()
    os._exit(0)  # no teardown: a graceful shutdown would spend up to 30 s on an undeliverable backlog


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["distinct", "repeats"])
    parser.add_argument("url")
    parser.add_argument("--host-port", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--emit-seconds", type=float, required=True)
    parser.add_argument("--feed", choices=["direct", "bsp"], required=True)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--channel-window", type=float, help="scale the engine's channel budget to this window")
    parser.add_argument("--rate-cap")
    worker(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
