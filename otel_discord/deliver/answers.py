"""What the sender does with Discord's answers: retries, rate limits, rejections, dead webhooks.

A mixin of ``Sender`` (it uses the sender's lanes, spool, limiter and counters),
kept apart so the sending loop reads on its own. See ``sender.py`` for what
each answer means.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Final

from otel_discord.config import Channel
from otel_discord.deliver.fallback import FallbackLog
from otel_discord.deliver.grouping import GroupBook
from otel_discord.deliver.queue import Entry, Lanes
from otel_discord.deliver.ratelimit import RateLimiter
from otel_discord.deliver.retry import RetryPolicy
from otel_discord.deliver.spool import Spool
from otel_discord.deliver.webhook import Outcome
from otel_discord.health.drops import DropReason, Stats
from otel_discord.health.log import get_logger

_logger = get_logger(__name__)

UNEXPECTED_4XX_ATTEMPTS: Final = 3  # e.g. 403 Missing Permissions: maybe fixed by a human, soon


def disable_key(channel: Channel) -> str:
    """What a dead webhook is disabled by: its id AND its token, so that a channel configured with a
    mistyped token does not silence another channel that has the same id with the right token. The
    token is hashed: the key may end up in a repr or a log line."""
    webhook = channel.webhook
    digest = hashlib.sha256(webhook.api_url.encode()).hexdigest()[:16]
    return f"{webhook.webhook_id}:{digest}"


class Answers:
    """Outcome handling over the state a ``Sender`` keeps."""

    stats: Stats
    fallback: FallbackLog
    spool: Spool | None
    lanes: Lanes
    book: GroupBook
    limiter: RateLimiter
    disabled: dict[str, str]
    retry: dict[str, RetryPolicy]
    not_before: dict[str, float]
    clock: Callable[[], float]
    _retry_template: RetryPolicy
    _warned: set[str]
    _channels: Callable[[], Mapping[str, Channel]]
    _on_unknown_channel: Callable[[], bool]

    def _failed(self, name: str, channel: Channel, entries: list[Entry], outcome: Outcome, collapse: bool) -> None:
        status = outcome.status
        if status == 429:
            self._rate_limited(name, outcome)
        elif outcome.webhook_gone:
            self._disable(name, channel, outcome)
        elif status in (400, 413):
            self.stats.incr(f"http_{status}")
            self._rejected(name, entries, outcome, collapse)
        elif status is None or status >= 500 or status == 408:
            self._back_off(name, outcome)
        elif self._back_off(name, outcome).attempt >= UNEXPECTED_4XX_ATTEMPTS:
            _logger.error(
                "channel %r: Discord keeps answering %s; dropping %d notice(s)", name, outcome.describe(), len(entries)
            )
            self._drop(entries, DropReason.RETRIES_EXHAUSTED)
            self._recovered(name)

    def _rate_limited(self, name: str, outcome: Outcome) -> None:
        """The limiters already block the right scope; only count and tell."""
        self.stats.incr("http_429")
        if outcome.is_ban:
            self.stats.incr("bans")
            _logger.warning(
                "Discord is blocking this IP (429 without rate-limit headers, a Cloudflare ban); "
                "pausing all deliveries for %.0f s",
                self.limiter.blocked_globally_until() - self.clock(),
            )
        else:  # should not happen: every request waits for its slot first
            _logger.debug(
                "channel %r: rate limited (%s scope), waiting %.2f s",
                name,
                outcome.scope or "user",
                outcome.retry_after or 0.0,
            )

    def _rejected(self, name: str, entries: list[Entry], outcome: Outcome, collapse: bool) -> None:
        """400/413: find the embed Discord refuses by resending a packed message one embed at a time."""
        if collapse or len(entries) > 1:
            _logger.warning(
                "channel %r: Discord rejected a message of %d embeds (%s); resending them one by one",
                name,
                len(entries),
                outcome.describe(),
            )
            for entry in entries:
                entry.solo = True
            return
        if not entries:
            return
        notice = entries[0].item.notice
        _logger.warning(
            "channel %r: Discord rejected the notice %r (%s); written to %s",
            name,
            notice.title[:100],
            outcome.describe(),
            self.fallback.path,
        )
        self._drop(entries, DropReason.INVALID_PAYLOAD)

    def _disable(self, name: str, channel: Channel, outcome: Outcome) -> None:
        key = disable_key(channel)
        if key not in self.disabled:
            self.disabled[key] = outcome.describe()
            self.stats.incr("webhooks_disabled")
            _logger.error(
                "channel %r: Discord no longer accepts webhook %s (%s). Notices for it are written to %s "
                "until the configuration gives the channel another webhook (reloaded without a restart).",
                name,
                channel.webhook.masked,
                outcome.describe(),
                self.fallback.path,
            )
        self._drop(self.lanes.peek(name), DropReason.WEBHOOK_DISABLED)
        self.book.forget_channel(name)

    def _back_off(self, name: str, outcome: Outcome) -> RetryPolicy:
        policy = self.retry.get(name, self._retry_template).increment()
        self.retry[name] = policy
        delay = max(policy.backoff(), outcome.retry_after or 0.0)
        self.not_before[name] = self.clock() + delay
        self.stats.incr("retries")
        self.stats.incr("transport_errors" if outcome.status is None else f"http_{outcome.status}")
        if policy.attempt == 1:
            _logger.warning("channel %r: delivery failed (%s); retrying with backoff", name, outcome.describe())
        else:
            _logger.debug(
                "channel %r: attempt %d failed (%s); next in %.1f s", name, policy.attempt, outcome.describe(), delay
            )
        return policy

    def _recovered(self, name: str) -> None:
        policy = self.retry.pop(name, None)
        self.not_before.pop(name, None)
        if policy is not None and policy.attempt > 0:
            _logger.info("channel %r: delivering again after %d failed attempt(s)", name, policy.attempt)

    def _unknown(self, name: str) -> float | None:
        """Notices for a channel this process does not know: reload once (another process may
        have reloaded first), then drop them."""
        if name not in self._warned:
            self._warned.add(name)
            if self._on_unknown_channel() and name in self._channels():
                return 0.0
            _logger.warning(
                "notices routed to unknown channel %r are dropped (configured: %s)",
                name,
                ", ".join(sorted(self._channels())) or "none",
            )
        entries = self.lanes.peek(name)
        self._drop(entries, DropReason.UNKNOWN_CHANNEL)
        return 0.0 if entries or self.book.forget_channel(name) else None

    def _ack(self, entries: Sequence[Entry]) -> None:
        assert self.spool is not None
        self.lanes.remove(entries)
        self.spool.ack([e.row_id for e in entries if e.row_id is not None])

    def _drop(self, entries: Sequence[Entry], reason: DropReason) -> None:
        removed = self.lanes.remove(entries)
        if removed:
            assert self.spool is not None
            # Written and counted before the rows go: whoever sees them gone finds the record.
            self.fallback.write([entry.item.notice for entry in removed], reason.value)
            self.stats.record_drop(reason, len(removed))
            self.spool.ack([e.row_id for e in removed if e.row_id is not None])
