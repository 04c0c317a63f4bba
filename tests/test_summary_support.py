"""Builders shared by the summary and metric exporter tests (no tests of its own).

Real SDK metrics throughout: a ``MeterProvider`` with an ``InMemoryMetricReader``,
recorded through the same instruments and attribute names the Flask
instrumentation uses, collected as many times as a test needs export intervals.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
)
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from otel_discord.config import resolve
from otel_discord.detect import observations as observe
from otel_discord.notice import Notice
from otel_discord.summary import config as summary_config
from otel_discord.summary.monitor import Monitor
from otel_discord.summary.state import Store

AMS = ZoneInfo("Europe/Amsterdam")
WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/" + "t" * 68
#: The Flask instrumentation's bounds for the old ``http.server.duration`` (ms).
OLD_BOUNDS = (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000)
DELTA = {
    Counter: AggregationTemporality.DELTA,
    Histogram: AggregationTemporality.DELTA,
    UpDownCounter: AggregationTemporality.DELTA,
    ObservableUpDownCounter: AggregationTemporality.DELTA,
}


class Clock:
    """A hand-moved unix clock."""

    def __init__(self, start: float) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def local(*parts: int, tz: ZoneInfo = AMS) -> float:
    """Unix time of a local wall time: ``local(2025, 10, 14, 18, 0)``."""
    return datetime(*parts, tzinfo=tz).timestamp()


def settings_for(tmp_path: Path, environ: Mapping[str, str] | None = None, **file: Any):
    """Metric settings with a spool in ``tmp_path`` and ``file`` as the YAML config file."""
    config = tmp_path / "otel-discord.yaml"
    config.write_text(yaml.safe_dump(file), encoding="utf-8")
    # These tests read Amsterdam's calendar (the example app's zone), whatever the host's zone is.
    return resolve(
        "metrics",
        webhook_url=WEBHOOK,
        spool_dir=tmp_path / "spool",
        config_file=config,
        environ={"OTEL_EXPORTER_DISCORD_TIMEZONE": "Europe/Amsterdam", **(environ or {})},
    )


def make_monitor(tmp_path: Path, *, service: str = "ozark", store: Store | None = None, **file: Any) -> Monitor:
    settings = settings_for(tmp_path, **file)
    config = summary_config.load(settings)
    return Monitor(
        config,
        store or Store.open(settings.spool_dir),
        service=service,
        channels={"default": "https://discord.com/api/webhooks/1/****"},
    )


class App:
    """One instrumented app instance: its provider, reader and the HTTP duration histogram."""

    def __init__(
        self,
        service: str = "ozark",
        instance: str = "instance-a",
        *,
        delta: bool = False,
        new_semconv: bool = False,
        extra_resource: Mapping[str, Any] | None = None,
    ) -> None:
        resource = Resource.create({"service.name": service, "service.instance.id": instance, **(extra_resource or {})})
        self.reader = InMemoryMetricReader(preferred_temporality=DELTA if delta else None)
        name = "http.server.request.duration" if new_semconv else "http.server.duration"
        bounds = [b / 1000 for b in OLD_BOUNDS[1:]] if new_semconv else list(OLD_BOUNDS)
        view = View(instrument_name=name, aggregation=ExplicitBucketHistogramAggregation(bounds))
        self.provider = MeterProvider(metric_readers=[self.reader], resource=resource, views=[view])
        self.meter = self.provider.get_meter("opentelemetry.instrumentation.flask")
        self.new_semconv = new_semconv
        self.duration = self.meter.create_histogram(name, unit="s" if new_semconv else "ms")

    def request(self, route: str, ms: float, status: int = 200, method: str = "GET", n: int = 1) -> None:
        for _ in range(n):
            if self.new_semconv:
                attrs = {"http.request.method": method, "http.route": route, "http.response.status_code": status}
                self.duration.record(ms / 1000, attrs)
            else:
                attrs = {"http.method": method, "http.target": route, "http.status_code": status}
                self.duration.record(ms, attrs)

    def collect(self):
        return self.reader.get_metrics_data()


def drain_observations() -> None:
    """Forget what other tests left in ``observe`` (it is process-wide)."""
    observe.drain()


def field(notice: Notice, name: str) -> str:
    for item in notice.fields:
        if item.name == name:
            return item.value
    raise AssertionError(f"no field {name!r} in {[f.name for f in notice.fields]}")


def summaries(posts) -> list[Notice]:
    return [p.notice for p in posts if p.notice.kind.value == "summary"]
