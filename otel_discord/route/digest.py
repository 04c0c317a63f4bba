"""Hold or post: schedules and the per-channel rate cap, and the digest that folds what waited.

``Digester.admit(notice, now)`` decides for one routed notice:

* CRITICAL: posted at once, always.
* the channel's schedule is closed: held (reason ``schedule``);
* the channel already had ``RATE_CAP`` notices in the last minute: held (``rate``);
* otherwise posted, after a digest of anything the channel held before.

``Digester.due(now)`` (called by the engine's timer every few seconds) turns everything a
channel holds into ONE digest notice once the channel is open and under its cap.
Nothing is dropped: a held notice waits in the store (SQLite, so a restart loses
nothing) until a digest carries it. Every function that reads a clock takes ``now``.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from otel_discord.group import DEFAULT_WINDOW as DEFAULT_GROUP_WINDOW
from otel_discord.health.log import get_logger
from otel_discord.notice import (
    CATEGORY_EMOJI,
    SEVERITY_EMOJI,
    Category,
    Field,
    Kind,
    Notice,
    Severity,
)
from otel_discord.route.filters.amount import amount_of
from otel_discord.route.holding import Held, HoldingStore
from otel_discord.route.mentions import Mention
from otel_discord.route.schedule import Schedules

_logger = get_logger(__name__)

DEFAULT_RATE_CAP: Final = 10  # notices per channel per minute
RATE_PERIOD: Final = 60.0
TICK_INTERVAL: Final = 10.0  # how soon after a window opens its digest goes out
_MAX_LINES: Final = 30
_MAX_GROUPS: Final = 1000  # groups a rate window remembers at most
# Forgetting down to a low-water mark, not to just under the maximum, makes the
# next clean-up ~250 records away: O(1) per record on average, even in a flood of
# distinct errors where nothing has expired yet.
_GROUPS_LOW_WATER: Final = _MAX_GROUPS * 3 // 4
_LINES_BUDGET: Final = 3500  # characters of the digest's list (Discord allows 4096 in a description)


def parse_rate_cap(value: Any) -> int:
    """Read ``RATE_CAP``: notices per channel per minute, 0 = no cap."""
    number = int(str(value).strip())
    if number < 0:
        raise ValueError(f"must be 0 (no cap) or more, got {value!r}")
    return number


class RateWindow:
    """How many messages each channel got in the last ``period`` seconds.

    A repeat of a grouped problem (same fingerprint, same channel, within the
    engine's group window) becomes an edit of the message already posted, not a
    new message: it neither counts nor waits.
    """

    def __init__(self, cap: int, period: float = RATE_PERIOD, group_window: float = DEFAULT_GROUP_WINDOW) -> None:
        self.cap = cap
        self.period = period
        self.group_window = group_window
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = {}
        self._groups: dict[tuple[str, str], float] = {}  # (channel, fingerprint) → when its message was posted

    def _trim(self, channel: str, now: float) -> deque[float]:
        sent = self._sent.setdefault(channel, deque())
        while sent and sent[0] <= now - self.period:
            sent.popleft()
        return sent

    def full(self, channel: str, now: float) -> bool:
        if self.cap <= 0:
            return False
        with self._lock:
            return len(self._trim(channel, now)) >= self.cap

    def is_repeat(self, channel: str, fingerprint: str, now: float) -> bool:
        if not fingerprint:
            return False
        with self._lock:
            posted = self._groups.get((channel, fingerprint))
            return posted is not None and 0 <= now - posted < self.group_window

    def record(self, channel: str, now: float, fingerprint: str = "") -> None:
        with self._lock:
            if self.cap > 0:
                self._trim(channel, now).append(now)
            if fingerprint:
                key = (channel, fingerprint)
                # Removed first so it goes to the end: the dict stays ordered by posting time.
                self._groups.pop(key, None)
                self._groups[key] = now
                if len(self._groups) > _MAX_GROUPS:
                    self._forget_groups(now)

    def _forget_groups(self, now: float) -> None:
        """Forget the groups whose window has passed, then the oldest down to the low-water mark.

        Oldest first (insertion order is posting order), so the scan stops at the
        first group it keeps. A group forgotten while still fresh only means its next
        repeat counts as a new message against the cap; the engine still edits it.
        """
        groups = self._groups
        excess = len(groups) - _GROUPS_LOW_WATER
        forget: list[tuple[str, str]] = []
        for key, posted in groups.items():
            if len(forget) < excess or now - posted >= self.group_window:
                forget.append(key)
            else:
                break
        for key in forget:
            del groups[key]

    def reset_lock(self) -> None:
        self._lock = threading.Lock()


class Digester:
    """Gate routed notices by schedule and rate cap; fold what waited into digests."""

    def __init__(self, store: HoldingStore, schedules: Schedules, window: RateWindow, tz: ZoneInfo) -> None:
        self.store = store
        self.schedules = schedules
        self.window = window
        self.tz = tz
        self._lock = threading.Lock()
        self._holding: set[str] = set(store.channels())  # channels with notices held (as far as we know)

    @property
    def holding(self) -> bool:
        return bool(self._holding)

    def admit(self, notice: Notice, now: float) -> list[Notice]:
        """What to post now for ``notice``: [], [notice] or [digest, notice] (see the module docstring)."""
        channel = notice.channel or ""
        if notice.severity >= Severity.CRITICAL:
            self.window.record(channel, now, notice.fingerprint)
            return [notice]
        if not self.schedules.is_open(channel, now):
            return self._hold(channel, "schedule", notice, now)
        if self.window.is_repeat(channel, notice.fingerprint, now):
            return [notice]  # the engine folds it into the group's message: an edit, not a message
        out: list[Notice] = []
        if channel in self._holding and not self.window.full(channel, now):
            out.extend(self._release(channel, now))  # what waited goes first, in order
        if self.window.full(channel, now):
            return out + self._hold(channel, "rate", notice, now)
        self.window.record(channel, now, notice.fingerprint)
        out.append(notice)
        return out

    def due(self, now: float, *, final: bool = False) -> list[Notice]:
        """Digests of the channels that are open and under their cap now.

        ``final`` (the last exporter is shutting down): open channels ignore the cap;
        with a store that does not survive the process, closed ones are released too.
        """
        digests: list[Notice] = []
        for channel in self.store.channels():
            if not self.schedules.is_open(channel, now):
                if not (final and not getattr(self.store, "durable", False)):
                    continue
            elif self.window.full(channel, now) and not final:
                continue
            digests.extend(self._release(channel, now))
        return digests

    def _hold(self, channel: str, reason: str, notice: Notice, now: float) -> list[Notice]:
        if not self.store.put(channel, reason, notice, now):
            self.window.record(channel, now, notice.fingerprint)
            return [notice]  # cannot hold it: posting it beats losing it
        with self._lock:
            self._holding.add(channel)
        return []

    def _release(self, channel: str, now: float) -> list[Notice]:
        held, extra = self.store.take(channel)
        with self._lock:
            self._holding.discard(channel)
        if not held and not extra:
            return []
        self.window.record(channel, now)
        return [build_digest(channel, held, extra, now, self.tz, self.window.cap)]


# --- the digest notice ----------------------------------------------------------------------


def _when(ts: float, tz: ZoneInfo, with_day: bool) -> str:
    try:
        local = datetime.fromtimestamp(ts, tz)
    except (ValueError, OverflowError, OSError):  # a timestamp from a broken clock
        return "--:--"
    return local.strftime("%a %H:%M" if with_day else "%H:%M")


def _amounts(notices: Sequence[Notice]) -> str | None:
    totals: dict[str, Decimal] = {}
    counts: Counter[str] = Counter()
    for notice in notices:
        if not notice.event_name:
            continue
        amount = amount_of(notice.attributes, notice.event_name)
        if amount is None:
            continue
        currency = next((str(v) for k, v in notice.attributes.items() if k.endswith("currency") and v), "EUR")
        totals[currency] = totals.get(currency, Decimal(0)) + amount
        counts[currency] += 1
    if not totals:
        return None
    return ", ".join(f"{counts[c]} × total {totals[c]:,.2f} {c}" for c in sorted(totals))


def build_digest(
    channel: str, held: Sequence[Held], extra: int, now: float, tz: ZoneInfo, cap: int = DEFAULT_RATE_CAP
) -> Notice:
    """ONE notice listing what ``channel`` held: counts, the highest level, and a line per notice."""
    notices = sorted((h.notice for h in held), key=lambda n: n.timestamp if n.timestamp == n.timestamp else 0.0)
    total = len(notices) + extra
    reasons = {h.reason for h in held}
    noun = "notice" if total == 1 else "notices"
    if reasons == {"rate"}:
        title = f"Digest: {total} {noun} folded (more than {cap} a minute)"
    elif reasons == {"schedule"}:
        title = f"Digest: {total} {noun} held outside this channel's hours"
    else:
        title = f"Digest: {total} {noun} held"
    times = [n.timestamp for n in notices if n.timestamp == n.timestamp]
    with_day = bool(times) and (max(times) - min(times) > 12 * 3600 or now - min(times) > 12 * 3600)
    lines: list[str] = []
    length = 0
    for notice in notices:
        line = f"{_when(notice.timestamp, tz, with_day)} {SEVERITY_EMOJI[notice.severity]} {notice.title}"
        line = line[:200]
        if len(lines) >= _MAX_LINES or length + len(line) + 1 > _LINES_BUDGET:
            break
        lines.append(line)
        length += len(line) + 1
    left = total - len(lines)
    if left > 0:
        lines.append(f"… and {left} more")
    severity = max((n.severity for n in notices), default=Severity.INFO)
    categories = Counter(n.category for n in notices)
    fields = [Field(f"{CATEGORY_EMOJI[c]} {c.value.lower()}", str(k)) for c, k in categories.most_common(6)]
    fields.append(Field("Highest level", severity.name.lower()))
    amounts = _amounts(notices)
    if amounts:
        fields.append(Field("Amounts", amounts, inline=False))
    if times:
        fields.append(Field("Since", _when(min(times), tz, True)))
    mention = Mention()
    for notice in notices:
        mention = mention | Mention.parse_text(notice.mention)
    return Notice(
        kind=Kind.DIGEST,
        severity=severity,
        category=categories.most_common(1)[0][0] if categories else Category.SYSTEM,
        title=title,
        description="\n".join(lines),
        fields=tuple(fields),
        attributes={"digest.count": total, "digest.reasons": ",".join(sorted(reasons))},
        fingerprint="",
        service=notices[0].service if notices else None,
        environment=notices[0].environment if notices else None,
        signal="internal",
        timestamp=now,
        first_seen=min(times) if times else None,
        channel=channel,
        mention=mention.text or None,
    )
