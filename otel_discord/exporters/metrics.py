"""The metric exporter: periodic summaries, threshold alerts, system events, job monitoring.

The SDK calls ``export`` every ``OTEL_METRIC_EXPORT_INTERVAL`` (60 s by default)
with cumulative or delta points; ``summary.monitor.Monitor`` turns them into
persisted figures and decides what is due. Posting follows the summaries' own
schedules, not the export interval. The delivery engine's timer (``engine.every``; no
thread of our own) runs the same checks when no export has come for a while: with delta temporality
an idle app exports nothing, and a dead man's switch must still fire at night.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from otel_discord.exporters._base import PipelineExporter, configure
from otel_discord.health import selftelemetry
from otel_discord.health.drops import guard
from otel_discord.health.log import get_logger
from otel_discord.summary import config as summary_config
from otel_discord.summary.monitor import Monitor, Post
from otel_discord.summary.state import Store

_logger = get_logger(__name__)  # a config error or exception text might quote a webhook URL

DEFAULT_TICK_S: Final = 60.0


class DiscordMetricExporter(PipelineExporter, MetricExporter):
    """Posts summaries, threshold alerts, system events and job alerts to Discord.

    Every argument is optional and overrides its ``OTEL_EXPORTER_DISCORD_*``
    variable (see the README's settings table and its metrics section).
    """

    def __init__(
        self,
        webhook_url: str | None = None,
        *,
        channels: dict[str, str] | None = None,
        allowed_hosts: str | list[str] | None = None,
        timeout: float | None = None,
        queue_size: int | None = None,
        trace_url: str | None = None,
        spool_dir: str | None = None,
        username: str | None = None,
        avatar_url: str | None = None,
        mask_pii: bool | None = None,
        environment: str | None = None,
        config_file: str | None = None,
        summary_schedule: str | list[str] | None = None,
        timezone: str | None = None,
        service_name: str | None = None,
        system_events: bool | None = None,
        health_heartbeat: str | None = None,
        strict: bool | None = None,
        preferred_temporality: dict[type, Any] | None = None,
        preferred_aggregation: dict[type, Any] | None = None,
        _clock: Callable[[], float] = time.time,
        _tick_interval: float = DEFAULT_TICK_S,
    ) -> None:
        MetricExporter.__init__(
            self, preferred_temporality=preferred_temporality, preferred_aggregation=preferred_aggregation
        )
        core = dict(
            webhook_url=webhook_url,
            channels=channels,
            allowed_hosts=allowed_hosts,
            timeout=timeout,
            queue_size=queue_size,
            trace_url=trace_url,
            spool_dir=spool_dir,
            username=username,
            avatar_url=avatar_url,
            mask_pii=mask_pii,
            environment=environment,
            config_file=config_file,
        )
        own = dict(
            summary_schedule=summary_schedule,
            timezone=timezone,
            service_name=service_name,
            system_events=system_events,
            health_heartbeat=health_heartbeat,
        )
        configured = configure(
            "metrics",
            "metric",
            strict=strict,
            core=core,
            features=lambda settings: summary_config.load(settings, own),
            given=any(v is not None for v in own.values()),
        )
        settings = configured.settings if configured is not None else None
        config = configured.features if configured is not None else None
        self._clock = _clock
        self._tick_interval = _tick_interval
        self._monitor: Monitor | None = None
        self._accepts_files = False
        self._ticking = False
        self._stop = threading.Event()
        self._last_run = 0.0
        self._start(configured)
        if settings is None or config is None or self._pipeline is None:
            return
        with guard("starting the metric exporter"):
            self._accepts_files = "files" in inspect.signature(self._pipeline.submit).parameters
            self._monitor = _build_monitor(settings, config, self._pipeline, self._accepts_files)
            self._last_run = self._clock()
            self._submit(self._monitor.startup(self._last_run))
        self._ensure_ticker()  # an app with no metrics at all still gets its job checks

    # --- the SDK's interface ------------------------------------------------------------
    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        # Always SUCCESS: a failure would only make the SDK log; our losses are counted elsewhere.
        if not self.enabled or self._monitor is None:
            return MetricExportResult.SUCCESS
        with guard("export metrics"):
            # Our own self-telemetry goes to other backends, never back into Discord notices.
            metrics_data = selftelemetry.without_own(metrics_data)
            self._run(metrics_data)
        self._ensure_ticker()
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        """Deliver what is queued, waiting at most ``timeout_millis``."""
        return self._flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        """Post the shutdown notice (primary process only), flush within the timeout, then stop.

        The periodic reader passes ``timeout=`` (milliseconds) rather than ``timeout_millis``.
        """
        timeout_millis = max(0.0, float(kwargs.get("timeout", timeout_millis)))
        self._stop.set()
        if self.enabled and self._monitor is not None:
            with guard("posting the shutdown notice"):
                self._submit(self._monitor.shutdown(self._clock()))
        self._close(timeout_millis)

    # --- internals ----------------------------------------------------------------------
    def _run(self, metrics_data: MetricsData | None) -> None:
        assert self._monitor is not None
        with guard("summarising metrics"):
            self._last_run = self._clock()
            self._submit(self._monitor.process(metrics_data, self._last_run))

    def _submit(self, posts: Sequence[Post]) -> None:
        if self._pipeline is None:
            return
        for post in posts:
            if post.files and self._accepts_files:
                self._pipeline.submit([post.notice], files=post.files, image=post.image)  # type: ignore[call-arg]
            else:
                self._pipeline.submit([post.notice])

    def _ensure_ticker(self) -> None:
        if not self._tick_interval or self._stop.is_set() or self._monitor is None:
            return
        if self._ticking or self._pipeline is None:
            return
        self._ticking = True
        self._pipeline.engine.every(self._tick_interval, self._on_timer)

    def _on_timer(self, _now: float) -> None:
        # On the engine's housekeeping thread; after shutdown the callback does nothing.
        interval = self._tick_interval
        if self._stop.is_set() or not self.enabled or self._monitor is None:
            return
        if self._clock() - self._last_run >= 1.5 * interval:
            self._run(None)


def _build_monitor(settings: Any, config: summary_config.SummaryConfig, pipeline: Any, attachments: bool) -> Monitor:
    from opentelemetry.sdk.resources import Resource

    # The SDK's own resource detection (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), as the
    # providers built by opentelemetry-instrument see it.
    resource = Resource.create().attributes
    service = config.service_name or str(resource.get("service.name") or "unknown_service")
    version = resource.get("service.version")
    engine = pipeline.engine
    return Monitor(
        config,
        Store.open(settings.spool_dir),
        service=service,
        version=str(version) if version else None,
        channels={name: str(channel.webhook) for name, channel in settings.channels.items()},
        attachments=attachments,
        delivery_stats=lambda: engine.stats.snapshot(),
    )
