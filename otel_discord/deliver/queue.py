"""What waits for delivery, in memory: the inbox ``submit()`` fills and the lanes the sender empties.

``MemoryQueue`` is the inbox: bounded, O(1) per put, no I/O, so the application's
export thread never waits. Repeats of one group (same channel and fingerprint,
see ``group.py``) fold into the entry already waiting, so a storm of one error
costs one entry, not 100,000. The engine's housekeeping thread moves the inbox
into the spool (``spool.py``) within moments.

``Lanes`` are FIFO lanes per channel holding the spooled rows the sender works
through; items stay in a lane until ``remove``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from otel_discord.group import fold_notice
from otel_discord.notice import Notice
from otel_discord.render.limits import embed_size


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One rendered embed on its way to a channel (a name from ``Settings.channels``)."""

    channel: str
    embed: dict[str, Any]
    notice: Notice
    size: int = 0  # render.limits.embed_size(embed)
    content: str | None = None
    flags: int = 0
    mention_roles: tuple[str, ...] = ()
    mention_users: tuple[str, ...] = ()
    #: Files to upload with the message: (name, content, content type), e.g. a summary's chart,
    #: which the embed shows as ``attachment://<name>``. An item with files is sent alone.
    files: tuple[tuple[str, bytes, str], ...] = ()
    #: Makes ``embed`` when it is first needed (``rendered``): a repeat that folds into its group's
    #: message never needs its own, so its rendering is never paid for.
    render: Callable[[], dict[str, Any]] | None = dataclasses.field(default=None, compare=False, repr=False)

    def rendered(self) -> Outgoing:
        """This item with its embed made (and sized); itself if it was made already."""
        if self.render is None:
            return self
        embed = self.render()
        return dataclasses.replace(self, embed=embed, size=embed_size(embed), render=None)

    def pack_key(self) -> tuple[Any, ...]:
        """Items may share one message only if everything outside the embed is equal."""
        return (self.content, self.flags, self.mention_roles, self.mention_users)

    def folded(self, count: int, first_seen: float | None, last_seen: float) -> Outgoing:
        """This item with ``count`` more occurrences of its notice."""
        return dataclasses.replace(self, notice=fold_notice(self.notice, count, first_seen, last_seen))


class Entry:
    """One queued item. ``wall`` is when it was submitted (unix seconds), ``row_id`` its spool row."""

    __slots__ = (
        "seq",
        "item",
        "queued_at",
        "wall",
        "solo",
        "row_id",
        "group",
        "fold_checked",
        "_more",
        "_first",
        "_last",
    )

    def __init__(
        self,
        seq: int,
        item: Outgoing,
        queued_at: float,
        wall: float,
        group: str | None = None,
        row_id: int | None = None,
    ) -> None:
        self.seq = seq
        self.item = item
        self.queued_at = queued_at  # the engine's clock, for lingering
        self.wall = wall
        self.group = group  # group key (fingerprint) or None: never grouped
        self.row_id = row_id
        self.solo = False  # Discord rejected a message holding it: resend it alone
        self.fold_checked = -1  # the sender's GroupBook.generation when it last found no live group
        self._more, self._first, self._last = 0, None, 0.0  # repeats folded in, applied by ``settled``

    def fold(self, notice: Notice) -> None:
        """Count a repeat of this entry's notice (cheap: the notice itself is rebuilt once, later)."""
        first = notice.first_seen if notice.first_seen is not None else notice.timestamp
        self._more += notice.count
        self._first = first if self._first is None else min(self._first, first)
        self._last = max(self._last, notice.timestamp)

    def settled(self) -> Outgoing:
        """The item with every folded repeat counted."""
        if self._more:
            self.item = self.item.folded(self._more, self._first, self._last)
            self._more, self._first, self._last = 0, None, 0.0
        return self.item

    def __repr__(self) -> str:
        return (
            f"Entry(seq={self.seq}, channel={self.item.channel!r}, row={self.row_id}, count={self.item.notice.count})"
        )


class MemoryQueue:
    """The bounded inbox: ``put`` (folding repeats) on any thread; ``take_all`` then ``settle`` or
    ``give_back`` on the worker. Taken items count against the bound until settled."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._entries: dict[int, Entry] = {}  # insertion ordered
        self._open_groups: dict[tuple[str, str], Entry] = {}
        self._taken = 0
        self._seq = 0

    def __len__(self) -> int:
        return len(self._entries) + self._taken

    def put(self, item: Outgoing, now: float, wall: float, group: str | None = None) -> bool:
        """Queue ``item``, or fold it into a waiting entry of its group. False when full."""
        with self._lock:
            if group is not None:
                waiting = self._open_groups.get((item.channel, group))
                if waiting is not None:
                    waiting.fold(item.notice)
                    return True
            if len(self._entries) + self._taken >= self.maxsize:
                return False
            self._seq += 1
            entry = Entry(self._seq, item, now, wall, group)
            self._entries[entry.seq] = entry
            if group is not None:
                self._open_groups[(item.channel, group)] = entry
            return True

    def take_all(self) -> list[Entry]:
        """Remove and return everything, oldest first (in flight until ``settle``/``give_back``)."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            self._open_groups.clear()
            self._taken += len(entries)
        for entry in entries:
            entry.settled()
        return entries

    def settle(self) -> None:
        """What ``take_all`` returned is stored elsewhere now."""
        with self._lock:
            self._taken = 0

    def give_back(self, entries: list[Entry]) -> None:
        """Put entries taken by ``take_all`` back in front (the spool could not take them)."""
        with self._lock:
            newer = list(self._entries.values())
            self._entries = {e.seq: e for e in entries}
            self._entries.update((e.seq, e) for e in newer)
            self._open_groups = {(e.item.channel, e.group): e for e in self._entries.values() if e.group}
            self._taken = 0


class Lanes:
    """FIFO lanes, one per channel, of entries the sender works through."""

    def __init__(self) -> None:
        self._lanes: dict[str, deque[Entry]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, entry: Entry) -> None:
        self._lanes.setdefault(entry.item.channel, deque()).append(entry)
        self._size += 1

    def channels(self) -> list[str]:
        return [name for name, lane in self._lanes.items() if lane]

    def peek(self, channel: str, n: int | None = None) -> list[Entry]:
        lane = self._lanes.get(channel) or ()
        return list(lane) if n is None else [entry for _, entry in zip(range(n), lane)]

    def remove(self, entries: Iterable[Entry]) -> list[Entry]:
        """Remove ``entries``; return those that were still queued."""
        wanted = {entry.seq: entry for entry in entries}
        removed: list[Entry] = []
        for channel in {entry.item.channel for entry in wanted.values()}:
            lane = self._lanes.get(channel)
            if not lane:
                continue
            before = len(removed)
            while lane and lane[0].seq in wanted:  # the usual case: a batch is a prefix
                removed.append(lane.popleft())
            in_channel = sum(1 for entry in wanted.values() if entry.item.channel == channel)
            if len(removed) - before < in_channel and any(entry.seq in wanted for entry in lane):
                kept: deque[Entry] = deque()
                for entry in lane:
                    (removed if entry.seq in wanted else kept).append(entry)
                self._lanes[channel] = kept
            if not self._lanes[channel]:
                del self._lanes[channel]
        self._size -= len(removed)
        return removed

    def drain(self) -> list[Entry]:
        entries = [entry for lane in self._lanes.values() for entry in lane]
        self._lanes.clear()
        self._size = 0
        return entries
