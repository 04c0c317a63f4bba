"""Metric points → what changed since the previous export, whatever the temporality.

The SDK reports a counter either as a running total since ``start_time``
(CUMULATIVE, the default) or as the change since the last collection (DELTA).
Summaries need changes, so a cumulative point is diffed against the previous
point of the same stream; a new ``start_time`` (or a total that went down) means
the counter restarted, and the new total is all new. Gauges and non-monotonic
sums (memory in use, active requests) are levels: their latest value counts.

A stream is keyed by resource identity (``service.name`` + ``service.instance.id``),
metric name and point attributes, so the OTLP bridge can pass metrics from many
app instances through one exporter and each keeps its own history.

Two cases would count something twice and are handled here:

* A cumulative stream first seen with a ``start_time`` from before this
  accumulator existed (the bridge restarted while the apps ran on): what it holds
  was counted by our previous life, so its first point is only a baseline.
* A forked worker (gunicorn) inherits the master's metric storage but gets a new
  ``service.instance.id``; its first point continues the master's total, so the
  master's last point of the same stream is its baseline.

After a fork the child keeps the parent's last points only as baselines (see above): one reset registered with ``health/forks.py``, whose single at-fork hook runs it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    MetricsData,
    Sum,
)

from otel_discord.health import forks
from otel_discord.health.log import get_logger

_logger = get_logger(__name__)

UNKNOWN_SERVICE: Final = "unknown_service"
#: Streams unseen for this long are forgotten (bounded memory when attributes churn).
STREAM_TTL_NS: Final = 2 * 3600 * 10**9
#: A stream that started this little before us is still ours (clock granularity, slow start-up).
_START_SLACK_NS: Final = 5 * 10**9

Attributes = tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Identity:
    """Which app instance a point came from."""

    service: str
    instance: str
    attributes: Attributes = ()  # the resource's attributes, for host/pid in messages

    def get(self, key: str) -> Any:
        return dict(self.attributes).get(key)


@dataclass(frozen=True, slots=True)
class Change:
    """One stream's news in one export.

    ``kind`` is ``"count"`` (``value`` added since the last export), ``"level"``
    (``value`` is the current level) or ``"histogram"`` (``bounds``, ``counts`` and
    ``value`` as the sum of observations, all added since the last export).
    """

    identity: Identity
    metric: str
    unit: str
    attributes: Mapping[str, Any]
    kind: str
    value: float
    bounds: tuple[float, ...] = ()
    counts: tuple[float, ...] = ()
    start_ns: int = 0  # start of the stream (cumulative) or of the interval (delta)


@dataclass(slots=True)
class Batch:
    """The changes of one export and every app instance that reported (changed or not)."""

    changes: list[Change]
    identities: dict[tuple[str, str], Identity]
    #: Earliest stream start per instance: roughly when that process started.
    started_ns: dict[tuple[str, str], int]


@dataclass(slots=True)
class _Last:
    start_ns: int
    seen_ns: int
    value: float
    bounds: tuple[float, ...] = ()
    counts: tuple[float, ...] = ()


def resource_identity(resource: Any) -> Identity:
    attributes = dict(getattr(resource, "attributes", None) or {})
    service = str(attributes.get("service.name") or UNKNOWN_SERVICE)
    instance = attributes.get("service.instance.id") or attributes.get("process.pid") or "-"
    return Identity(service, str(instance), tuple(sorted((str(k), v) for k, v in attributes.items())))


def _freeze(attributes: Mapping[str, Any] | None) -> Attributes:
    if not attributes:
        return ()
    return tuple(sorted((str(k), tuple(v) if isinstance(v, list) else v) for k, v in attributes.items()))


class Accumulator:
    """Turns successive ``MetricsData`` into ``Change`` records (see the module docstring)."""

    def __init__(self, *, wall_clock_ns: Any = time.time_ns) -> None:
        # Point timestamps are real unix time, so this compares against real time even
        # when summaries run on an injected clock.
        self._created_ns = int(wall_clock_ns())
        self._last: dict[tuple[str, str, str, Attributes], _Last] = {}
        self._inherited: dict[tuple[str, str, Attributes, int], _Last] = {}
        self._warned: set[str] = set()
        forks.in_child(self._after_fork)

    def _after_fork(self) -> None:
        # The child's streams get a new instance id; remember the parent's points by
        # everything but the instance so the child's first points can continue from them.
        self._inherited = {
            (service, metric, attrs, last.start_ns): last for (service, _, metric, attrs), last in self._last.items()
        }
        self._last = {}

    def changes(self, data: MetricsData | None) -> Batch:
        """Everything that changed in ``data`` since the previous call."""
        batch = Batch([], {}, {})
        newest = 0
        for resource_metrics in getattr(data, "resource_metrics", None) or ():
            identity = resource_identity(resource_metrics.resource)
            key = (identity.service, identity.instance)
            batch.identities[key] = identity
            for scope_metrics in resource_metrics.scope_metrics or ():
                for metric in scope_metrics.metrics or ():
                    try:
                        for change, seen, start in self._metric(identity, metric):
                            newest = max(newest, seen)
                            if start and (key not in batch.started_ns or start < batch.started_ns[key]):
                                batch.started_ns[key] = start
                            if change is not None:
                                batch.changes.append(change)
                    except Exception:  # one odd metric must not cost the others
                        _logger.debug("skipping metric %r", getattr(metric, "name", "?"), exc_info=True)
        if newest:
            self._forget(newest - STREAM_TTL_NS)
        return batch

    def _metric(self, identity: Identity, metric: Any) -> Iterator[tuple[Change | None, int, int]]:
        data = metric.data
        name, unit = str(metric.name), str(metric.unit or "")
        if isinstance(data, Histogram):
            cumulative = data.aggregation_temporality == AggregationTemporality.CUMULATIVE
            for point in data.data_points:
                yield self._histogram(identity, name, unit, point, cumulative), *_times(point, cumulative)
        elif isinstance(data, Sum):
            cumulative = data.aggregation_temporality == AggregationTemporality.CUMULATIVE
            for point in data.data_points:
                if data.is_monotonic:
                    change = self._count(identity, name, unit, point, cumulative)
                else:
                    change = self._updown(identity, name, unit, point, cumulative)
                yield change, *_times(point, cumulative)
        elif isinstance(data, Gauge):
            for point in data.data_points:
                attrs = dict(point.attributes or {})
                yield Change(identity, name, unit, attrs, "level", float(point.value)), int(point.time_unix_nano), 0
        elif name not in self._warned:
            self._warned.add(name)
            _logger.info("metric %r (%s) is not used by summaries", name, type(data).__name__)

    def _previous(self, key: tuple[str, str, str, Attributes], start_ns: int) -> _Last | None:
        last = self._last.get(key)
        if last is None and self._inherited:
            last = self._inherited.pop((key[0], key[2], key[3], start_ns), None)
        return last

    def _is_ours(self, start_ns: int) -> bool:
        return start_ns >= self._created_ns - _START_SLACK_NS

    def _count(self, identity: Identity, name: str, unit: str, point: Any, cumulative: bool) -> Change | None:
        attrs = _freeze(point.attributes)
        value, start, seen = float(point.value), int(point.start_time_unix_nano), int(point.time_unix_nano)
        if not cumulative:
            return Change(identity, name, unit, dict(attrs), "count", value, start_ns=start) if value else None
        key = (identity.service, identity.instance, name, attrs)
        last = self._previous(key, start)
        self._last[key] = _Last(start, seen, value)
        if last is not None and last.start_ns == start and value >= last.value:
            delta = value - last.value
        elif last is None and not self._is_ours(start):
            delta = 0.0  # counted before we existed: a baseline only
        else:
            delta = value  # first point of a stream of ours, or the counter restarted
        return Change(identity, name, unit, dict(attrs), "count", delta, start_ns=start) if delta else None

    def _updown(self, identity: Identity, name: str, unit: str, point: Any, cumulative: bool) -> Change:
        attrs = _freeze(point.attributes)
        value, start, seen = float(point.value), int(point.start_time_unix_nano), int(point.time_unix_nano)
        key = (identity.service, identity.instance, name, attrs)
        if not cumulative:
            last = self._last.get(key)
            value += last.value if last is not None else 0.0
        self._last[key] = _Last(start, seen, value)
        return Change(identity, name, unit, dict(attrs), "level", value, start_ns=start)

    def _histogram(self, identity: Identity, name: str, unit: str, point: Any, cumulative: bool) -> Change | None:
        attrs = _freeze(point.attributes)
        bounds = tuple(float(b) for b in point.explicit_bounds)
        counts = tuple(float(c) for c in point.bucket_counts)
        total, start, seen = float(point.sum), int(point.start_time_unix_nano), int(point.time_unix_nano)
        if cumulative:
            key = (identity.service, identity.instance, name, attrs)
            last = self._previous(key, start)
            self._last[key] = _Last(start, seen, total, bounds, counts)
            if (
                last is not None
                and last.start_ns == start
                and last.bounds == bounds
                and all(now >= before for now, before in zip(counts, last.counts))
            ):
                counts = tuple(now - before for now, before in zip(counts, last.counts))
                total -= last.value
            elif last is None and not self._is_ours(start):
                return None
        if not any(counts):
            return None
        return Change(identity, name, unit, dict(attrs), "histogram", total, bounds, counts, start)

    def _forget(self, before_ns: int) -> None:
        stale = [key for key, last in self._last.items() if last.seen_ns < before_ns]
        for key in stale:
            del self._last[key]


def _times(point: Any, cumulative: bool) -> tuple[int, int]:
    """(collection time, stream start); a delta point's start is only the last collection."""
    return int(point.time_unix_nano), int(point.start_time_unix_nano) if cumulative else 0
