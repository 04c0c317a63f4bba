"""Percentiles from histogram buckets, interpolated linearly within the bucket.

This is what Prometheus' ``histogram_quantile`` does: the rank ``q × count`` falls
into one bucket, and the value is placed proportionally between that bucket's
lower and upper bound. Bucket ``i`` covers ``(bounds[i-1], bounds[i]]``; the first
bucket starts at 0 (durations are never negative) unless its upper bound is below 0.
A rank in the overflow bucket (``+inf``) cannot be interpolated: the answer is the
last finite bound, and ``Quantile.open_ended`` says "at least".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple


class Quantile(NamedTuple):
    """A percentile estimate; ``open_ended`` when it fell into the overflow bucket (a lower bound)."""

    value: float
    open_ended: bool = False


def quantile(buckets: Sequence[tuple[float, float]], q: float) -> Quantile | None:
    """The ``q`` quantile (0 < q ≤ 1) of ``buckets``: (upper bound, count) pairs sorted by bound.

    Returns None when the buckets hold no observations.
    """
    if not 0.0 < q <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {q!r}")
    total = sum(count for _, count in buckets if count > 0)
    if total <= 0:
        return None
    rank = q * total
    cumulative = 0.0
    lower = 0.0
    for index, (upper, count) in enumerate(buckets):
        if index == 0 and upper < 0:
            lower = upper  # a bucket of negative values: no lower bound to interpolate from
        if count > 0 and cumulative + count >= rank:
            if math.isinf(upper):
                return Quantile(lower, open_ended=True)
            if index == 0 and upper <= 0:
                return Quantile(upper)
            fraction = (rank - cumulative) / count
            return Quantile(lower + (upper - lower) * fraction)
        cumulative += max(count, 0)
        if not math.isinf(upper):
            lower = upper
    return Quantile(lower, open_ended=True)  # rounding left the rank just past the last bucket
