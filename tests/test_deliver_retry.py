"""RetryPolicy: an immutable value computing exponential backoff with jitter and a cap."""

from __future__ import annotations

import pytest

from otel_discord.deliver.retry import RetryPolicy


def _after(n: int, **kwargs) -> RetryPolicy:
    policy = RetryPolicy(**kwargs)
    for _ in range(n):
        policy = policy.increment()
    return policy


@pytest.mark.parametrize(
    ("failures", "rng", "expected"),
    [
        (0, 0.5, 0.0),  # nothing failed yet: no wait
        (1, 0.5, 1.0),
        (2, 0.5, 2.0),
        (3, 0.5, 4.0),
        (6, 0.5, 32.0),
        (7, 0.5, 60.0),  # 64 capped
        (50, 0.5, 60.0),
        (500, 0.5, 60.0),  # no overflow however long the outage
        (1, 0.0, 0.8),  # -20 % jitter
        (1, 1.0, 1.2),  # +20 % jitter
        (3, 0.0, 3.2),
        (7, 1.0, 60.0),  # jitter never pushes past the cap
    ],
)
def test_backoff_table(failures, rng, expected):
    """Backoff doubles per failure from `base`, ±jitter, never above `cap`."""
    assert _after(failures).backoff(rng=lambda: rng) == pytest.approx(expected)


def test_custom_base_and_cap():
    assert _after(3, base=0.05, cap=0.15).backoff(rng=lambda: 0.5) == pytest.approx(0.15)
    assert _after(2, base=0.05, cap=0.15).backoff(rng=lambda: 0.5) == pytest.approx(0.1)


def test_increment_returns_new_policy():
    """A policy can be shared: increment() leaves the original unchanged."""
    base = RetryPolicy()
    nxt = base.increment()
    assert base.attempt == 0 and nxt.attempt == 1
    assert nxt.reset() == base


def test_exhausted_only_with_max_attempts():
    assert not _after(1000).exhausted
    assert not _after(2, max_attempts=3).exhausted
    assert _after(3, max_attempts=3).exhausted


@pytest.mark.parametrize("kwargs", [{"base": 0}, {"cap": -1}, {"jitter": 1.5}, {"attempt": -1}])
def test_invalid_policy_rejected(kwargs):
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)
