"""The engine with its spool: outages, replay after a long one, bounds, a broken disk, timers."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FAST_RETRY, FakeWall

from otel_discord.config import resolve
from otel_discord.deliver.engine import DeliveryEngine, Outgoing
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.render.embed import render_embed
from otel_discord.testing import DiscordServer


def note(i: int | str, channel: str = "default", **kw) -> Outgoing:
    notice = Notice(Kind.EVENT, Severity.INFO, Category.INVOICE, f"invoice {i} paid", channel=channel)
    return Outgoing(channel, {"title": f"invoice {i} paid"}, notice, **kw)


def error(fingerprint: str, channel: str = "default") -> Outgoing:
    notice = Notice(
        Kind.ERROR,
        Severity.ERROR,
        Category.ERROR,
        f"KeyError in {fingerprint}",
        channel=channel,
        fingerprint=fingerprint,
    )
    return Outgoing(channel, render_embed(notice), notice)


def titles(messages) -> list[str]:
    return [embed["title"] for message in messages for embed in message.embeds]


def fallback(tmp_path: Path) -> list[dict]:
    path = tmp_path / "dropped.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def logs() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("otel_discord")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture
def make_engine(tmp_path) -> Iterator:
    made: list[DeliveryEngine] = []

    def make(
        server: DiscordServer, webhook_url=None, *, channels=None, environ=None, spool_dir=None, **kw
    ) -> DeliveryEngine:
        settings = resolve(
            webhook_url=webhook_url,
            channels=channels,
            allowed_hosts=server.host_port,
            spool_dir=spool_dir or tmp_path,
            environ=environ or {},
        )
        engine = DeliveryEngine(settings, retry=FAST_RETRY, **kw)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        if not engine.closed:
            engine.shutdown(0.5)


# ------------------------------------------------------------------ outages


def test_discord_down_then_up_delivers_in_order_exactly_once(discord_server, make_engine):
    """20 notices during an outage of several attempts: each arrives once, in submit order."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    discord_server.set_down(True)
    for i in range(20):
        engine.submit(note(i, content=f"#{i}"))  # distinct content: a message each
    assert wait_until(lambda: engine.stats.snapshot().get("transport_errors", 0) >= 3)
    discord_server.set_down(False)
    assert engine.flush(30)
    messages = discord_server.messages()
    assert [m.content for m in messages] == [f"#{i}" for i in range(20)]
    assert discord_server.stats()["rate_limited"] == {"user": 0, "shared": 0, "global": 0}


def test_a_long_outage_is_replayed_as_one_summary(discord_server, make_engine, tmp_path):
    """After 14 minutes without Discord: one message ("37 errors in 5 groups"), not 37 alerts;
    the details go to the fallback log; what comes next is delivered as usual."""
    hook = discord_server.create_webhook("alerts")
    wall = FakeWall()
    engine = make_engine(discord_server, hook.url, wall=wall)
    discord_server.set_down(True)
    for group, repeats in enumerate((8, 8, 7, 7, 7)):
        for _ in range(repeats):
            engine.submit(error(f"fp{group}"))
    assert wait_until(lambda: engine.spool_depth() == 5 and len(engine._inbox) == 0)
    wall.advance(14 * 60)
    discord_server.set_down(False)
    assert engine.flush(10)
    (summary,) = discord_server.messages()
    assert summary.content == "While Discord was unreachable for 14 min: 37 errors in 5 groups"
    lines = summary.embeds[0]["description"].splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["**×8**", "**×8**", "**×7**", "**×7**", "**×7**"]
    assert "KeyError in fp0" in lines[0]
    collapsed = [r for r in fallback(tmp_path) if r["reason"] == "collapsed"]
    assert sorted(r["count"] for r in collapsed) == [7, 7, 7, 8, 8]
    assert engine.stats.dropped() == 0
    engine.submit(error("fp9"))
    assert engine.flush(10)
    assert titles(discord_server.messages())[-1].endswith("KeyError in fp9")


def test_an_audit_channel_is_replayed_in_full(discord_server, make_engine):
    """Every audit notice counts: after a long outage each is delivered as itself."""
    hook = discord_server.create_webhook("audit")
    wall = FakeWall()
    engine = make_engine(discord_server, channels={"audit": hook.url}, wall=wall, linger=30)
    discord_server.set_down(True)
    for i in range(3):
        engine.submit(note(i, channel="audit"))
    assert wait_until(lambda: engine.spool_depth() == 3)
    wall.advance(3600)
    discord_server.set_down(False)
    assert engine.flush(10)
    assert titles(discord_server.messages()) == ["invoice 0 paid", "invoice 1 paid", "invoice 2 paid"]


# ------------------------------------------------------------------ bounds


def test_the_spool_keeps_the_newest_rows_within_its_limit(discord_server, make_engine, tmp_path):
    """SPOOL_MAX_ROWS: the oldest beyond it are dropped, counted, written to the fallback log and reported."""
    hook = discord_server.create_webhook("alerts")
    wall = FakeWall()
    engine = make_engine(discord_server, hook.url, wall=wall, environ={"OTEL_EXPORTER_DISCORD_SPOOL_MAX_ROWS": "3"})
    assert wait_until(lambda: engine.is_leader)  # its first trim (of nothing) is done; the next is due in 5 s
    discord_server.set_down(True)
    for i in range(5):
        engine.submit(note(i, content=f"#{i}"))
    assert wait_until(lambda: engine.spool_depth() == 5)
    wall.advance(6)  # the next trim is due
    assert wait_until(lambda: engine.stats.dropped("spool_full") == 2)
    assert [(r["title"], r["reason"]) for r in fallback(tmp_path)] == [
        ("invoice 0 paid", "spool_full"),
        ("invoice 1 paid", "spool_full"),
    ]
    discord_server.set_down(False)
    assert engine.flush(10)
    messages = discord_server.messages()
    assert [m.content.splitlines()[-1] for m in messages] == ["#2", "#3", "#4"]
    assert messages[0].content.startswith("⚠️ 2 notices dropped (spool full)")


