"""On-call rotations: who is on call at a moment, as a pure function of config and time.

A rotation hands over from one member to the next every turn (``every``) at a
wall-clock time in its own time zone (``handover``), starting with the first
member at the first handover on or after ``starts``. Handovers are counted in
local wall-clock time with ``zoneinfo``, so "mon 09:00" stays 09:00 on the
weeks daylight saving time begins and ends (Grafana OnCall's #3261/#5247/#5455 trap).
A handover time that does not exist (the spring-forward hour) is the next valid
instant; one that exists twice is its first occurrence.

Who is on call at ``now``, in order:

1. an **override** covering ``now`` (``to`` exclusive; the last listed wins);
2. outside the ``active`` window, or on a holiday of the rotation's ``calendars``
   with ``on_holiday: otherwise``: the ``otherwise`` cover (a person, a role,
   another rotation, or ``nobody``); ``on_holiday: nobody`` leaves a gap and
   ``same`` ignores holidays;
3. the member whose turn it is: ``members[k mod n]`` for the k-th handover.

``.next`` is the member after the current one in rotation order (overrides aside).

Config::

    rotations:
      primary:
        timezone: Europe/Amsterdam
        members: [anna, bram, chris]      # order = rotation order
        every: weekly                     # daily | weekly | fortnightly | a duration (12h, 2d)
        handover: "mon 09:00"             # or "09:00"
        starts: 2026-01-05                # the first member's first turn starts here
        active: {days: mon-fri, hours: "08:00-18:00"}   # optional
        otherwise: oncall:after-hours     # who covers outside active hours / on holidays
        calendars: [nl]                   # holidays (see calendars.py)
        on_holiday: otherwise             # otherwise (default) | same | nobody
        overrides:
          - {who: chris, from: "2026-12-24 09:00", to: "2026-12-28 09:00", note: "swap with anna"}
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.config.parse import FALLBACK_TIMEZONE
from otel_discord.route.rules import _parse
from otel_discord.route.rules.calendars import Calendar
from otel_discord.route.rules.people import Directory, Target, parse_target

ROTATION_KEYS: Final = (
    "timezone",
    "members",
    "every",
    "handover",
    "starts",
    "active",
    "otherwise",
    "calendars",
    "on_holiday",
    "overrides",
)
OVERRIDE_KEYS: Final = ("who", "from", "to", "note")
ACTIVE_KEYS: Final = ("days", "hours")
_TURN_WORDS: Final = {
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "fortnightly": timedelta(days=14),
    "biweekly": timedelta(days=14),
}
_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MIN_TURN: Final = 3600.0
_MAX_DEPTH: Final = 8  # otherwise → rotation → otherwise …; cycles are refused when parsing

HolidayRule = Literal["otherwise", "same", "nobody"]


@dataclass(frozen=True, slots=True)
class Override:
    who: Target  # a person, a role or nobody
    start: float
    end: float  # exclusive
    note: str = ""


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who a rotation has on call at a moment, and why (for doctor and the card)."""

    rotation: str
    who: Target | None  # None: nobody (a gap)
    why: str
    until: float | None = None  # the next handover, when the answer comes from a turn


@dataclass(frozen=True)
class Rotation:
    """One rotation (see the module docstring); every method takes ``now`` in unix seconds."""

    name: str
    tz: ZoneInfo
    members: tuple[Target, ...]
    turn: timedelta
    anchor: datetime  # naive wall-clock time of handover 0 (members[0] starts)
    active: _parse.Window | None = None
    otherwise: Target | None = None
    on_holiday: HolidayRule = "same"
    calendars: tuple[Calendar, ...] = ()
    overrides: tuple[Override, ...] = ()

    def handover(self, k: int) -> float:
        """Unix seconds of the k-th handover (0 = the anchor; may be negative)."""
        return _parse.wall_to_epoch(self.anchor + self.turn * k, self.tz)

    def turn_at(self, now: float) -> int:
        """k such that ``handover(k) <= now < handover(k + 1)``."""
        elapsed = _parse.epoch_to_wall(now, self.tz) - self.anchor
        k = math.floor(elapsed / self.turn)
        while self.handover(k + 1) <= now:
            k += 1
        while self.handover(k) > now:
            k -= 1
        return k

    def member_at(self, now: float) -> Target:
        """The member whose turn it is (overrides, holidays and ``active`` aside)."""
        return self.members[self.turn_at(now) % len(self.members)]

    def next_member(self, now: float) -> Target:
        """The member after the current one in rotation order (``oncall:<name>.next``)."""
        return self.members[(self.turn_at(now) + 1) % len(self.members)]

    def next_handover(self, now: float) -> float:
        return self.handover(self.turn_at(now) + 1)

    def holiday(self, now: float) -> str | None:
        today = _parse.epoch_to_wall(now, self.tz).date()
        for calendar in self.calendars:
            label = calendar.holiday(today)
            if label is not None:
                return f"{calendar.name} {label}"
        return None

    def on_call(self, now: float) -> OnCall:
        """Who is on call at ``now`` and why; ``who`` may name another rotation (``oncall:x``)."""
        for override in reversed(self.overrides):
            if override.start <= now < override.end:
                who = None if override.who.kind == "nobody" else override.who
                note = f" ({override.note})" if override.note else ""
                return OnCall(self.name, who, f"override{note}", override.end)
        if self.on_holiday != "same":
            label = self.holiday(now)
            if label is not None:
                if self.on_holiday == "nobody":
                    return OnCall(self.name, None, f"holiday {label}: nobody")
                return OnCall(self.name, _cover(self.otherwise), f"holiday {label}: otherwise")
        if self.active is not None and not self.active.is_open(now):
            return OnCall(self.name, _cover(self.otherwise), "outside active hours: otherwise")
        k = self.turn_at(now)
        return OnCall(self.name, self.members[k % len(self.members)], f"turn {k}", self.handover(k + 1))

    def turns(self, now: float, count: int) -> Iterator[tuple[float, Target]]:
        """The current and the next ``count - 1`` turns: (start, member), for doctor."""
        k = self.turn_at(now)
        for i in range(count):
            yield self.handover(k + i), self.members[(k + i) % len(self.members)]


