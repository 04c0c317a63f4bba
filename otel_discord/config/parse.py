"""The grammars every setting shares: durations, time zones, channel names, numbers, flags.

One grammar per kind of value, so ``GROUP_WINDOW=1h30m`` means what ``ALERT_WINDOW=1h30m``
means, wherever it is read. Each parser takes the raw value (environment text, YAML
scalar or constructor argument) and returns the value or raises ``ValueError`` with a
message fit to follow the setting's name (``Settings.lookup`` and ``files.config_error``
add the name).

Durations: a number of seconds (``300``, ``"0.5"``) or one or more number-unit parts,
with or without spaces: ``500ms``, ``30s``, ``5m``, ``"2 min"``, ``1h30m``, ``"1h 30m"``,
``2d``, ``1w``. Units: ms, s/sec/second(s), m/min/minute(s), h/hr/hour(s), d/day(s),
w/week(s). There is no month: its length depends on the month.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_UNIT_SECONDS: Final = {
    "ms": 0.001,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "w": 604800.0, "week": 604800.0, "weeks": 604800.0,
}  # fmt: skip
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)\s*")
_MAX_DIGITS: Final = 30  # larger is a typo or an attack, never an amount
_CHANNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

#: Said in every duration error, so a user sees the grammar, not just a refusal.
DURATION_EXAMPLES: Final = "such as 500ms, 30s, 5m, '2 min', 1h30m or a number of seconds"


def parse_duration(value: Any) -> float:
    """Seconds, zero or more, from any form of the grammar in the module docstring."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration {DURATION_EXAMPLES}, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            seconds = _sum_of_parts(text, value)
    if not (seconds >= 0 and math.isfinite(seconds)):
        raise ValueError(f"must be a duration of zero or more, got {value!r}")
    return seconds


def parse_positive_duration(value: Any) -> float:
    """Like ``parse_duration``, refusing zero (a window or an interval that must pass)."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be a duration above zero, got {value!r}")
    return seconds


def _sum_of_parts(text: str, original: Any) -> float:
    position, total, parts = 0, 0.0, 0
    while position < len(text):
        match = _PART.match(text, position)
        if match is None or match.group(2) not in _UNIT_SECONDS:
            raise ValueError(f"must be a duration {DURATION_EXAMPLES}, got {original!r}")
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position, parts = match.end(), parts + 1
    if parts == 0:
        raise ValueError(f"must be a duration {DURATION_EXAMPLES}, got {original!r}")
    return total


def parse_timezone(value: Any) -> ZoneInfo:
    """An IANA time-zone name such as Europe/Amsterdam or UTC."""
    name = str(value).strip()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as Europe/Amsterdam)") from None


def channel_name(raw: Any) -> str:
    """A channel's name as every stage compares it: trimmed, lower case, ``_`` → ``-``."""
    return str(raw).strip().lower().replace("_", "-")


def parse_channel_name(raw: Any) -> str:
    """``channel_name(raw)``, refusing what cannot be a channel's name."""
    name = channel_name(raw)
    if not _CHANNEL_NAME.match(name):
        raise ValueError(f"channel name {str(raw)!r} must be letters, digits, '-' or '_'")
    return name


def parse_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    word = str(text).strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"must be true or false, got {text!r}")


def parse_float_positive(text: Any) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"must be a positive number, got {text!r}")
    return value


def parse_int_positive(text: Any) -> int:
    value = int(str(text).strip())
    if value <= 0:
        raise ValueError(f"must be a positive whole number, got {text!r}")
    return value


def parse_int_non_negative(text: Any) -> int:
    value = int(str(text).strip())
    if value < 0:
        raise ValueError(f"must be a whole number, at least 0 (0 turns it off), got {text!r}")
    return value


def to_decimal(value: Any) -> Decimal | None:
    """``value`` as a finite ``Decimal``, or None when it is not a number (bools are not numbers).

    One notion of "a number" for filters, routes, templates and money formatting.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if not isinstance(value, (int, float, Decimal, str)):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or number.adjusted() >= _MAX_DIGITS:
        return None
    return number


#: Where no time zone is set and the host's cannot be read.
FALLBACK_TIMEZONE: Final = "UTC"


def host_timezone(environ: Mapping[str, str]) -> ZoneInfo | None:
    """The host's zone: ``TZ``, else the ``/etc/localtime`` link, else ``/etc/timezone``; None if unknown.

    A user in New York gets New York's business hours and digest times without a setting.
    """
    candidates = [environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "/zoneinfo/" in target:
            candidates.append(target.split("/zoneinfo/", 1)[1])
    except OSError:
        pass
    try:
        with open("/etc/timezone", encoding="utf-8") as file:
            candidates.append(file.read().strip())
    except OSError:
        pass
    for name in candidates:
        if name and not name.startswith("/"):
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return None
