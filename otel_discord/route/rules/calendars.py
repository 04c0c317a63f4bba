"""Holiday calendars shared by rotations (and, later, ``schedules:``).

``MM-DD`` dates repeat every year, which cannot express holidays that move with
Easter (Goede Vrijdag, Pasen, Hemelvaart, Pinksteren in the Netherlands). So a
calendar may also name a country, read through the optional ``holidays`` package
(``pip install otel-discord[holidays]``); without it, a ``country:`` is a config
error that says how to install it, never a silent no-holidays calendar.

Config::

    calendars:
      nl:
        country: NL                 # optional; needs the 'holidays' package
        subdivision: null           # e.g. a province or state code, if the package knows it
        dates: ["01-01", "04-27", "2026-12-24"]   # YYYY-MM-DD once, MM-DD every year

Pure: ``is_holiday(day)`` reads no clock.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from otel_discord.config.files import check_keys, config_error, mapping
from otel_discord.route.rules import _parse

CALENDAR_KEYS: Final = ("country", "subdivision", "dates")


@functools.lru_cache(maxsize=256)
def _country_year(country: str, subdivision: str | None, year: int) -> tuple[tuple[date, str], ...]:
    import holidays  # optional extra; checked at parse time

    found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return tuple(sorted((day, str(label)) for day, label in found.items()))


@dataclass(frozen=True)
class Calendar:
    """Days off: fixed dates, yearly ``MM-DD`` dates, and a country's public holidays."""

    name: str
    dates: frozenset[date] = frozenset()
    yearly: frozenset[tuple[int, int]] = frozenset()
    country: str | None = None
    subdivision: str | None = None

    def holiday(self, day: date) -> str | None:
        """What ``day`` is (``"Koningsdag"``, ``"12-25"``), or None if it is not a holiday here."""
        if day in self.dates:
            return day.isoformat()
        if (day.month, day.day) in self.yearly:
            return f"{day.month:02d}-{day.day:02d}"
        if self.country is not None:
            for when, label in _country_year(self.country, self.subdivision, day.year):
                if when == day:
                    return label
        return None

    def is_holiday(self, day: date) -> bool:
        return self.holiday(day) is not None

    def describe(self) -> str:
        parts = []
        if self.country:
            parts.append(f"country {self.country}" + (f"-{self.subdivision}" if self.subdivision else ""))
        if self.dates or self.yearly:
            parts.append(f"{len(self.dates) + len(self.yearly)} date(s)")
        return f"{self.name}: " + (" · ".join(parts) or "empty")


def _country(raw: Any, subdivision: Any, path: str) -> tuple[str, str | None]:
    code = str(raw).strip().upper()
    sub = str(subdivision).strip().upper() if subdivision not in (None, "") else None
    try:
        import holidays
    except ImportError:
        raise config_error(
            f"{path}.country",
            "needs the optional 'holidays' package: "
            "pip install 'otel-discord[holidays]' (or list the days under dates:)",
        ) from None
    try:
        holidays.country_holidays(code, subdiv=sub, years=2026)
    except NotImplementedError:
        where = f"{path}.subdivision" if sub else f"{path}.country"
        raise config_error(
            where, f"the holidays package knows no calendar {code!r}" + (f" with subdivision {sub!r}" if sub else "")
        ) from None
    return code, sub


def parse_calendars(raw: Any) -> dict[str, Calendar]:
    """Read ``calendars:`` (name → calendar)."""
    calendars: dict[str, Calendar] = {}
    for key, spec_raw in mapping(raw, "calendars").items():
        path = f"calendars.{key}"
        name = _parse.name(key, path)
        spec: Mapping[str, Any] = mapping(spec_raw, path)
        check_keys(spec, CALENDAR_KEYS, path)
        dates, yearly = _parse.parse_dates(spec.get("dates"), f"{path}.dates")
        country, sub = (None, None)
        if spec.get("country") is not None:
            country, sub = _country(spec["country"], spec.get("subdivision"), path)
        elif spec.get("subdivision") is not None:
            raise config_error(f"{path}.subdivision", "needs a country")
        calendars[name] = Calendar(name, dates, yearly, country, sub)
    return calendars