def _cover(target: Target | None) -> Target | None:
    return None if target is None or target.kind == "nobody" else target


class Rotations(Mapping[str, Rotation]):
    """All rotations by name; resolves ``oncall:`` targets to people and roles."""

    def __init__(self, rotations: Mapping[str, Rotation]) -> None:
        self._rotations = dict(rotations)

    def __getitem__(self, key: str) -> Rotation:
        return self._rotations[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rotations)

    def __len__(self) -> int:
        return len(self._rotations)

    def on_call(self, name: str, now: float) -> OnCall:
        """Like ``Rotation.on_call``, with a cover by another rotation followed to a person or role."""
        found = self._rotations[name].on_call(now)
        depth = 0
        while found.who is not None and found.who.kind == "oncall" and depth < _MAX_DEPTH:
            inner = self.on_call_target(found.who, now)
            found = OnCall(found.rotation, inner.who, f"{found.why} → {found.who}: {inner.why}", inner.until)
            depth += 1
        return found

    def on_call_target(self, target: Target, now: float) -> OnCall:
        rotation = self._rotations[target.name]
        if target.next:
            return OnCall(rotation.name, rotation.next_member(now), "next in rotation")
        return rotation.on_call(now)

    def resolve(self, target: Target, now: float) -> Target | None:
        """A person or role target for ``target`` at ``now`` (None: nobody is on call)."""
        if target.kind in ("person", "role"):
            return target
        if target.kind == "nobody":
            return None
        if target.next:
            return self.resolve(self._rotations[target.name].next_member(now), now)
        return self.on_call(target.name, now).who


# --- parsing ------------------------------------------------------------------------------


def _turn(raw: Any, path: str) -> timedelta:
    if isinstance(raw, str) and raw.strip().lower() in _TURN_WORDS:
        return _TURN_WORDS[raw.strip().lower()]
    return timedelta(seconds=_parse.duration(raw, path, minimum=_MIN_TURN))


def _handover(raw: Any, path: str) -> tuple[int | None, time]:
    """``"mon 09:00"`` → (0, 09:00); ``"09:00"`` → (None, 09:00)."""
    if isinstance(raw, int) and not isinstance(raw, bool):  # YAML 1.1 reads 09:00 as 540 minutes
        raw = f"{raw // 60:02d}:{raw % 60:02d}"
    text = str(raw).strip().lower()
    weekday: int | None = None
    parts = text.split()
    if len(parts) == 2:
        if parts[0][:3] not in _DAYS:
            raise config_error(path, f"cannot read day {parts[0]!r} in {raw!r} (expected mon…sun)")
        weekday = _DAYS.index(parts[0][:3])
        text = parts[1]
    elif len(parts) != 1:
        raise config_error(path, f'cannot read {raw!r} (expected "mon 09:00" or "09:00")')
    try:
        hours, minutes = (int(p) for p in text.split(":"))
        return weekday, time(hours, minutes)
    except ValueError:
        raise config_error(path, f'cannot read time {raw!r} (expected HH:MM, e.g. "mon 09:00")') from None


def _anchor(starts: date, weekday: int | None, at: time) -> datetime:
    if weekday is not None:
        starts = starts + timedelta(days=(weekday - starts.weekday()) % 7)
    return datetime.combine(starts, at)


def _active(raw: Any, name: str, tz: ZoneInfo, path: str) -> _parse.Window:
    spec = mapping(raw, path)
    check_keys(spec, ACTIVE_KEYS, path)
    days = _parse.parse_days(spec["days"], f"{path}.days") if spec.get("days") is not None else frozenset(range(7))
    hours = _parse.parse_spans(spec.get("hours"), f"{path}.hours")
    return _parse.Window(f"{name}.active", tz, frozenset(days), hours)


