"""``Tally``: the figures of one stretch of time, mergeable and stored as JSON.

Every process adds what it saw during one export interval to a tally, the tally
is persisted per (service, minute, process), and a summary merges the rows of
its period. So everything in it must add up: counts, sums, histogram buckets.
Latencies are kept in milliseconds whatever the metric's unit; money in cents.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from otel_discord.summary.percentiles import Quantile, quantile

#: Figures that are amounts of money, kept in cents (``revenue:USD`` for another currency).
MONEY_FIGURES: Final = frozenset({"revenue", "invoiced"})


def is_money(figure: str) -> bool:
    return figure.partition(":")[0] in MONEY_FIGURES


@dataclass
class Hist:
    """Bucket counts by upper bound (ms; ``inf`` for the overflow bucket), their sum and count."""

    buckets: dict[float, float] = field(default_factory=dict)
    total: float = 0.0
    count: float = 0.0

    def add(self, bounds: Iterable[float], counts: Iterable[float], total: float, scale: float = 1.0) -> None:
        """Add one histogram point (``len(counts) == len(bounds) + 1``), bounds multiplied by ``scale``."""
        uppers = [round(float(b) * scale, 6) for b in bounds] + [math.inf]
        added = 0.0
        for upper, n in zip(uppers, counts):
            # Empty buckets are kept too: each upper bound is the next bucket's lower bound.
            self.buckets[upper] = self.buckets.get(upper, 0.0) + n
            added += n
        self.count += added
        self.total += float(total) * scale

    def merge(self, other: Hist) -> None:
        for upper, n in other.buckets.items():
            self.buckets[upper] = self.buckets.get(upper, 0.0) + n
        self.count += other.count
        self.total += other.total

    def quantile(self, q: float) -> Quantile | None:
        return quantile(sorted(self.buckets.items()), q)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count > 0 else None

    def to_json(self) -> list[Any]:
        """``[bounds, counts, sum, count]``; the overflow bound is ``null`` (JSON has no infinity)."""
        keys = sorted(self.buckets)
        return [
            [None if math.isinf(k) else _compact(k) for k in keys],
            [_compact(self.buckets[k]) for k in keys],
            self.total,
            _compact(self.count),
        ]

    @classmethod
    def from_json(cls, data: Any) -> Hist:
        if not data:
            return cls()
        keys, counts, total, count = data
        buckets = {(math.inf if k is None else float(k)): float(n) for k, n in zip(keys, counts)}
        return cls(buckets, float(total), float(count))


@dataclass
class Route:
    """Requests, server errors and latencies of one route (``GET /invoices/<int:id>``)."""

    requests: float = 0.0
    errors: float = 0.0
    latency: Hist = field(default_factory=Hist)

    def merge(self, other: Route) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.latency.merge(other.latency)


@dataclass
class Gauge:
    """Samples of a level (memory, CPU, open invoices): mean, peak and the latest value."""

    total: float = 0.0
    samples: int = 0
    peak: float = -math.inf
    last: float = 0.0
    last_at: float = -math.inf

    def sample(self, value: float, at: float) -> None:
        self.total += value
        self.samples += 1
        self.peak = max(self.peak, value)
        if at >= self.last_at:
            self.last, self.last_at = value, at

    def merge(self, other: Gauge) -> None:
        self.total += other.total
        self.samples += other.samples
        self.peak = max(self.peak, other.peak)
        if other.last_at >= self.last_at:
            self.last, self.last_at = other.last, other.last_at

    @property
    def mean(self) -> float | None:
        return self.total / self.samples if self.samples else None


@dataclass
class Tally:
    """What happened in one stretch of time for one service (see the module docstring).

    ``figures`` are counters: ``requests``, ``errors``, ``db_queries``,
    ``db_slow_queries``, ``invoices_created``, ``revenue`` (cents), ``event:<name>``…
    ``gauges`` are keyed ``<name>|<instance>`` (``memory_mb|3f2a…``) or
    ``<figure>|*`` for business levels.
    """

    figures: dict[str, float] = field(default_factory=dict)
    latency: Hist = field(default_factory=Hist)
    routes: dict[str, Route] = field(default_factory=dict)
    gauges: dict[str, Gauge] = field(default_factory=dict)
    instances: set[str] = field(default_factory=set)

    def add(self, figure: str, amount: float) -> None:
        if amount:
            self.figures[figure] = self.figures.get(figure, 0.0) + amount

    def route(self, name: str) -> Route:
        route = self.routes.get(name)
        if route is None:
            route = self.routes[name] = Route()
        return route

    def gauge(self, key: str) -> Gauge:
        gauge = self.gauges.get(key)
        if gauge is None:
            gauge = self.gauges[key] = Gauge()
        return gauge

    def merge(self, other: Tally) -> Tally:
        for name, amount in other.figures.items():
            self.add(name, amount)
        self.latency.merge(other.latency)
        for name, route in other.routes.items():
            self.route(name).merge(route)
        for key, gauge in other.gauges.items():
            self.gauge(key).merge(gauge)
        self.instances |= other.instances
        return self

    def is_empty(self) -> bool:
        return not (self.figures or self.latency.count or self.routes or self.gauges or self.instances)

    def get(self, figure: str) -> float:
        return self.figures.get(figure, 0.0)

    # --- storage ------------------------------------------------------------------------
    def dumps(self) -> str:
        data = {
            "f": {k: _compact(v) for k, v in self.figures.items()},
            "l": self.latency.to_json(),
            "r": {name: [r.requests, r.errors, r.latency.to_json()] for name, r in self.routes.items()},
            "g": {
                key: [g.total, g.samples, _finite(g.peak), g.last, _finite(g.last_at)] for key, g in self.gauges.items()
            },
            "i": sorted(self.instances),
        }
        return json.dumps(data, separators=(",", ":"), allow_nan=False)

    def pack(self) -> bytes:
        """``dumps`` compressed: a row of 30 routes shrinks from about 8 kB to 1 kB."""
        return zlib.compress(self.dumps().encode("utf-8"), 1)

    @classmethod
    def loads(cls, text: str | bytes, *, routes: bool = True) -> Tally:
        """The tally stored as ``text`` (``dumps``, or ``pack``'s bytes); ``routes=False`` skips the
        per-route part (the costly one)."""
        data = json.loads(zlib.decompress(text) if isinstance(text, bytes) else text)
        tally = cls(figures={str(k): float(v) for k, v in (data.get("f") or {}).items()})
        tally.latency = Hist.from_json(data.get("l"))
        for name, (requests, errors, hist) in (data.get("r") or {}).items() if routes else ():
            tally.routes[name] = Route(float(requests), float(errors), Hist.from_json(hist))
        for key, (total, samples, peak, last, last_at) in (data.get("g") or {}).items():
            tally.gauges[key] = Gauge(float(total), int(samples), _infinite(peak), float(last), _infinite(last_at))
        tally.instances = set(data.get("i") or ())
        return tally


def merged(tallies: Iterable[Tally]) -> Tally:
    """One tally holding the sum of ``tallies``."""
    result = Tally()
    for tally in tallies:
        result.merge(tally)
    return result


def _compact(value: float) -> float | int:
    """Whole numbers as ints: the JSON of a day of rows is a third smaller."""
    return int(value) if float(value).is_integer() else value


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


def _infinite(value: float | None) -> float:
    return -math.inf if value is None else float(value)
