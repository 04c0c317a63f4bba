"""The delivery engine: one queue and one worker thread per process, shared by all exporters.

``submit()`` runs on the SDK's export thread and only enqueues (no I/O, never
blocks). A named daemon thread, started on the first submit and again in a
forked child (gunicorn forks after the exporter is built), takes queued items
channel by channel, packs up to 10 embeds into one message (a lone item lingers
briefly for company), waits for Discord's rate limits *before* sending, and
decides what each answer means:

* 2xx: delivered.
* 429: the rate limiter blocks that scope for ``retry_after``; the items stay.
* 400/413: Discord rejected the message. Several embeds are resent one by one
  so only the bad one is dropped (reason ``invalid_payload``).
* 401/404 (Unknown Webhook, Invalid Webhook Token): the webhook is disabled for
  the life of the process; its channel's notices go to the fallback log.
* 5xx, timeouts, refused connections: exponential backoff, retried while the
  engine runs.

Everything finally dropped is counted in ``stats``, reported in the next
message's content and written to the fallback log (``fallback.py``).
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_discord.config import Channel, Settings
from otel_discord.deliver.fallback import FILE_NAME, FallbackLog
from otel_discord.deliver.ratelimit import INFO, ChannelBudget, RateLimiter
from otel_discord.deliver.retry import RetryPolicy
from otel_discord.deliver.webhook import Outcome, WebhookClient
from otel_discord.notice import Notice
from otel_discord.render import limits
from otel_discord.render.payload import build_payload, pack
from otel_discord.stats import DropReason, Stats, format_drops, guard, redacting_logger

_logger = redacting_logger(__name__)

THREAD_NAME: Final = "otel-discord-delivery"
#: How long a lone item waits for company before it is sent. The SDK hands over spans
#: in batches, so the notices of one export arrive together; waiting this long lets them
#: share a message (fewer requests, less rate limiting) and no person notices the delay.
#: A full message (10 embeds) or a flush sends at once.
LINGER: Final = 0.25
_ERROR_PAUSE: Final = 1.0  # after an internal error, so a persistent bug cannot spin the CPU
_UNEXPECTED_4XX_ATTEMPTS: Final = 3  # e.g. 403 Missing Permissions: maybe fixed by a human, soon


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

    def pack_key(self) -> tuple[Any, ...]:
        """Items may share one message only if everything outside the embed is equal."""
        return (self.content, self.flags, self.mention_roles, self.mention_users)


class _Entry:
    __slots__ = ("seq", "item", "queued_at", "solo")

    def __init__(self, seq: int, item: Outgoing, queued_at: float) -> None:
        self.seq = seq
        self.item = item
        self.queued_at = queued_at
        self.solo = False  # Discord rejected a message holding it: resend it alone


class _MemoryQueue:
    """Bounded FIFO lanes, one per channel.

    The engine uses nothing but ``put``, ``channels``, ``peek``, ``remove`` and
    ``drain``, so a durable SQLite spool (enqueue, claim, ack) can replace it.
    Items stay queued until ``remove``: the bound covers what is in flight too.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._lanes: dict[str, deque[_Entry]] = {}
        self._size = 0
        self._seq = 0

    def __len__(self) -> int:
        return self._size

    def put(self, item: Outgoing, now: float) -> bool:
        with self._lock:
            if self._size >= self.maxsize:
                return False
            self._seq += 1
            self._lanes.setdefault(item.channel, deque()).append(_Entry(self._seq, item, now))
            self._size += 1
            return True

    def channels(self) -> list[str]:
        with self._lock:
            return [name for name, lane in self._lanes.items() if lane]

    def peek(self, channel: str, n: int | None = None) -> list[_Entry]:
        with self._lock:
            lane = self._lanes.get(channel) or ()
            return list(lane) if n is None else [entry for _, entry in zip(range(n), lane)]

    def remove(self, entries: Iterable[_Entry]) -> list[_Entry]:
        """Remove ``entries``; return those that were still queued (``drain`` may have taken them)."""
        wanted = {entry.seq: entry for entry in entries}
        removed: list[_Entry] = []
        with self._lock:
            for channel in {entry.item.channel for entry in wanted.values()}:
                lane = self._lanes.get(channel)
                if not lane:
                    continue
                while lane and lane[0].seq in wanted:  # the usual case: a batch is a prefix
                    removed.append(lane.popleft())
                if any(entry.seq in wanted for entry in lane):
                    kept = deque()
                    for entry in lane:
                        (removed if entry.seq in wanted else kept).append(entry)
                    self._lanes[channel] = kept
                if not self._lanes[channel]:
                    del self._lanes[channel]
            self._size -= len(removed)
        return removed

    def drain(self) -> list[_Entry]:
        with self._lock:
            entries = [entry for lane in self._lanes.values() for entry in lane]
            self._lanes.clear()
            self._size = 0
            return entries


