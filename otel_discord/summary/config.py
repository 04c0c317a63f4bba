"""The metric exporter's own settings, read through ``Settings.lookup`` (same precedence and errors).

Each name below is an argument, ``OTEL_EXPORTER_DISCORD_METRICS_<NAME>``,
``OTEL_EXPORTER_DISCORD_<NAME>`` or the config file key ``<name>`` (lower case);
lists are easiest in the file, and have a compact environment form too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from otel_discord.config import Settings, parse_bool
from otel_discord.config.parse import parse_positive_duration as parse_duration
from otel_discord.config.parse import parse_timezone
from otel_discord.detect.money import parse_style
from otel_discord.summary.collect import BusinessMetric
from otel_discord.summary.schedules import Schedule, parse_schedule

DEFAULT_SCHEDULES: Final = ("daily@18:00",)
RULES: Final = ("p95_ms", "error_rate", "memory_mb", "cpu_percent")
PERIODS: Final = ("day", "week", "month", "quarter", "year")
_OFF: Final = frozenset({"", "off", "none", "false", "0", "no"})
_ENV_SHORTCUTS: Final = {
    "p95_ms": "ALERT_P95_MS",
    "error_rate": "ALERT_ERROR_RATE",
    "memory_mb": "ALERT_MEMORY_MB",
    "cpu_percent": "ALERT_CPU_PERCENT",
}


@dataclass(frozen=True)
class Threshold:
    """Fire when ``rule`` goes above ``above``; resolve below ``above × (1 − hysteresis)``."""

    rule: str
    above: float
    window: float = 300.0  # seconds of data the value is computed over
    min_requests: int = 20  # p95/error rate: fewer requests in the window say nothing
    hysteresis: float = 0.1

    @property
    def resolve_below(self) -> float:
        return self.above * (1.0 - self.hysteresis)


@dataclass(frozen=True)
class JobSpec:
    """A job expected to report ``job.completed`` at least every ``every`` seconds (plus ``grace``)."""

    name: str
    every: float
    grace: float = 0.0


@dataclass(frozen=True)
class Milestone:
    """Celebrate once per ``period`` when ``figure`` reaches ``target`` (money in units, not cents)."""

    name: str
    figure: str
    period: str
    target: float


@dataclass(frozen=True)
class SummaryConfig:
    tz: ZoneInfo
    schedules: tuple[Schedule, ...]
    health: Schedule | None = None
    thresholds: tuple[Threshold, ...] = ()
    jobs: tuple[JobSpec, ...] = ()
    milestones: tuple[Milestone, ...] = ()
    business: tuple[BusinessMetric, ...] = ()
    currency: str = "EUR"
    system_events: bool = True
    service_name: str | None = None
    chart: bool = True
    amount_style: str = "en"


def load(settings: Settings, arguments: Mapping[str, Any] | None = None) -> SummaryConfig:
    """Read every summary setting; raises ``ConfigError`` naming the first bad one."""
    args = dict(arguments or {})
    tz = settings.lookup("TIMEZONE", parse_timezone, settings.timezone, args.get("timezone"))
    schedules = settings.lookup("SUMMARY_SCHEDULE", lambda v: _schedules(v, tz), None, args.get("summary_schedule"))
    if schedules is None:
        schedules = settings.lookup("SUMMARIES", lambda v: _schedules(v, tz), None)
    if schedules is None:
        schedules = tuple(parse_schedule(spec, tz) for spec in DEFAULT_SCHEDULES)
    health = settings.lookup(
        "HEALTH_HEARTBEAT", lambda v: _optional_schedule(v, tz), None, args.get("health_heartbeat")
    )
    thresholds = {t.rule: t for t in settings.lookup("THRESHOLDS", _thresholds, ())}
    window = settings.lookup("ALERT_WINDOW", parse_duration, 300.0)
    min_requests = settings.lookup("ALERT_MIN_REQUESTS", _non_negative_int, 20)
    hysteresis = settings.lookup("ALERT_HYSTERESIS", _fraction, 0.1)
    for rule, name in _ENV_SHORTCUTS.items():
        above = settings.lookup(name, _positive, None)
        if above is not None:
            thresholds[rule] = Threshold(rule, above, window, min_requests, hysteresis)
    currency = settings.lookup("CURRENCY", _currency, "EUR")
    return SummaryConfig(
        tz=tz,
        schedules=schedules,
        health=health,
        thresholds=tuple(thresholds.values()),
        jobs=settings.lookup("JOBS", _jobs, ()),
        milestones=settings.lookup("MILESTONES", _milestones, ()),
        business=settings.lookup("BUSINESS_METRICS", _business, ()),
        currency=currency,
        system_events=settings.lookup("SYSTEM_EVENTS", parse_bool, True, args.get("system_events")),
        service_name=settings.lookup("SERVICE_NAME", _name, None, args.get("service_name")),
        chart=settings.lookup("SUMMARY_CHART", parse_bool, True),
        amount_style=settings.lookup("AMOUNT_STYLE", parse_style, "en"),
    )


# --- parsers (each raises ValueError with a message fit for a ConfigError) -------------


def _items(value: Any) -> list[Any]:
    """A list from YAML, JSON text, or ``a, b`` text."""
    if isinstance(value, (list, tuple)):
        return list(value)
    text = str(value).strip()
    if text.startswith(("[", "{")):
        loaded = json.loads(text)
        return loaded if isinstance(loaded, list) else [loaded]
    return [part.strip() for part in re.split(r"[,;]", text) if part.strip()]


def _schedules(value: Any, tz: ZoneInfo) -> tuple[Schedule, ...]:
    if isinstance(value, str) and value.strip().lower() in _OFF:
        return ()
    result = []
    for item in _items(value):
        if isinstance(item, Mapping):
            if "schedule" not in item:
                raise ValueError(f"summary entry {dict(item)!r} needs a 'schedule'")
            item_tz = parse_timezone(item["timezone"]) if item.get("timezone") else tz
            result.append(parse_schedule(str(item["schedule"]), item_tz))
        else:
            result.append(parse_schedule(str(item), tz))
    specs = [s.spec for s in result]
    if len(set(specs)) != len(specs):
        raise ValueError(f"a schedule is listed twice: {specs}")
    return tuple(result)


def _optional_schedule(value: Any, tz: ZoneInfo) -> Schedule | None:
    if str(value).strip().lower() in _OFF:
        return None
    return parse_schedule(str(value), tz)


def _thresholds(value: Any) -> tuple[Threshold, ...]:
    result = []
    for item in _items(value):
        if not isinstance(item, Mapping):
            raise ValueError(f"threshold {item!r} must be a mapping like {{metric: p95_ms, above: 800}}")
        rule = str(item.get("metric") or item.get("rule") or "").strip().lower()
        if rule not in RULES:
            raise ValueError(f"threshold metric {rule!r} is not one of {', '.join(RULES)}")
        if "above" not in item:
            raise ValueError(f"threshold {rule}: needs 'above'")
        result.append(
            Threshold(
                rule,
                _positive(item["above"]),
                parse_duration(item.get("window", 300)),
                _non_negative_int(item.get("min_requests", 20)),
                _fraction(item.get("hysteresis", 0.1)),
            )
        )
    return tuple(result)


def _jobs(value: Any) -> tuple[JobSpec, ...]:
    result = []
    for item in _items(value):
        if isinstance(item, str):  # nightly-backup:24h:1h
            name, _, rest = item.partition(":")
            every, _, grace = rest.partition(":")
            item = {"name": name, "every": every, "grace": grace or 0}
        if not isinstance(item, Mapping) or not item.get("name") or not item.get("every"):
            raise ValueError(f"job {item!r} needs a name and every (e.g. {{name: backup, every: 24h, grace: 1h}})")
        grace = item.get("grace") or 0
        result.append(
            JobSpec(
                str(item["name"]),
                parse_duration(item["every"]),
                parse_duration(grace) if grace not in (0, "0") else 0.0,
            )
        )
    return tuple(result)


def _milestones(value: Any) -> tuple[Milestone, ...]:
    result = []
    for item in _items(value):
        if isinstance(item, str):  # Q revenue:revenue:quarter:100000
            parts = item.split(":")
            if len(parts) != 4:
                raise ValueError(f"milestone {item!r} must read name:figure:period:target")
            item = dict(zip(("name", "metric", "period", "target"), parts))
        if not isinstance(item, Mapping):
            raise ValueError(f"milestone {item!r} must be a mapping")
        figure = str(item.get("metric") or item.get("figure") or "").strip()
        period = str(item.get("period") or "").strip().lower()
        if not item.get("name") or not figure or "target" not in item:
            raise ValueError(f"milestone {dict(item)!r} needs name, metric and target")
        if period not in PERIODS:
            raise ValueError(f"milestone {item['name']!r}: period must be one of {', '.join(PERIODS)}")
        result.append(Milestone(str(item["name"]), figure, period, _positive(item["target"])))
    return tuple(result)


def _business(value: Any) -> tuple[BusinessMetric, ...]:
    if isinstance(value, str):
        pairs = [part.split("=", 1) for part in _items(value)]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("must read figure=metric.name[,figure=metric.name]")
        value = {figure.strip(): metric.strip() for figure, metric in pairs}
    if not isinstance(value, Mapping):
        raise ValueError("must be a mapping of figure → metric name")
    result = []
    for figure, spec in value.items():
        if isinstance(spec, Mapping):
            attributes = {str(k): str(v) for k, v in (spec.get("attributes") or {}).items()}
            metric = spec.get("metric")
        else:
            attributes, metric = {}, spec
        if not metric:
            raise ValueError(f"business metric {figure!r} needs a metric name")
        result.append(BusinessMetric(str(figure).strip(), str(metric).strip(), attributes))
    return tuple(result)


def _positive(value: Any) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(f"must be a positive number, got {value!r}")
    return number


def _non_negative_int(value: Any) -> int:
    number = int(str(value).strip())
    if number < 0:
        raise ValueError(f"must be 0 or more, got {value!r}")
    return number


def _fraction(value: Any) -> float:
    number = float(value)
    if number > 1:  # "10" means 10 %
        number /= 100.0
    if not 0 <= number < 1:
        raise ValueError(f"must be a fraction between 0 and 1 (or a percentage), got {value!r}")
    return number


def _currency(value: Any) -> str:
    code = str(value).strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(f"must be a three-letter currency code such as EUR, got {value!r}")
    return code


def _name(value: Any) -> str:
    name = str(value).strip()
    if not name:
        raise ValueError("must not be empty")
    return name
