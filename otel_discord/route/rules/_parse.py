"""Small readers shared by the notification-rule parsers: durations, time zones, local times.

Every reader takes the config path of the value and raises ``config_error(path, …)``,
so a mistake reads ``config file rotations.primary.every: …``.

Durations use the project's one duration grammar. It is imported in exactly one
place (``_duration`` below) so that the unified parser can replace it with a
one-line change.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from otel_discord.config import ConfigError
from otel_discord.config.files import config_error
from otel_discord.config.parse import parse_positive_duration as _duration
from otel_discord.config.parse import parse_timezone

# Rotations' active windows and holiday calendars are written exactly like ``schedules:``
# entries, so they are read by the schedules' own parsers (one grammar for days, hours, dates).
from otel_discord.route.schedule import Window, parse_days, parse_spans
from otel_discord.route.schedule import parse_holidays as parse_dates

OFF: Final = frozenset({"off", "none", "never", "false", "no"})
_WALK_LIMIT: Final = 24 * 60  # minutes: no DST gap is longer than a day


def duration(raw: Any, path: str, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """Seconds from ``raw`` (``10m``, ``1h30m``, ``2d`` or a number of seconds), within bounds."""
    if isinstance(raw, bool) or raw is None:
        raise config_error(path, f"must be a duration such as 10m, 4h or 1d, got {raw!r}")
    try:
        seconds = _duration(raw)
    except (TypeError, ValueError) as exc:
        raise config_error(path, str(exc)) from None
    if minimum is not None and seconds < minimum:
        raise config_error(path, f"must be at least {show_duration(minimum)}, got {raw!r}")
    if maximum is not None and seconds > maximum:
        raise config_error(path, f"must be at most {show_duration(maximum)}, got {raw!r}")
    return seconds


def optional_duration(raw: Any, path: str, **bounds: float) -> float | None:
    """Like ``duration``, but absent, ``null``, ``false`` or ``off`` mean "not set"."""
    if raw is None or raw is False or (isinstance(raw, str) and raw.strip().lower() in OFF):
        return None
    return duration(raw, path, **bounds)


def show_duration(seconds: float) -> str:
    """``90`` → ``1m30s``; ``86400`` → ``1d`` (for doctor and error messages)."""
    left = int(round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts) or "0s"


def zone(raw: Any, path: str) -> ZoneInfo:
    """An IANA time zone such as Europe/Amsterdam."""
    try:
        return parse_timezone(raw)
    except ValueError as exc:
        raise config_error(path, str(exc)) from None


def name(raw: Any, path: str) -> str:
    """A config name (person, role, rotation, policy): non-empty text without spaces or ':'."""
    text = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else ""
    if not text or any(c.isspace() or c in ":,[]" for c in text):
        raise config_error(path, f"{raw!r} is not a name (letters, digits, '-', '_', '.')")
    return text


def snowflake(raw: Any, path: str) -> str:
    """A Discord id: 17–20 digits. Write it in quotes: YAML would round a bare number."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise config_error(path, f'must be a Discord id in quotes, such as "345678901234567890", got {raw!r}')
    text = str(raw).strip()
    if not text.isdigit() or not 17 <= len(text) <= 20:
        raise config_error(path, f"{raw!r} is not a Discord id (17-20 digits, written in quotes)")
    return text


def wall_to_epoch(local: datetime, tz: ZoneInfo) -> float:
    """Unix seconds of the naive wall-clock time ``local`` in ``tz``, DST-correct.

    A time that does not exist (the spring-forward gap, 02:30 on the last Sunday of
    March in Europe/Amsterdam) becomes the next valid instant (03:00); a time that
    exists twice (the autumn fall-back) is its first occurrence (``fold=0``).
    """
    candidate = local.replace(tzinfo=None, fold=0)
    for _ in range(_WALK_LIMIT + 1):
        aware = candidate.replace(tzinfo=tz)
        moment = aware.timestamp()
        if datetime.fromtimestamp(moment, tz).replace(tzinfo=None) == candidate:
            return moment
        # In a gap: walk to the next whole minute until the wall clock exists again.
        candidate = candidate.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return local.replace(tzinfo=tz).timestamp()  # unreachable for real zones


def epoch_to_wall(moment: float, tz: ZoneInfo) -> datetime:
    """The naive wall-clock time of ``moment`` in ``tz``."""
    return datetime.fromtimestamp(moment, tz).replace(tzinfo=None)


def local_moment(raw: Any, tz: ZoneInfo, path: str) -> float:
    """``"2026-12-24 09:00"``, ``"2026-12-24T09:00"`` or a date (its midnight) in ``tz`` → unix seconds.

    A value with its own offset (``…+01:00`` or ``…Z``) keeps it.
    """
    if isinstance(raw, datetime):
        parsed = raw
    elif isinstance(raw, date):
        parsed = datetime(raw.year, raw.month, raw.day)
    elif isinstance(raw, str):
        text = raw.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise config_error(
                path, f"cannot read {raw!r} (expected YYYY-MM-DD HH:MM, in the rule's time zone)"
            ) from None
    else:
        raise config_error(path, f'must be a date and time such as "2026-12-24 09:00", got {raw!r}')
    if parsed.tzinfo is not None:
        return parsed.timestamp()
    return wall_to_epoch(parsed, tz)


def day(raw: Any, path: str) -> date:
    """A date: ``2026-01-05`` (YAML may have read it already)."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        raise config_error(path, f"cannot read date {raw!r} (expected YYYY-MM-DD)") from None


def reraise(exc: ConfigError, path: str) -> ConfigError:
    """A ``ConfigError`` from a shared parser, with ``path`` in front if it lacks one."""
    text = str(exc)
    return exc if text.startswith("config file ") else config_error(path, text)


__all__ = [
    "OFF",
    "Window",
    "day",
    "duration",
    "epoch_to_wall",
    "local_moment",
    "name",
    "optional_duration",
    "parse_dates",
    "parse_days",
    "parse_spans",
    "reraise",
    "show_duration",
    "snowflake",
    "wall_to_epoch",
    "zone",
]
