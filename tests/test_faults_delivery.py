"""Fault matrix for delivery: Discord misbehaves, the disk misbehaves, the clock misbehaves.

Every row runs real HTTP against the strict local ``DiscordServer`` and asserts what a user
would notice: no notice lost (each title delivered exactly once, unless the row says why a
duplicate is unavoidable), the application's threads never wait for Discord (``submit()``
durations compared with the injected latency or outage, never with absolute thresholds) and
bounded memory (the inbox never holds more than was submitted; the spool empties).

Time is scaled: "Discord down for 60 s" is 1.5 s of outage with a retry policy capped at
0.2 s, which is the same sequence of events (several failed attempts, back-off, recovery) at
1/40 of the duration. Rows already covered elsewhere are listed in the final report.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from fakes import FAST_RETRY

from otel_discord.config import resolve
from otel_discord.deliver.engine import DeliveryEngine, Outgoing
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.testing import DiscordServer


def item(i: int | str, channel: str = "default") -> Outgoing:
    title = f"notice {i}"
    notice = Notice(Kind.EVENT, Severity.INFO, Category.SYSTEM, title, channel=channel)
    return Outgoing(channel=channel, embed={"title": title, "description": f"happened ({i})"}, notice=notice)


def delivered(server: DiscordServer) -> Counter[str]:
    return Counter(embed["title"] for message in server.messages() for embed in message.embeds)


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class App:
    """An application thread submitting notices, timing each submit() as a request thread would feel it."""

    def __init__(self, engine: DeliveryEngine) -> None:
        self.engine = engine
        self.durations: list[float] = []
        self.accepted = 0

    def submit(self, i: int | str, channel: str = "default") -> None:
        start = time.perf_counter()
        self.accepted += self.engine.submit(item(i, channel))
        self.durations.append(time.perf_counter() - start)

    def submit_for(self, seconds: float, start: int = 0) -> int:
        """Submit one notice every 20 ms for ``seconds``; returns how many."""
        n, end = start, time.monotonic() + seconds
        while time.monotonic() < end:
            self.submit(n)
            n += 1
            time.sleep(0.02)
        return n - start


@pytest.fixture
def make_engine(tmp_path) -> Iterator:
    made: list[DeliveryEngine] = []

    def make(server: DiscordServer, *, spool_dir=None, timeout: float = 2.0, **kwargs) -> DeliveryEngine:
        hook = server.create_webhook("alerts")
        settings = resolve(
            webhook_url=hook.url,
            allowed_hosts=server.host_port,
            spool_dir=spool_dir or tmp_path,
            timeout=timeout,
            environ={},
        )
        engine = DeliveryEngine(settings, retry=FAST_RETRY, linger=0.05, **kwargs)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        if not engine.closed:
            engine.shutdown(0.5)


def assert_exactly_once(server: DiscordServer, n: int, start: int = 0) -> None:
    got = delivered(server)
    assert {f"notice {i}" for i in range(start, start + n)} <= set(got), sorted(got)
    assert [t for t, c in got.items() if c > 1] == []
    assert server.rejected() == []


def test_discord_down_for_a_minute_scaled(discord_server, make_engine):
    """Down 1.5 s (≈ 60 s at 1/40 scale) while the app keeps submitting: every notice arrives
    once after recovery, and no submit() waited for the outage."""
    engine = make_engine(discord_server)
    app = App(engine)
    app.submit("warmup")
    assert engine.flush(10)
    discord_server.set_down(True)
    outage = 1.5
    n = app.submit_for(outage)
    depth_during = engine.pending()
    discord_server.set_down(False)
    assert engine.flush(20)
    assert_exactly_once(discord_server, n)
    assert app.accepted == n + 1 and 0 < depth_during <= n  # memory/spool hold what was submitted, no more
    assert engine.pending() == 0 and engine.spool_depth() == 0
    assert max(app.durations) < outage / 10  # submit never waited for Discord
    assert engine.stats.snapshot().get("transport_errors", 0) >= 1  # it really was down


@pytest.mark.parametrize("flaps", [4])
def test_connection_resets_while_delivering(discord_server, make_engine, flaps):
    """Connections hung up on again and again (down/up every 150 ms): exactly once each."""
    engine = make_engine(discord_server)
    app = App(engine)
    n = 0
    for _ in range(flaps):
        discord_server.set_down(True)
        n += app.submit_for(0.15, start=n)
        discord_server.set_down(False)
        n += app.submit_for(0.15, start=n)
    assert engine.flush(20)
    assert_exactly_once(discord_server, n)


def test_5xx_burst_during_a_stream_of_notices(discord_server, make_engine):
    engine = make_engine(discord_server)
    app = App(engine)
    discord_server.fail_next(12, 503)
    n = app.submit_for(0.6)
    assert engine.flush(20)
    assert_exactly_once(discord_server, n)
    assert engine.stats.snapshot().get("http_503", 0) >= 1


def test_global_rate_limit_storm(discord_server, make_engine):
    """Every request answered with a global 429 for 1 s: the engine waits it out, nothing is lost,
    nothing is sent twice and the app does not notice."""
    engine = make_engine(discord_server)
    app = App(engine)
    app.submit("warmup")
    assert engine.flush(10)
    discord_server.global_rate_limit(1.0)
    n = app.submit_for(0.5)
    assert engine.flush(20)
    assert_exactly_once(discord_server, n)
    assert engine.stats.snapshot().get("http_429", 0) >= 1
    assert max(app.durations) < 0.1


def test_responses_slower_than_the_timeout(discord_server, make_engine):
    """Discord answers after the client's timeout (it did post). Nothing is lost and the app never
    waits; a notice whose POST timed out is sent again, because a webhook has no idempotency key:
    at most one duplicate per timed-out request."""
    engine = make_engine(discord_server, timeout=0.3)
    app = App(engine)
    app.submit("warmup")
    assert engine.flush(10)
    latency = 0.6
    discord_server.set_latency(latency)
    n = app.submit_for(0.3)
    assert wait_until(lambda: engine.stats.snapshot().get("transport_errors", 0) >= 1)
    discord_server.set_latency(0.0)
    assert engine.flush(20)
    got = delivered(discord_server)
    assert {f"notice {i}" for i in range(n)} <= set(got)
    timeouts = engine.stats.snapshot().get("transport_errors", 0)
    duplicates = sum(c - 1 for c in got.values())
    assert duplicates <= timeouts * 10  # each timed-out message (≤ 10 embeds) may appear once more
    assert max(app.durations) < latency / 5


def test_webhook_deleted_mid_run_loses_nothing_quietly(discord_server, make_engine):
    """404 Unknown Webhook mid-stream: what was delivered stays delivered once; the rest is written
    to the fallback log (nothing vanishes) and the app never blocks."""
    engine = make_engine(discord_server)
    app = App(engine)
    n1 = app.submit_for(0.2)
    assert engine.flush(10)
    (hook,) = discord_server.webhooks()
    discord_server.delete_webhook(hook.id)
    n2 = app.submit_for(0.2, start=n1)
    assert engine.flush(10)
    got = delivered(discord_server)
    assert {f"notice {i}" for i in range(n1)} <= set(got) and max(got.values()) == 1
    assert len(got) == n1  # nothing after the deletion was delivered anywhere
    # One refused request tells the engine; it does not keep hammering a deleted webhook.
    assert [(r.status, (r.error or {}).get("code")) for r in discord_server.rejected()] == [(404, 10015)]
    import json

    dropped = [json.loads(line)["title"] for line in engine.fallback.path.read_text().splitlines()]
    assert sorted(dropped) == sorted(f"notice {i}" for i in range(n1, n1 + n2))


def test_spool_directory_unusable_falls_back_to_memory(discord_server, make_engine, tmp_path):
    """The spool path cannot be created (its parent is a file: what a read-only or missing volume
    looks like to root too): notices are delivered from memory, once each."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    engine = make_engine(discord_server, spool_dir=blocker / "spool")
    app = App(engine)
    n = app.submit_for(0.3)
    assert engine.flush(10)
    assert_exactly_once(discord_server, n)
    assert not engine.durable


