"""The spool thread's work: the inbox onto disk, the send lease, trimming and counting.

It never waits for Discord, so a notice is in the spool within a tick of its
submit even while the delivery thread hangs in a request: "on disk within one
second". If the spool file cannot be used (read-only directory, full disk,
damaged file) it says so once and continues with a spool in memory: notices
are delivered as before, but lost if the process stops, and processes no
longer share Discord's limits.

Every function takes the time it needs: ``now`` on the engine's monotonic
clock, ``wall`` in unix seconds (what every process of the host agrees on).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from otel_discord.config import Channel
from otel_discord.deliver import codec
from otel_discord.deliver.fallback import FallbackLog
from otel_discord.deliver.options import DeliveryOptions
from otel_discord.deliver.queue import Entry, MemoryQueue
from otel_discord.deliver.sender import Sender
from otel_discord.deliver.shared_limits import LEASE_RENEW, LEASE_TTL
from otel_discord.deliver.spool import TRIM_BATCH, Pending, Spool, SpoolBusy, SpoolUnavailable
from otel_discord.health.drops import DropReason, Stats, guard
from otel_discord.health.log import get_logger
from otel_discord.notice import Notice

_logger = get_logger(__name__)

TRIM_EVERY: Final = 5.0
_RECENT_GROUPS: Final = 2048  # groups remembered for ``recently_grouped``
_RECENT_SECONDS: Final = 5.0  # well inside any group window: such a repeat folds
COUNT_EVERY: Final = 1.0


def holder_gone(holder: str) -> bool:
    """Whether a lease holder (``host:pid:token``) is a process of this host that no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, and is someone else's
        return False
    return False


