"""§2 Request-thread cost per logged error: otel-discord versus a blocking webhook logging handler.

The application calls ``logger.exception(...)`` inside a request; what matters to
its users is how long that call holds the request thread. Measured in a fresh
process per contender, against the strict local Discord answering after 100 ms
(a realistic round trip to discord.com):

* **otel-discord**: the logging → OpenTelemetry logs bridge (the
  ``LoggingHandler`` of opentelemetry-instrumentation-logging, as
  ``opentelemetry-instrument`` installs it) → ``BatchLogRecordProcessor`` →
  ``DiscordLogExporter``. If this build has no log exporter yet, the error is
  recorded the span way instead (``record_exception`` on a span exported by
  ``DiscordSpanExporter``), and the row says so.
* **blocking handler**: the ``logging.Handler`` people write, ``requests.post``
  of the formatted record in ``emit()`` (see ``BlockingWebhookHandler``).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from typing import Any, Final

import requests
from benchlib import Mode, emit, metric, run_worker

from otel_discord.testing import DiscordServer

TITLE: Final = "2. Cost per logged error"
LATENCY: Final = 0.1  # seconds the local Discord waits before answering


class BlockingWebhookHandler(logging.Handler):
    """The minimal Discord logging handler: one synchronous POST per record, no queue, no retry."""

    def __init__(self, url: str) -> None:
        super().__init__(logging.ERROR)
        self.url = url
        self.statuses: list[int | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            answer = requests.post(self.url, json={"content": f"```\n{text[-1900:]}\n```"}, timeout=5)
            self.statuses.append(answer.status_code)
        except Exception:
            self.statuses.append(None)
            self.handleError(record)


def _failing_payment(invoice: int) -> None:
    def parse(raw: str) -> float:
        return float(raw)

    parse(f"{invoice} EUR")  # ValueError, as an import with a bad amount column would raise


def _time_calls(logger: logging.Logger, calls: int) -> list[float]:
    """Seconds each ``logger.exception`` call held the calling thread."""
    spent = []
    for i in range(calls):
        try:
            _failing_payment(250_000 + i)
        except ValueError:
            start = time.perf_counter()
            logger.exception("payment import failed for invoice %s", 250_000 + i)
            spent.append(time.perf_counter() - start)
    return spent


def _otel_logger(url: str, host_port: str, spool: str) -> tuple[logging.Logger, str, Any, Any]:
    """A logger wired the way opentelemetry-instrument wires one: (logger, path, provider, exporter)."""
    import otel_discord.exporters as exporters

    settings = dict(webhook_url=url, allowed_hosts=host_port, spool_dir=spool)
    try:
        log_exporter_cls = exporters.DiscordLogExporter
    except (AttributeError, ImportError):
        log_exporter_cls = None
    if log_exporter_cls is not None:
        from opentelemetry.instrumentation.logging.handler import LoggingHandler
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        provider = LoggerProvider(shutdown_on_exit=False)
        exporter = log_exporter_cls(**settings)
        provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
        handler: logging.Handler = LoggingHandler(level=logging.NOTSET, logger_provider=provider)
        path = "logs bridge → DiscordLogExporter"
    else:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import Status, StatusCode

        provider = TracerProvider(shutdown_on_exit=False)
        exporter = exporters.DiscordSpanExporter(**settings)
        provider.add_span_processor(BatchSpanProcessor(exporter))
        tracer = provider.get_tracer("bench.log_cost")

        class SpanErrorHandler(logging.Handler):
            """No log exporter yet: the error becomes what the span exporter sees (an error span)."""

            def emit(self, record: logging.LogRecord) -> None:
                with tracer.start_as_current_span("import payments") as span:
                    if record.exc_info and record.exc_info[1] is not None:
                        span.record_exception(record.exc_info[1])
                    span.set_status(Status(StatusCode.ERROR, record.getMessage()))

        handler = SpanErrorHandler()
        path = "error span → DiscordSpanExporter (no DiscordLogExporter in this build)"
    logger = logging.getLogger("bench.otel")
    logger.propagate = False
    logger.addHandler(handler)
    return logger, path, provider, exporter


def worker(args: argparse.Namespace) -> dict[str, Any]:
    if args.contender == "otel-discord":
        with tempfile.TemporaryDirectory() as spool:
            logger, path, provider, exporter = _otel_logger(args.url, args.host_port, spool)
            _time_calls(logger, 50)  # warm-up: imports, first connection
            reps = [statistics.median(_time_calls(logger, args.calls)) for _ in range(args.reps)]
            # Hand the records over and let the first message out, so the run can show the path
            # measured really alerts. No shutdown: it would spend up to 30 s on the rate-limited rest.
            provider.force_flush(10_000)
            exporter.force_flush(5_000)
        return {"per_call_s": reps, "path": path}
    handler = BlockingWebhookHandler(args.url)
    logger = logging.getLogger("bench.blocking")
    logger.propagate = False
    logger.addHandler(handler)
    reps = [statistics.median(_time_calls(logger, args.calls)) for _ in range(args.reps)]
    return {"per_call_s": reps, "statuses": handler.statuses}


def run(mode: Mode) -> dict[str, Any]:
    reps = mode.pick(3, 5)
    with DiscordServer() as discord:
        discord.set_latency(LATENCY)
        common = ["--host-port", discord.host_port, "--reps", str(reps)]
        otel = run_worker(
            "log_cost",
            ["otel-discord", discord.create_webhook("s2-otel").url, *common, "--calls", str(mode.pick(200, 1000))],
            timeout=300,
        )
        alerts = len(discord.messages("s2-otel"))
        blocking = run_worker(
            "log_cost",
            ["blocking", discord.create_webhook("s2-blocking").url, *common, "--calls", str(mode.pick(3, 5))],
            timeout=300,
        )
    us = 1e6
    otel_us = [v * us for v in otel["per_call_s"]]
    blocking_us = [v * us for v in blocking["per_call_s"]]
    ratios = [b / o for b, o in zip(blocking_us, otel_us) if o]
    statuses = blocking["statuses"]
    refused = sum(1 for s in statuses if s == 429)
    return {
        "title": TITLE,
        "config": {"discord_latency_s": LATENCY, "repetitions": reps, "otel_discord_path": otel["path"]},
        "metrics": [
            metric("otel-discord per logger.exception()", "µs", otel_us, note=otel["path"], headline=True),
            metric("blocking requests.post handler per call", "µs", blocking_us, headline=True),
            metric("blocking / otel-discord", "ratio", ratios, headline=True),
            metric(
                "otel-discord messages from the measured calls",
                "count",
                alerts,
                target="> 0",
                passed=alerts > 0,
                note="the measured path really alerts (grouped and rate-capped by default)",
            ),
            metric(
                "blocking handler posts refused with 429",
                "%",
                100 * refused / max(1, len(statuses)),
                note=f"{refused} of {len(statuses)} posts: 5 requests / 2 s per webhook, and no retry",
            ),
        ],
        "raw": {"otel": otel, "blocking": blocking},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["worker"])
    parser.add_argument("contender", choices=["otel-discord", "blocking"])
    parser.add_argument("url")
    parser.add_argument("--host-port", required=True)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    emit(worker(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
