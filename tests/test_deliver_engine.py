"""DeliveryEngine over real HTTP against the strict local Discord: packing, rate limits, lifecycle, fork."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from fakes import FAST_RETRY

from otel_discord.config import resolve
from otel_discord.deliver.engine import (
    SPOOL_THREAD_NAME,
    THREAD_NAME,
    DeliveryEngine,
    Outgoing,
    get_engine,
)
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.testing import DiscordServer


def item(i: int | str, channel: str = "default", **kw) -> Outgoing:
    title = f"notice {i}"
    notice = Notice(Kind.EVENT, Severity.INFO, Category.SYSTEM, title, channel=channel)
    embed = kw.pop("embed", {"title": title, "description": f"something happened ({i})"})
    return Outgoing(channel=channel, embed=embed, notice=notice, **kw)


def titles(messages) -> list[str]:
    return [embed["title"] for message in messages for embed in message.embeds]


@pytest.fixture
def make_engine(tmp_path) -> Iterator:
    made: list[DeliveryEngine] = []

    def make(
        server: DiscordServer, webhook_url=None, *, channels=None, budget=(30, 60.0), linger=0.25, **settings
    ) -> DeliveryEngine:
        resolved = resolve(
            webhook_url=webhook_url,
            channels=channels,
            allowed_hosts=server.host_port,
            spool_dir=tmp_path,
            environ={},
            **settings,
        )
        engine = DeliveryEngine(resolved, retry=FAST_RETRY, channel_budget=budget, linger=linger)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        if not engine.closed:
            engine.shutdown(0.5)


def fallback_records(engine: DeliveryEngine) -> list[dict]:
    path = engine.fallback.path
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ------------------------------------------------------------------ packing


def test_25_notices_become_3_messages(discord_server, make_engine):
    """Queued embeds of one channel share messages: 10 + 10 + 5, in order."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    assert all(engine.submit(item(i)) for i in range(25))
    assert engine.flush(10)
    messages = discord_server.messages("alerts")
    assert [len(m.embeds) for m in messages] == [10, 10, 5]
    assert titles(messages) == [f"notice {i}" for i in range(25)]
    assert discord_server.rejected() == []
    assert engine.stats.snapshot()["sent_messages"] == 3
    assert engine.stats.snapshot()["sent_embeds"] == 25


def test_different_flags_and_mentions_are_not_packed_together(discord_server, make_engine):
    """A quiet notice never shares a message with one that pings a role."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, linger=30)  # nothing leaves before flush()
    engine.submit(item(0))
    engine.submit(item(1))
    engine.submit(item(2, flags=4096))
    engine.submit(item(3, flags=4096))
    engine.submit(item(4, content="<@&123456789012345678> payment failed", mention_roles=("123456789012345678",)))
    engine.submit(item(5))
    assert engine.flush(10)
    messages = discord_server.messages("alerts")
    assert [len(m.embeds) for m in messages] == [2, 2, 1, 1]
    assert messages[1].payload["flags"] == 4096
    pinging = messages[2].payload
    assert pinging["content"].startswith("<@&123456789012345678>")
    assert pinging["allowed_mentions"] == {"parse": [], "roles": ["123456789012345678"]}
    assert all(m.payload["allowed_mentions"]["parse"] == [] for m in messages)


def test_a_burst_waits_briefly_to_share_a_message(discord_server, make_engine):
    """Without flush(), notices submitted together still go as one message (the linger)."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, linger=0.5)
    for i in range(4):
        engine.submit(item(i))
    assert discord_server.wait_for_messages(1, channel="alerts", timeout=10)
    assert engine.flush(10)
    assert [len(m.embeds) for m in discord_server.messages("alerts")] == [4]


