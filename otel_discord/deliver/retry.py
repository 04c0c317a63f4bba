"""How long to wait before trying a failed request again, as an immutable value.

Like urllib3's ``Retry``: ``increment()`` returns a new policy, so a policy can be
shared and reused; the policy computes, only the engine sleeps (on its stop
event, so shutdown cuts the wait short).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with ±``jitter`` (a fraction), capped at ``cap`` seconds.

    ``attempt`` counts failures so far. ``max_attempts`` None means retry for as
    long as the engine runs (5xx and network errors); a number bounds it.
    """

    attempt: int = 0
    base: float = 1.0
    cap: float = 60.0
    jitter: float = 0.2
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap <= 0 or not 0 <= self.jitter < 1 or self.attempt < 0:
            raise ValueError(f"invalid retry policy {self!r}")

    def increment(self) -> RetryPolicy:
        """The policy after one more failure."""
        return dataclasses.replace(self, attempt=self.attempt + 1)

    def reset(self) -> RetryPolicy:
        """The policy after a success."""
        return dataclasses.replace(self, attempt=0)

    @property
    def exhausted(self) -> bool:
        """True once ``max_attempts`` failures happened."""
        return self.max_attempts is not None and self.attempt >= self.max_attempts

    def backoff(self, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait now: ``base * 2**(attempt-1)`` ±jitter, never above ``cap``.

        Jitter spreads the retries of many processes that failed together (a
        Discord outage hits every gunicorn worker at once).
        """
        if self.attempt <= 0:
            return 0.0
        exponent = min(self.attempt - 1, 62)  # 2**62 s is already far past any cap
        raw = self.base * (2.0**exponent)
        jittered = raw * (1.0 + self.jitter * (2.0 * rng() - 1.0))
        return max(0.0, min(self.cap, jittered))
