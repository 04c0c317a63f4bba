"""Test doubles shared by the delivery tests: a retry policy that does not make tests wait, a settable clock."""

from __future__ import annotations

import time
from typing import Final

from otel_discord.deliver.retry import RetryPolicy

FAST_RETRY: Final = RetryPolicy(base=0.05, cap=0.2)  # backoff in tenths of a second, not seconds


class FakeWall:
    """Unix time that only moves when the test says so (group windows and edit debounce read it)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
