"""RateLimiter and ChannelBudget as tables over a fixed `now` (no clock, no sleeping)."""

from __future__ import annotations

import pytest

from otel_discord.deliver.ratelimit import EXECUTE, INFO, ChannelBudget, RateLimiter
from otel_discord.deliver.webhook import Outcome

NOW = 1000.0
HOOK, OTHER_HOOK = "111", "222"
CHAN, OTHER_CHAN = "channel:1", "channel:2"


def headers(remaining: int, reset_after: float, *, limit: int = 5, bucket: str = "abc", **extra: str) -> dict:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": bucket,
        **extra,
    }


def ok(remaining: int, reset_after: float, **kw) -> Outcome:
    return Outcome(200, {"id": "1"}, headers(remaining, reset_after, **kw))


def limited(retry_after: float, *, header_retry: int | None = None) -> Outcome:
    hdrs = headers(0, retry_after, **{"X-RateLimit-Scope": "user"})
    if header_retry is not None:
        hdrs["Retry-After"] = str(header_retry)
    return Outcome(429, {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}, hdrs)


BAN = Outcome(429, {"code": 0, "message": "You are being blocked from accessing our API temporarily"}, {})


def limiter() -> RateLimiter:
    return RateLimiter(margin=0.0)


class TestRateLimiter:
    def test_unknown_webhook_may_go(self):
        assert limiter().delay(HOOK, CHAN, NOW) == 0

    @pytest.mark.parametrize(
        ("remaining", "reset_after", "at", "expected"),
        [
            (4, 2.0, NOW, 0.0),  # tokens left: go
            (1, 2.0, NOW, 0.0),
            (0, 2.0, NOW, 2.0),  # the last token is gone: wait before Discord would say 429
            (0, 2.0, NOW + 1.5, 0.5),
            (0, 2.0, NOW + 2.0, 0.0),  # window reset
            (0, 2.0, NOW + 9.0, 0.0),
            (0, 0.0, NOW, 0.0),
        ],
    )
    def test_bucket_headers(self, remaining, reset_after, at, expected):
        """Remaining 0 blocks until Reset-After has passed; any remaining token lets the request go."""
        rl = limiter()
        rl.on_response(HOOK, CHAN, ok(remaining, reset_after), NOW)
        assert rl.delay(HOOK, CHAN, at) == pytest.approx(expected)

    def test_bucket_is_per_webhook(self):
        rl = limiter()
        rl.on_response(HOOK, CHAN, ok(0, 2.0), NOW)
        assert rl.delay(OTHER_HOOK, CHAN, NOW) == 0

    def test_margin_pads_the_reset(self):
        """The default margin covers Discord's rounding of Reset-After to milliseconds."""
        rl = RateLimiter()
        rl.on_response(HOOK, CHAN, ok(0, 1.0), NOW)
        assert rl.delay(HOOK, CHAN, NOW + 1.0) > 0
        assert rl.delay(HOOK, CHAN, NOW + 1.2) == 0

    @pytest.mark.parametrize(
        ("scope", "blocked"),
        [
            # 429 for HOOK posting into CHAN → which (webhook, channel) pairs must wait 3 s
            ("user", {(HOOK, CHAN), (HOOK, OTHER_CHAN)}),
            ("shared", {(HOOK, CHAN), (OTHER_HOOK, CHAN)}),
            ("global", {(HOOK, CHAN), (HOOK, OTHER_CHAN), (OTHER_HOOK, CHAN), (OTHER_HOOK, OTHER_CHAN)}),
        ],
    )
    def test_429_blocks_its_scope(self, scope, blocked):
        """user blocks the webhook, shared the channel (all its webhooks), global everything."""
        hdrs = {**headers(2, 1.0), "X-RateLimit-Scope": scope}  # the bucket itself still has room
        body = {"message": "You are being rate limited.", "retry_after": 3.0, "global": scope == "global"}
        rl = limiter()
        rl.on_response(HOOK, CHAN, Outcome(429, body, hdrs), NOW)
        for pair in [(HOOK, CHAN), (HOOK, OTHER_CHAN), (OTHER_HOOK, CHAN), (OTHER_HOOK, OTHER_CHAN)]:
            assert rl.delay(*pair, NOW) == pytest.approx(3.0 if pair in blocked else 0.0), pair
            assert rl.delay(*pair, NOW + 3.0) == 0, pair

    def test_shared_429_with_normal_bucket_headers(self):
        """The hidden channel limit: 429 shared while the webhook's own bucket still has room."""
        rl = limiter()
        outcome = Outcome(
            429,
            {"message": "The resource is being rate limited.", "retry_after": 41.2, "global": False},
            {**headers(3, 1.0), "X-RateLimit-Scope": "shared", "Retry-After": "42"},
        )
        rl.on_response(HOOK, CHAN, outcome, NOW)
        assert rl.delay(OTHER_HOOK, CHAN, NOW) == pytest.approx(42.0)
        assert rl.delay(OTHER_HOOK, OTHER_CHAN, NOW) == 0

    def test_retry_after_uses_larger_of_body_and_header(self):
        rl = limiter()
        rl.on_response(HOOK, CHAN, limited(64.57, header_retry=65), NOW)
        assert rl.delay(HOOK, CHAN, NOW) == pytest.approx(65.0)

    def test_ban_backs_off_long_and_longer(self):
        """A 429 without rate-limit headers is an IP ban: ≥60 s for every webhook, doubling while it lasts."""
        rl = limiter()
        rl.on_response(HOOK, CHAN, BAN, NOW)
        first = rl.delay(OTHER_HOOK, OTHER_CHAN, NOW)
        assert first >= 60
        rl.on_response(HOOK, CHAN, BAN, NOW + first)
        second = rl.delay(HOOK, CHAN, NOW + first)
        assert second >= 2 * first
        # a normal answer ends the streak: the next ban starts again at the base
        rl.on_response(HOOK, CHAN, ok(4, 2.0), NOW + 500)
        rl.on_response(HOOK, CHAN, BAN, NOW + 500)
        assert rl.delay(HOOK, CHAN, NOW + 500) == pytest.approx(first)

    def test_ban_is_capped(self):
        rl = RateLimiter(margin=0.0, ban_cap=600.0)
        for _ in range(30):
            rl.on_response(HOOK, CHAN, BAN, NOW)
        assert rl.delay(HOOK, CHAN, NOW) == pytest.approx(600.0)

    def test_html_429_without_headers_is_a_ban(self):
        rl = limiter()
        rl.on_response(HOOK, CHAN, Outcome(429, None, {"Content-Type": "text/html"}), NOW)
        assert rl.delay(HOOK, CHAN, NOW) >= 60

    def test_no_response_changes_nothing(self):
        rl = limiter()
        rl.on_response(HOOK, CHAN, Outcome(None, error="connection refused"), NOW)
        rl.on_response(HOOK, CHAN, Outcome(503, {"message": "x"}, {}), NOW)
        assert rl.delay(HOOK, CHAN, NOW) == 0

    def test_malformed_headers_ignored(self):
        rl = limiter()
        rl.on_response(
            HOOK, CHAN, Outcome(200, None, {"X-RateLimit-Remaining": "many", "X-RateLimit-Reset-After": "x"}), NOW
        )
        assert rl.delay(HOOK, CHAN, NOW) == 0

    def test_routes_share_a_bucket_until_told_otherwise(self):
        """The channel lookup (GET) emptied the bucket: the first POST waits too; a separate bucket frees it."""
        rl = limiter()
        rl.on_response(HOOK, CHAN, ok(0, 1.0, bucket="b1"), NOW, route=INFO)
        assert rl.delay(HOOK, CHAN, NOW, route=EXECUTE) == pytest.approx(1.0)
        rl.on_response(HOOK, CHAN, ok(3, 2.0, bucket="b2"), NOW, route=EXECUTE)
        assert rl.delay(HOOK, CHAN, NOW, route=EXECUTE) == 0
        assert rl.delay(HOOK, CHAN, NOW, route=INFO) == pytest.approx(1.0)