def test_notices_older_than_the_max_age_are_dropped(discord_server, make_engine, tmp_path):
    hook = discord_server.create_webhook("alerts")
    wall = FakeWall()
    engine = make_engine(discord_server, hook.url, wall=wall, environ={"OTEL_EXPORTER_DISCORD_SPOOL_MAX_AGE": "1h"})
    assert wait_until(lambda: engine.is_leader)
    discord_server.set_down(True)
    engine.submit(note(0))
    engine.submit(note(1))
    assert wait_until(lambda: engine.spool_depth() == 2)
    wall.advance(2 * 3600)
    assert wait_until(lambda: engine.stats.dropped("spool_expired") == 2)
    assert {r["reason"] for r in fallback(tmp_path)} == {"spool_expired"}
    discord_server.set_down(False)
    engine.submit(note(2))
    assert engine.flush(10)
    (message,) = discord_server.messages()
    assert message.content == "⚠️ 2 notices dropped (too old)" and titles([message]) == ["invoice 2 paid"]


# ------------------------------------------------------------------ a broken disk


def test_an_unusable_spool_directory_means_memory_only_with_one_clear_line(discord_server, make_engine, tmp_path, logs):
    (tmp_path / "not-a-dir").write_text("")
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, spool_dir=tmp_path / "not-a-dir" / "spool")
    for i in range(3):
        assert engine.submit(note(i))
    assert engine.flush(10)
    assert titles(discord_server.messages()) == ["invoice 0 paid", "invoice 1 paid", "invoice 2 paid"]
    assert not engine.durable
    errors = [r.getMessage() for r in logs if r.levelno >= logging.ERROR]
    spool_errors = [m for m in errors if "delivery spool" in m]
    assert len(spool_errors) == 1 and "not-a-dir" in spool_errors[0] and "memory only" in spool_errors[0]


def test_a_full_disk_degrades_to_memory_and_loses_nothing(discord_server, make_engine, tmp_path, logs):
    """The spool file hits its size limit mid-outage: one ERROR line, delivery goes on from memory;
    what reached the disk is delivered by the next start. Each notice arrives exactly once."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, spool_pages=40)
    discord_server.set_down(True)
    for i in range(60):
        notice = note(i).notice
        engine.submit(Outgoing("default", {"title": f"#{i}", "description": "x" * 1400}, notice))
    assert wait_until(lambda: not engine.durable and len(engine._inbox) == 0)
    discord_server.set_down(False)
    assert engine.flush(20)
    engine.shutdown(2)
    restarted = make_engine(discord_server, hook.url)
    assert restarted.flush(20)
    delivered = sorted(int(title[1:]) for title in titles(discord_server.messages()))
    assert delivered == list(range(60))
    assert sum("delivery spool" in r.getMessage() for r in logs if r.levelno >= logging.ERROR) == 1


def test_memory_only_by_choice_writes_leftovers_to_the_fallback_log(discord_server, make_engine, tmp_path):
    """SPOOL=false: nothing on disk; what is undelivered at shutdown goes to dropped.jsonl."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, environ={"OTEL_EXPORTER_DISCORD_SPOOL": "false"})
    discord_server.set_down(True)
    engine.submit(note(0))
    engine.submit(note(1))
    assert not engine.flush(0.3)
    engine.shutdown(0.3)
    assert not (tmp_path / "spool.sqlite3").exists()
    assert [(r["title"], r["reason"]) for r in fallback(tmp_path)] == [
        ("invoice 0 paid", "shutdown_timeout"),
        ("invoice 1 paid", "shutdown_timeout"),
    ]


# ------------------------------------------------------------------ what is on disk


def test_the_spool_file_holds_channel_names_never_webhook_urls(discord_server, make_engine, tmp_path):
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    discord_server.set_down(True)
    engine.submit(note(0))
    assert wait_until(lambda: engine.spool_depth() == 1)
    engine.shutdown(0.2)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("spool.sqlite3*"))
    assert hook.token.encode() not in raw and hook.id.encode() not in raw.split(b"groups")[0]
    with sqlite3.connect(tmp_path / "spool.sqlite3") as db:
        ((channel, body),) = db.execute("SELECT channel, body FROM outbox").fetchall()
    assert channel == "default" and json.loads(body)["channel"] == "default"


# ------------------------------------------------------------------ timers


def test_every_runs_callbacks_on_the_housekeeping_thread_and_survives_their_errors(discord_server, make_engine, logs):
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    calls: list[tuple[str, float]] = []

    def tick(now: float) -> None:
        calls.append((threading.current_thread().name, now))
        if len(calls) == 1:
            raise RuntimeError("a bug in someone's timer")

    engine.every(0.05, tick)
    assert wait_until(lambda: len(calls) >= 3)
    assert {name for name, _ in calls} == {"otel-discord-spool"}
    assert abs(calls[-1][1] - time.time()) < 60  # unix seconds
    assert any("a bug in someone's timer" in (r.exc_text or "") for r in logs if r.levelno == logging.ERROR)
    engine.every(0, tick)  # refused with a log line, never an exception
    assert any("interval must be above zero" in r.getMessage() for r in logs)
