"""Threshold alerts: fire once when a value crosses its limit, say "resolved" once when it recovers.

Values are computed over a window of the shared state, so every worker's
requests count: p95 latency and error rate for the whole service, memory and
CPU per app instance (their mean over the window, which smooths spikes). An
alert fires when the value is above ``above`` and resolves only when it drops
below ``above × (1 − hysteresis)``: a value hovering at the limit cannot flap.
Too few requests in the window (``min_requests``) leave the state as it is.

The state lives in the ``alerts`` table and every transition is a
read-and-write inside one ``BEGIN IMMEDIATE`` transaction, so when several
processes evaluate at once exactly one of them sends each notice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.summary.config import Threshold
from otel_discord.summary.state import SLOT_S, Store
from otel_discord.summary.tally import merged

FLEET: Final = "*"
_LABELS: Final = {
    "p95_ms": ("p95 latency", "ms"),
    "error_rate": ("Error rate", "%"),
    "memory_mb": ("Memory", "MB"),
    "cpu_percent": ("CPU", "%"),
}
_GAUGES: Final = {"memory_mb", "cpu_percent"}


@dataclass(frozen=True)
class Reading:
    """One rule's value for one subject (the service, or an instance)."""

    rule: str
    subject: str
    value: float | None  # None: the subject stopped reporting
    requests: float | None = None


def readings(threshold: Threshold, store: Store, service: str, now: float) -> list[Reading]:
    """What ``threshold`` measures now, from the window ``[now - window, now]`` of all writers."""
    rows = store.slots(service, now - threshold.window, now + SLOT_S, routes=False)
    tally = merged(tally for _, tally in rows)
    if threshold.rule in _GAUGES:
        prefix = threshold.rule + "|"
        return [
            Reading(threshold.rule, key.removeprefix(prefix), gauge.mean)
            for key, gauge in tally.gauges.items()
            if key.startswith(prefix) and gauge.samples
        ]
    requests = tally.get("requests")
    if requests < max(1, threshold.min_requests):
        return []
    if threshold.rule == "error_rate":
        return [Reading(threshold.rule, FLEET, tally.get("errors") / requests * 100.0, requests)]
    estimate = tally.latency.quantile(0.95)
    return [Reading(threshold.rule, FLEET, estimate.value if estimate else None, requests)] if estimate else []


class Thresholds:
    """Evaluates every configured threshold for one service (see the module docstring)."""

    def __init__(self, thresholds: Sequence[Threshold], store: Store) -> None:
        self._thresholds = tuple(thresholds)
        self._store = store

    def __bool__(self) -> bool:
        return bool(self._thresholds)

    def evaluate(self, service: str, now: float, describe: Callable[[str], str] = lambda s: s[:8]) -> list[Notice]:
        """Notices for every state change; ``describe(instance)`` names an instance in messages."""
        notices = []
        for threshold in self._thresholds:
            current = {r.subject: r for r in readings(threshold, self._store, service, now)}
            if threshold.rule in _GAUGES:  # an instance that stopped reporting resolves its alert
                for subject in self._firing(service, threshold.rule):
                    current.setdefault(subject, Reading(threshold.rule, subject, None))
            for reading in current.values():
                notice = self._step(service, threshold, reading, now, describe)
                if notice is not None:
                    notices.append(notice)
        return notices

    def _firing(self, service: str, rule: str) -> list[str]:
        rows = self._store.read("SELECT subject FROM alerts WHERE service=? AND rule=? AND firing=1", (service, rule))
        return [str(row[0]) for row in rows]

    def _step(
        self, service: str, threshold: Threshold, reading: Reading, now: float, describe: Callable[[str], str]
    ) -> Notice | None:
        value = reading.value
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT firing, since FROM alerts WHERE service=? AND rule=? AND subject=?",
                (service, threshold.rule, reading.subject),
            ).fetchone()
            firing, since = (bool(row[0]), float(row[1] or now)) if row else (False, now)
            if not firing and value is not None and value > threshold.above:
                db.execute(
                    "INSERT OR REPLACE INTO alerts(service, rule, subject, firing, since, value) VALUES (?,?,?,?,?,?)",
                    (service, threshold.rule, reading.subject, 1, now, value),
                )
                return _fired(service, threshold, reading, now, describe)
            if firing and (value is None or value < threshold.resolve_below):
                db.execute(
                    "UPDATE alerts SET firing=0, since=?, value=? WHERE service=? AND rule=? AND subject=?",
                    (now, value, service, threshold.rule, reading.subject),
                )
                return _resolved(service, threshold, reading, now, since, describe)
        return None


def _number(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if unit in ("ms", "MB") or value >= 100 else f"{value:.1f}"
    return f"{text} {unit}" if unit != "%" else f"{text}%"


def _window(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 and seconds % 3600 == 0 else f"{seconds / 60:g} min"


def _subject(reading: Reading, describe: Callable[[str], str]) -> str:
    return "" if reading.subject == FLEET else f" on {describe(reading.subject)}"


def _base(service: str, threshold: Threshold, reading: Reading, now: float, state: str, since: float) -> dict[str, Any]:
    return {
        "kind": Kind.THRESHOLD,
        "category": Category.SYSTEM if threshold.rule in _GAUGES else Category.PERFORMANCE,
        "attributes": {
            "service.name": service,
            "threshold.rule": threshold.rule,
            "threshold.subject": reading.subject,
            "threshold.state": state,
        },
        "fingerprint": f"threshold:{service}:{threshold.rule}:{reading.subject}:{state}:{int(since)}",
        "service": service,
        "signal": "metrics",
        "timestamp": now,
    }


def _fired(service: str, threshold: Threshold, reading: Reading, now: float, describe: Callable[[str], str]) -> Notice:
    label, unit = _LABELS[threshold.rule]
    assert reading.value is not None
    fields = [
        Field("Value", _number(reading.value, unit)),
        Field("Threshold", _number(threshold.above, unit)),
        Field("Window", _window(threshold.window)),
    ]
    if reading.requests is not None:
        fields.append(Field("Requests", f"{reading.requests:,.0f}"))
    return Notice(
        severity=Severity.WARNING,
        title=f"{label} {_number(reading.value, unit)} is above {_number(threshold.above, unit)}"
        f"{_subject(reading, describe)}",
        description=f"Measured over the last {_window(threshold.window)} of {service}. "
        f"Resolves below {_number(threshold.resolve_below, unit)}.",
        fields=tuple(fields),
        **_base(service, threshold, reading, now, "firing", now),
    )


def _resolved(
    service: str, threshold: Threshold, reading: Reading, now: float, since: float, describe: Callable[[str], str]
) -> Notice:
    label, unit = _LABELS[threshold.rule]
    minutes = max(0.0, now - since) / 60
    lasted = f"{minutes / 60:.1f} h" if minutes >= 90 else f"{minutes:.0f} min"
    if reading.value is None:
        title = f"Resolved: {label}{_subject(reading, describe)} (instance stopped reporting)"
        fields = [Field("Lasted", lasted)]
    else:
        title = f"Resolved: {label} back to {_number(reading.value, unit)}{_subject(reading, describe)}"
        fields = [
            Field("Value", _number(reading.value, unit)),
            Field("Threshold", _number(threshold.above, unit)),
            Field("Lasted", lasted),
        ]
    return Notice(
        severity=Severity.SUCCESS,
        title=title,
        description=f"Below {_number(threshold.resolve_below, unit)} over the last {_window(threshold.window)}.",
        fields=tuple(fields),
        **_base(service, threshold, reading, now, "resolved", since),
    )