def test_flush_does_not_linger(discord_server, make_engine):
    """flush() sends at once: a long linger never delays it."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, linger=300)
    engine.submit(item(0))
    assert engine.flush(10)
    assert len(discord_server.messages("alerts")) == 1


def test_username_and_avatar_channel_first_then_settings(discord_server, make_engine):
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, username="Billing Bot", avatar_url="https://example.com/a.png")
    engine.submit(item(0))
    assert engine.flush(10)
    own = dataclasses.replace(
        engine.settings.channels["default"], username="Ops", avatar_url="https://example.com/o.png"
    )
    engine.update_channels({"default": own})
    engine.submit(item(1))
    assert engine.flush(10)
    first, second = discord_server.messages("alerts")
    assert (first.payload["username"], first.payload["avatar_url"]) == ("Billing Bot", "https://example.com/a.png")
    assert (second.payload["username"], second.payload["avatar_url"]) == ("Ops", "https://example.com/o.png")


# ------------------------------------------------------------------ rate limits


def test_burst_of_40_messages_causes_no_429(tmp_path):
    """Waiting before the bucket is empty: 40 unpackable messages, zero 429s, all delivered in order."""
    with DiscordServer(webhook_limit=5, webhook_window=0.5, channel_limit=15, channel_window=1.0) as server:
        hook = server.create_webhook("alerts")
        settings = resolve(webhook_url=hook.url, allowed_hosts=server.host_port, spool_dir=tmp_path, environ={})
        engine = DeliveryEngine(settings, retry=FAST_RETRY, channel_budget=(15, 1.0))
        try:
            for i in range(40):  # distinct content: each one is its own message
                assert engine.submit(item(i, content=f"deploy #{i}"))
            assert engine.flush(60)
            stats = server.stats()
            assert sum(stats["rate_limited"].values()) == 0 and not stats.get("banned")
            assert [m.content for m in server.messages("alerts")] == [f"deploy #{i}" for i in range(40)]
            assert engine.stats.snapshot().get("rate_limit_waits", 0) > 0  # the limits did bind
        finally:
            engine.shutdown(1)


def test_two_webhooks_on_one_channel_share_its_budget(tmp_path):
    """The hidden per-channel limit is shared: learned via GET channel_id, no 'shared' 429."""
    with DiscordServer(webhook_limit=50, webhook_window=1.0, channel_limit=5, channel_window=1.0) as server:
        first, second = server.create_webhook("alerts"), server.create_webhook("alerts")
        settings = resolve(
            channels={"a": first.url, "b": second.url}, allowed_hosts=server.host_port, spool_dir=tmp_path, environ={}
        )
        engine = DeliveryEngine(settings, retry=FAST_RETRY, channel_budget=(5, 1.0))
        try:
            for i in range(8):
                engine.submit(item(f"a{i}", channel="a", content=f"a{i}"))
                engine.submit(item(f"b{i}", channel="b", content=f"b{i}"))
            assert engine.flush(60)
            assert server.stats()["rate_limited"]["shared"] == 0
            assert len(server.messages("alerts")) == 16
        finally:
            engine.shutdown(1)


def test_hidden_channel_limit_429_blocks_the_channel_not_the_others(make_engine):
    """A 'shared' 429 (another process filled the channel) pauses that channel for retry_after;
    other channels keep going, and the blocked one is not hammered."""
    with DiscordServer(channel_limit=1, channel_window=60.0) as server:
        busy, calm = server.create_webhook("busy"), server.create_webhook("calm")
        engine = make_engine(server, channels={"busy": busy.url, "calm": calm.url})
        engine.submit(item(0, channel="busy", content="one"))
        assert engine.flush(10)
        engine.submit(item(1, channel="busy", content="two"))
        assert not engine.flush(0.5)  # blocked ~60 s by Retry-After
        engine.submit(item(2, channel="calm"))
        assert server.wait_for_messages(1, channel="calm", timeout=10)
        assert server.stats()["rate_limited"]["shared"] == 1
        assert engine.stats.snapshot()["http_429"] == 1


def test_ip_ban_backs_off_instead_of_hammering(discord_server, make_engine):
    """A 429 without rate-limit headers: one request, then a long pause for every webhook."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    discord_server.ban(300)
    engine.submit(item(0))
    assert not engine.flush(1.0)
    assert discord_server.stats()["requests"] == 1  # the channel lookup, answered by the ban
    assert engine.stats.snapshot()["bans"] == 1


# ------------------------------------------------------------------ lifecycle


def spool_rows(spool_dir) -> int:
    """Notices waiting in the spool file, read the way any other process would."""
    with sqlite3.connect(spool_dir / "spool.sqlite3") as db:
        return db.execute("SELECT count(*) FROM outbox").fetchone()[0]


