"""Self-telemetry: what the delivery engine did, as OpenTelemetry metrics of meter ``otel_discord``.

Observable instruments on the global MeterProvider read the counters of every
live engine of the process at each collection (no work on the delivery path);
the delivery latency is a histogram recorded as messages are accepted. Before
an SDK MeterProvider is installed the API hands out proxies that start
reporting once it is, so registering early is fine.

These metrics must never come back as Discord notices (a retry counter that
posts to Discord when Discord fails is a feedback loop): the Discord metric
exporter drops the meter scope ``METER_NAME`` with ``without_own(metrics_data)``.

=================================  =========  ==================================================
instrument                         unit       meaning
=================================  =========  ==================================================
otel_discord.messages.sent         {message}  messages Discord accepted (summaries included)
otel_discord.notices.sent          {notice}   embeds delivered in them
otel_discord.edits                 {request}  grouped messages edited with a new count
otel_discord.retries               {request}  requests retried after a failure
otel_discord.rate_limit.waits      {wait}     times a request waited for Discord's limits
otel_discord.rate_limited          {request}  429 answers (should stay 0)
otel_discord.notices.dropped       {notice}   notices lost, by ``otel_discord.drop.reason``
otel_discord.spool.depth           {notice}   notices waiting in the spool (gauge)
otel_discord.delivery.latency      s          submit → accepted by Discord (histogram)
=================================  =========  ==================================================

After a fork the child gets a fresh lock and forgets the parent's retired counts: one reset registered with ``health/forks.py``, whose single at-fork hook runs it.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Histogram, Observation

from otel_discord.health import forks
from otel_discord.health.drops import Stats
from otel_discord.version import __version__

METER_NAME: Final = "otel_discord"
DROP_REASON: Final = "otel_discord.drop.reason"
_DROPPED_PREFIX: Final = "dropped."
_COUNTERS: Final = (
    ("otel_discord.messages.sent", "sent_messages", "{message}", "Messages Discord accepted"),
    ("otel_discord.notices.sent", "sent_embeds", "{notice}", "Notices delivered to Discord"),
    ("otel_discord.edits", "edits", "{request}", "Grouped messages edited with a new count"),
    ("otel_discord.retries", "retries", "{request}", "Requests to Discord retried after a failure"),
    ("otel_discord.rate_limit.waits", "rate_limit_waits", "{wait}", "Times a request waited for Discord's limits"),
    ("otel_discord.rate_limited", "http_429", "{request}", "429 answers from Discord"),
)


class Observed(Protocol):
    """What an engine offers to self-telemetry."""

    stats: Stats

    def spool_depth(self) -> int: ...


class _Report:
    """The instruments on one MeterProvider and the engines they report.

    Counters are cumulative and must never go down: an engine that is gone (shut down
    and collected) leaves its last counts behind in ``retired``.
    """

    def __init__(self, provider: metrics.MeterProvider | None) -> None:
        self.provider = provider
        self.engines: weakref.WeakSet[Any] = weakref.WeakSet()
        self.retired: Counter[str] = Counter()
        meter = (
            provider.get_meter(METER_NAME, __version__)
            if provider is not None
            else metrics.get_meter(METER_NAME, __version__)
        )
        for name, counter, unit, description in _COUNTERS:
            meter.create_observable_counter(name, [self._counter(counter)], unit=unit, description=description)
        meter.create_observable_counter(
            "otel_discord.notices.dropped",
            [self._drops],
            unit="{notice}",
            description="Notices that never reached Discord, by reason",
        )
        meter.create_observable_gauge(
            "otel_discord.spool.depth",
            [self._depth],
            unit="{notice}",
            description="Notices waiting in the delivery spool",
        )
        self.latency: Histogram = meter.create_histogram(
            "otel_discord.delivery.latency", unit="s", description="Time from submit to acceptance by Discord"
        )

    def add(self, engine: Observed) -> None:
        if engine not in self.engines:
            self.engines.add(engine)
            weakref.finalize(engine, self._retire, engine.stats)

    def _retire(self, stats: Stats) -> None:
        self.retired.update(stats.snapshot())

    def _totals(self) -> Counter[str]:
        totals = Counter(self.retired)
        for engine in list(self.engines):
            totals.update(engine.stats.snapshot())
        return totals

    def _counter(self, counter: str):
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            yield Observation(self._totals().get(counter, 0))

        return observe

    def _drops(self, options: CallbackOptions) -> Iterable[Observation]:
        for name, value in sorted(self._totals().items()):
            if name.startswith(_DROPPED_PREFIX):
                yield Observation(value, {DROP_REASON: name[len(_DROPPED_PREFIX) :]})

    def _depth(self, options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(sum(engine.spool_depth() for engine in list(self.engines)))


_lock = threading.Lock()
_reports: list[_Report] = []


def _forget_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    for report in _reports:
        report.retired = Counter()  # a child counts its own work (its engine's counters start at 0)


forks.in_child(_forget_in_child)


def watch(engine: Observed, meter_provider: metrics.MeterProvider | None = None) -> None:
    """Report ``engine``'s counters through ``meter_provider`` (else the global one)."""
    with _lock:
        report = next((r for r in _reports if r.provider is meter_provider), None)
        if report is None:
            report = _Report(meter_provider)
            _reports.append(report)
        report.add(engine)


def without_own(metrics_data: Any) -> Any:
    """``metrics_data`` (an SDK ``MetricsData``) without the scope ``METER_NAME``: for the Discord
    metric exporter, which must never turn our own counters into notices."""
    from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics

    if metrics_data is None:
        return None
    kept = []
    for resource_metrics in metrics_data.resource_metrics:
        scopes = [s for s in resource_metrics.scope_metrics if s.scope.name != METER_NAME]
        if len(scopes) == len(resource_metrics.scope_metrics):
            kept.append(resource_metrics)
        elif scopes:
            kept.append(ResourceMetrics(resource_metrics.resource, scopes, resource_metrics.schema_url))
    return (
        metrics_data
        if len(kept) == len(metrics_data.resource_metrics)
        and all(a is b for a, b in zip(kept, metrics_data.resource_metrics))
        else MetricsData(kept)
    )


def record_latency(engine: Observed, seconds: Sequence[float]) -> None:
    """Delivery latencies of notices ``engine`` just saw accepted by Discord."""
    for report in list(_reports):
        if engine in report.engines:
            for value in seconds:
                report.latency.record(value)