def test_spool_disk_full_mid_run(discord_server, make_engine):
    """The spool's disk fills up while Discord is down (SQLite's own "database or disk is full",
    from a page cap on the file): every notice, spooled before or after, arrives once."""
    engine = make_engine(discord_server, spool_pages=8)  # ~32 KB
    app = App(engine)
    app.submit("warmup")
    assert engine.flush(10)
    discord_server.set_down(True)
    n = 0
    for _ in range(4):  # 4 × 5 notices of ~3 KB each: well past 32 KB (each is its own message)
        for _ in range(5):
            notice = Notice(
                Kind.EVENT, Severity.INFO, Category.SYSTEM, f"notice {n}", channel="default", fingerprint=f"fp{n}"
            )
            start = time.perf_counter()
            engine.submit(
                Outgoing(channel="default", embed={"title": f"notice {n}", "description": "x" * 3000}, notice=notice)
            )
            app.durations.append(time.perf_counter() - start)
            n += 1
        time.sleep(0.3)  # the housekeeper spools between bursts
    discord_server.set_down(False)
    assert engine.flush(30), (
        f"pending={engine.pending()} depth={engine.spool_depth()} delivered={len(delivered(discord_server))}/{n + 1}"
    )
    assert_exactly_once(discord_server, n)
    assert max(app.durations) < 0.1
    assert not engine.durable  # the disk really did fill up (the engine went on from memory)


@pytest.mark.parametrize("jump", [+2 * 3600.0, -2 * 3600.0])
def test_wall_clock_jumps(discord_server, make_engine, jump):
    """The wall clock jumps two hours (NTP, a suspended VM) mid-run: delivery continues, once each,
    past the lease's lifetime (10 s) so a lease renewed by wall time would lapse."""
    offset = [0.0]
    engine = make_engine(discord_server, wall=lambda: time.time() + offset[0])
    app = App(engine)
    n1 = app.submit_for(0.2)
    assert engine.flush(10)
    offset[0] = jump
    n2 = app.submit_for(0.2, start=n1)
    assert engine.flush(10)
    time.sleep(11)  # real time: longer than LEASE_TTL, so the lease must have been renewed
    app.submit("late")
    assert engine.flush(10), f"not delivered after a {jump:+.0f} s jump: pending={engine.pending()}"
    assert_exactly_once(discord_server, n1 + n2)
    assert delivered(discord_server)["notice late"] == 1
