"""Grouping repeats: one Discord message per problem, edited as it repeats.

Pure decisions over values, with the clock passed in (``now`` is unix seconds:
group state is shared between processes through the spool, so it needs a clock
every process agrees on). The delivery engine applies them
(``deliver/grouping.py``): it posts the first occurrence at once, folds repeats
into the group, and PATCHes the message at most once per ``edit_interval``
with the count, first and last seen, always writing the last count.

* A notice with an empty fingerprint is never grouped (business events: every
  paid invoice matters on its own), and neither is anything for the audit
  channel, whatever its fingerprint.
* A group lives ``window`` seconds from its message's creation; a repeat after
  that starts a new message, so an ongoing problem notifies people again
  instead of silently counting up in a message nobody looks at.
* A grouped notice is always sent in a message of its own: an edit then
  replaces exactly one embed, and a packed neighbour can never be lost or
  duplicated by it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from otel_discord.notice import Notice

AUDIT_CHANNEL: Final = "audit"
DEFAULT_WINDOW: Final = 600.0
DEFAULT_EDIT_INTERVAL: Final = 10.0
SEEN_FIELD: Final = "Seen"
TRACE_FIELD: Final = "Trace"
_LATEST_TIMESTAMP: Final = 253402300799.0  # 9999-12-31T23:59:59Z, as render/embed.py


def group_key(notice: Notice, channel: str, exempt: Collection[str] = (AUDIT_CHANNEL,)) -> str | None:
    """The key repeats of ``notice`` share in ``channel``, or None: never grouped.

    ``exempt`` channels (audit channels) are never grouped: every notice there counts.
    """
    if not notice.fingerprint or channel in exempt:
        return None
    return notice.fingerprint


def earliest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def latest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def fold_notice(notice: Notice, count: int, first_seen: float | None, last_seen: float) -> Notice:
    """``notice`` with ``count`` more occurrences between ``first_seen`` and ``last_seen``."""
    first = earliest(notice.first_seen if notice.first_seen is not None else notice.timestamp, first_seen)
    return notice.replace(count=notice.count + count, first_seen=first, timestamp=max(notice.timestamp, last_seen))


@dataclass(frozen=True, slots=True)
class Group:
    """One grouped message as it stands: what Discord shows (``written``) and what it should."""

    message_id: str
    started_at: float  # when the message was created (unix seconds)
    count: int  # occurrences folded into it so far
    written: int  # the count the message shows
    edited_at: float  # the last request that wrote it (post or edit)
    first_seen: float | None = None
    last_seen: float | None = None

    @property
    def dirty(self) -> bool:
        return self.count > self.written


@dataclass(frozen=True)
class GroupPolicy:
    """The window and the edit debounce (settings ``GROUP_WINDOW`` and ``GROUP_EDIT_INTERVAL``)."""

    window: float = DEFAULT_WINDOW
    edit_interval: float = DEFAULT_EDIT_INTERVAL

    def __post_init__(self) -> None:
        if not self.window > 0 or not self.edit_interval >= 0:
            raise ValueError(f"invalid grouping policy {self!r}")

    def accepts(self, group: Group | None, now: float) -> bool:
        """Whether a repeat arriving ``now`` edits ``group``'s message (else a new message starts)."""
        return group is not None and 0 <= now - group.started_at < self.window

    @staticmethod
    def started(message_id: str, count: int, first_seen: float | None, last_seen: float | None, now: float) -> Group:
        """The group of a message just posted showing ``count`` occurrences."""
        return Group(message_id, now, count, count, now, first_seen, last_seen)

    @staticmethod
    def fold(group: Group, count: int, first_seen: float | None, last_seen: float | None) -> Group:
        """``group`` with ``count`` more occurrences (the message is now behind: dirty)."""
        return dataclasses.replace(
            group,
            count=group.count + count,
            first_seen=earliest(group.first_seen, first_seen),
            last_seen=latest(group.last_seen, last_seen),
        )

    def edit_delay(self, group: Group, now: float, *, flushing: bool = False) -> float | None:
        """Seconds until ``group``'s message may be edited (0 = now), None when it is up to date.

        At most one edit per ``edit_interval``, so 100,000 repeats cost a handful of
        requests; a flush writes at once.
        """
        if not group.dirty:
            return None
        if flushing or now < group.edited_at:  # or the clock was set back: never wait for the jump
            return 0.0
        return max(0.0, group.edited_at + self.edit_interval - now)

    @staticmethod
    def edited(group: Group, written: int, now: float) -> Group:
        """``group`` after an edit showing ``written`` occurrences succeeded."""
        return dataclasses.replace(group, written=max(group.written, written), edited_at=now)


# --- the "Seen" field ------------------------------------------------------------------


def _clock(ts: float | None) -> datetime | None:
    if ts is None or not math.isfinite(ts) or not 0 <= ts <= _LATEST_TIMESTAMP:
        return None
    return datetime.fromtimestamp(ts, tz=UTC)


def seen_text(count: int, first_seen: float | None, last_seen: float | None) -> str:
    """``×37 · first 10:02:11 UTC · last 10:09:40 UTC``, as render/embed.py shows a folded notice."""
    parts = [f"×{count}"]
    last, first = _clock(last_seen), _clock(first_seen)
    if first is not None:
        same_day = last is not None and first.date() == last.date()
        parts.append("first " + first.strftime("%H:%M:%S UTC" if same_day else "%Y-%m-%d %H:%M:%S UTC"))
    if last is not None:
        parts.append("last " + last.strftime("%H:%M:%S UTC"))
    return " · ".join(parts)
