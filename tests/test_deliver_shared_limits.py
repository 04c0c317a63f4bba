"""shared_limits.py: Discord's limits shared by every process and application using one spool directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_discord.config import resolve
from otel_discord.deliver.engine import DeliveryEngine, Outgoing
from otel_discord.deliver.retry import RetryPolicy
from otel_discord.deliver.shared_limits import Reservation, SharedLimits
from otel_discord.deliver.spool import Spool
from otel_discord.deliver.webhook import Outcome
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.testing import DiscordServer

NOW = 1_750_000_000.0


@pytest.fixture
def pair(tmp_path: Path):
    """Two connections to one spool file: what two processes see."""
    spools = [Spool(tmp_path / "spool.sqlite3", scope).open() for scope in ("app-a", "app-b")]
    yield [SharedLimits(s, channel_limit=3, channel_window=10.0, margin=0.0, hold=5.0) for s in spools]
    for spool in spools:
        spool.close()


def answer(status: int = 200, **headers: str) -> Outcome:
    return Outcome(status, {}, headers)


class TestWindows:
    def test_a_channel_budget_is_shared_between_processes(self, pair):
        """3 per 10 s per channel: two processes together get three slots, the fourth waits."""
        a, b = pair
        assert isinstance(a.reserve("webhook:1", "channel:9", NOW), Reservation)
        assert isinstance(b.reserve("webhook:2", "channel:9", NOW), Reservation)
        assert isinstance(a.reserve("webhook:1", "channel:9", NOW + 0.1), Reservation)
        wait = b.reserve("webhook:2", "channel:9", NOW + 0.2)
        assert wait == pytest.approx(10.0 - 0.2 + 5.0)  # the first slot still counts as unanswered
        assert isinstance(b.reserve("webhook:2", "channel:8", NOW + 0.2), Reservation)  # another channel

    def test_a_slot_counts_from_its_answer(self, pair):
        """An unanswered request counts until its hold ends; once answered, from when the answer came."""
        a, _ = pair
        reservations = [a.reserve("webhook:1", "channel:9", NOW) for _ in range(3)]
        for r in reservations:
            a.settle(r, NOW + 1.0)
        assert a.delay("webhook:1", "channel:9", NOW + 2.0) == pytest.approx(9.0)
        a.cancel(reservations[0])  # e.g. a 429: Discord did not count it
        assert a.delay("webhook:1", "channel:9", NOW + 2.0) == 0.0

    def test_the_webhook_bucket_is_learnt_from_discords_headers(self, pair):
        """Until told otherwise, 5 per 2 s; the first answer of a window reports the real bucket."""
        a, b = pair
        a.learn(
            "webhook:1",
            "channel:9",
            answer(**{"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset-After": "4.0"}),
            NOW,
        )
        for i in range(2):
            a.settle(a.reserve("webhook:1", None, NOW + i * 0.1), NOW + i * 0.1)
        assert b.delay("webhook:1", None, NOW + 0.5) == pytest.approx(3.5)

    def test_a_429_blocks_every_process(self, pair):
        a, b = pair
        shared = Outcome(
            429, {"retry_after": 40.0, "global": False}, {"X-RateLimit-Scope": "shared", "X-RateLimit-Remaining": "3"}
        )
        a.learn("webhook:1", "channel:9", shared, NOW)
        assert b.delay("webhook:2", "channel:9", NOW + 1) == pytest.approx(39.0)
        assert b.delay("webhook:2", "channel:8", NOW + 1) == 0.0
        ban = Outcome(429, {"code": 0, "message": "You are being blocked"}, {})
        a.learn("webhook:1", "channel:9", ban, NOW)
        assert b.delay("webhook:3", "channel:7", NOW + 1) > 0  # a ban is for everything

    def test_a_wall_clock_set_back_does_not_block_for_the_jump(self, pair):
        """Slots and blocks written two hours "in the future" (before NTP moved the clock back) do not count."""
        a, b = pair
        for _ in range(3):
            a.settle(a.reserve("webhook:1", "channel:9", NOW), NOW)
        a.learn("webhook:1", "channel:9", Outcome(429, {"retry_after": 30.0}, {"X-RateLimit-Scope": "user"}), NOW)
        assert b.delay("webhook:1", "channel:9", NOW + 1) > 0
        assert b.delay("webhook:1", "channel:9", NOW - 7200) == 0.0

    def test_prune_forgets_what_no_window_needs(self, pair):
        a, b = pair
        a.settle(a.reserve("webhook:1", "channel:9", NOW), NOW)
        a.prune(NOW + 3600)
        with a.spool.reading() as db:
            assert db.execute("SELECT count(*) FROM sends").fetchone()[0] == 0


def test_two_applications_on_one_host_share_a_webhook_without_a_429(tmp_path):
    """Two applications (their own outbox and sender each) posting into one channel through one
    webhook: the windows in the shared spool directory keep them both inside Discord's limits."""
    with DiscordServer(webhook_limit=5, webhook_window=1.0, channel_limit=5, channel_window=2.0) as server:
        hook = server.create_webhook("alerts")
        settings = resolve(
            webhook_url=hook.url,
            allowed_hosts=server.host_port,
            spool_dir=tmp_path,
            environ={},
        )
        engines = [
            DeliveryEngine(settings, retry=RetryPolicy(base=0.05, cap=0.2), channel_budget=(5, 2.0), scope=scope)
            for scope in ("billing", "shop")
        ]
        try:
            for i in range(8):
                for engine, app in zip(engines, ("billing", "shop")):
                    notice = Notice(Kind.EVENT, Severity.INFO, Category.SYSTEM, f"{app} {i}", channel="default")
                    engine.submit(Outgoing("default", {"title": notice.title}, notice, content=f"{app} #{i}"))
            assert all(engine.flush(60) for engine in engines)
            assert all(engine.is_leader for engine in engines)  # two senders, one per application
            stats = server.stats()
            assert stats["rate_limited"] == {"user": 0, "shared": 0, "global": 0}
            contents = [m.content for m in server.messages()]
            assert sorted(contents) == sorted(f"{app} #{i}" for app in ("billing", "shop") for i in range(8))
            for app in ("billing", "shop"):  # each application's own order is kept
                assert [c for c in contents if c.startswith(app)] == [f"{app} #{i}" for i in range(8)]
        finally:
            for engine in engines:
                engine.shutdown(1)


