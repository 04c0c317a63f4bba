"""When summaries are posted, and which period each one covers, in a configured time zone.

Schedules are written as text, in config files and environment variables alike:

=====================  =============================================  ==========================================
spec                   posted                                         period covered
=====================  =============================================  ==========================================
``every 15m``          every 15 minutes of local wall time (``2h``)   since the previous tick
``daily@18:00``        every day at 18:00                             since the previous tick (24 h, 23 or 25 h
                                                                      on a DST change)
``weekly@mon 09:00``   Mondays at 09:00                               since the previous tick (7 days)
``monthly@1 09:00``    the 1st at 09:00 (29–31 → last day)            the calendar month(s) before that day
``quarterly@09:00``    1 Jan/Apr/Jul/Oct at 09:00                     the previous calendar quarter (a BTW quarter)
=====================  =============================================  ==========================================

A tick is an instant (unix seconds). Wall times that do not exist on a DST
spring-forward day are posted at the same offset past the transition (02:30 →
03:30); a wall time that occurs twice on fall-back day is posted once, at its
first occurrence. ``every`` schedules count wall time from local midnight and
keep both occurrences of a repeated hour, so every period lasts N minutes.
Every function here takes ``now``; nothing reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from otel_discord.config.parse import FALLBACK_TIMEZONE

KINDS: Final = ("every", "daily", "weekly", "monthly", "quarterly")
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES: Final = {name: i for i, name in enumerate(WEEKDAYS)} | {
    full: i for i, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}
_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?$")
#: Summary state older than a few hours is kept per quarter hour, so period boundaries
#: must fall on one (every real time zone's offset is a multiple of 15 minutes).
QUARTER: Final = 15
_EVERY = re.compile(r"^every\s*@?\s*(\d+)\s*(m|min|mins|minutes?|h|hrs?|hours?)$")
_TITLES: Final = {
    "every": "Summary",
    "daily": "Daily summary",
    "weekly": "Weekly summary",
    "monthly": "Monthly summary",
    "quarterly": "Quarterly summary",
}


class _QuarterHour(ValueError):
    """A time off the quarter hour."""


@dataclass(frozen=True)
class Schedule:
    """One posting rhythm; ``spec`` (normalised text) names it in the shared state."""

    kind: str
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo(FALLBACK_TIMEZONE))
    at: time = time(18, 0)
    minutes: int = 0  # every
    weekday: int = 0  # weekly: 0 = Monday
    day: int = 1  # monthly, quarterly: day of the (first) month

    @property
    def spec(self) -> str:
        hhmm = self.at.strftime("%H:%M")
        if self.kind == "every":
            return f"every {self.minutes // 60}h" if self.minutes % 60 == 0 else f"every {self.minutes}m"
        if self.kind == "daily":
            return f"daily@{hhmm}"
        if self.kind == "weekly":
            return f"weekly@{WEEKDAYS[self.weekday]} {hhmm}"
        return f"{self.kind}@{self.day} {hhmm}"

    @property
    def title(self) -> str:
        return _TITLES[self.kind]

    # --- ticks ------------------------------------------------------------------------
    def latest_tick(self, now: float) -> float:
        """The last tick at or before ``now``."""
        local = datetime.fromtimestamp(now, self.tz).date()
        if self.kind == "every":
            for day in (local, local - timedelta(days=1), local - timedelta(days=2)):
                candidates = [t for t in _every_ticks(day, self.minutes, self.tz) if t <= now]
                if candidates:
                    return candidates[-1]
            raise AssertionError("unreachable: every day has a tick")  # pragma: no cover
        if self.kind == "daily":
            tick = _instant(local, self.at, self.tz)
            return tick if tick <= now else _instant(local - timedelta(days=1), self.at, self.tz)
        if self.kind == "weekly":
            day = local - timedelta(days=(local.weekday() - self.weekday) % 7)
            tick = _instant(day, self.at, self.tz)
            return tick if tick <= now else _instant(day - timedelta(days=7), self.at, self.tz)
        step = 1 if self.kind == "monthly" else 3
        first = _month_start(local, step)
        tick = _instant(_day_in_month(first, self.day), self.at, self.tz)
        if tick <= now:
            return tick
        return _instant(_day_in_month(_add_months(first, -step), self.day), self.at, self.tz)

    def previous_tick(self, tick: float) -> float:
        """The tick before ``tick`` (ticks are at least a minute apart)."""
        return self.latest_tick(tick - 1.0)

    def period(self, tick: float) -> tuple[float, float]:
        """``[start, end)`` in unix seconds that the summary posted at ``tick`` covers."""
        if self.kind in ("every", "daily", "weekly"):
            return self.previous_tick(tick), tick
        step = 1 if self.kind == "monthly" else 3
        local = datetime.fromtimestamp(tick, self.tz).date()
        end_month = _month_start(local, step)
        end = _midnight(_day_in_month(end_month, self.day), self.tz)
        start = _midnight(_day_in_month(_add_months(end_month, -step), self.day), self.tz)
        return start, end

    def label(self, tick: float) -> str:
        """How the period reads in a title: ``Tue 14 Oct``, ``week 41``, ``September 2025``, ``2025-Q3``."""
        start, end = self.period(tick)
        # The middle of the period names it: daily@06:00 covers mostly yesterday, weekly@mon
        # 09:00 mostly last week.
        last = datetime.fromtimestamp((start + end) / 2, self.tz)
        if self.kind == "every":
            first = datetime.fromtimestamp(start, self.tz)
            return f"{first:%H:%M}–{datetime.fromtimestamp(end, self.tz):%H:%M}"
        if self.kind == "daily":
            return f"{last:%a} {last.day} {last:%b}"
        if self.kind == "weekly":
            year, week, _ = last.isocalendar()
            return f"week {week} {year}"
        if self.kind == "monthly":
            return f"{last:%B %Y}"
        return quarter_label(last.date())


def quarter_label(day: date) -> str:
    """``2025-Q3``: the BTW quarter ``day`` falls in."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def period_start(kind: str, now: float, tz: ZoneInfo) -> date:
    """The first local day of the calendar ``kind`` (day, week, month, quarter, year) holding ``now``."""
    local = datetime.fromtimestamp(now, tz).date()
    if kind == "day":
        return local
    if kind == "week":
        return local - timedelta(days=local.weekday())
    if kind == "month":
        return local.replace(day=1)
    if kind == "quarter":
        return _month_start(local, 3)
    if kind == "year":
        return local.replace(month=1, day=1)
    raise ValueError(f"unknown period {kind!r} (expected day, week, month, quarter or year)")