def test_flush_and_shutdown_are_bounded_and_leftovers_wait_in_the_spool(discord_server, make_engine, tmp_path):
    """Nothing holds the caller past its timeout; what Discord did not get stays on disk
    (not in the fallback log) and the next start delivers it, in order, exactly once."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    discord_server.set_down(True)
    for i in range(3):
        engine.submit(item(i))
    clock = time.monotonic
    start = clock()
    assert engine.flush(0.3) is False
    assert clock() - start < 3
    start = clock()
    engine.shutdown(0.3)
    assert clock() - start < 3
    assert fallback_records(engine) == []
    assert spool_rows(tmp_path) == 3
    discord_server.set_down(False)
    restarted = make_engine(discord_server, hook.url)
    assert restarted.flush(10)
    assert titles(discord_server.messages("alerts")) == ["notice 0", "notice 1", "notice 2"]
    assert spool_rows(tmp_path) == 0


def test_shutdown_is_bounded_while_discord_is_slow(discord_server, make_engine, tmp_path):
    """A server taking 30 s per answer: shutdown(0.5) still returns promptly, the notice still spooled."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    discord_server.set_latency(30)
    engine.submit(item(0))
    start = time.monotonic()
    engine.shutdown(0.5)
    assert time.monotonic() - start < 5  # the HTTP timeout is 10 s: waiting for it would fail this
    assert fallback_records(engine) == []
    assert spool_rows(tmp_path) == 1


def test_second_shutdown_warns_and_later_submits_are_counted(discord_server, make_engine):
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("otel_discord").addHandler(handler)
    try:
        engine.shutdown(1)
        engine.shutdown(1)
    finally:
        logging.getLogger("otel_discord").removeHandler(handler)
    assert any("already shut down" in r.getMessage() for r in records)
    assert engine.submit(item(0)) is False
    assert engine.stats.snapshot()["dropped.engine_stopped"] == 1


def test_threads_are_named_daemons_started_with_the_engine(discord_server, make_engine):
    """Both threads run from construction (a restarted app replays its spool without a new notice)
    and never keep the process alive."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    threads = {t.name: t for t in threading.enumerate() if t in (engine._thread, engine._housekeeper)}
    assert set(threads) == {THREAD_NAME, SPOOL_THREAD_NAME}
    assert all(t.daemon for t in threads.values())
    engine.submit(item(0))
    assert engine.flush(10)


def test_get_engine_is_shared_and_renewed_after_shutdown(discord_server, tmp_path):
    """One engine per process: a second exporter adds its channels; after shutdown a new one is made."""
    first, second = discord_server.create_webhook("a"), discord_server.create_webhook("b")
    s1 = resolve(channels={"one": first.url}, allowed_hosts=discord_server.host_port, spool_dir=tmp_path, environ={})
    s2 = resolve(channels={"two": second.url}, allowed_hosts=discord_server.host_port, spool_dir=tmp_path, environ={})
    engine = get_engine(s1)
    try:
        assert get_engine(s2) is engine
        engine.submit(item(1, channel="one"))
        engine.submit(item(2, channel="two"))
        assert engine.flush(10)
        assert titles(discord_server.messages("a")) == ["notice 1"]
        assert titles(discord_server.messages("b")) == ["notice 2"]
    finally:
        engine.shutdown(1)
    renewed = get_engine(s1)
    try:
        assert renewed is not engine and not renewed.closed
    finally:
        renewed.shutdown(1)


def test_forked_child_gets_its_own_threads_and_its_notices_are_delivered(discord_server, make_engine):
    """gunicorn forks after the exporter is built: the child spools through fresh threads, the parent
    (holding the send lease) delivers the child's notice, and the child's flush sees it delivered."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    engine.submit(item("parent"))
    assert engine.flush(10) and engine.is_leader
    parent_threads = (engine._thread, engine._housekeeper)
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            accepted = engine.submit(item("child"))
            delivered = engine.flush(10)
            fresh = all(
                t is not None and t.is_alive() and t not in parent_threads
                for t in (engine._thread, engine._housekeeper)
            )
            sent_by_parent = not engine.is_leader and engine.stats.snapshot().get("sent_messages", 0) == 0
            code = 0 if (accepted and delivered and fresh and sent_by_parent) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert titles(discord_server.messages("alerts")) == ["notice parent", "notice child"]
    engine.submit(item("parent again"))  # the parent's engine is untouched by the fork
    assert engine.flush(10)
    assert titles(discord_server.messages("alerts"))[-1] == "notice parent again"


def test_webhook_posts_never_become_spans(discord_server, make_engine):
    """With requests instrumented, delivering creates no span (its URL would carry the token)."""
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        requests.get(f"{discord_server.base_url}/api/v10/gateway", timeout=5)
        assert len(exporter.get_finished_spans()) == 1  # instrumentation is really active
        exporter.clear()
        hook = discord_server.create_webhook("alerts")
        engine = make_engine(discord_server, hook.url)
        engine.submit(item(0))
        assert engine.flush(10)
        assert len(discord_server.messages("alerts")) == 1
        assert exporter.get_finished_spans() == ()
    finally:
        instrumentor.uninstrument()
