"""One alert per exception when a log record and a span of the same trace both report it."""

from __future__ import annotations

import threading
import time

import pytest
from opentelemetry.trace import SpanKind
from test_logs_support import settings, telemetry

from otel_discord.detect import dedupe
from otel_discord.detect.dedupe import ExceptionRegistry
from otel_discord.detect.events import EventDetector, EventOptions
from otel_discord.detect.logs import LogDetector, LogOptions
from otel_discord.detect.spans import SpanDetector
from otel_discord.notice import Category, Kind, Notice, Severity

TRACE = "0af7651916cd43dd8448eb211c80319c"


def notice(trace_id=TRACE, title="ValueError: bad") -> Notice:
    return Notice(kind=Kind.ERROR, severity=Severity.ERROR, category=Category.ERROR, title=title, trace_id=trace_id)


class Sink:
    def __init__(self):
        self.got: list[Notice] = []
        self.arrived = threading.Event()

    def __call__(self, n: Notice) -> None:
        self.got.append(n)
        self.arrived.set()


def log_error(reg, sink, n=None, exc="ValueError", *, sampled=True, hold=5.0, now=0.0):
    return reg.log_error(n or notice(), exc, sampled=sampled, hold=hold, deliver=sink, owner="log", now=now)


class Spans:
    """Stands in for a live span detector registration."""


@pytest.fixture
def reg():
    registry = ExceptionRegistry(background=False)  # the tests call due() with their own clock
    registry._keep = Spans()  # keep the registration alive for the test
    registry.expect_spans(registry._keep)
    return registry


class TestRegistry:
    def test_span_first_then_log(self, reg):
        """The span reports; the same exception logged afterwards is dropped."""
        assert reg.span_error(TRACE, "builtins.ValueError")
        assert log_error(reg, Sink()) is None
        assert reg.held_count() == 0

    def test_log_first_waits_and_the_span_replaces_it(self, reg):
        """A logged exception waits for its span; the span's report cancels it."""
        sink = Sink()
        assert log_error(reg, sink) is None
        assert reg.held_count() == 1
        assert reg.span_error(TRACE, "ValueError")
        assert reg.due(now=1e9) == [] and reg.held_count() == 0

    def test_log_first_is_released_when_its_span_never_says_so(self, reg):
        """After the wait the held record is delivered, and a late span is then dropped."""
        sink = Sink()
        held = notice()
        log_error(reg, sink, held, now=100.0)
        assert reg.due(now=104.9) == []
        assert reg.due(now=105.0) == [(sink, held)]
        assert not reg.span_error(TRACE, "ValueError")

    def test_different_exceptions_in_one_trace_both_alert(self, reg):
        """A handled KeyError logged earlier and the ValueError that escaped are two problems."""
        log_error(reg, Sink(), exc="KeyError")
        assert reg.span_error(TRACE, "ValueError")
        assert reg.held_count() == 1

    def test_status_only_span_error_defers_to_the_logged_exception(self, reg):
        """A 5xx without an exception on the span and a logged exception: the one with the traceback goes."""
        sink = Sink()
        held = notice()
        log_error(reg, sink, held, now=0.0)
        assert not reg.span_error(TRACE, None)
        assert reg.due(now=0.0) == [(sink, held)]  # released at once, not after the wait
        other = "1" * 32
        assert reg.span_error(other, None)  # no logged exception there: the span alerts
        assert log_error(reg, sink, notice(other), hold=0) is None  # and a later log of that trace does not

    def test_no_wait_without_a_span_exporter_or_sampling(self):
        """Nothing waits when no Discord span exporter runs, or when the trace is not sampled."""
        lonely = ExceptionRegistry(background=False)
        first = notice()
        assert log_error(lonely, Sink(), first) is first
        assert log_error(lonely, Sink(), notice()) is None  # the same exception again: once is enough
        with_spans = ExceptionRegistry(background=False)
        keep = Spans()
        with_spans.expect_spans(keep)
        unsampled = notice("2" * 32)
        assert log_error(with_spans, Sink(), unsampled, sampled=False) is unsampled

    def test_without_trace_nothing_is_deduplicated(self, reg):
        """Records outside any trace (background jobs) are always delivered."""
        first, second = notice(trace_id=None), notice(trace_id=None)
        assert log_error(reg, Sink(), first) is first and log_error(reg, Sink(), second) is second

    def test_root_span_export_releases_its_traces_records(self, reg):
        """Once the trace's local root span is exported, waiting longer cannot help."""
        sink = Sink()
        with telemetry() as t:
            with t.tracer.start_as_current_span("GET /handled", kind=SpanKind.SERVER) as root:
                with t.tracer.start_as_current_span("child"):
                    pass
            trace_id = format(root.get_span_context().trace_id, "032x")
            held = notice(trace_id)
            log_error(reg, sink, held, now=0.0)
            child, root_span = t.spans()
            reg.spans_exported([child])
            assert reg.due(now=0.0) == []
            reg.spans_exported([root_span])
            assert reg.due(now=0.0) == [(sink, held)]

    def test_take_held_hands_back_what_waits(self, reg):
        """Flush and shutdown deliver held records instead of losing them."""
        sink = Sink()
        held = notice()
        log_error(reg, sink, held)
        assert reg.take_held("someone else") == []
        assert reg.take_held("log") == [(sink, held)]
        assert reg.held_count() == 0

    def test_bounded(self):
        """Memory stays bounded: old keys are forgotten, a flood of held records is released early."""
        registry = ExceptionRegistry(remembered=10, max_held=5, background=False)
        keep = Spans()
        registry.expect_spans(keep)
        for n in range(100):
            registry.span_error(format(n + 1, "032x"), "ValueError")
        assert len(registry._sent) == 10
        for n in range(8):
            log_error(registry, Sink(), notice(format(1000 + n, "032x")), now=float(n))
        assert len(registry.due(now=0.0)) == 3  # the oldest beyond 5 are due at once

    def test_release_thread_delivers_after_the_wait(self):
        """Held records go out on their own after the wait, without another export call."""
        registry = ExceptionRegistry()
        keep = Spans()
        registry.expect_spans(keep)
        sink = Sink()
        held = notice()
        log_error(registry, sink, held, hold=0.05, now=time.monotonic())
        assert sink.arrived.wait(10)
        assert sink.got == [held]


