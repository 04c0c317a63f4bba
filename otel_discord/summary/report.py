"""Summary figures → one ``Notice`` laid out for a phone.

Inline fields in rows of three carry the headline numbers with trend arrows
against the previous summary of the same schedule (▲ up, ▼ down; for error rate
the change is in percentage points). The busiest and the slowest routes go in a
compact table in a code block, where columns stay aligned on any screen.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from otel_discord.detect.money import STYLES
from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.summary.schedules import Schedule
from otel_discord.summary.tally import Tally

TOP_ROUTES: Final = 5
SLOWEST_ROUTES: Final = 5
ROUTE_WIDTH: Final = 20
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_CONVERTER = re.compile(r"<(?:[a-zA-Z_]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
_SYMBOLS: Final = {"EUR": "€", "USD": "$", "GBP": "£"}
#: Events already shown in their own fields.
_OWN_EVENTS: Final = ("invoice.", "job.")


def figures(tally: Tally, uptime: float | None) -> dict[str, Any]:
    """The numbers of one period as plain JSON values (stored, and compared by the next summary)."""
    requests = tally.get("requests")
    errors = tally.get("errors")
    out: dict[str, Any] = {
        "requests": requests,
        "errors": errors,
        "error_rate": (errors / requests * 100.0) if requests else None,
        "avg_ms": tally.latency.mean,
        "db_queries": tally.get("db_queries"),
        "db_slow_queries": tally.get("db_slow_queries"),
        "uptime": uptime * 100.0 if uptime is not None else None,
        "instances": len(tally.instances),
    }
    for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        estimate = tally.latency.quantile(q)
        out[name] = estimate.value if estimate else None
        out[name + "_open"] = bool(estimate and estimate.open_ended)
    for figure in ("invoices_created", "invoices_paid", "invoices_overdue", "jobs_completed", "jobs_failed"):
        out[figure] = tally.get(figure)
    out["invoices_pending_change"] = (
        tally.get("invoices_created") - tally.get("invoices_paid") - tally.get("invoices_deleted_unpaid")
    )
    pending = tally.gauges.get("invoices_pending|*")
    out["invoices_pending"] = pending.last if pending is not None and pending.samples else None
    out["money"] = {k: v for k, v in tally.figures.items() if k.partition(":")[0] in ("revenue", "invoiced")}
    out["events"] = {
        k.removeprefix("event:"): v
        for k, v in tally.figures.items()
        if k.startswith("event:") and not k.removeprefix("event:").startswith(_OWN_EVENTS)
    }
    return out


def is_quiet(values: Mapping[str, Any]) -> bool:
    """Nothing happened and nothing ran: such a summary is not worth a message."""
    busy = ("requests", "db_queries", "invoices_created", "invoices_paid", "jobs_completed", "jobs_failed")
    return (
        not any(values.get(k) for k in busy)
        and not values.get("money")
        and not values.get("events")
        and (not values.get("uptime"))
    )


def summary_notice(
    *,
    service: str,
    schedule: Schedule,
    tick: float,
    tally: Tally,
    values: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    to_date: Mapping[str, float],
    currency: str,
    spark: str = "",
    style: str = "en",
) -> Notice:
    """The summary message (see the module docstring). ``to_date`` holds revenue cents by period;
    ``style`` is the ``AMOUNT_STYLE`` setting (``nl``: ``1.234,50``)."""
    start, end = schedule.period(tick)
    before = previous or {}
    description = f"{_when(start, schedule.tz)} → {_when(end, schedule.tz)} ({schedule.tz.key})"
    if spark:
        description += "\n" + spark
    fields = [
        Field("Requests", _count(values["requests"]) + _trend(values["requests"], before.get("requests"))),
        Field("Error rate", _error_rate(values) + _trend(values["error_rate"], before.get("error_rate"), points=True)),
        Field("p95", _ms(values["p95_ms"], values.get("p95_ms_open")) + _trend(values["p95_ms"], before.get("p95_ms"))),
        Field(
            "p50 · p99 · avg",
            " · ".join(
                (
                    _ms(values["p50_ms"], values.get("p50_ms_open"), unit=False),
                    _ms(values["p99_ms"], values.get("p99_ms_open"), unit=False),
                    _ms(values["avg_ms"]),
                )
            ),
        ),
        Field("DB queries", _count(values["db_queries"]) + _trend(values["db_queries"], before.get("db_queries"))),
        Field("Slow queries", _count(values["db_slow_queries"])),
        Field("Uptime", _percent(values["uptime"])),
        Field("Instances", str(values["instances"])),
    ]
    fields.extend(_business_fields(values, before, to_date, currency))
    if values["jobs_completed"] or values["jobs_failed"]:
        fields.append(Field("Jobs", f"{_count(values['jobs_completed'])} ok · {_count(values['jobs_failed'])} failed"))
    if values["events"]:
        top = sorted(values["events"].items(), key=lambda item: (-item[1], item[0]))[:6]
        fields.append(Field("Events", "\n".join(f"{name} ×{_count(n)}" for name, n in top), inline=False))
    if style != "en":
        fields = [Field(f.name, localize(f.value, style), f.inline) for f in fields]
    table = route_table(tally, style)
    return Notice(
        kind=Kind.SUMMARY,
        severity=Severity.INFO,
        category=Category.PERFORMANCE,
        title=f"{schedule.title} · {service} · {schedule.label(tick)}",
        description=description,
        fields=tuple(fields),
        code=table or None,
        code_language="",
        attributes={
            "service.name": service,
            "summary.schedule": schedule.spec,
            "summary.period.start": start,
            "summary.period.end": end,
        },
        fingerprint=f"summary:{service}:{schedule.spec}:{int(tick)}",
        service=service,
        signal="metrics",
        timestamp=tick,
    )


def _business_fields(
    values: Mapping[str, Any], before: Mapping[str, Any], to_date: Mapping[str, float], currency: str
) -> list[Field]:
    fields: list[Field] = []
    money = values.get("money") or {}
    created, paid = values["invoices_created"], values["invoices_paid"]
    if created or paid or values.get("invoices_pending") is not None or values["invoices_overdue"]:
        pending = values.get("invoices_pending")
        change = values["invoices_pending_change"]
        pending_text = f"{_count(pending)} ({change:+,.0f})" if pending is not None else f"{change:+,.0f}"
        parts = [f"created {_count(created)}", f"paid {_count(paid)}", f"pending {pending_text}"]
        if values["invoices_overdue"]:
            parts.append(f"overdue {_count(values['invoices_overdue'])}")
        fields.append(Field("Invoices", "\n".join(parts)))
    if money or any(to_date.values()):
        revenue = money.get("revenue", 0.0)
        previous = (before.get("money") or {}).get("revenue")
        lines = [format_money(revenue, currency) + _trend(revenue, previous)]
        lines += [format_money(v, k.partition(":")[2]) for k, v in sorted(money.items()) if k.startswith("revenue:")]
        fields.append(Field("Revenue", "\n".join(lines)))
        if money.get("invoiced"):
            fields.append(Field("Invoiced", format_money(money["invoiced"], currency)))
        to_date_text = " · ".join(
            f"{label} {format_money(to_date.get(key, 0.0), currency)}"
            for key, label in (("day", "today"), ("month", "MTD"), ("quarter", "QTD"))
        )
        fields.append(Field("Revenue to date", to_date_text, inline=False))
    return fields


def route_table(tally: Tally, style: str = "en") -> str:
    """The busiest and the slowest routes, aligned for a code block 37 columns wide (a phone's)."""
    routes = [(name, r) for name, r in tally.routes.items() if r.requests > 0]
    if not routes:
        return ""
    header = f"{'':<{ROUTE_WIDTH}} {'req':>5} {'err':>4} {'p95':>5}"
    lines = ["Top routes".ljust(ROUTE_WIDTH) + header[ROUTE_WIDTH:]]
    busiest = sorted(routes, key=lambda item: (-item[1].requests, item[0]))[:TOP_ROUTES]
    lines += [_row(name, route, style) for name, route in busiest]
    slow = [(name, r, r.latency.quantile(0.95)) for name, r in routes]
    slowest = sorted((s for s in slow if s[2] is not None), key=lambda s: (-s[2].value, s[0]))[:SLOWEST_ROUTES]
    if slowest:
        lines.append("")
        lines.append("Slowest (p95 ms)".ljust(ROUTE_WIDTH) + header[ROUTE_WIDTH:])
        lines += [_row(name, route, style) for name, route, _ in slowest]
    return "\n".join(lines)


def _row(name: str, route: Any, style: str) -> str:
    p95 = route.latency.quantile(0.95)
    latency = "—" if p95 is None else (">" if p95.open_ended else "") + _compact(p95.value)
    requests, errors = _compact(route.requests), _compact(route.errors)
    if style != "en":
        requests, errors, latency = (localize(text, style) for text in (requests, errors, latency))
    return f"{short_route(name):<{ROUTE_WIDTH}} {requests:>5} {errors:>4} {latency:>5}"


def localize(text: str, style: str) -> str:
    """Numbers written ``1,234.5`` in ``text`` as ``style`` writes them (``nl``: ``1.234,5``)."""
    thousands, point = STYLES.get(style, STYLES["en"])
    return _NUMBER.sub(lambda m: m.group(0).translate({ord(","): thousands, ord("."): point}), text)


def short_route(name: str, width: int = ROUTE_WIDTH) -> str:
    """``POST /invoices/<int:invoice_id>/pay`` → ``POST /invoices/*/pay``, cut in the middle if still long."""
    text = _CONVERTER.sub("*", name)
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]


