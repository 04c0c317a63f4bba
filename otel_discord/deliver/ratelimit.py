"""Discord's rate limits as data: when may the next request to a webhook go?

Pure state machines: nothing here sleeps or reads a clock, every method takes
``now`` (seconds on the engine's monotonic clock), so the tests are tables.
See ../shared/research/discord-api.md §3 for where each rule comes from.

* ``RateLimiter`` follows what Discord tells us: the ``X-RateLimit-*`` bucket of
  each webhook (wait *before* it is empty: ``Remaining: 0`` blocks until the
  reset), and 429 answers by scope (global blocks everything, shared blocks the
  channel, user blocks the webhook). A 429 without rate-limit headers is a
  Cloudflare IP ban: back off for minutes, longer each time.
* ``ChannelBudget`` keeps the limit Discord does not report: about 30 messages
  per 60 s per channel, shared by every webhook posting into it.

Times are stored as "response received + reset_after": our clock reads that
moment no earlier than Discord's did, so we never resume before Discord's
window really ended. ``margin`` pads for rounding of the header values.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final

from otel_discord.deliver.webhook import Outcome

#: Routes of one webhook; Discord decides through X-RateLimit-Bucket whether they share a bucket.
EXECUTE: Final = "execute"
EDIT: Final = "edit"
INFO: Final = "info"

DEFAULT_MARGIN: Final = 0.05
BAN_BASE: Final = 60.0  # Cloudflare bans last minutes and come without Retry-After
BAN_CAP: Final = 3600.0
_BARE_429_WAIT: Final = 5.0  # a 429 with neither retry_after nor Reset-After (never seen from Discord)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


@dataclass
class _Bucket:
    limit: int | None = None
    remaining: int | None = None
    reset_at: float = 0.0


class RateLimiter:
    """Per-webhook buckets and 429 blocks; one instance per delivery engine."""

    def __init__(self, *, margin: float = DEFAULT_MARGIN, ban_base: float = BAN_BASE, ban_cap: float = BAN_CAP):
        self.margin = margin
        self.ban_base = ban_base
        self.ban_cap = ban_cap
        self._route_bucket: dict[tuple[str, str], str] = {}  # (webhook, route) → bucket id
        self._buckets: dict[tuple[str, str], _Bucket] = {}  # (webhook, bucket id) → state
        self._webhook_until: dict[str, float] = {}
        self._channel_until: dict[str, float] = {}
        self._global_until = float("-inf")
        self._ban_until = float("-inf")
        self._ban_streak = 0

    def delay(self, webhook_key: str, channel_key: str, now: float, route: str = EXECUTE) -> float:
        """Seconds to wait before the next request on ``route`` of this webhook; 0 means go."""
        until = max(
            self._global_until,
            self._ban_until,
            self._webhook_until.get(webhook_key, float("-inf")),
            self._channel_until.get(channel_key, float("-inf")),
        )
        for bucket in self._buckets_for(webhook_key, route):
            if bucket.remaining is not None and bucket.remaining <= 0 and bucket.reset_at > now:
                until = max(until, bucket.reset_at)
        return max(0.0, until - now)

    def _buckets_for(self, webhook_key: str, route: str) -> list[_Bucket]:
        bucket_id = self._route_bucket.get((webhook_key, route))
        if bucket_id is not None:
            return [self._buckets[(webhook_key, bucket_id)]]
        # A route we have not used yet may share a bucket we know (Discord's test
        # server and, often, Discord itself put all routes of a webhook in one):
        # assume it does until its first answer says otherwise.
        return [b for (hook, _), b in self._buckets.items() if hook == webhook_key]

    def on_response(
        self, webhook_key: str, channel_key: str, outcome: Outcome, now: float, route: str = EXECUTE
    ) -> None:
        """Learn from one answer (``now`` = when it arrived)."""
        if outcome.status is None:
            return  # no answer, nothing learnt; retry.py paces these
        if outcome.is_ban:
            self._ban_streak += 1
            wait = min(self.ban_cap, self.ban_base * 2.0 ** min(self._ban_streak - 1, 16))
            wait = max(wait, outcome.retry_after or 0.0)
            self._ban_until = max(self._ban_until, now + wait)
            return
        if outcome.status != 429:
            self._ban_streak = 0
        reset_after = self._learn_bucket(webhook_key, route, outcome, now)
        if outcome.status == 429:
            wait = outcome.retry_after
            if wait is None:
                wait = reset_after if reset_after is not None else _BARE_429_WAIT
            until = now + wait + self.margin
            if outcome.is_global:
                self._global_until = max(self._global_until, until)
            elif outcome.scope == "shared":
                self._channel_until[channel_key] = max(self._channel_until.get(channel_key, until), until)
            else:
                self._webhook_until[webhook_key] = max(self._webhook_until.get(webhook_key, until), until)

    def _learn_bucket(self, webhook_key: str, route: str, outcome: Outcome, now: float) -> float | None:
        remaining = _number(outcome.header("x-ratelimit-remaining"))
        reset_after = _number(outcome.header("x-ratelimit-reset-after"))
        if remaining is None or reset_after is None:
            return None
        bucket_id = outcome.header("x-ratelimit-bucket") or f"route:{route}"
        self._route_bucket[(webhook_key, route)] = bucket_id
        limit = _number(outcome.header("x-ratelimit-limit"))
        self._buckets[(webhook_key, bucket_id)] = _Bucket(
            limit=int(limit) if limit is not None else None,
            remaining=int(remaining),
            reset_at=now + max(0.0, reset_after) + self.margin,
        )
        return max(0.0, reset_after)

    def blocked_globally_until(self) -> float:
        """When a global 429 or a ban ends (for status pages and tests)."""
        return max(self._global_until, self._ban_until)


class ChannelBudget:
    """A sliding window of sends per channel: at most ``limit`` per ``window`` seconds.

    Discord enforces ~30 messages / 60 s per channel across all its webhooks
    without saying so in any header (discord-api-docs#367, #4043); passing it
    costs a 429 with a 40 s+ Retry-After. A sliding window never allows more than
    ``limit`` sends in any span of ``window`` seconds, so it also fits a server
    that counts in fixed windows.
    """

    def __init__(self, limit: int = 30, window: float = 60.0, *, margin: float = DEFAULT_MARGIN) -> None:
        if limit <= 0 or window <= 0:
            raise ValueError("channel budget needs a positive limit and window")
        self.limit = limit
        self.window = window
        self.margin = margin
        self._sends: dict[str, deque[float]] = {}

    def _recent(self, channel_key: str, now: float) -> deque[float]:
        sends = self._sends.setdefault(channel_key, deque())
        while sends and sends[0] + self.window + self.margin <= now:
            sends.popleft()
        return sends

    def delay(self, channel_key: str, now: float) -> float:
        """Seconds until one more message may go to this channel; 0 means go."""
        sends = self._recent(channel_key, now)
        if len(sends) < self.limit:
            return 0.0
        oldest_that_counts = sends[len(sends) - self.limit]
        return max(0.0, oldest_that_counts + self.window + self.margin - now)

    def record(self, channel_key: str, now: float) -> None:
        """Count one message sent to this channel (``now`` = when its answer arrived)."""
        self._recent(channel_key, now).append(now)

    def used(self, channel_key: str, now: float) -> int:
        """Messages counted in the current window."""
        return len(self._recent(channel_key, now))