def test_a_lease_renewed_late_wakes_the_parked_sender(tmp_path: Path):
    """A busy process renews its lease late: meanwhile its sender saw no lease and parked until woken.

    The late renewal must wake it; before this, 10,000 notices of a flood waited in the
    spool until the next notice came along (the renewal changed nothing the sender watched).
    """
    import os
    import socket
    from types import SimpleNamespace

    from otel_discord.deliver.fallback import FallbackLog
    from otel_discord.deliver.housekeeping import Housekeeper
    from otel_discord.deliver.options import DeliveryOptions
    from otel_discord.deliver.queue import MemoryQueue
    from otel_discord.health.drops import Stats

    settings = resolve(
        webhook_url="http://127.0.0.1:9/api/webhooks/1/x", allowed_hosts="127.0.0.1:9", spool_dir=tmp_path, environ={}
    )
    woken: list[int] = []
    keeper = Housekeeper(
        path=tmp_path / "spool.sqlite3",
        scope="app",
        pages=None,
        options=DeliveryOptions.from_settings(settings),
        stats=Stats(),
        fallback=FallbackLog(tmp_path / "dropped.jsonl"),
        sender=SimpleNamespace(shared=None, spool=None),
        channels=dict,
        wake_sender=lambda: woken.append(1),
    )
    keeper.reset(f"{socket.gethostname()}:{os.getpid()}:test")
    inbox = MemoryQueue(10)
    keeper.tick(inbox, 0.0, NOW, flushing=False)
    assert keeper.leads(0.0) and woken  # won the lease: the sender was told
    on_time = keeper.next_lease
    woken.clear()
    keeper.tick(inbox, on_time, NOW + on_time, flushing=False)
    assert keeper.leads(on_time) and not woken  # renewed in time: nothing changed for the sender

    late = keeper.leader_until + 0.5
    assert not keeper.leads(late)  # what the sender saw: no lease, so it parked
    keeper.tick(inbox, late, NOW + late, flushing=False)
    assert keeper.leads(late)
    assert woken, "the sender was not woken when the lapsed lease was renewed"
    keeper.spool.close()
