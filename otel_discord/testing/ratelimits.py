"""Discord's webhook rate limits as the strict server enforces them.

Numbers are not documented by Discord; these follow staff comments and long-standing
observations (see shared/research/discord-api.md §3.5):

* per webhook, 5 requests per 2 s, in fixed windows that start with the first request,
  reported in the ``X-RateLimit-*`` headers of every response. Requests that end in 400
  still use up the bucket, as at Discord. Only POST (execute), PATCH and DELETE count;
  GETs report the bucket without using it. Discord gives each route its own bucket; one
  bucket per webhook is stricter, so a client that copes here copes there.
* per channel, 30 new messages per 60 s shared by every webhook of the channel, in a
  sliding window. Only created messages count: Discord does not say whether edits do,
  so PATCH does not. The per-webhook headers do not reveal this limit, like Discord's.

Every method that reads time takes ``now`` (the server's injectable monotonic clock).
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from dataclasses import dataclass
from typing import Final

USER_MESSAGE: Final = "You are being rate limited."
SHARED_MESSAGE: Final = "The resource is being rate limited."


@dataclass(frozen=True)
class BucketState:
    """One response's view of a webhook bucket; ``retry_after`` is set when the request is refused."""

    limit: int
    remaining: int
    reset_at: float  # on the server's clock
    reset_after: float
    bucket: str
    retry_after: float | None = None

    def headers(self, epoch_offset: float) -> dict[str, str]:
        """The ``X-RateLimit-*`` headers; ``epoch_offset`` maps the clock onto unix time.

        Mapping through one fixed offset keeps ``Reset`` identical across a window's
        responses, as Discord's is.
        """
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": f"{self.reset_at + epoch_offset:.3f}",
            "X-RateLimit-Reset-After": f"{self.reset_after:.3f}",
            "X-RateLimit-Bucket": self.bucket,
        }


def retry_after_header(seconds: float) -> str:
    """Discord's ``Retry-After`` header is whole seconds, rounded up (the body has the float)."""
    return str(max(1, math.ceil(seconds)))


def bucket_hash(webhook_id: str) -> str:
    """An opaque, stable bucket id (Discord's are hashes too)."""
    return hashlib.sha256(f"webhook:{webhook_id}".encode()).hexdigest()[:32]


class WebhookBuckets:
    """Fixed-window counters, one per webhook."""

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("webhook_limit must be ≥ 1 and webhook_window > 0")
        self.limit = limit
        self.window = window
        self._windows: dict[str, tuple[float, int]] = {}  # webhook id → (reset at, used)

    def _current(self, key: str, now: float) -> tuple[float, int]:
        reset_at, used = self._windows.get(key, (now, 0))
        if now >= reset_at:
            return now + self.window, 0
        return reset_at, used

    def hit(self, key: str, now: float) -> BucketState:
        """Use one request of ``key``'s bucket, or report how long to wait."""
        reset_at, used = self._current(key, now)
        if used >= self.limit:
            self._windows[key] = (reset_at, used)
            wait = reset_at - now
            return BucketState(self.limit, 0, reset_at, wait, bucket_hash(key), retry_after=wait)
        used += 1
        self._windows[key] = (reset_at, used)
        return BucketState(self.limit, self.limit - used, reset_at, reset_at - now, bucket_hash(key))

    def peek(self, key: str, now: float) -> BucketState:
        """The bucket as it stands, without using a request (for GETs)."""
        reset_at, used = self._current(key, now) if key in self._windows else (now + self.window, 0)
        return BucketState(self.limit, self.limit - used, reset_at, reset_at - now, bucket_hash(key))

    def clear(self) -> None:
        self._windows.clear()


class ChannelWindows:
    """Sliding windows of message creations, one per channel id."""

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("channel_limit must be ≥ 1 and channel_window > 0")
        self.limit = limit
        self.window = window
        self._log: dict[str, deque[float]] = {}

    def retry_after(self, channel_id: str, now: float) -> float | None:
        """Seconds until one more message fits in ``channel_id``, or None if it fits now."""
        log = self._log.setdefault(channel_id, deque())
        while log and log[0] <= now - self.window:
            log.popleft()
        if len(log) < self.limit:
            return None
        return log[0] + self.window - now

    def record(self, channel_id: str, now: float) -> None:
        self._log.setdefault(channel_id, deque()).append(now)

    def clear(self) -> None:
        self._log.clear()
