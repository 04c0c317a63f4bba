"""Silences and maintenance windows: hold pages and new cards back, never drop them.

A silence has Alertmanager's shape: matchers (the ``match:`` of routes, plus an
optional ``fingerprint``), a start and an end (``to`` exclusive), who set it and
why. A maintenance window is a recurring silence written like a ``schedules:``
entry (days and hours). A silenced notice is counted, not posted; when the
silence ends, one summary says what it held (Alertmanager #226: silences must
not swallow what happened).

Config::

    silences:
      - match: {category: performance}
        from: "2026-12-01 22:00"
        to:   "2026-12-02 02:00"
        by: bram
        comment: "Postgres 17 upgrade"
    maintenance:
      sunday-deploys: {days: sun, hours: "02:00-04:00", match: {level: warning}}

``Silence`` is pure (every method takes ``now``); ``SilenceLedger`` counts what
each silence held and hands out each summary once. It keeps at most
``MAX_TITLES`` titles per silence, so its memory is bounded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.notice import Notice
from otel_discord.route.match import Matcher, parse_matcher
from otel_discord.route.rules import _parse

SILENCE_KEYS: Final = ("match", "fingerprint", "from", "to", "by", "comment")
MAINTENANCE_KEYS: Final = ("days", "hours", "match", "comment")
MAX_TITLES: Final = 10


@dataclass(frozen=True)
class Silence:
    """Holds matching notices while active: between ``starts`` and ``ends``, or while ``window`` is open."""

    id: str
    match: Matcher
    starts: float = float("-inf")
    ends: float = float("inf")
    by: str = ""
    comment: str = ""
    source: str = "config"  # config | cli | reaction
    fingerprint: str | None = None
    window: _parse.Window | None = None  # a recurring maintenance window

    def active(self, now: float) -> bool:
        if self.window is not None:
            return self.window.is_open(now)
        return self.starts <= now < self.ends

    def expired(self, now: float) -> bool:
        """A one-off silence that is over for good (recurring windows never expire)."""
        return self.window is None and now >= self.ends

    def matches(self, notice: Notice, now: float) -> bool:
        if not self.active(now):
            return False
        if self.fingerprint is not None and notice.fingerprint != self.fingerprint:
            return False
        return self.match(notice)

    def describe(self, tz: ZoneInfo | None = None) -> str:
        what = self.match.describe() + (f" · fingerprint {self.fingerprint}" if self.fingerprint else "")
        when = (
            self.window.describe() if self.window is not None else f"{_show(self.starts, tz)} – {_show(self.ends, tz)}"
        )
        by = f" by {self.by}" if self.by else ""
        return f"{self.id}: {what} ({when}){by}" + (f": {self.comment}" if self.comment else "")


def _show(moment: float, tz: ZoneInfo | None) -> str:
    if moment in (float("inf"), float("-inf")):
        return "open"
    return datetime.fromtimestamp(moment, tz or UTC).strftime("%Y-%m-%d %H:%M %Z")


@dataclass
class Held:
    """What one silence held back so far."""

    count: int = 0
    titles: dict[str, int] = field(default_factory=dict)  # at most MAX_TITLES
    other: int = 0  # occurrences whose title did not fit


@dataclass(frozen=True)
class Summary:
    """Posted once when a silence ends: how much it held, by title."""

    silence: Silence
    count: int
    titles: tuple[tuple[str, int], ...]
    other: int

    def text(self) -> str:
        lines = [f"🔕 Silence {self.silence.id} ended: it held {self.count} occurrence(s)."]
        lines += [f"• {title} × {n}" for title, n in self.titles]
        if self.other:
            lines.append(f"• {self.other} more")
        return "\n".join(lines)


class SilenceLedger:
    """Counts held notices per silence and gives one ``Summary`` per silence when it ends."""

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self.silences: list[Silence] = list(silences)
        self._held: dict[str, Held] = {}

    def add(self, silence: Silence) -> None:
        self.silences = [s for s in self.silences if s.id != silence.id] + [silence]

    def expire(self, silence_id: str, now: float) -> Silence | None:
        """End a silence now (``otel-discord silence expire``); its summary comes from ``ended``."""
        for i, silence in enumerate(self.silences):
            if silence.id == silence_id:
                ended = dataclasses.replace(
                    silence, starts=min(silence.starts, now), ends=min(silence.ends, now), window=None
                )
                self.silences[i] = ended
                return ended
        return None

    def hold(self, notice: Notice, now: float) -> Silence | None:
        """The silence that holds ``notice`` (and count it), or None if it may go out."""
        for silence in self.silences:
            if silence.matches(notice, now):
                held = self._held.setdefault(silence.id, Held())
                held.count += max(1, notice.count)
                if notice.title in held.titles or len(held.titles) < MAX_TITLES:
                    held.titles[notice.title] = held.titles.get(notice.title, 0) + max(1, notice.count)
                else:
                    held.other += max(1, notice.count)
                return silence
        return None

    def ended(self, now: float) -> list[Summary]:
        """Summaries of silences no longer active that held something; each is returned once."""
        summaries = []
        for silence in self.silences:
            held = self._held.get(silence.id)
            if held is not None and held.count and not silence.active(now):
                summaries.append(Summary(silence, held.count, tuple(held.titles.items()), held.other))
                del self._held[silence.id]
        self.silences = [s for s in self.silences if not s.expired(now) or s.id in self._held]
        return summaries

    def active(self, now: float) -> list[Silence]:
        return [s for s in self.silences if s.active(now)]


def parse_silences(raw: Any, tz: ZoneInfo) -> list[Silence]:
    """Read ``silences:`` (one-off silences from the config file)."""
    found = []
    for i, item in enumerate(as_list(raw)):
        path = f"silences[{i}]"
        spec: Mapping[str, Any] = mapping(item, path)
        check_keys(spec, SILENCE_KEYS, path)
        for key in ("from", "to"):
            if spec.get(key) is None:
                raise config_error(f"{path}.{key}", "is required (a silence always ends)")
        starts = _parse.local_moment(spec["from"], tz, f"{path}.from")
        ends = _parse.local_moment(spec["to"], tz, f"{path}.to")
        if ends <= starts:
            raise config_error(f"{path}.to", "must be after from")
        if spec.get("match") is None and spec.get("fingerprint") is None:
            raise config_error(path, "needs match: or fingerprint: (a silence of everything is not allowed)")
        found.append(
            Silence(
                id=f"config-{i}",
                match=parse_matcher(spec.get("match"), f"{path}.match"),
                starts=starts,
                ends=ends,
                by=str(spec.get("by") or ""),
                comment=str(spec.get("comment") or ""),
                fingerprint=str(spec["fingerprint"]) if spec.get("fingerprint") is not None else None,
            )
        )
    return found


def parse_maintenance(raw: Any, tz: ZoneInfo) -> list[Silence]:
    """Read ``maintenance:`` (recurring windows, in the ``schedules:`` syntax)."""
    found = []
    for key, item in mapping(raw, "maintenance").items():
        path = f"maintenance.{key}"
        name = _parse.name(key, path)
        spec = mapping(item, path)
        check_keys(spec, MAINTENANCE_KEYS, path)
        if spec.get("hours") is None and spec.get("days") is None:
            raise config_error(path, "needs days: and/or hours: (when the window is open)")
        days = _parse.parse_days(spec["days"], f"{path}.days") if spec.get("days") is not None else frozenset(range(7))
        window = _parse.Window(name, tz, frozenset(days), _parse.parse_spans(spec.get("hours"), f"{path}.hours"))
        found.append(
            Silence(
                id=f"maintenance-{name}",
                match=parse_matcher(spec.get("match"), f"{path}.match"),
                comment=str(spec.get("comment") or ""),
                window=window,
            )
        )
    return found