class DeliveryEngine:
    """Delivers ``Outgoing`` items to Discord from a background thread; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: WebhookClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        channel_budget: tuple[int, float] = (30, 60.0),
        retry: RetryPolicy | None = None,
        fallback: FallbackLog | None = None,
        linger: float = LINGER,
    ) -> None:
        self.settings = settings
        self._linger = linger
        self.stats = Stats()
        self.fallback = fallback or FallbackLog(settings.spool_dir / FILE_NAME, stats=self.stats)
        self._client = client or WebhookClient(timeout=settings.timeout)
        self._clock = clock
        self._retry_template = retry or RetryPolicy()
        self._channels: dict[str, Channel] = dict(settings.channels)
        # Worker-only state, kept across a fork: what Discord told us still holds.
        self._limiter = RateLimiter()
        self._budget = ChannelBudget(*channel_budget)
        self._channel_keys: dict[str, str] = {}  # webhook id → "channel:<id>"
        self._disabled: dict[str, str] = {}  # webhook id → why
        self._closed = False
        self._init_process_state()
        child_hook = weakref.WeakMethod(self._after_fork)
        os.register_at_fork(after_in_child=lambda: (m := child_hook()) is not None and m())

    def _init_process_state(self) -> None:
        """Everything that must not cross a fork: queue, thread, events, locks, backoffs."""
        self._pid = os.getpid()
        self._queue = _MemoryQueue(self.settings.queue_size)
        self._lock = threading.Lock()  # lifecycle, thread start, channel updates
        self._stop = threading.Event()
        self._wake = threading.Event()  # new work, flush or shutdown: stop waiting
        self._idle = threading.Condition()  # notified after every worker step (flush waits on it)
        self._thread: threading.Thread | None = None
        self._retry: dict[str, RetryPolicy] = {}
        self._not_before: dict[str, float] = {}
        self._turn = 0
        self._flushing = 0  # callers inside flush(): send without lingering
        self._warned_channels: set[str] = set()

    def _after_fork(self) -> None:
        # The parent delivers what it queued; the child starts empty, with its own counters.
        self.stats.reset()
        self._init_process_state()

    def _ensure_process(self) -> None:
        if self._pid != os.getpid():  # forked without the at-fork hook (defensive)
            self._after_fork()

    def __repr__(self) -> str:
        return f"DeliveryEngine(channels={sorted(self._channels)}, pending={self.pending()}, closed={self._closed})"

    # ------------------------------------------------------------------ public API
    @property
    def closed(self) -> bool:
        return self._closed

    def pending(self) -> int:
        """Items queued or in flight, plus dropped notices not yet written to the fallback log."""
        return len(self._queue) + self.fallback.pending()

    def submit(self, item: Outgoing) -> bool:
        """Queue ``item``; never blocks, no I/O. False when dropped (full queue or after shutdown)."""
        self._ensure_process()
        if self._closed:
            self.stats.record_drop(DropReason.ENGINE_STOPPED)
            return False
        accepted = self._queue.put(item, self._clock())
        if not accepted:
            self.stats.record_drop(DropReason.QUEUE_OVERFLOW)
            self.fallback.defer(item.notice, DropReason.QUEUE_OVERFLOW.value)
        self._ensure_worker()
        self._wake.set()
        return accepted

    def update_channels(self, channels: Mapping[str, Channel]) -> None:
        """Add or replace channels by name (each exporter brings those of its signal)."""
        with self._lock:
            merged = dict(self._channels)
            for name, channel in channels.items():
                old = merged.get(name)
                if old is not None and old.webhook != channel.webhook:
                    _logger.warning(
                        "channel %r is configured with two webhooks (%s and %s); using the latter",
                        name, old.webhook, channel.webhook,
                    )
                merged[name] = channel
            self._channels = merged  # one assignment: the worker reads either dict whole

    def flush(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the queue to empty; True if it did."""
        self._ensure_process()
        deadline = time.monotonic() + max(0.0, timeout)
        if self.pending() == 0:
            return True
        self._ensure_worker()
        with self._idle:
            self._flushing += 1
            self._wake.set()
            try:
                while self.pending() > 0:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._idle.wait(remaining)
            finally:
                self._flushing -= 1
        return True

    def shutdown(self, timeout: float = 5.0) -> None:
        """Flush within ``timeout``, stop the worker, and write what is left to the fallback log."""
        self._ensure_process()
        with self._lock:
            if self._closed:
                _logger.warning("delivery engine already shut down, ignoring call")
                return
            self._closed = True
        deadline = time.monotonic() + max(0.0, timeout)
        self.flush(timeout)
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        leftover = self._queue.drain()
        if leftover:
            self.stats.record_drop(DropReason.SHUTDOWN_TIMEOUT, len(leftover))
            self.fallback.write([entry.item.notice for entry in leftover], DropReason.SHUTDOWN_TIMEOUT.value)
            _logger.warning(
                "%d notice(s) not delivered to Discord within %.1f s of shutdown; written to %s",
                len(leftover), timeout, self.fallback.path,
            )
        self.fallback.write_deferred()
        if thread is None or not thread.is_alive():
            self._client.close()  # else the worker is still inside a request; the process ends it

    # ------------------------------------------------------------------ worker
    def _ensure_worker(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
            try:
                thread.start()
            except RuntimeError:  # "can't create new thread at interpreter shutdown"
                _logger.debug("cannot start the delivery thread (interpreter shutting down)")
                return
            self._thread = thread

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before looking at the queue, so a submit from now on wakes us
            wait: float | None = _ERROR_PAUSE
            with guard("delivering notices to Discord"):
                wait = self._step()
            with self._idle:
                self._idle.notify_all()
            if self._stop.is_set():
                break
            if wait is None:
                self._wake.wait()
            elif wait > 0:
                self._wake.wait(wait)

    def _step(self) -> float | None:
        """Act on one channel (one request at most). Returns seconds until there may be more
        to do (0 = at once), or None when idle."""
        if self.fallback.pending():
            self.fallback.write_deferred()
        names = self._queue.channels()
        if not names:
            return None
        now = self._clock()
        soonest: float | None = None
        for i in range(len(names)):  # round robin: one busy channel cannot starve the others
            name = names[(self._turn + i) % len(names)]
            wait = self._serve(name, now)
            if wait <= 0:
                self._turn = self._turn + i + 1
                return 0.0
            soonest = wait if soonest is None else min(soonest, wait)
        return soonest

    def _serve(self, name: str, now: float) -> float:
        """Send, learn or drop for channel ``name`` and return 0, or return how long it must wait."""
        channel = self._channels.get(name)
        if channel is None:
            if name not in self._warned_channels:
                self._warned_channels.add(name)
                _logger.warning("notices routed to unknown channel %r are dropped (configured: %s)",
                                name, ", ".join(sorted(self._channels)) or "none")
            self._drop(self._queue.peek(name), DropReason.UNKNOWN_CHANNEL)
            return 0.0
        hook_id = channel.webhook.webhook_id
        if hook_id in self._disabled:
            self._drop(self._queue.peek(name), DropReason.WEBHOOK_DISABLED)
            return 0.0
        backoff = self._not_before.get(name, now) - now
        channel_key = self._channel_keys.get(hook_id)
        if channel_key is None:
            wait = max(backoff, self._limiter.delay(hook_id, f"webhook:{hook_id}", now, INFO))
            if wait <= 0:
                try:
                    self._learn_channel(name, channel)
                except Exception:  # a bug of ours: do without the lookup rather than loop on it
                    _logger.error("internal error while looking up channel %r", name, exc_info=True)
                    self._channel_keys[hook_id] = f"webhook:{hook_id}"
            return wait
        limited = max(self._limiter.delay(hook_id, channel_key, now), self._budget.delay(channel_key, now))
        head = self._queue.peek(name, limits.EMBEDS_PER_MESSAGE)
        if not head:  # shutdown drained the queue meanwhile
            return 0.0
        linger = 0.0
        if not self._flushing and len(head) < limits.EMBEDS_PER_MESSAGE:
            linger = head[0].queued_at + self._linger - now
        wait = max(backoff, limited, linger)
        if wait <= 0:
            try:
                self._send(name, channel, channel_key, head)
            except Exception:  # a bug of ours must not retry the same item forever
                _logger.error("internal error while sending to channel %r; dropping the notice at its head",
                              name, exc_info=True)
                self._drop(head[:1], DropReason.INTERNAL_ERROR)
        elif limited >= wait:
            self.stats.incr("rate_limit_waits")
        return wait

    def _learn_channel(self, name: str, channel: Channel) -> None:
        """GET the webhook once for its ``channel_id``: webhooks of one channel share its budget."""
        hook_id = channel.webhook.webhook_id
        outcome = self._client.info(channel.webhook)
        self.stats.incr("info_requests")
        self._limiter.on_response(hook_id, f"webhook:{hook_id}", outcome, self._clock(), INFO)
        channel_id = outcome.json.get("channel_id") if outcome.ok and isinstance(outcome.json, Mapping) else None
        if isinstance(channel_id, str) and channel_id.isdigit():
            self._channel_keys[hook_id] = f"channel:{channel_id}"
            self._recovered(name)
        elif outcome.webhook_gone:
            self._disable(name, channel, outcome)
        elif outcome.status == 429:
            self._rate_limited(name, outcome)
        elif outcome.status is None or outcome.status >= 500:
            self._back_off(name, outcome)
        else:
            # A proxy that relays sends but not GET: treat the webhook as its own channel.
            _logger.info("channel %r: cannot look up the webhook's channel (%s)", name, outcome.describe())
            self._channel_keys[hook_id] = f"webhook:{hook_id}"

    # ------------------------------------------------------------------ sending
    @staticmethod
    def _batch(head: list[_Entry]) -> tuple[list[_Entry], list[dict[str, Any]]]:
        """The first entries of a lane that fit one message, and their packed embeds."""
        first = head[0]
        if first.solo:
            return [first], [dict(first.item.embed)]
        key = first.item.pack_key()
        candidates = [first]
        for entry in head[1:]:
            if entry.solo or entry.item.pack_key() != key:
                break
            candidates.append(entry)
        groups = pack([entry.item.embed for entry in candidates])
        embeds = groups[0] if groups else [dict(first.item.embed)]
        # pack keeps order and never splits an embed, so its first group is a prefix.
        return candidates[: len(embeds)], embeds

    def _content(self, base: str | None) -> tuple[str | None, dict[str, int]]:
        """The item's content, led by the note of drops not reported yet (if it fits)."""
        counts = self.stats.peek_unreported_drops()
        note = format_drops(counts)
        if not note:
            return base, {}
        combined = f"{note}\n{base}" if base else note
        if len(combined) > limits.CONTENT:
            return base, {}
        return combined, counts

    def _send(self, name: str, channel: Channel, channel_key: str, head: list[_Entry]) -> None:
        entries, embeds = self._batch(head)
        item = entries[0].item
        content, reported = self._content(item.content)
        try:
            payload = build_payload(
                embeds,
                content=content,
                username=channel.username or self.settings.username,
                avatar_url=channel.avatar_url or self.settings.avatar_url,
                flags=item.flags,
                mention_roles=item.mention_roles,
                mention_users=item.mention_users,
            )
            json.dumps(payload, allow_nan=False)  # an embed holding a non-JSON value could never be sent
        except (TypeError, ValueError) as exc:  # an embed no message can hold; Discord would say 400
            self._rejected(name, entries, Outcome(None, error=f"not sendable: {exc}"))
            return
        hook_id = channel.webhook.webhook_id
        outcome = self._client.execute(channel.webhook, payload)
        now = self._clock()
        self._limiter.on_response(hook_id, channel_key, outcome, now)
        if outcome.status is not None and outcome.status != 429:
            self._budget.record(channel_key, now)  # whether the channel counted it is unknown: assume so
        self._handle(name, channel, entries, outcome, reported)

    def _handle(
        self, name: str, channel: Channel, entries: list[_Entry], outcome: Outcome, reported: dict[str, int]
    ) -> None:
        status = outcome.status
        if outcome.ok:
            self._queue.remove(entries)
            self.stats.incr("sent_messages")
            self.stats.incr("sent_embeds", len(entries))
            if reported:
                self.stats.mark_reported(reported)
            self._recovered(name)
        elif status == 429:
            self._rate_limited(name, outcome)
        elif outcome.webhook_gone:
            self._disable(name, channel, outcome)
        elif status in (400, 413):
            self.stats.incr(f"http_{status}")
            self._rejected(name, entries, outcome)
        elif status is None or status >= 500 or status == 408:
            self._back_off(name, outcome)
        else:
            policy = self._back_off(name, outcome)
            if policy.attempt >= _UNEXPECTED_4XX_ATTEMPTS:
                _logger.error("channel %r: Discord keeps answering %s; dropping %d notice(s)",
                              name, outcome.describe(), len(entries))
                self._drop(entries, DropReason.RETRIES_EXHAUSTED)
                self._recovered(name)

    def _rate_limited(self, name: str, outcome: Outcome) -> None:
        """The limiter already blocks the right scope; only count and tell."""
        self.stats.incr("http_429")
        if outcome.is_ban:
            self.stats.incr("bans")
            _logger.warning(
                "Discord is blocking this IP (429 without rate-limit headers, a Cloudflare ban); "
                "pausing all deliveries for %.0f s", self._limiter.blocked_globally_until() - self._clock(),
            )
        else:  # expected now and then: other processes share the webhook and the channel
            _logger.debug("channel %r: rate limited (%s scope), waiting %.2f s",
                          name, outcome.scope or "user", outcome.retry_after or 0.0)

    def _rejected(self, name: str, entries: list[_Entry], outcome: Outcome) -> None:
        """400/413: find the embed Discord refuses by resending a packed message one embed at a time."""
        if len(entries) > 1:
            _logger.warning(
                "channel %r: Discord rejected a message of %d embeds (%s); resending them one by one",
                name, len(entries), outcome.describe(),
            )
            for entry in entries:
                entry.solo = True
            return
        notice = entries[0].item.notice
        _logger.warning(
            "channel %r: Discord rejected the notice %r (%s); written to %s",
            name, notice.title[:100], outcome.describe(), self.fallback.path,
        )
        self._drop(entries, DropReason.INVALID_PAYLOAD)

    def _disable(self, name: str, channel: Channel, outcome: Outcome) -> None:
        hook_id = channel.webhook.webhook_id
        if hook_id not in self._disabled:
            self._disabled[hook_id] = outcome.describe()
            self.stats.incr("webhooks_disabled")
            _logger.error(
                "channel %r: Discord no longer accepts webhook %s (%s). Notices for it are written to %s "
                "until the configuration is fixed and the application restarted.",
                name, channel.webhook.masked, outcome.describe(), self.fallback.path,
            )
        self._drop(self._queue.peek(name), DropReason.WEBHOOK_DISABLED)

    def _back_off(self, name: str, outcome: Outcome) -> RetryPolicy:
        policy = self._retry.get(name, self._retry_template).increment()
        self._retry[name] = policy
        delay = max(policy.backoff(), outcome.retry_after or 0.0)
        self._not_before[name] = self._clock() + delay
        self.stats.incr("retries")
        self.stats.incr("transport_errors" if outcome.status is None else f"http_{outcome.status}")
        if policy.attempt == 1:
            _logger.warning("channel %r: delivery failed (%s); retrying with backoff", name, outcome.describe())
        else:
            _logger.debug("channel %r: attempt %d failed (%s); next in %.1f s",
                          name, policy.attempt, outcome.describe(), delay)
        return policy

    def _recovered(self, name: str) -> None:
        policy = self._retry.pop(name, None)
        self._not_before.pop(name, None)
        if policy is not None and policy.attempt > 0:
            _logger.info("channel %r: delivering again after %d failed attempt(s)", name, policy.attempt)

    def _drop(self, entries: list[_Entry], reason: DropReason) -> None:
        removed = self._queue.remove(entries)
        if removed:
            self.stats.record_drop(reason, len(removed))
            self.fallback.write([entry.item.notice for entry in removed], reason.value)


_engine_lock = threading.Lock()
_engine: DeliveryEngine | None = None


def _reset_module_lock() -> None:
    global _engine_lock
    _engine_lock = threading.Lock()  # a thread of the parent may have held it while forking


os.register_at_fork(after_in_child=_reset_module_lock)


def get_engine(settings: Settings) -> DeliveryEngine:
    """The process's engine (created on first use; a new one after shutdown).

    A forked child keeps the object but not its state: queue, thread and HTTP
    session are renewed in the child, so it delivers on its own.
    """
    global _engine
    with _engine_lock:
        engine = _engine
        if engine is None or engine.closed:
            engine = _engine = DeliveryEngine(settings)
        else:
            engine.update_channels(settings.channels)
        return engine