def _overrides(raw: Any, tz: ZoneInfo, directory: Directory, path: str) -> tuple[Override, ...]:
    found = []
    for i, item in enumerate(as_list(raw)):
        where = f"{path}[{i}]"
        spec = mapping(item, where)
        check_keys(spec, OVERRIDE_KEYS, where)
        for key in ("who", "from", "to"):
            if spec.get(key) is None:
                raise config_error(f"{where}.{key}", "is required")
        who = parse_target(spec["who"], f"{where}.who", allow_nobody=True)
        if who.kind == "oncall":
            raise config_error(f"{where}.who", "an override names a person or a role, not a rotation")
        directory.check(who, f"{where}.who", ())
        start = _parse.local_moment(spec["from"], tz, f"{where}.from")
        end = _parse.local_moment(spec["to"], tz, f"{where}.to")
        if end <= start:
            raise config_error(f"{where}.to", "must be after from")
        found.append(Override(who, start, end, str(spec.get("note") or "")))
    return tuple(found)


def parse_rotation(
    key: Any,
    raw: Any,
    directory: Directory,
    calendars: Mapping[str, Calendar],
    rotation_names: tuple[str, ...],
    tz: ZoneInfo | None = None,
) -> Rotation:
    path = f"rotations.{key}"
    name = _parse.name(key, path)
    spec = mapping(raw, path)
    check_keys(spec, ROTATION_KEYS, path)
    if spec.get("timezone"):
        tz = _parse.zone(spec["timezone"], f"{path}.timezone")
    elif tz is None:
        tz = ZoneInfo(FALLBACK_TIMEZONE)
    members = tuple(parse_target(m, f"{path}.members[{i}]") for i, m in enumerate(as_list(spec.get("members"))))
    if not members:
        raise config_error(f"{path}.members", "names no member")
    for i, member in enumerate(members):
        if member.kind == "oncall":
            raise config_error(f"{path}.members[{i}]", "members are people or roles, not rotations")
        directory.check(member, f"{path}.members[{i}]", ())
    for key_ in ("every", "handover", "starts"):
        if spec.get(key_) is None:
            raise config_error(f"{path}.{key_}", "is required")
    weekday, at = _handover(spec["handover"], f"{path}.handover")
    anchor = _anchor(_parse.day(spec["starts"], f"{path}.starts"), weekday, at)
    otherwise = None
    if spec.get("otherwise") is not None:
        otherwise = directory.check(
            parse_target(spec["otherwise"], f"{path}.otherwise", allow_nobody=True), f"{path}.otherwise", rotation_names
        )
    cals = []
    for i, cal in enumerate(as_list(spec.get("calendars"))):
        if str(cal) not in calendars:
            raise config_error(
                f"{path}.calendars[{i}]",
                f"unknown calendar {cal!r} (calendars: {', '.join(calendars) or 'none configured'})",
            )
        cals.append(calendars[str(cal)])
    on_holiday = str(spec.get("on_holiday") or ("otherwise" if cals else "same")).strip().lower()
    if on_holiday not in ("otherwise", "same", "nobody"):
        raise config_error(f"{path}.on_holiday", f"must be otherwise, same or nobody, got {spec['on_holiday']!r}")
    if on_holiday == "otherwise" and cals and otherwise is None:
        raise config_error(
            f"{path}.otherwise",
            "who covers holidays? set otherwise: (a person, role:<name>, "
            "oncall:<rotation> or nobody) or on_holiday: same",
        )
    active = _active(spec["active"], name, tz, f"{path}.active") if spec.get("active") is not None else None
    if active is not None and otherwise is None:
        raise config_error(
            f"{path}.otherwise",
            "who covers outside the active hours? set otherwise: (a person, role:<name>, oncall:<rotation> or nobody)",
        )
    return Rotation(
        name=name,
        tz=tz,
        members=members,
        turn=_turn(spec["every"], f"{path}.every"),
        anchor=anchor,
        active=active,
        otherwise=otherwise,
        on_holiday=on_holiday,  # type: ignore[arg-type]
        calendars=tuple(cals),
        overrides=_overrides(spec.get("overrides"), tz, directory, f"{path}.overrides"),
    )


def parse_rotations(
    raw: Any, directory: Directory, calendars: Mapping[str, Calendar], tz: ZoneInfo | None = None
) -> Rotations:
    """Every rotation; one without its own ``timezone`` hands off in ``tz`` (the ``TIMEZONE`` setting)."""
    """Read ``rotations:``; a cover that leads back to its own rotation is refused."""
    spec = mapping(raw, "rotations")
    names = tuple(str(k) for k in spec)
    rotations = {str(k): parse_rotation(k, v, directory, calendars, names, tz) for k, v in spec.items()}
    for name in rotations:
        seen = [name]
        cover = rotations[name].otherwise
        while cover is not None and cover.kind == "oncall" and not cover.next:
            if cover.name in seen:
                chain = " → ".join([*seen, cover.name])
                raise config_error(f"rotations.{name}.otherwise", f"covers form a loop: {chain}")
            seen.append(cover.name)
            cover = rotations[cover.name].otherwise
    return Rotations(rotations)
