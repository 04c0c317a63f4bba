"""The sender: the only code that talks to Discord, run by the process holding the scope's lease.

It reads the spool's outbox into lanes, one per channel, and serves channels in
turn (one busy channel cannot starve the others). For a channel, the next step
is the first that applies:

1. fold repeats waiting at the head into their groups' live messages (no request;
   ``grouping.py``; looked at again only after this sender started new groups);
2. an edit that is due (at most one per message per ``GROUP_EDIT_INTERVAL``);
3. one summary of a backlog older than ``REPLAY_COLLAPSE_AFTER`` (``replay.py``);
4. the next message: up to 10 packed embeds (a lone one lingers briefly for
   company), a grouped notice alone, posted with ``wait=true`` for its id.

Every request waits for Discord's limits *before* it goes: the header-driven
``RateLimiter``, then a slot in the shared windows (``shared_limits.py``). Then
the answer decides:

* 2xx: delivered; rows acked; a grouped notice's message id kept.
* 429: the limiter (and every other process) blocks that scope for ``retry_after``.
* 400/413: several packed embeds are resent one by one, so only the bad one is
  dropped (``invalid_payload``).
* 401/404 (Unknown Webhook, Invalid Webhook Token): the webhook is disabled
  until a reload gives the channel another; its notices go to the fallback log.
  An edit's 404 Unknown Message means the message was deleted: posted anew.
* 5xx, timeouts, refused connections: exponential backoff, retried for as long
  as the spool keeps them (``SPOOL_MAX_AGE``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

from otel_discord.config import Channel, Settings
from otel_discord.deliver import codec, replay
from otel_discord.deliver.answers import UNEXPECTED_4XX_ATTEMPTS, Answers, disable_key
from otel_discord.deliver.fallback import FallbackLog
from otel_discord.deliver.grouping import EditJob, GroupBook, shown
from otel_discord.deliver.options import DeliveryOptions
from otel_discord.deliver.queue import Entry, Lanes
from otel_discord.deliver.ratelimit import EDIT, EXECUTE, INFO, RateLimiter
from otel_discord.deliver.retry import RetryPolicy
from otel_discord.deliver.shared_limits import Reservation, SharedLimits
from otel_discord.deliver.spool import Spool, SpoolBusy, SpoolUnavailable
from otel_discord.deliver.webhook import Outcome, WebhookClient
from otel_discord.group import GroupPolicy
from otel_discord.health.drops import DropReason, Stats, format_drops
from otel_discord.health.log import get_logger
from otel_discord.notice import SUPPRESS_NOTIFICATIONS
from otel_discord.render import limits
from otel_discord.render.payload import build_payload, pack

_logger = get_logger(__name__)

LANES_CAP: Final = 1000  # rows held in memory at once; the rest wait in the spool
_LOAD: Final = 200
_UNKNOWN_MESSAGE: Final = 10008


class Sender(Answers):
    """Sends for one engine; ``reset(spool)`` starts a term on a spool (new lease, fork, degrade)."""

    def __init__(
        self,
        *,
        client: WebhookClient,
        stats: Stats,
        fallback: FallbackLog,
        retry: RetryPolicy,
        options: DeliveryOptions,
        policy: GroupPolicy,
        clock: Callable[[], float],
        wall: Callable[[], float],
        linger: float,
        channel_budget: tuple[int, float],
        writer: str,
        channels: Callable[[], Mapping[str, Channel]],
        settings: Callable[[], Settings],
        flushing: Callable[[], bool],
        on_unknown_channel: Callable[[], bool],
        on_delivered: Callable[[Sequence[float]], None],
        exempt: Callable[[], Collection[str]],
    ) -> None:
        self.client, self.stats, self.fallback = client, stats, fallback
        self._retry_template, self.options, self.clock, self.wall = retry, options, clock, wall
        self.linger, self.channel_budget = linger, channel_budget
        self._channels, self._settings, self._flushing = channels, settings, flushing
        self._on_unknown_channel, self._on_delivered, self._exempt = on_unknown_channel, on_delivered, exempt
        # What Discord told us holds for the life of the process (forks included).
        self.limiter = RateLimiter()
        self.channel_keys: dict[str, str] = {}  # webhook id → "channel:<id>"
        self.disabled: dict[str, str] = {}  # disable_key (webhook id + hashed token) → why
        self.book = GroupBook(policy, writer)
        self.reset(None)

    def reset(self, spool: Spool | None) -> None:
        self.spool = spool
        limit, window = self.channel_budget
        self.shared = (
            SharedLimits(spool, channel_limit=limit, channel_window=window, hold=self.client.timeout + 1.0)
            if spool is not None
            else None
        )
        self.book.reset(spool)
        self.lanes = Lanes()
        self._last_id, self._version, self._more, self._poked = 0, None, True, True
        self.retry: dict[str, RetryPolicy] = {}
        self.not_before: dict[str, float] = {}
        self.turn = 0
        self._warned: set[str] = set()

    def poke(self) -> None:
        """The spool changed through our own connection (which ``data_version`` does not see)."""
        self._poked = True

    def changed(self) -> bool:
        """Whether the spool changed since the sender last read it (one cheap read)."""
        if self.spool is None:
            return False
        return self._poked or self.spool.data_version() != self._version

    # ------------------------------------------------------------------ reading the outbox
    def _refresh(self) -> None:
        assert self.spool is not None
        poked, self._poked = self._poked, False  # cleared first: a poke from now on is seen next time
        version = self.spool.data_version()
        changed = version != self._version or poked
        if not changed and not (self._more and len(self.lanes) < LANES_CAP // 2):
            return
        self._version = version
        if changed:
            self.book.invalidate()
        while len(self.lanes) < LANES_CAP:
            rows = self.spool.load(self._last_id, _LOAD)
            for row in rows:
                self._last_id = row.id
                try:
                    item = codec.decode(row.body)
                except (ValueError, TypeError, KeyError, IndexError) as exc:
                    _logger.warning("dropping a spool row that cannot be read (%s)", str(exc)[:200])
                    self.spool.ack([row.id])
                    self.stats.record_drop(DropReason.SPOOL_UNREADABLE)
                    continue
                notice = item.notice.replace(
                    count=row.count, first_seen=row.first_seen, timestamp=row.last_seen or item.notice.timestamp
                )
                self.lanes.add(
                    Entry(
                        row.id, dataclasses.replace(item, notice=notice), self.clock(), row.queued_at, row.group, row.id
                    )
                )
            self._more = len(rows) == _LOAD
            if not self._more:
                break

    # ------------------------------------------------------------------ the loop
    def step(self) -> float | None:
        """Act on one channel (one request at most). Seconds until there may be more to do
        (0 = at once), or None when idle."""
        if self.spool is None:
            return None
        self._refresh()
        names = list(dict.fromkeys([*self.lanes.channels(), *sorted(self.book.channels())]))
        now, wall = self.clock(), self.wall()
        soonest: float | None = None
        for i in range(len(names)):
            name = names[(self.turn + i) % len(names)]
            wait = self._serve(name, now, wall)
            if wait is not None and wait <= 0:
                self.turn += i + 1
                return 0.0
            if wait is not None:
                soonest = wait if soonest is None else min(soonest, wait)
        return soonest

    def _serve(self, name: str, now: float, wall: float) -> float | None:
        """Fold, send, learn or drop for channel ``name`` and return 0, or how long it must wait."""
        channel = self._channels().get(name)
        if channel is None:
            return self._unknown(name)
        hook_id = channel.webhook.webhook_id
        head = self.lanes.peek(name, limits.EMBEDS_PER_MESSAGE)
        if disable_key(channel) in self.disabled:
            self._drop(self.lanes.peek(name), DropReason.WEBHOOK_DISABLED)
            return 0.0 if head or self.book.forget_channel(name) else None
        folded = self.book.fold(head, hook_id, wall) if head else []
        if folded:
            self.lanes.remove(folded)  # the fold took their rows
            return 0.0
        backoff = self.not_before.get(name, now) - now
        channel_key = self.channel_keys.get(hook_id)
        if channel_key is None:
            wait = max(backoff, self.limiter.delay(hook_id, f"webhook:{hook_id}", now, INFO))
            if wait <= 0:
                try:
                    self._learn_channel(name, channel)
                except Exception:  # a bug of ours: do without the lookup rather than loop on it
                    _logger.error("internal error while looking up channel %r", name, exc_info=True)
                    self.channel_keys[hook_id] = f"webhook:{hook_id}"
            return wait
        job = self.book.next_edit(name, hook_id, wall, flushing=self._flushing())
        if job == 0.0:
            return 0.0  # a group moved to a new message: its row is in the outbox now
        batch: list[Entry] = []
        collapse = False
        linger = 0.0
        if not isinstance(job, EditJob):
            if not head:
                return job
            batch, collapse = self._next_batch(name, head, wall)
            if (
                not collapse
                and head[0].group is None
                and len(head) < limits.EMBEDS_PER_MESSAGE
                and not self._flushing()
            ):
                # A lone item waits briefly for company (never longer, whatever the wall clock did).
                linger = min(self.linger, head[0].wall + self.linger - wall)
        route = EDIT if isinstance(job, EditJob) else EXECUTE
        assert self.shared is not None
        limited = max(
            self.limiter.delay(hook_id, channel_key, now, route),
            self.shared.delay(_hook_key(hook_id), channel_key, wall),
        )
        wait = max(backoff, limited, linger)
        if wait > 0:
            if limited >= wait:
                self.stats.incr("rate_limit_waits")
            return min(wait, job) if isinstance(job, float) else wait
        reservation = self.shared.reserve(_hook_key(hook_id), channel_key, wall)
        if not isinstance(reservation, Reservation):
            self.stats.incr("rate_limit_waits")
            return reservation
        try:
            if isinstance(job, EditJob):
                self._edit(name, channel, channel_key, job, reservation)
            else:
                self._post(name, channel, channel_key, batch, collapse, reservation)
        except (SpoolBusy, SpoolUnavailable):
            raise  # the engine's business: retry, or degrade to memory
        except Exception:  # a bug of ours must not retry the same item forever
            # The reservation stays: it counts as pending until its hold ends (the safe side).
            _logger.error(
                "internal error while sending to channel %r; dropping the notice at its head", name, exc_info=True
            )
            if isinstance(job, EditJob):
                self.book.edited(job, self.wall())
            else:
                self._drop(batch[:1], DropReason.INTERNAL_ERROR)
        return 0.0

    def _next_batch(self, name: str, head: list[Entry], wall: float) -> tuple[list[Entry], bool]:
        """The entries of the next message, and whether it is a summary of a stale backlog."""
        if name not in self._exempt() and replay.due(head[0], wall, self.options.replay_collapse_after):
            stale = []
            for entry in self.lanes.peek(name):
                if not replay.due(entry, wall, self.options.replay_collapse_after):
                    break
                stale.append(entry)
            if len(stale) > 1:
                return stale, True
        return _batch(head), False

    # ------------------------------------------------------------------ requests
    def _post(
        self,
        name: str,
        channel: Channel,
        channel_key: str,
        entries: list[Entry],
        collapse: bool,
        reservation: Reservation,
    ) -> None:
        assert self.spool is not None and self.shared is not None
        fresh = self.spool.claim([e.row_id for e in entries])
        self.lanes.remove([e for e in entries if e.row_id not in fresh])  # trimmed meanwhile
        entries = [e for e in entries if e.row_id in fresh]
        if not entries:
            self.shared.cancel(reservation)
            return
        for entry in entries:  # repeats may have folded into them since they were read
            count, first, last = fresh[entry.row_id]
            notice = entry.item.notice
            entry.item = dataclasses.replace(
                entry.item, notice=notice.replace(count=count, first_seen=first, timestamp=last or notice.timestamp)
            )
        first_item = entries[0].item
        base, flags = first_item.content, first_item.flags
        if collapse:
            base, summary = replay.summarize(entries, self.wall())
            embeds = [summary]
            flags = 0 if any(not e.item.flags & SUPPRESS_NOTIFICATIONS for e in entries) else SUPPRESS_NOTIFICATIONS
        else:
            embeds = [_embed(e) for e in entries]
        content, reported = self._content(base)
        settings = self._settings()
        try:
            payload = build_payload(
                embeds,
                content=content,
                username=channel.username or settings.username,
                avatar_url=channel.avatar_url or settings.avatar_url,
                flags=flags,
                mention_roles=() if collapse else first_item.mention_roles,
                mention_users=() if collapse else first_item.mention_users,
            )
            json.dumps(payload, allow_nan=False)  # an embed holding a non-JSON value could never be sent
        except (TypeError, ValueError) as exc:  # an embed no message can hold; Discord would say 400
            self.shared.cancel(reservation)
            self.spool.unclaim([e.row_id for e in entries])
            self._rejected(name, entries, Outcome(None, error=f"not sendable: {exc}"), collapse)
            return
        files = first_item.files if len(entries) == 1 and not collapse else ()
        outcome = self.client.execute(channel.webhook, payload, files=files or None)
        self._answered(channel, channel_key, reservation, outcome, EXECUTE)
        if outcome.ok:
            self._delivered(name, channel, entries, outcome, reported, collapse, payload.get("embeds", embeds))
            return
        self.spool.unclaim([e.row_id for e in entries])
        self._failed(name, channel, entries, outcome, collapse)

    def _edit(self, name: str, channel: Channel, channel_key: str, job: EditJob, reservation: Reservation) -> None:
        outcome = self.client.edit(channel.webhook, job.group.message_id, self.book.payload(job))
        self._answered(channel, channel_key, reservation, outcome, EDIT)
        wall = self.wall()
        if outcome.ok:
            self.book.edited(job, wall)
            self.stats.incr("edits")
            self._recovered(name)
        elif outcome.status == 404 and outcome.discord_code == _UNKNOWN_MESSAGE:
            _logger.info("channel %r: a grouped message was deleted; posting its count anew", name)
            self.book.message_gone(job, wall)
            self.stats.incr("messages_reposted")
        elif outcome.status in (400, 413):
            _logger.warning(
                "channel %r: Discord refused to edit a grouped message (%s); its count stays at %d",
                name,
                outcome.describe(),
                job.group.written,
            )
            self.stats.incr(f"http_{outcome.status}")
            self.book.edited(job, wall)
        elif outcome.status == 429 or outcome.webhook_gone or outcome.status in (None, 408) or outcome.status >= 500:
            self._failed(name, channel, [], outcome, False)
        elif self._back_off(name, outcome).attempt >= UNEXPECTED_4XX_ATTEMPTS:
            self.book.edited(job, wall)
            self._recovered(name)

    def _answered(
        self, channel: Channel, channel_key: str, reservation: Reservation, outcome: Outcome, route: str
    ) -> None:
        """Tell both limiters about an answer (``now`` = when it arrived)."""
        assert self.shared is not None
        hook_id = channel.webhook.webhook_id
        now, wall = self.clock(), self.wall()
        if outcome.status == 429:
            self.shared.cancel(reservation)  # refused: Discord did not count it
        else:
            self.shared.settle(reservation, wall)  # no answer at all may still have arrived: count it
        self.shared.learn(_hook_key(hook_id), channel_key, outcome, wall)
        self.limiter.on_response(hook_id, channel_key, outcome, now, route)

    def _learn_channel(self, name: str, channel: Channel) -> None:
        """GET the webhook once for its ``channel_id``: webhooks of one channel share its budget."""
        hook_id = channel.webhook.webhook_id
        outcome = self.client.info(channel.webhook)
        self.stats.incr("info_requests")
        self.limiter.on_response(hook_id, f"webhook:{hook_id}", outcome, self.clock(), INFO)
        channel_id = outcome.json.get("channel_id") if outcome.ok and isinstance(outcome.json, Mapping) else None
        if isinstance(channel_id, str) and channel_id.isdigit():
            self.channel_keys[hook_id] = f"channel:{channel_id}"
            self._recovered(name)
        elif outcome.webhook_gone or outcome.status == 429 or outcome.status is None or outcome.status >= 500:
            self._failed(name, channel, [], outcome, False)
        else:
            # A proxy that relays sends but not GET: treat the webhook as its own channel.
            _logger.info("channel %r: cannot look up the webhook's channel (%s)", name, outcome.describe())
            self.channel_keys[hook_id] = f"webhook:{hook_id}"

    # ------------------------------------------------------------------ answers
    def _delivered(
        self,
        name: str,
        channel: Channel,
        entries: list[Entry],
        outcome: Outcome,
        reported: dict[str, int],
        collapse: bool,
        embeds: list[dict[str, Any]],
    ) -> None:
        wall = self.wall()
        if collapse:  # the details, before the rows go (whoever sees them gone finds the record)
            self.fallback.write([e.item.notice for e in entries], replay.REASON)
            self.stats.incr("collapsed_notices", sum(e.item.notice.count for e in entries))
        grouped = not collapse and entries[0].group is not None
        if grouped and self.book.started_many(entries, embeds, channel.webhook.webhook_id, outcome.json, wall):
            self.lanes.remove(entries)  # ``started`` took the row with it
        else:
            self._ack(entries)
        self.stats.incr("sent_messages")
        self.stats.incr("sent_embeds", 1 if collapse else len(entries))
        if reported:
            self.stats.mark_reported(reported)
        self._on_delivered([max(0.0, wall - e.wall) for e in entries])
        self._recovered(name)

    # ------------------------------------------------------------------ bookkeeping
    def _content(self, base: str | None) -> tuple[str | None, dict[str, int]]:
        """The message's content, led by the note of drops not reported yet (if it fits)."""
        counts = self.stats.peek_unreported_drops()
        note = format_drops(counts)
        if not note:
            return base, {}
        combined = f"{note}\n{base}" if base else note
        if len(combined) > limits.CONTENT:
            return base, {}
        return combined, counts