# --- formatting --------------------------------------------------------------------------


def format_money(cents: float, currency: str) -> str:
    """``€5,200`` (whole units from 1,000 on), ``€52.50``, ``USD 12.00`` for other currencies."""
    symbol = _SYMBOLS.get(currency)
    units = cents / 100.0
    text = f"{units:,.0f}" if abs(units) >= 1000 else f"{units:,.2f}"
    return f"{symbol}{text}" if symbol else f"{currency} {text}"


def _count(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _compact(value: float) -> str:
    if value < 10_000:
        return f"{value:,.0f}"
    if value < 1_000_000:
        return f"{value / 1000:.1f}k" if value < 100_000 else f"{value / 1000:.0f}k"
    return f"{value / 1_000_000:.1f}M"


def _ms(value: float | None, open_ended: bool | None = False, *, unit: bool = True) -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if value >= 10 else f"{value:.2g}"
    return ("≥" if open_ended else "") + text + (" ms" if unit else "")


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return "100%"
    return f"{value:.1f}%" if value < 99.95 else "99.9%"  # never round a gap up to 100


def _error_rate(values: Mapping[str, Any]) -> str:
    rate = values["error_rate"]
    if rate is None:
        return "—"
    return f"{rate:.2f}% ({_count(values['errors'])})"


def _trend(now: float | None, before: float | None, *, points: bool = False) -> str:
    """`` ▲ 8%`` against the previous period; percentage points for rates; "" without a comparison."""
    if now is None or before is None or (not now and not before):
        return ""
    if points:
        diff = now - before
        return " =" if abs(diff) < 0.005 else f" {'▲' if diff > 0 else '▼'} {abs(diff):.2f} pt"
    if not before:
        return " ▲ new"
    change = (now - before) / abs(before) * 100.0
    if abs(change) < 0.5:
        return " ="
    return f" {'▲' if change > 0 else '▼'} {abs(change):,.0f}%"


def _when(instant: float, tz: ZoneInfo) -> str:
    local = datetime.fromtimestamp(instant, tz)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def chart_series(
    slots: Sequence[tuple[int, Tally]], start: float, end: float, tz: ZoneInfo, bins: int = 24
) -> tuple[list[str], list[float], list[float | None]]:
    """Requests and p95 (ms) in ``bins`` equal slices of ``[start, end)``, with local time labels."""
    width = max(60.0, (end - start) / bins)
    count = max(1, min(bins, math.ceil((end - start) / width)))
    buckets = [Tally() for _ in range(count)]
    for slot, tally in slots:
        index = int((slot - start) // width)
        if 0 <= index < count:
            buckets[index].merge(tally)
    labels = []
    for i in range(count):
        moment = datetime.fromtimestamp(start + i * width, tz)
        labels.append(f"{moment:%H:%M}" if end - start <= 2 * 86400 else f"{moment.day} {moment:%b}")
    requests = [b.get("requests") for b in buckets]
    p95 = []
    for b in buckets:
        estimate = b.latency.quantile(0.95)
        p95.append(estimate.value if estimate else None)
    return labels, requests, p95
