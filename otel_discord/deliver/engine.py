"""The delivery engine: one per process, shared by all exporters; never loses an alert quietly.

``submit()`` runs on the SDK's export thread: it puts the item in a bounded
in-memory inbox (O(1), no I/O, repeats of a group folded) and returns. Two
named daemon threads do the rest (started with the engine, and again in a
forked child on its first use: gunicorn forks after the exporter is built):

* housekeeping (``otel-discord-spool``): within moments moves the inbox into
  the durable SQLite spool (``spool.py``; memory-only if the spool cannot be
  used), renews the send lease, trims the spool by age and size, runs the
  timers of ``every()`` and reloads a changed configuration (``reload.py``).
  It never waits for Discord, so a notice is on disk within a second even
  while a request hangs.
* delivery (``otel-discord-delivery``): in the process holding the lease, the
  sender (``sender.py``) delivers the spool in order, groups repeats by
  editing their message, and waits for Discord's limits before every request.
  The other processes of the application only spool (``shared_limits.py``
  explains why).

Everything finally dropped is counted in ``stats``, reported in the next
message's content and written to the fallback log (``fallback.py``).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from otel_discord import reload, selftelemetry
from otel_discord.config import Channel, Settings
from otel_discord.deliver import codec
from otel_discord.deliver.fallback import FILE_NAME, FallbackLog
from otel_discord.deliver.options import DeliveryOptions
from otel_discord.deliver.queue import Entry, MemoryQueue, Outgoing
from otel_discord.deliver.retry import RetryPolicy
from otel_discord.deliver.sender import Sender
from otel_discord.deliver.shared_limits import LEASE_RENEW, LEASE_TTL
from otel_discord.deliver.spool import FILE_NAME as SPOOL_FILE
from otel_discord.deliver.spool import Pending, Spool, SpoolBusy, SpoolUnavailable, default_scope
from otel_discord.deliver.webhook import WebhookClient
from otel_discord.group import AUDIT_CHANNEL, GroupPolicy, group_key
from otel_discord.notice import Notice
from otel_discord.stats import DropReason, Stats, guard, redacting_logger

__all__ = ["LINGER", "THREAD_NAME", "DeliveryEngine", "Outgoing", "get_engine"]

_logger = redacting_logger(__name__)

THREAD_NAME: Final = "otel-discord-delivery"
SPOOL_THREAD_NAME: Final = "otel-discord-spool"
#: How long a lone item waits for company before it is sent. The SDK hands over spans
#: in batches, so the notices of one export arrive together; waiting this long lets them
#: share a message (fewer requests, less rate limiting) and no person notices the delay.
#: A full message (10 embeds) or a flush sends at once.
LINGER: Final = 0.25
TICK: Final = 0.25  # housekeeping and lease-holder polling, idle
_FLUSH_TICK: Final = 0.02
_ERROR_PAUSE: Final = 1.0  # after an internal error, so a persistent bug cannot spin the CPU
_TRIM_EVERY: Final = 5.0
_COUNT_EVERY: Final = 1.0
_JOIN_GRACE: Final = 0.1


@dataclass
class _Timer:
    interval: float
    callback: Callable[[float], None]
    due: float


class DeliveryEngine:
    """Delivers ``Outgoing`` items to Discord from background threads; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: WebhookClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        channel_budget: tuple[int, float] | None = None,
        retry: RetryPolicy | None = None,
        fallback: FallbackLog | None = None,
        linger: float = LINGER,
        options: DeliveryOptions | None = None,
        scope: str | None = None,
        spool_pages: int | None = None,
    ) -> None:
        self.settings = settings
        self.options = options or DeliveryOptions.from_settings(settings)
        self.stats = Stats()
        self.fallback = fallback or FallbackLog(settings.spool_dir / FILE_NAME, stats=self.stats)
        self._client = client or WebhookClient(timeout=settings.timeout)
        self._clock, self._wall = clock, wall
        self._channels: dict[str, Channel] = dict(settings.channels)
        self._spool_path = settings.spool_dir / SPOOL_FILE if self.options.spool else None
        self._spool_pages = spool_pages  # caps the spool file (tests: a full disk)
        self._scope = scope or default_scope(settings.config_file)  # which processes share one outbox
        self._exempt: frozenset[str] = frozenset({AUDIT_CHANNEL})
        self._timers: list[_Timer] = []
        self._closed = False
        self._reloader = reload.Reloader(self.options.reload_interval)
        self._reloader.track(settings)
        self.sender = Sender(
            client=self._client, stats=self.stats, fallback=self.fallback, retry=retry or RetryPolicy(),
            options=self.options, policy=GroupPolicy(self.options.group_window, self.options.group_edit_interval),
            clock=clock, wall=wall, linger=linger, writer="",
            channel_budget=channel_budget or (self.options.channel_limit, self.options.channel_window),
            channels=lambda: self._channels, settings=lambda: self.settings, flushing=lambda: self._flushing > 0,
            on_unknown_channel=self.reload_now, on_delivered=selftelemetry.record_latency,
            exempt=lambda: self._exempt,
        )
        self._init_process_state()
        child_hook = weakref.WeakMethod(self._after_fork)
        os.register_at_fork(after_in_child=lambda: (m := child_hook()) is not None and m())
        selftelemetry.watch(self)
        reload.install_sighup(self._reloader)
        self._ensure_threads()

    def _init_process_state(self) -> None:
        """Everything that must not cross a fork: inbox, spool connection, threads, events, locks."""
        self._pid = os.getpid()
        self._writer = f"{socket.gethostname()}:{self._pid}:{secrets.token_hex(4)}"  # also the lease holder
        self.sender.book.writer = self._writer
        self._inbox = MemoryQueue(self.settings.queue_size)
        self._spool: Spool | None = None
        self._memory_only = False
        self._lock = threading.Lock()  # lifecycle, thread start, channel updates
        self._stop = threading.Event()
        self._wake = threading.Event()  # the sender: new rows, flush, shutdown, lease won
        self._tick = threading.Event()  # housekeeping: new items, flush, shutdown
        self._idle = threading.Condition()  # notified after every step of either thread
        self._thread: threading.Thread | None = None
        self._housekeeper: threading.Thread | None = None
        self._flushing = 0  # callers inside flush(): no lingering, edits at once
        self._leader = False
        self._leader_until = 0.0
        self._term = self._sender_term = 0
        self._next_lease = self._next_trim = self._next_count = 0.0
        self._own_rows = self._depth = self._edits = 0
        # Folds into live groups (edits owed) by generation: pending until a whole step saw them.
        self._folds = self._folds_seen = 0
        self._counted = False  # the spool and the lease were looked at once
        self.sender.reset(None)
        now = self._clock()
        for timer in self._timers:
            timer.due = now + timer.interval

    def _after_fork(self) -> None:
        # The parent delivers what it queued; the child starts empty, with its own counters,
        # and starts its threads on first use.
        self.stats.reset()
        self._init_process_state()

    def _ensure_process(self) -> None:
        if self._pid != os.getpid():  # forked without the at-fork hook (defensive)
            self._after_fork()

    def __repr__(self) -> str:
        return (f"DeliveryEngine(channels={sorted(self._channels)}, pending={self.pending()}, "
                f"leader={self.is_leader}, spool={self._spool!r}, closed={self._closed})")

    # ------------------------------------------------------------------ public API
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def is_leader(self) -> bool:
        """Whether this process sends for the application (holds the spool's lease)."""
        return self._leader and self._clock() < self._leader_until

    @property
    def durable(self) -> bool:
        """Whether notices are spooled on disk (False: memory only, lost if the process stops)."""
        return self._spool is not None and self._spool.durable

    def pending(self) -> int:
        """Notices not yet delivered: this process's (in memory or spooled); for the lease holder,
        every notice of the application in the spool and the edits it owes; plus dropped
        notices not yet written to the fallback log. At least 1 until the spool was first read."""
        if self.is_leader:
            spooled = self._depth + self._edits + (self._folds != self._folds_seen)
        else:
            spooled = self._own_rows + (not self._counted)
        return len(self._inbox) + spooled + self.fallback.pending()

    def spool_depth(self) -> int:
        """Notices of this application waiting in the spool (as last counted)."""
        return self._depth

    def submit(self, item: Outgoing) -> bool:
        """Queue ``item``; never blocks, no I/O. False when dropped (full inbox or after shutdown)."""
        self._ensure_process()
        if self._closed:
            self.stats.record_drop(DropReason.ENGINE_STOPPED)
            return False
        accepted = self._inbox.put(item, self._clock(), self._wall(),
                                   group_key(item.notice, item.channel, self._exempt))
        if not accepted:
            self.stats.record_drop(DropReason.QUEUE_OVERFLOW)
            self.fallback.defer(item.notice, DropReason.QUEUE_OVERFLOW.value)
        self._ensure_threads()
        self._tick.set()
        return accepted

    def update_channels(self, channels: Mapping[str, Channel]) -> None:
        """Add or replace channels by name (each exporter brings those of its signal)."""
        with self._lock:
            merged = dict(self._channels)
            for name, channel in channels.items():
                old = merged.get(name)
                if old is not None and old.webhook != channel.webhook:
                    _logger.warning("channel %r is configured with two webhooks (%s and %s); using the latter",
                                    name, old.webhook, channel.webhook)
                merged[name] = channel
            self._channels = merged  # one assignment: the sender reads either dict whole

    def exempt(self, channels: Iterable[str]) -> None:
        """Never group nor collapse notices for these channels (audit channels: each one counts)."""
        with self._lock:
            self._exempt = self._exempt | frozenset(channels)

    def track(self, settings: Settings, resolver: reload.Resolver | None = None) -> None:
        """Reload ``settings``' channels when their configuration changes (see ``reload.py``)."""
        self._reloader.track(settings, resolver)

    def reload_now(self) -> bool:
        """Check the configuration at once (any thread); True if channels changed."""
        return self._apply(self._reloader.check(self._clock(), force=True))

    def every(self, interval: float, callback: Callable[[float], None]) -> None:
        """Call ``callback(now)`` every ``interval`` seconds on the engine's housekeeping thread.

        ``now`` is unix seconds. Exceptions are logged and swallowed. Callbacks run in
        every process whose engine runs (each gunicorn worker too): check ``is_leader``
        to act once per application. They must be quick: they share the thread that
        writes the spool.
        """
        if not interval > 0:
            _logger.error("every(): interval must be above zero, got %r; callback ignored", interval)
            return
        with self._lock:
            self._timers.append(_Timer(float(interval), callback, self._clock() + interval))
        self._ensure_threads()
        self._tick.set()

    def flush(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds until this process's notices are delivered; True if they were."""
        return self._wait(lambda: self.pending() == 0, timeout, deliver=True)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Deliver within ``timeout`` (the lease holder) or at least spool (the others), then stop.

        What is spooled stays for the next lease holder or the next start; what
        only memory held goes to the fallback log.
        """
        self._ensure_process()
        with self._lock:
            if self._closed:
                _logger.warning("delivery engine already shut down, ignoring call")
                return
            self._closed = True
        deadline = time.monotonic() + max(0.0, timeout)
        if self.is_leader or not self.durable:
            self.flush(timeout)
        else:
            self._wait(lambda: len(self._inbox) == 0, timeout, deliver=False)
        self._stop.set()
        self._wake.set()
        self._tick.set()
        for thread in (self._thread, self._housekeeper):
            if thread is not None and thread is not threading.current_thread():
                # A thread between two steps stops at once; one inside a request is left to the process.
                thread.join(max(_JOIN_GRACE, deadline - time.monotonic()))
        alive = any(t is not None and t.is_alive() for t in (self._thread, self._housekeeper))
        self._leftovers(timeout, alive)
        self.fallback.write_deferred()
        if not alive:  # else a thread is still inside a request; the process ends it
            self._client.close()
            if self._spool is not None:
                self._spool.close()

    # ------------------------------------------------------------------ lifecycle helpers
    def _wait(self, done: Callable[[], bool], timeout: float, *, deliver: bool) -> bool:
        self._ensure_process()
        deadline = time.monotonic() + max(0.0, timeout)
        if done():
            return True
        self._ensure_threads()
        with self._idle:
            self._flushing += deliver
            self._wake.set()
            self._tick.set()
            try:
                while not done():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._idle.wait(min(remaining, 0.05))
            finally:
                self._flushing -= deliver
        return True

    def _leftovers(self, timeout: float, alive: bool) -> None:
        spool = self._spool
        if spool is not None and self._leader and not alive:
            with guard("releasing the send lease"):
                try:
                    spool.release(self._writer)  # another process takes over at once
                except (SpoolBusy, SpoolUnavailable):
                    pass  # it expires on its own
        lost = [entry.item.notice for entry in self._inbox.take_all()]
        self._inbox.settle()
        if spool is not None and not spool.durable and not alive:
            with guard("reading the memory spool"):
                lost += [codec.decode(row.body).notice for row in spool.load(0, 1_000_000)]
        if lost:
            self.stats.record_drop(DropReason.SHUTDOWN_TIMEOUT, len(lost))
            self.fallback.write(lost, DropReason.SHUTDOWN_TIMEOUT.value)
            _logger.warning("%d notice(s) not delivered to Discord within %.1f s of shutdown; written to %s",
                            len(lost), timeout, self.fallback.path)
        elif self._own_rows and spool is not None and spool.durable:
            _logger.info("%d notice(s) wait in the spool at %s; delivered by the next process to start",
                         self._own_rows, spool.path)

    def _ensure_threads(self) -> None:
        if all(t is not None and t.is_alive() for t in (self._thread, self._housekeeper)):
            return
        with self._lock:
            if self._stop.is_set():
                return
            for attr, target, name in (("_housekeeper", self._housekeep_loop, SPOOL_THREAD_NAME),
                                       ("_thread", self._run, THREAD_NAME)):
                current = getattr(self, attr)
                if current is not None and current.is_alive():
                    continue
                thread = threading.Thread(target=target, name=name, daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # "can't create new thread at interpreter shutdown"
                    _logger.debug("cannot start %s (interpreter shutting down)", name)
                    return
                setattr(self, attr, thread)

    def _notify(self) -> None:
        with self._idle:
            self._idle.notify_all()

    # ------------------------------------------------------------------ delivery thread
    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before looking at the spool, so a change from now on wakes us
            wait: float | None = _ERROR_PAUSE
            try:
                wait = self._step()
            except SpoolBusy:
                wait = TICK
            except SpoolUnavailable as exc:
                if self._stop.is_set():
                    break
                self._degrade(exc)
                wait = 0.0
            except Exception:
                _logger.error("internal error while delivering notices to Discord (otel-discord keeps running)",
                              exc_info=True)
            self._notify()
            if self._stop.is_set():
                break
            if wait is None:
                self._wake.wait(TICK if self.is_leader else None)
            elif wait > 0:
                self._wake.wait(min(wait, TICK))  # other processes' rows need us to look again soon

    def _step(self) -> float | None:
        if self.fallback.pending():
            self.fallback.write_deferred()
        spool = self._spool
        if spool is None or not self.is_leader:
            if self.sender.spool is not None:
                self.sender.reset(None)
            return None
        if self.sender.spool is not spool or self._sender_term != self._term:
            self.sender.reset(spool)
            self._sender_term = self._term
        folds = self._folds  # read before the step reads the spool: later folds stay unseen
        wait = self.sender.step()
        book = self.sender.book
        if book.reposted:  # a group went back to the outbox (its message was deleted)
            self._depth += book.reposted
            book.reposted = 0
            self.sender.poke()
        self._edits = len(book)
        self._folds_seen = folds
        if wait == 0 and self._depth:
            self._tick.set()  # recount what is still waiting
        return wait

    # ------------------------------------------------------------------ housekeeping thread
    def _housekeep_loop(self) -> None:
        while not self._stop.is_set():
            self._tick.clear()
            wait = _ERROR_PAUSE
            with guard("keeping the delivery spool"):
                wait = self._housekeep()
            self._notify()
            if self._stop.is_set():
                break
            self._tick.wait(_FLUSH_TICK if self._flushing else wait)

    def _housekeep(self) -> float:
        now, wall = self._clock(), self._wall()
        try:
            if self._spool is None:
                self._open_spool()
            if self._spool is not None:
                self._persist(wall)
                self._keep(now, wall)
        except SpoolBusy:
            pass  # another process holds the file; the inbox keeps its items until the next tick
        except SpoolUnavailable as exc:
            self._degrade(exc)
        wait = TICK
        for timer in list(self._timers):
            if now >= timer.due:
                timer.due = now + timer.interval  # missed runs are skipped, not caught up
                with guard(f"running the timer {getattr(timer.callback, '__qualname__', timer.callback)!r}"):
                    timer.callback(self._wall())
            wait = min(wait, max(0.0, timer.due - now))
        self._apply(self._reloader.check(now))
        if self.fallback.pending():
            self.fallback.write_deferred()
        return wait

    def _open_spool(self) -> None:
        if self._spool_path is not None and not self._memory_only:
            try:
                self._spool = Spool(self._spool_path, self._scope, max_pages=self._spool_pages).open()
                return
            except SpoolUnavailable as exc:
                self._degrade(exc)
                return
        self._spool = Spool(None, self._scope).open()
        self._memory_only = True

    def _degrade(self, exc: BaseException) -> None:
        """The spool file cannot be used: deliver from memory for the rest of the process."""
        with self._lock:
            if self._memory_only or self._stop.is_set():
                return
            self._memory_only = True
            _logger.error(
                "cannot use the delivery spool %s (%s); delivering from memory only: notices waiting for "
                "Discord are lost if the process stops, and processes no longer share Discord's rate limits",
                self._spool_path, exc,
            )
            self._spool = Spool(None, self._scope).open()
            self._next_lease = 0.0
            self._wake.set()

    def _persist(self, wall: float) -> None:
        """Move the inbox into the spool (one transaction)."""
        assert self._spool is not None
        entries = self._inbox.take_all()
        if not entries:
            return
        items: list[Pending] = []
        for entry in entries:
            try:
                items.append(self._pending(entry))
            except (TypeError, ValueError) as exc:  # a non-JSON value: no message could ever carry it
                _logger.warning("channel %r: notice %r cannot be encoded (%s); written to %s", entry.item.channel,
                                entry.item.notice.title[:100], exc, self.fallback.path)
                self.stats.record_drop(DropReason.INVALID_PAYLOAD)
                self.fallback.write([entry.item.notice], DropReason.INVALID_PAYLOAD.value)
        try:
            created, grouped = self._spool.persist(items, writer=self._writer, policy=self.sender.book.policy,
                                                   now=wall)
        except BaseException:
            self._inbox.give_back(entries)
            raise
        self.sender.poke()  # before the flags below: a sender that clears them then sees the poke
        self._own_rows += len(created)
        self._depth += len(created)
        self._folds += grouped > 0  # an edit is owed: flush waits for it
        self._inbox.settle()
        self._wake.set()

    def _pending(self, entry: Entry) -> Pending:
        item, notice = entry.item, entry.item.notice
        channel = self._channels.get(item.channel)
        return Pending(item.channel, entry.group, channel.webhook.webhook_id if channel else None, entry.wall,
                       notice.count, notice.first_seen if notice.first_seen is not None else notice.timestamp,
                       notice.timestamp, codec.encode(item))

    def _keep(self, now: float, wall: float) -> None:
        """Lease, trimming and counts: at their own pace."""
        spool = self._spool
        assert spool is not None
        if wall >= self._next_lease:
            held, fresh = spool.acquire(self._writer, wall, LEASE_TTL, _holder_gone)
            if held != self._leader or fresh:
                self._term += 1
                self._wake.set()
            self._leader = held
            self._leader_until = now + LEASE_TTL - 2 * LEASE_RENEW if held else 0.0
            self._next_lease = wall + LEASE_RENEW
        if self._leader and wall >= self._next_trim:
            self._next_trim = wall + _TRIM_EVERY
            self._trim(spool, wall)
        if self._own_rows or self._depth or self._flushing or wall >= self._next_count:
            self._next_count = wall + _COUNT_EVERY
            self._own_rows = spool.count(self._writer)
            self._depth = spool.count()
            self._counted = True

    def _trim(self, spool: Spool, wall: float) -> None:
        options = self.options
        dropped: dict[str, list[Notice]] = {}
        for row, reason in spool.trim(wall, options.spool_max_age, options.spool_max_rows):
            try:
                notice = codec.decode(row.body).notice.replace(count=row.count)
            except (ValueError, TypeError, KeyError):
                notice = None  # unreadable: counted all the same
            dropped.setdefault(reason, []).append(notice)
        for reason, notices in dropped.items():
            self.fallback.write([n for n in notices if n is not None], reason)
            self.stats.record_drop(reason, len(notices))
            _logger.warning("%d notice(s) dropped from the spool (%s); written to %s", len(notices),
                            "older than SPOOL_MAX_AGE" if reason == "spool_expired" else "beyond SPOOL_MAX_ROWS",
                            self.fallback.path)
        if self.sender.shared is not None and self.sender.spool is spool:
            self.sender.shared.prune(wall)
        spool.prune_groups(wall - options.group_window)

    def _apply(self, changes: Sequence[reload.Change]) -> bool:
        if not changes:
            return False
        with self._lock:
            merged = dict(self._channels)
            for old, new in changes:
                for name in old.channels.keys() - new.channels.keys():
                    merged.pop(name, None)
                merged.update(new.channels)
            changed = sorted(name for name in merged.keys() | self._channels.keys()
                             if merged.get(name) != self._channels.get(name))
            self._channels = merged
        _logger.warning("configuration reloaded; channels changed: %s",
                        ", ".join(f"{name} → {merged[name].webhook}" if name in merged else f"{name} (removed)"
                                  for name in changed))
        self._wake.set()
        return True


def _holder_gone(holder: str) -> bool:
    """Whether a lease holder (``host:pid:token``) is a process of this host that no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, someone else's
        return False
    return False


_engine_lock = threading.Lock()
_engine: DeliveryEngine | None = None


def _reset_module_lock() -> None:
    global _engine_lock
    _engine_lock = threading.Lock()  # a thread of the parent may have held it while forking


os.register_at_fork(after_in_child=_reset_module_lock)


def get_engine(settings: Settings) -> DeliveryEngine:
    """The process's engine (created on first use; a new one after shutdown).

    A forked child keeps the object but not its state: inbox, spool connection,
    threads and HTTP session are renewed in the child, so it works on its own.
    Each caller's settings are watched for configuration changes.
    """
    global _engine
    with _engine_lock:
        engine = _engine
        if engine is None or engine.closed:
            engine = _engine = DeliveryEngine(settings)
        else:
            engine.update_channels(settings.channels)
            engine.track(settings)
        return engine