def _hook_key(webhook_id: str) -> str:
    return f"webhook:{webhook_id}"


def _batch(head: list[Entry]) -> list[Entry]:
    """The first entries of a lane that fit one message (a rejected one, or one with files, goes alone).

    First occurrences of different groups share a message (the spool records which embed is whose,
    for edits); they are not mixed with ungrouped notices, which no edit would know about.
    """
    first = head[0]
    if first.solo or first.item.files:
        return [first]
    key, grouped = first.item.pack_key(), first.group is not None
    candidates, groups_seen = [first], {first.group}
    for entry in head[1:]:
        if (
            entry.solo
            or entry.item.files
            or entry.item.pack_key() != key
            or (entry.group is not None) != grouped
            or (grouped and entry.group in groups_seen)
        ):
            break
        candidates.append(entry)
        groups_seen.add(entry.group)
    groups = pack([_embed(entry) for entry in candidates])
    # pack keeps order and never splits an embed, so its first group is a prefix.
    return candidates[: len(groups[0])] if groups else [first]


def _embed(entry: Entry) -> dict[str, Any]:
    """The embed an entry's message shows (a grouped notice that repeated already shows its count)."""
    embed, notice = entry.item.embed, entry.item.notice
    return dict(embed) if entry.group is None else shown(embed, notice.count, notice.first_seen, notice.timestamp)