class TestDetectorsTogether:
    """Real span and log detectors on real telemetry from one failing request, in both orders."""

    def failing_request(self, t):
        with pytest.raises(ZeroDivisionError):
            with t.tracer.start_as_current_span(
                "GET /boom",
                kind=SpanKind.SERVER,
                attributes={
                    "http.route": "/boom",
                    "http.method": "GET",
                    "http.status_code": 500,
                },
            ):
                try:
                    1 / 0
                except ZeroDivisionError:
                    t.log.exception("Exception on /boom [GET]")
                    raise

    def detectors(self, sink, hold_ms="5000"):
        s = settings({"OTEL_EXPORTER_DISCORD_LOG_ERROR_HOLD_MS": hold_ms})
        logs = LogDetector(s, LogOptions.from_settings(s), EventDetector(EventOptions.from_settings(s)), deliver=sink)
        return logs, SpanDetector(settings())

    def test_log_batch_first(self):
        """Log exported first: it waits, the span alerts, nothing else arrives."""
        sink = Sink()
        logs, spans = self.detectors(sink)
        with telemetry() as t:
            self.failing_request(t)
            assert logs(t.records(), now=time.time()) == []
            (error,) = spans(t.spans())
        assert error.title == "ZeroDivisionError: division by zero"
        assert {f.name for f in error.fields} >= {"Route", "Status"}
        assert logs.take_held() == [] and sink.got == []

    def test_span_batch_first(self):
        """Span exported first: it alerts, the log record of the same exception is dropped."""
        sink = Sink()
        logs, spans = self.detectors(sink)
        with telemetry() as t:
            self.failing_request(t)
            (error,) = spans(t.spans())
            assert logs(t.records(), now=time.time()) == []
        assert logs.take_held() == [] and sink.got == []
        assert error.kind is Kind.ERROR

    def test_no_wait_configured_log_wins_and_span_is_dropped(self):
        """LOG_ERROR_HOLD_MS=0: the log alerts at once and the span of the same exception is dropped."""
        sink = Sink()
        logs, spans = self.detectors(sink, hold_ms="0")
        with telemetry() as t:
            self.failing_request(t)
            (error,) = logs(t.records(), now=time.time())
            assert spans(t.spans()) == []
        assert error.title == "ZeroDivisionError: division by zero"

    def test_process_registry_is_shared(self):
        """Span and log detectors use one process-wide registry by default."""
        assert LogDetector(settings(), LogOptions(), EventDetector())._registry is dedupe.registry()
        assert SpanDetector(settings())._exceptions is dedupe.registry()
