"""What the changes of one export mean: requests, errors, latencies, resources, business figures.

HTTP servers report a duration histogram per route and status: the current
``http.server.request.duration`` (seconds, route in ``http.route``) or the old
``http.server.duration`` (milliseconds, route in ``http.target``). An instance
that reports both (``OTEL_SEMCONV_STABILITY_OPT_IN=http/dup``) is counted once,
from the new one. Process memory and CPU come from
opentelemetry-instrumentation-system-metrics when it is installed. Business
figures come from business events (``invoice.paid`` with ``invoice.amount``) and
from the app's own metrics named in the config file's ``business_metrics``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Final

from otel_discord.summary.accumulate import Batch, Change
from otel_discord.summary.tally import Tally, is_money

NEW_DURATION: Final = "http.server.request.duration"
OLD_DURATION: Final = "http.server.duration"
UNMATCHED_ROUTE: Final = "(no route)"
MEMORY_METRICS: Final = ("process.memory.usage", "process.runtime.cpython.memory")
PROCESS_CPU: Final = "process.cpu.utilization"
SYSTEM_CPU: Final = "system.cpu.utilization"
_SCALE_TO_MS: Final = {"s": 1000.0, "ms": 1.0, "us": 0.001, "µs": 0.001, "ns": 1e-6}
_MB: Final = 1024 * 1024

#: Business events and the figures they move (the amount goes to the money figure).
EVENT_FIGURES: Final[Mapping[str, tuple[str, str | None]]] = {
    "invoice.created": ("invoices_created", "invoiced"),
    "invoice.paid": ("invoices_paid", "revenue"),
    "invoice.deleted": ("invoices_deleted", None),
    "invoice.overdue": ("invoices_overdue", None),
    "job.completed": ("jobs_completed", None),
    "job.failed": ("jobs_failed", None),
}
#: observe.count() names → figures.
OBSERVED_COUNTS: Final[Mapping[str, str]] = {"db.queries": "db_queries", "db.slow_queries": "db_slow_queries"}


@dataclass(frozen=True)
class BusinessMetric:
    """A figure read from one of the app's own metrics (config file ``business_metrics``)."""

    figure: str
    metric: str
    attributes: Mapping[str, str] = field(default_factory=dict)  # only points with these attributes

    def matches(self, change: Change) -> bool:
        return change.metric == self.metric and all(
            str(change.attributes.get(k)) == v for k, v in self.attributes.items()
        )


def tallies(batch: Batch, business: Sequence[BusinessMetric] = (), *, now: float) -> dict[str, Tally]:
    """One tally per service for the changes of one export."""
    result: dict[str, Tally] = {}
    for service, instance in batch.identities:
        result.setdefault(service, Tally()).instances.add(instance)
    with_new = {(c.identity.service, c.identity.instance) for c in batch.changes if c.metric == NEW_DURATION}
    for change in batch.changes:
        key = (change.identity.service, change.identity.instance)
        tally = result.setdefault(change.identity.service, Tally())
        if change.kind == "histogram" and (
            change.metric == NEW_DURATION or (change.metric == OLD_DURATION and key not in with_new)
        ):
            _request(tally, change)
        for spec in business:
            if spec.matches(change):
                _business(tally, spec.figure, change, now)
    _resources(result, batch.changes, now)
    return result


def add_observations(
    tally: Tally, counts: Mapping[str, int], events: Iterable[tuple[str, Mapping[str, Any]]], currency: str
) -> None:
    """Add ``observe.drain()``'s counters and business events to ``tally``."""
    for name, figure in OBSERVED_COUNTS.items():
        tally.add(figure, float(counts.get(name, 0)))
    for name, attributes in events:
        tally.add(f"event:{name}", 1.0)
        figures = EVENT_FIGURES.get(name)
        if figures is None:
            continue
        counter, money = figures
        tally.add(counter, 1.0)
        if name == "invoice.deleted" and not _truthy(attributes.get("invoice.was_paid")):
            tally.add("invoices_deleted_unpaid", 1.0)
        if money is not None:
            cents = to_cents(attributes.get("invoice.amount"))
            if cents is not None:
                tally.add(money_key(money, attributes.get("invoice.currency"), currency), float(cents))