class Housekeeper:
    """The spool, the lease and the counts of one engine in one process (``reset`` after a fork)."""

    def __init__(
        self,
        *,
        path: Path | None,
        scope: str,
        pages: int | None,
        options: DeliveryOptions,
        stats: Stats,
        fallback: FallbackLog,
        sender: Sender,
        channels: Callable[[], Mapping[str, Channel]],
        wake_sender: Callable[[], None],
    ) -> None:
        self.path, self.scope, self.pages = path, scope, pages
        self.options, self.stats, self.fallback, self.sender = options, stats, fallback, sender
        self._channels, self._wake_sender = channels, wake_sender
        self.reset("")

    def reset(self, writer: str) -> None:
        """A new process: its own writer id (also its lease holder id), no spool open yet."""
        self.writer = writer
        self.spool: Spool | None = None
        self.memory_only = False
        self.stopping = False
        self._lock = threading.Lock()
        self.leader = False
        self.leader_until = 0.0  # on the engine's clock
        self.term = 0  # grows whenever leadership changes hands: the sender starts over
        self.next_lease = self.next_trim = self.next_count = 0.0  # on the engine's clock
        self.next_trim_wall = 0.0  # or when the wall clock says so (it may be moved on)
        self.own_rows = 0  # rows this process wrote that are still in the spool
        self.depth = 0  # rows of the application in the spool
        self.counted = False  # the spool and the lease were looked at once
        self.folds = 0  # generations of folds into live groups (edits owed)
        # (channel, group key) → when a notice of that group last reached the spool: a repeat
        # arriving soon after will fold, so the pipeline leaves it unrendered (``recently_grouped``).
        self.recent: dict[tuple[str, str], float] = {}

    def leads(self, now: float) -> bool:
        return self.leader and now < self.leader_until

    def tick(self, inbox: MemoryQueue, now: float, wall: float, *, flushing: bool) -> None:
        """One round: open the spool if needed, move the inbox into it, then lease, trim and count."""
        try:
            if self.spool is None:
                self._open()
            if self.spool is not None:
                self._persist(inbox, wall)
                self._keep(now, wall, flushing)
        except SpoolBusy:
            pass  # another process holds the file; the inbox keeps its items until the next tick
        except SpoolUnavailable as exc:
            self.degrade(exc)

    def _open(self) -> None:
        if self.path is not None and not self.memory_only:
            try:
                self.spool = Spool(self.path, self.scope, max_pages=self.pages).open()
            except SpoolUnavailable as exc:
                self.degrade(exc)
            return
        self.spool = Spool(None, self.scope).open()
        self.memory_only = True

    def degrade(self, exc: BaseException) -> None:
        """The spool file cannot be used: deliver from memory for the rest of the process."""
        with self._lock:
            if self.memory_only or self.stopping:
                return
            self.memory_only = True
            _logger.error(
                "cannot use the delivery spool %s (%s); delivering from memory only: notices waiting for "
                "Discord are lost if the process stops, and processes no longer share Discord's rate limits",
                self.path,
                exc,
            )
            self.spool = Spool(None, self.scope).open()
            self.next_lease = 0.0
        self._wake_sender()

    def _persist(self, inbox: MemoryQueue, wall: float) -> None:
        """Move the inbox into the spool (one transaction)."""
        assert self.spool is not None
        entries = inbox.take_all()
        if not entries:
            return
        policy = self.sender.book.policy
        drafts = [(entry, self._pending(entry)) for entry in entries]
        try:
            # Repeats that will fold need no embed: rendering waits until a row turns out to need one.
            foldable = self.spool.foldable(
                [(p.channel, p.webhook, p.group) for _, p in drafts if p.group], policy, wall
            )
        except BaseException:
            inbox.give_back(entries)
            raise
        kept: list[Entry] = []
        items: list[Pending] = []
        for entry, pending in drafts:
            if (pending.channel, pending.group) in foldable:
                kept.append(entry)
                items.append(pending)
                continue
            try:
                items.append(dataclasses.replace(pending, body=pending.body()))  # type: ignore[operator]
                kept.append(entry)
            except Exception as exc:
                self._unencodable(entry, exc)
        failed: list[tuple[int, Exception]] = []
        try:
            created, grouped = self.spool.persist(items, writer=self.writer, policy=policy, now=wall, failed=failed)
        except BaseException:
            inbox.give_back(kept)  # those recorded as unencodable stay recorded, once
            raise
        for index, exc in failed:
            self._unencodable(kept[index], exc)
        self._remember_groups(items, wall)
        self.sender.poke()  # before the counts below: a sender that reads them then sees the poke
        self.own_rows += len(created)
        self.depth += len(created)
        self.folds += grouped > 0  # an edit is owed: flush waits for it
        inbox.settle()
        self._wake_sender()

    def _remember_groups(self, items: list[Pending], wall: float) -> None:
        for item in items:
            if item.group is not None:
                self.recent.pop((item.channel, item.group), None)  # re-inserted last: oldest first
                self.recent[(item.channel, item.group)] = wall
        if len(self.recent) > _RECENT_GROUPS:
            for key in list(self.recent)[: len(self.recent) - _RECENT_GROUPS // 2]:
                del self.recent[key]

    def recently_grouped(self, channel: str, key: str, wall: float) -> bool:
        """Whether a notice of this group reached the spool moments ago (any thread; a hint only)."""
        seen = self.recent.get((channel, key))
        return seen is not None and 0 <= wall - seen < _RECENT_SECONDS

    def _pending(self, entry: Entry) -> Pending:
        """The entry for the spool, its body made on demand (``Pending.body`` is then a callable)."""
        item, notice = entry.item, entry.item.notice
        channel = self._channels().get(item.channel)
        return Pending(
            item.channel,
            entry.group,
            channel.webhook.webhook_id if channel else None,
            entry.wall,
            notice.count,
            notice.first_seen if notice.first_seen is not None else notice.timestamp,
            notice.timestamp,
            lambda: codec.encode(item.rendered()),
        )

    def _unencodable(self, entry: Entry, exc: Exception) -> None:
        """No message could ever carry this notice (a non-JSON value, or rendering failed): record it."""
        notice = entry.item.notice
        if isinstance(exc, (TypeError, ValueError)):
            _logger.warning(
                "channel %r: notice %r cannot be encoded (%s); written to %s",
                entry.item.channel,
                notice.title[:100],
                exc,
                self.fallback.path,
            )
            reason = DropReason.INVALID_PAYLOAD
        else:  # a bug of ours in rendering
            _logger.error(
                "channel %r: internal error while rendering notice %r; written to %s",
                entry.item.channel,
                notice.title[:100],
                self.fallback.path,
                exc_info=exc,
            )
            reason = DropReason.INTERNAL_ERROR
        self.fallback.write([notice], reason.value)
        self.stats.record_drop(reason)

    def _keep(self, now: float, wall: float, flushing: bool) -> None:
        """Lease, trimming and counts: each at its own pace."""
        spool = self.spool
        assert spool is not None
        # Scheduled on the monotonic clock: a wall clock set back two hours must not stop the
        # renewals. The values shared in the spool are wall times, which every process agrees on.
        if now >= self.next_lease:
            lapsed = self.leader and not self.leads(now)  # renewed late (a busy process): the sender parked
            held, fresh = spool.acquire(self.writer, wall, LEASE_TTL, holder_gone)
            if held != self.leader or fresh:
                self.term += 1
                self._wake_sender()
            elif held and lapsed:
                self._wake_sender()
            self.leader = held
            self.leader_until = now + LEASE_TTL - 2 * LEASE_RENEW if held else 0.0
            self.next_lease = now + LEASE_RENEW
        if self.leader and (now >= self.next_trim or wall >= self.next_trim_wall):
            self.next_trim, self.next_trim_wall = now + TRIM_EVERY, wall + TRIM_EVERY
            self._trim(spool, wall)
        if self.own_rows or self.depth or flushing or now >= self.next_count:
            self.next_count = now + COUNT_EVERY
            self.own_rows = spool.count(self.writer)
            self.depth = spool.count()
            self.counted = True

    def _trim(self, spool: Spool, wall: float) -> None:
        options = self.options
        counts: dict[str, int] = {}
        while True:  # a batch at a time: a flood's excess never sits in memory all at once
            rows = spool.trim(wall, options.spool_max_age, options.spool_max_rows, TRIM_BATCH)
            dropped: dict[str, list[Notice | None]] = {}
            for row, reason in rows:
                try:
                    notice: Notice | None = codec.decode(row.body).notice.replace(count=row.count)
                except (ValueError, TypeError, KeyError):
                    notice = None  # unreadable: counted all the same
                dropped.setdefault(reason, []).append(notice)
            for reason, notices in dropped.items():
                self.fallback.write([n for n in notices if n is not None], reason)
                self.stats.record_drop(reason, len(notices))  # after writing: whoever sees the count finds it
                counts[reason] = counts.get(reason, 0) + len(notices)
            if len(rows) < TRIM_BATCH:
                break
        for reason, count in counts.items():
            _logger.warning(
                "%d notice(s) dropped from the spool (%s); written to %s",
                count,
                "older than SPOOL_MAX_AGE" if reason == "spool_expired" else "beyond SPOOL_MAX_ROWS",
                self.fallback.path,
            )
        if self.sender.shared is not None and self.sender.spool is spool:
            self.sender.shared.prune(wall)
        spool.prune_groups(wall - options.group_window)

    def leftovers(self, inbox: MemoryQueue, *, readable: bool) -> list[Notice]:
        """At shutdown, what would be lost: the inbox, and a memory spool (when no thread uses it)."""
        lost = [entry.item.notice for entry in inbox.take_all()]
        inbox.settle()
        spool = self.spool
        if spool is not None and not spool.durable and readable:
            lost += [codec.decode(row.body).notice for row in spool.load(0, 1_000_000)]
        elif lost == [] and self.own_rows and spool is not None:
            _logger.info(
                "%d notice(s) wait in the spool at %s; delivered by the next process to start",
                self.own_rows,
                spool.path,
            )
        return lost

    def release(self) -> None:
        """Give up the lease (at shutdown, when no request of ours is in flight): others take over at once."""
        self.stopping = True
        if self.spool is not None and self.leader:
            try:
                self.spool.release(self.writer)
            except (SpoolBusy, SpoolUnavailable):
                pass  # it runs out on its own


@dataclass
class _Timer:
    interval: float
    callback: Callable[[float], None]
    due: float


class Timers:
    """The callbacks of ``DeliveryEngine.every``: run on the housekeeping thread, guarded."""

    def __init__(self) -> None:
        self._timers: list[_Timer] = []
        self._lock = threading.Lock()

    def add(self, interval: float, callback: Callable[[float], None], now: float) -> None:
        with self._lock:
            self._timers.append(_Timer(interval, callback, now + interval))

    def restart(self, now: float) -> None:
        """A new process: every timer starts a full interval from now."""
        self._lock = threading.Lock()
        for timer in self._timers:
            timer.due = now + timer.interval

    def run_due(self, now: float, wall: float, wait: float) -> float:
        """Run what is due (``wall`` is what callbacks get); the seconds until the next, at most ``wait``."""
        for timer in list(self._timers):
            if now >= timer.due:
                timer.due = now + timer.interval  # missed runs are skipped, not caught up
                with guard(f"running the timer {getattr(timer.callback, '__qualname__', timer.callback)!r}"):
                    timer.callback(wall)
            wait = min(wait, max(0.0, timer.due - now))
        return wait
