"""When a channel is open: business hours, working days, holidays and quiet hours.

Outside its window a channel's non-critical notices are held and posted as one
digest when the window opens (``digest.py``); CRITICAL notices always go out.
Windows are wall-clock times in a time zone (``TIMEZONE``, default
the host's zone, or a schedule's own ``timezone``), so "09:00" stays 09:00
across daylight-saving changes. A channel in several schedules is open only
when all of them are.

Config::

    timezone: Europe/Amsterdam
    schedules:
      office:
        channels: [finance-activity, user-activity]
        days: mon-fri                  # or [mon, tue], "sat,sun", weekdays, weekends, daily
        hours: "08:30-17:30"           # or a list of ranges; "22:00-06:00" spans midnight
        holidays: ["2025-12-25", "12-26"]   # a date, or MM-DD every year: closed all day
      night:
        channels: [system-debug]
        quiet_hours: "23:00-07:00"     # closed, whatever the day

Every function that reads the clock takes ``now`` (unix seconds).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from otel_discord.config import Settings
from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.config.parse import channel_name, parse_timezone

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SCHEDULE_KEYS: Final = ("channels", "days", "weekends", "hours", "holidays", "quiet_hours", "timezone")
_DAY_ALIASES: Final[Mapping[str, tuple[int, ...]]] = {
    "weekdays": (0, 1, 2, 3, 4),
    "weekends": (5, 6),
    "weekend": (5, 6),
    "daily": tuple(range(7)),
    "all": tuple(range(7)),
    "every day": tuple(range(7)),
}
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DAY_SECONDS: Final = 86_400

Span = tuple[int, int]  # seconds since local midnight: [start, end); end <= start spans midnight


def _in_span(seconds: int, span: Span) -> bool:
    start, end = span
    if start < end:
        return start <= seconds < end
    return seconds >= start or seconds < end


@dataclass(frozen=True)
class Window:
    """One schedule: open on ``days`` (not holidays) within ``hours``, except in ``quiet`` hours."""

    name: str
    tz: ZoneInfo
    days: frozenset[int] = frozenset(range(7))  # 0 = Monday
    hours: tuple[Span, ...] = ()  # () = all day
    quiet: tuple[Span, ...] = ()
    holidays: frozenset[date] = frozenset()
    yearly: frozenset[tuple[int, int]] = frozenset()  # (month, day)

    def _working_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays and (day.month, day.day) not in self.yearly

    def is_open(self, now: float) -> bool:
        local = datetime.fromtimestamp(now, self.tz)
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        if any(_in_span(seconds, span) for span in self.quiet):
            return False
        today = local.date()
        if not self.hours:
            return self._working_day(today)
        for start, end in self.hours:
            if start < end:
                if start <= seconds < end and self._working_day(today):
                    return True
            # A range over midnight belongs to the day it starts on.
            elif (seconds >= start and self._working_day(today)) or (
                seconds < end and self._working_day(today - timedelta(days=1))
            ):
                return True
        return False

    def describe(self) -> str:
        days = ",".join(DAY_NAMES[d] for d in sorted(self.days))
        parts = [f"days {days}"]
        if self.hours:
            parts.append("hours " + ", ".join(_show(span) for span in self.hours))
        if self.quiet:
            parts.append("quiet " + ", ".join(_show(span) for span in self.quiet))
        if self.holidays or self.yearly:
            parts.append(f"{len(self.holidays) + len(self.yearly)} holiday(s)")
        return f"{self.name}: " + " · ".join(parts) + f" ({self.tz.key})"


def _show(span: Span) -> str:
    def hhmm(s: int) -> str:
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}"

    return f"{hhmm(span[0])}-{hhmm(span[1])}"


class Schedules:
    """Which windows each channel has; a channel without any is always open."""

    def __init__(self, windows: Mapping[str, Sequence[Window]] | None = None) -> None:
        self.windows = {name: tuple(ws) for name, ws in (windows or {}).items() if ws}

    def __bool__(self) -> bool:
        return bool(self.windows)

    def is_open(self, channel: str, now: float) -> bool:
        return all(window.is_open(now) for window in self.windows.get(channel, ()))

    def next_open(self, channel: str, now: float, horizon: float = 14 * _DAY_SECONDS) -> float | None:
        """When ``channel`` next opens (to the minute), None if open now or not within ``horizon``."""
        if self.is_open(channel, now):
            return None
        moment = now - now % 60 + 60
        while moment <= now + horizon:
            if self.is_open(channel, moment):
                return moment
            moment += 60
        return None

    def describe(self) -> dict[str, list[str]]:
        return {channel: [w.describe() for w in windows] for channel, windows in self.windows.items()}


# --- parsing ------------------------------------------------------------------------------


def parse_days(raw: Any, path: str) -> frozenset[int]:
    days: set[int] = set()
    items = raw.split(",") if isinstance(raw, str) else as_list(raw)
    for item in items:
        word = str(item).strip().lower()
        if word in _DAY_ALIASES:
            days.update(_DAY_ALIASES[word])
            continue
        first, _, last = word.partition("-")
        try:
            a = DAY_NAMES.index(first.strip()[:3])
            b = DAY_NAMES.index(last.strip()[:3]) if last else a
        except ValueError:
            raise config_error(
                path, f"cannot read day {item!r} (expected mon…sun, a range mon-fri, weekdays or weekends)"
            ) from None
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    if not days:
        raise config_error(path, "names no day")
    return frozenset(days)


def parse_spans(raw: Any, path: str) -> tuple[Span, ...]:
    spans: list[Span] = []
    for i, item in enumerate(as_list(raw)):
        where = f"{path}[{i}]" if isinstance(raw, list) else path
        if not isinstance(item, str):
            raise config_error(where, f'write time ranges in quotes, e.g. "09:00-17:30" (got {item!r})')
        found = _RANGE.match(item)
        if not found:
            raise config_error(where, f"cannot read time range {item!r} (expected HH:MM-HH:MM)")
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise config_error(where, f"{item!r} is not a time of day")
        start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
        if start == end:
            raise config_error(where, f"{item!r} is empty (a whole day is 00:00-24:00)")
        spans.append((start, end))
    return tuple(spans)


def parse_holidays(raw: Any, path: str) -> tuple[frozenset[date], frozenset[tuple[int, int]]]:
    dates: set[date] = set()
    yearly: set[tuple[int, int]] = set()
    for i, item in enumerate(as_list(raw)):
        if isinstance(item, datetime):
            item = item.date()
        if isinstance(item, date):
            dates.add(item)
            continue
        text = str(item).strip()
        try:
            if len(text) == 5:  # MM-DD
                parsed = date(2000, int(text[:2]), int(text[3:]))  # a leap year accepts 02-29
                yearly.add((parsed.month, parsed.day))
            else:
                dates.add(date.fromisoformat(text))
        except ValueError:
            raise config_error(f"{path}[{i}]", f"cannot read holiday {item!r} (expected YYYY-MM-DD or MM-DD)") from None
    return frozenset(dates), frozenset(yearly)


def parse_window(name: str, raw: Any, default_tz: ZoneInfo, path: str) -> tuple[Window, list[str]]:
    """One named schedule → (window, channel names)."""
    spec = mapping(raw, path)
    check_keys(spec, SCHEDULE_KEYS, path)
    tz = default_tz
    if spec.get("timezone"):
        try:
            tz = parse_timezone(spec["timezone"])
        except ValueError as exc:
            raise config_error(f"{path}.timezone", str(exc)) from None
    days = parse_days(spec["days"], f"{path}.days") if spec.get("days") is not None else frozenset(range(7))
    if "weekends" in spec:
        if not isinstance(spec["weekends"], bool):
            raise config_error(f"{path}.weekends", "must be true (open) or false (closed)")
        days = days | {5, 6} if spec["weekends"] else days - {5, 6}
    holidays, yearly = parse_holidays(spec.get("holidays"), f"{path}.holidays")
    window = Window(
        name,
        tz,
        frozenset(days),
        parse_spans(spec.get("hours"), f"{path}.hours"),
        parse_spans(spec.get("quiet_hours"), f"{path}.quiet_hours"),
        holidays,
        yearly,
    )
    channels = [channel_name(c) for c in as_list(spec.get("channels"))]
    if not channels:
        raise config_error(f"{path}.channels", "names no channel")
    return window, channels


def load_schedules(settings: Settings) -> Schedules:
    """Read ``schedules:`` and ``TIMEZONE``; ConfigError names the bad key."""
    default_tz = settings.timezone
    spec = mapping(settings.raw_file.get("schedules"), "schedules")
    windows: dict[str, list[Window]] = {}
    for name, raw in spec.items():
        path = f"schedules.{name}"
        window, channels = parse_window(str(name), raw, default_tz, path)
        for channel in channels:
            if channel not in settings.channels:
                raise config_error(
                    f"{path}.channels", f"unknown channel {channel!r} (configured: {', '.join(settings.channels)})"
                )
            windows.setdefault(channel, []).append(window)
    return Schedules(windows)