def money_key(figure: str, currency: Any, default: str) -> str:
    """``revenue`` in the configured currency, ``revenue:USD`` in any other."""
    code = str(currency or default).strip().upper() or default
    return figure if code == default else f"{figure}:{code}"


def to_cents(amount: Any) -> int | None:
    """An amount in units (``"5000.00"``, ``5000``, ``Decimal``) as whole cents; None if not a number."""
    if amount is None or isinstance(amount, bool):
        return None
    try:
        value = Decimal(str(amount).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return None
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def route_label(attributes: Mapping[str, Any]) -> str:
    """``GET /invoices/<int:id>``: method and route template (old ``http.target`` as a fallback)."""
    route = attributes.get("http.route") or attributes.get("http.target")
    route = str(route).split("?", 1)[0] if route else UNMATCHED_ROUTE
    method = attributes.get("http.request.method") or attributes.get("http.method")
    return f"{method} {route}" if method else route


def _status(attributes: Mapping[str, Any]) -> int | None:
    for key in ("http.response.status_code", "http.status_code"):
        value = attributes.get(key)
        if value is None:
            continue
        try:
            return int(value)
        except (TypeError, ValueError):
            continue
    return None


def _request(tally: Tally, change: Change) -> None:
    unit = change.unit.strip().lower()
    scale = _SCALE_TO_MS.get(unit, 1000.0 if change.metric == NEW_DURATION else 1.0)
    count = sum(change.counts)
    status = _status(change.attributes)
    failed = status >= 500 if status is not None else bool(change.attributes.get("error.type"))
    tally.add("requests", count)
    tally.latency.add(change.bounds, change.counts, change.value, scale)
    route = tally.route(route_label(change.attributes))
    route.requests += count
    route.latency.add(change.bounds, change.counts, change.value, scale)
    if failed:
        tally.add("errors", count)
        route.errors += count


def _resources(result: Mapping[str, Tally], changes: Sequence[Change], now: float) -> None:
    """Memory (MB) and CPU (%) per instance, from the first metric of each list that is present.

    CPU is the process's share of all cores, else the machine's busy share
    (``1 - idle`` averaged over its CPUs).
    """
    memory: dict[tuple[str, str], dict[str, float]] = {}
    process_cpu: dict[tuple[str, str], float] = {}
    idle: dict[tuple[str, str], list[float]] = {}
    for change in changes:
        if change.kind != "level":
            continue
        key = (change.identity.service, change.identity.instance)
        if change.metric in MEMORY_METRICS and change.attributes.get("type") in (None, "rss"):
            memory.setdefault(key, {})[change.metric] = change.value
        elif change.metric == PROCESS_CPU:
            process_cpu[key] = process_cpu.get(key, 0.0) + change.value
        elif change.metric == SYSTEM_CPU and change.attributes.get("state") == "idle":
            idle.setdefault(key, []).append(change.value)
    for (service, instance), values in memory.items():
        value = next(values[name] for name in MEMORY_METRICS if name in values)
        result[service].gauge(f"memory_mb|{instance}").sample(value / _MB, now)
    for key in process_cpu.keys() | idle.keys():
        if key in process_cpu:
            percent = process_cpu[key] * 100.0
        else:
            percent = (1.0 - sum(idle[key]) / len(idle[key])) * 100.0
        result[key[0]].gauge(f"cpu_percent|{key[1]}").sample(max(0.0, percent), now)


def _business(tally: Tally, figure: str, change: Change, now: float) -> None:
    scale = 100.0 if is_money(figure) else 1.0
    if change.kind == "count":
        tally.add(figure, change.value * scale)
    elif change.kind == "histogram":
        tally.add(figure, change.value * scale)
    else:
        tally.gauge(f"{figure}|*").sample(change.value * scale, now)


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")