def local_midnight(day: date, tz: ZoneInfo) -> float:
    """The instant local ``day`` begins."""
    return _midnight(day, tz)


# --- parsing ---------------------------------------------------------------------------


def parse_schedule(text: str, tz: ZoneInfo) -> Schedule:
    """Read ``daily@18:00`` and friends (see the module docstring); ValueError explains a bad one."""
    raw = " ".join(str(text).strip().lower().split())
    match = _EVERY.match(raw)
    if match:
        number, unit = int(match.group(1)), match.group(2)
        minutes = number * 60 if unit.startswith("h") else number
        if not 1 <= minutes <= 24 * 60:
            raise ValueError(f"schedule {text!r}: the interval must be between 1 minute and 24 hours")
        if minutes > 120 and minutes % QUARTER:
            raise ValueError(f"schedule {text!r}: intervals over 2 hours must be whole quarter hours")
        return Schedule("every", tz, minutes=minutes)
    kind, _, rest = raw.replace("@", " ", 1).partition(" ")
    parts = rest.replace("@", " ").split()
    try:
        if kind == "daily":
            (at,) = parts or ["18:00"]
            return Schedule("daily", tz, at=_parse_time(at))
        if kind == "weekly":
            day, at = (parts + ["09:00"])[:2] if parts else ("mon", "09:00")
            if len(parts) > 2 or day not in _DAY_NAMES:
                raise ValueError
            return Schedule("weekly", tz, at=_parse_time(at), weekday=_DAY_NAMES[day])
        if kind in ("monthly", "quarterly"):
            if parts and ":" in parts[0]:
                parts = ["1", *parts]
            day, at = (parts + ["09:00"])[:2] if parts else ("1", "09:00")
            if len(parts) > 2 or not day.isdigit() or not 1 <= int(day) <= 31:
                raise ValueError
            return Schedule(kind, tz, at=_parse_time(at), day=int(day))
    except _QuarterHour:
        raise ValueError(f"schedule {text!r}: times must be on the quarter hour (:00, :15, :30, :45)") from None
    except ValueError:
        pass
    raise ValueError(
        f"schedule {text!r} is not one of: 'every 15m', 'daily@18:00', 'weekly@mon 09:00', "
        "'monthly@1 09:00', 'quarterly@09:00'"
    )


def _parse_time(text: str) -> time:
    match = _TIME.match(text)
    if not match:
        raise ValueError
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 23 or minute > 59:
        raise ValueError
    if minute % QUARTER:
        raise _QuarterHour
    return time(hour, minute)


# --- calendar helpers -----------------------------------------------------------------


def _instant(day: date, at: time, tz: ZoneInfo) -> float:
    # fold=0: a repeated wall time means its first occurrence; a missing one maps past the gap.
    return datetime.combine(day, at, tzinfo=tz).timestamp()


def _midnight(day: date, tz: ZoneInfo) -> float:
    return _instant(day, time(0, 0), tz)


def _month_start(day: date, step: int) -> date:
    month = day.month - (day.month - 1) % step
    return date(day.year, month, 1)


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _day_in_month(first: date, day: int) -> date:
    following = _add_months(first, 1)
    return first.replace(day=min(day, (following - timedelta(days=1)).day))


@lru_cache(maxsize=64)
def _every_ticks(day: date, minutes: int, tz: ZoneInfo) -> tuple[float, ...]:
    """Instants of the wall times ``00:00 + k·minutes`` on local ``day``: both occurrences of a
    repeated wall time, none of a missing one."""
    ticks: set[float] = set()
    start = datetime.combine(day, time(0, 0))
    for k in range((24 * 60 + minutes - 1) // minutes):
        wall = start + timedelta(minutes=k * minutes)
        if wall.date() != day:
            break
        for fold in (0, 1):
            instant = wall.replace(tzinfo=tz, fold=fold).timestamp()
            back = datetime.fromtimestamp(instant, tz).replace(tzinfo=None)
            if back == wall:
                ticks.add(instant)
    return tuple(sorted(ticks))
