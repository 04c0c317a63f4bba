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
from typing import Final

from otel_discord.config import Channel, Settings, reload
from otel_discord.deliver.fallback import FILE_NAME, FallbackLog
from otel_discord.deliver.housekeeping import Housekeeper, Timers
from otel_discord.deliver.options import DeliveryOptions
from otel_discord.deliver.queue import MemoryQueue, Outgoing
from otel_discord.deliver.retry import RetryPolicy
from otel_discord.deliver.sender import Sender
from otel_discord.deliver.shared_limits import LEASE_RENEW
from otel_discord.deliver.spool import FILE_NAME as SPOOL_FILE
from otel_discord.deliver.spool import SpoolBusy, SpoolUnavailable, default_scope
from otel_discord.deliver.webhook import WebhookClient
from otel_discord.group import AUDIT_CHANNEL, GroupPolicy, group_key
from otel_discord.health import selftelemetry
from otel_discord.health.drops import DropReason, Stats, guard
from otel_discord.health.log import get_logger
from otel_discord.notice import Notice

__all__ = ["LINGER", "THREAD_NAME", "DeliveryEngine", "Outgoing", "get_engine"]

_logger = get_logger(__name__)

THREAD_NAME: Final = "otel-discord-delivery"
SPOOL_THREAD_NAME: Final = "otel-discord-spool"
#: How long a lone item waits for company before it is sent. The SDK hands over spans
#: in batches, so the notices of one export arrive together; waiting this long lets them
#: share a message (fewer requests, less rate limiting) and no person notices the delay.
#: A full message (10 embeds) or a flush sends at once.
LINGER: Final = 0.25
TICK: Final = 0.25  # housekeeping and lease-holder polling, idle
_FULL_LOOK: Final = 1.0  # an idle sender's full step at least this often (time moves limits and edits)
_FLUSH_TICK: Final = 0.02
_ERROR_PAUSE: Final = 1.0  # after an internal error, so a persistent bug cannot spin the CPU
_JOIN_GRACE: Final = 0.1


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
        self.options = options = options or DeliveryOptions.from_settings(settings)
        self.stats = Stats()
        self.fallback = fallback or FallbackLog(settings.spool_dir / FILE_NAME, stats=self.stats)
        self._client = client or WebhookClient(timeout=settings.timeout)
        self._clock, self._wall = clock, wall
        self._channels: dict[str, Channel] = dict(settings.channels)
        self._exempt: frozenset[str] = frozenset({AUDIT_CHANNEL})
        self._timers = Timers()
        self._closed = False
        self._reloader = reload.Reloader(options.reload_interval)
        self._reloader.track(settings)
        self.sender = Sender(
            client=self._client,
            stats=self.stats,
            fallback=self.fallback,
            retry=retry or RetryPolicy(),
            options=options,
            policy=GroupPolicy(options.group_window, options.group_edit_interval),
            clock=clock,
            wall=wall,
            linger=linger,
            writer="",
            channel_budget=channel_budget or (options.channel_limit, options.channel_window),
            channels=lambda: self._channels,
            settings=lambda: self.settings,
            flushing=lambda: self._flushing > 0,
            on_unknown_channel=self.reload_now,
            on_delivered=lambda seconds: selftelemetry.record_latency(self, seconds),
            exempt=lambda: self._exempt,
        )
        self._keeper = Housekeeper(
            path=settings.spool_dir / SPOOL_FILE if options.spool else None,
            scope=scope or default_scope(settings.config_file),  # which processes share one outbox
            pages=spool_pages,  # caps the spool file (tests: a full disk)
            options=options,
            stats=self.stats,
            fallback=self.fallback,
            sender=self.sender,
            channels=lambda: self._channels,
            wake_sender=lambda: self._wake.set(),
        )
        self._init_process_state()
        child_hook = weakref.WeakMethod(self._after_fork)
        os.register_at_fork(after_in_child=lambda: (m := child_hook()) is not None and m())
        with guard("registering self-telemetry and the SIGHUP handler"):
            selftelemetry.watch(self)
            reload.install_sighup(self._reloader)
        self._ensure_threads()

    def _init_process_state(self) -> None:
        """Everything that must not cross a fork: inbox, spool connection, threads, events, locks."""
        self._pid = os.getpid()
        writer = f"{socket.gethostname()}:{self._pid}:{secrets.token_hex(4)}"  # also the lease holder id
        self._keeper.reset(writer)
        self.sender.book.writer = writer
        self._inbox = MemoryQueue(self.settings.queue_size)
        self._lock = threading.Lock()  # lifecycle, thread start, channel updates
        self._stop = threading.Event()
        self._wake = threading.Event()  # the sender: new rows, flush, shutdown, lease won
        self._tick = threading.Event()  # housekeeping: new items, flush, shutdown
        self._idle = threading.Condition()  # notified after every step of either thread
        self._thread: threading.Thread | None = None
        self._housekeeper: threading.Thread | None = None
        self._flushing = 0  # callers inside flush(): no lingering, edits at once
        self._sender_term = 0
        self._edits = 0  # messages the sender owes an edit (as of its last step)
        self._folds_seen = 0  # the last generation of folds a whole sender step has seen
        self.sender.reset(None)
        self._timers.restart(self._clock())

    def _after_fork(self) -> None:
        # The parent delivers what it queued; the child starts empty, with its own counters,
        # and starts its threads on first use.
        self.stats.reset()
        self._init_process_state()

    def _ensure_process(self) -> None:
        if self._pid != os.getpid():  # forked without the at-fork hook (defensive)
            self._after_fork()

    def __repr__(self) -> str:
        return (
            f"DeliveryEngine(channels={sorted(self._channels)}, pending={self.pending()}, "
            f"leader={self.is_leader}, spool={self._keeper.spool!r}, closed={self._closed})"
        )

    # ------------------------------------------------------------------ public API
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def is_leader(self) -> bool:
        """Whether this process sends for the application (holds the spool's lease)."""
        return self._keeper.leads(self._clock())

    @property
    def durable(self) -> bool:
        """Whether notices are spooled on disk (False: memory only, lost if the process stops)."""
        spool = self._keeper.spool
        return spool is not None and spool.durable

    def pending(self) -> int:
        """Notices not yet delivered: this process's (in memory or spooled); for the lease holder,
        every notice of the application in the spool and the edits it owes; plus dropped
        notices not yet written to the fallback log. At least 1 until the spool was first read."""
        keeper = self._keeper
        if self.is_leader:
            spooled = keeper.depth + self._edits + (keeper.folds != self._folds_seen)
        else:
            spooled = keeper.own_rows + (not keeper.counted)
        return len(self._inbox) + spooled + self.fallback.pending()

    def spool_depth(self) -> int:
        """Notices of this application waiting in the spool (as last counted)."""
        return self._keeper.depth

    def submit(self, item: Outgoing, *, wake: bool = True) -> bool:
        """Queue ``item``; never blocks, no I/O. False when dropped (full inbox or after shutdown).

        ``wake=False`` leaves the spool thread asleep: a caller submitting a batch calls ``wake()``
        once at its end, so the batch reaches the spool in one transaction, not one per item.
        """
        self._ensure_process()
        if self._closed:
            self.stats.record_drop(DropReason.ENGINE_STOPPED)
            return False
        accepted = self._inbox.put(
            item, self._clock(), self._wall(), group_key(item.notice, item.channel, self._exempt)
        )
        if not accepted:
            self.record_loss(item.notice, DropReason.QUEUE_OVERFLOW)
        self._ensure_threads()
        if wake or len(self._inbox) * 2 >= self._inbox.maxsize:  # a long batch must not fill the inbox
            self._tick.set()
        return accepted

    def likely_folds(self, notice: Notice, channel: str) -> bool:
        """Whether ``notice`` will most likely fold into a group that reached the spool moments ago, so
        rendering it can wait (``Outgoing.render``) and will most likely never happen."""
        key = group_key(notice, channel, self._exempt)
        return key is not None and self._keeper.recently_grouped(channel, key, self._wall())

    def wake(self) -> None:
        """Have the spool thread take what was submitted with ``wake=False``."""
        self._tick.set()

    def record_loss(self, notice: Notice, reason: DropReason) -> None:
        """Count a notice that will not reach Discord and keep it for the fallback file (written on
        the engine's thread; no I/O here); the next message's drop note reports it."""
        self.stats.record_drop(reason)
        self.fallback.defer(notice, reason.value)

    def update_channels(self, channels: Mapping[str, Channel]) -> None:
        """Add or replace channels by name (each exporter brings those of its signal)."""
        with self._lock:
            merged = dict(self._channels)
            for name, channel in channels.items():
                old = merged.get(name)
                if old is not None and old.webhook != channel.webhook:
                    _logger.warning(
                        "channel %r is configured with two webhooks (%s and %s); using the latter",
                        name,
                        old.webhook,
                        channel.webhook,
                    )
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
        self._timers.add(float(interval), callback, self._clock())
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
        if not alive:
            self._keeper.release()  # another process takes over at once
        self._leftovers(timeout, alive)
        self.fallback.write_deferred()
        if not alive:  # else a thread is still inside a request; the process ends it
            self._client.close()
            if self._keeper.spool is not None:
                self._keeper.spool.close()

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
        """At shutdown: what only memory holds goes to the fallback log; the spool keeps the rest."""
        lost = self._keeper.leftovers(self._inbox, readable=not alive)
        if lost:
            self.stats.record_drop(DropReason.SHUTDOWN_TIMEOUT, len(lost))
            self.fallback.write(lost, DropReason.SHUTDOWN_TIMEOUT.value)
            _logger.warning(
                "%d notice(s) not delivered to Discord within %.1f s of shutdown; written to %s",
                len(lost),
                timeout,
                self.fallback.path,
            )

    def _ensure_threads(self) -> None:
        if all(t is not None and t.is_alive() for t in (self._thread, self._housekeeper)):
            return
        with self._lock:
            if self._stop.is_set():
                return
            for attr, target, name in (
                ("_housekeeper", self._housekeep_loop, SPOOL_THREAD_NAME),
                ("_thread", self._run, THREAD_NAME),
            ):
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
                self._keeper.degrade(exc)
                wait = 0.0
            except Exception:
                _logger.error(
                    "internal error while delivering notices to Discord (otel-discord keeps running)", exc_info=True
                )
            self._notify()
            if self._stop.is_set():
                break
            if wait is None or wait > 0:
                self._pause(wait)

    def _pause(self, wait: float | None) -> None:
        """Sleep until woken, ``wait`` is over, or another process changed the spool.

        Other processes' rows wake no one here, so the spool is looked at every ``TICK``;
        that look is one cheap read, and a full step (limits, groups, edits) runs only when
        it changed or at least every ``_FULL_LOOK``.
        """
        if not self.is_leader:
            # A process without the lease still looks now and then: a wake-up it missed
            # (the lease renewed late, another holder gone) must not park it for good.
            self._wake.wait(LEASE_RENEW)
            return
        end = self._clock() + min(_FULL_LOOK if wait is None else wait, _FULL_LOOK)
        while not self._stop.is_set():
            left = end - self._clock()
            if left <= 0 or self._wake.wait(min(left, TICK)):
                return
            try:
                if self.sender.changed():
                    return
            except Exception:  # the step will meet it too, and knows what to do
                return

    def _step(self) -> float | None:
        if self.fallback.pending():
            self.fallback.write_deferred()
        keeper = self._keeper
        spool = keeper.spool
        if spool is None or not self.is_leader:
            if self.sender.spool is not None:
                self.sender.reset(None)
            return None
        if self.sender.spool is not spool or self._sender_term != keeper.term:
            self.sender.reset(spool)
            self._sender_term = keeper.term
        folds = keeper.folds  # read before the step reads the spool: later folds stay unseen
        wait = self.sender.step()
        book = self.sender.book
        if book.reposted:  # a group went back to the outbox (its message was deleted)
            keeper.depth += book.reposted
            book.reposted = 0
            self.sender.poke()
        self._edits = len(book)
        self._folds_seen = folds
        if wait == 0 and keeper.depth:
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
        now = self._clock()
        self._keeper.tick(self._inbox, now, self._wall(), flushing=self._flushing > 0)
        # Idle, the next look is due at the lease's renewal: submits, flushes and timers wake it sooner.
        idle = TICK if len(self._inbox) else min(LEASE_RENEW, max(TICK, self._keeper.next_lease - now))
        wait = self._timers.run_due(now, self._wall(), idle)
        self._apply(self._reloader.check(now))
        if self.fallback.pending():
            self.fallback.write_deferred()
        return wait

    def _apply(self, changes: Sequence[reload.Change]) -> bool:
        """Use reloaded channels: the sender looks them up for every request."""
        if not changes:
            return False
        with self._lock:
            self._channels, changed = reload.merge(self._channels, changes)
        _logger.warning("configuration reloaded; channels changed: %s", changed)
        self._wake.set()
        return True


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