class TestChannelBudget:
    @pytest.mark.parametrize(
        ("sends", "at", "expected"),
        [
            ([], NOW, 0.0),
            ([NOW, NOW + 1], NOW + 2, 0.0),  # 2 of 3 used
            ([NOW, NOW + 1, NOW + 2], NOW + 2, 8.0),  # full: until the oldest is 10 s old
            ([NOW, NOW + 1, NOW + 2], NOW + 10, 0.0),
            ([NOW, NOW + 1, NOW + 2, NOW + 10.5], NOW + 10.5, 0.5),  # sliding: the 2nd send now limits
            ([NOW, NOW + 0.5, NOW + 9.9], NOW + 9.95, 0.05),
        ],
    )
    def test_sliding_window(self, sends, at, expected):
        """At most `limit` sends in any `window` seconds."""
        budget = ChannelBudget(limit=3, window=10.0, margin=0.0)
        for t in sends:
            budget.record(CHAN, t)
        assert budget.delay(CHAN, at) == pytest.approx(expected)

    def test_channels_are_independent(self):
        budget = ChannelBudget(limit=1, window=60.0, margin=0.0)
        budget.record(CHAN, NOW)
        assert budget.delay(CHAN, NOW) == pytest.approx(60.0)
        assert budget.delay(OTHER_CHAN, NOW) == 0

    def test_defaults_are_discords_30_per_minute(self):
        budget = ChannelBudget()
        for i in range(30):
            assert budget.delay(CHAN, NOW + i) == 0
            budget.record(CHAN, NOW + i)
        assert budget.used(CHAN, NOW + 30) == 30
        assert 29 < budget.delay(CHAN, NOW + 30) <= 31

    def test_invalid_budget(self):
        with pytest.raises(ValueError):
            ChannelBudget(limit=0)
