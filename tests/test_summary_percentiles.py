"""Percentiles from histogram buckets, interpolated linearly within the bucket."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_discord.summary.percentiles import Quantile, quantile
from otel_discord.summary.tally import Hist


class TestQuantile:
    def test_interpolates_inside_the_bucket_holding_the_rank(self):
        """10 values in (0,100] and 10 in (100,200]: p50 is 100, p75 is halfway into the second bucket."""
        buckets = [(100.0, 10), (200.0, 10), (math.inf, 0)]
        assert quantile(buckets, 0.5) == Quantile(100.0)
        assert quantile(buckets, 0.75) == Quantile(150.0)
        assert quantile(buckets, 0.95) == Quantile(190.0)

    def test_first_bucket_starts_at_zero(self):
        """Durations are never negative: a rank in the first bucket interpolates from 0."""
        assert quantile([(50.0, 4), (math.inf, 0)], 0.5) == Quantile(25.0)

    def test_overflow_bucket_gives_the_last_bound_as_a_lower_bound(self):
        """A rank beyond the last finite bound cannot be placed: report that bound, marked open-ended."""
        estimate = quantile([(10.0, 1), (math.inf, 9)], 0.95)
        assert estimate == Quantile(10.0, open_ended=True)

    def test_zero_bucket_of_rounded_milliseconds(self):
        """The old Flask histogram has a (-inf, 0] bucket for requests rounded to 0 ms."""
        assert quantile([(0.0, 8), (5.0, 2), (math.inf, 0)], 0.5) == Quantile(0.0)

    def test_empty_buckets_have_no_quantile(self):
        assert quantile([(10.0, 0), (math.inf, 0)], 0.5) is None

    @pytest.mark.parametrize("q", [0, -0.1, 1.5])
    def test_rejects_a_quantile_outside_zero_to_one(self, q):
        with pytest.raises(ValueError):
            quantile([(1.0, 1)], q)


def test_histogram_of_known_values_in_flask_buckets():
    """100 requests of 1..100 ms in the Flask bounds: p50, p95, p99 land where interpolation puts them."""
    hist = Hist()
    bounds = [0, 5, 10, 25, 50, 75, 100, 250]
    counts = [0] * (len(bounds) + 1)
    for ms in range(1, 101):
        index = next(i for i, b in enumerate(bounds) if ms <= b)
        counts[index] += 1
    hist.add(bounds, counts, sum(range(1, 101)))
    # rank 50 is the 25th of the 25 values in (25, 50] → exactly 50.
    assert hist.quantile(0.5).value == pytest.approx(50.0)
    # rank 95 is the 20th of 25 values in (75, 100] → 75 + 25 * 20/25 = 95.
    assert hist.quantile(0.95).value == pytest.approx(95.0)
    assert hist.quantile(0.99).value == pytest.approx(99.0)
    assert hist.mean == pytest.approx(50.5)


@given(
    st.lists(st.integers(min_value=0, max_value=50), min_size=3, max_size=12),
    st.floats(min_value=0.01, max_value=1.0),
    st.floats(min_value=0.01, max_value=1.0),
)
def test_quantiles_are_monotonic_and_within_the_bounds(counts, q1, q2):
    """A higher quantile is never smaller, and every estimate lies within the bucket bounds."""
    bounds = [float(10 * (i + 1)) for i in range(len(counts) - 1)] + [math.inf]
    buckets = list(zip(bounds, counts))
    low, high = sorted((q1, q2))
    a, b = quantile(buckets, low), quantile(buckets, high)
    if sum(counts) == 0:
        assert a is None and b is None
        return
    assert a.value <= b.value
    assert 0.0 <= a.value <= bounds[-2]
