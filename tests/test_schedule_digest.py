"""Holding and digests with a controllable clock: quiet hours, business hours over DST, restarts, rate cap."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from otel_discord.config import resolve
from otel_discord.deliver.engine import DeliveryEngine
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.pipeline import Pipeline
from otel_discord.route.digest import _MAX_GROUPS, RateWindow
from otel_discord.route.holding import MemoryStore
from otel_discord.testing import DiscordServer

AMS = ZoneInfo("Europe/Amsterdam")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=AMS).timestamp()


def utc(text: str) -> float:
    return datetime.fromisoformat(text + "+00:00").timestamp()


@pytest.fixture
def make_pipeline(discord_server: DiscordServer, tmp_path: Path) -> Iterator:
    made: list[Pipeline] = []
    hooks: dict[str, str] = {}

    def make(body: str, channels=("system-debug", "finance-activity"), **kw) -> Pipeline:
        environ, lines = {"TZ": "Europe/Amsterdam"}, ["channels:"]
        for name in channels:
            var = "HOOK_" + name.upper().replace("-", "_")
            if name not in hooks:
                hooks[name] = discord_server.create_webhook(name).url
            environ[var] = hooks[name]
            lines.append(f"  {name}: ${{{var}}}")
        path = tmp_path / "otel-discord.yaml"
        path.write_text("\n".join(lines) + "\n" + body)
        settings = resolve(
            "logs",
            config_file=path,
            environ=environ,
            allowed_hosts=discord_server.host_port,
            spool_dir=tmp_path / "spool",
        )
        # The ticker runs on real time: keep it out of the way of the simulated clock.
        kw.setdefault("tick_interval", 3600.0)
        pipeline = Pipeline(settings, engine=DeliveryEngine(settings, linger=0.0), **kw)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.release(2.0)


def notice(title: str, severity: Severity = Severity.WARNING, *, ts: float, **kw) -> Notice:
    kw.setdefault("category", Category.SYSTEM)
    return Notice(Kind.SYSTEM, severity, title=title, timestamp=ts, **kw)


def plain_titles(message) -> list[str]:
    return [embed["title"].rsplit(" · ", 1)[-1].replace("\\", "") for embed in message.embeds]


NIGHT = 'schedules:\n  night:\n    channels: [system-debug]\n    quiet_hours: "23:00-07:00"\n'


def test_quiet_hours_hold_then_one_digest_when_the_window_opens(make_pipeline, discord_server):
    """At night only CRITICAL goes out; at 07:00 everything else arrives as ONE digest message."""
    pipeline = make_pipeline(NIGHT)
    night = at("2025-06-02 23:30")
    pipeline.submit(
        [
            notice("Disk 91 % full", ts=night),
            notice("Backup finished", Severity.INFO, ts=night + 60),
            notice("Database unreachable", Severity.CRITICAL, ts=night + 120),
            notice("Certificate expires in 9 days", ts=night + 180),
        ],
        now=night + 180,
    )
    assert pipeline.flush(10)
    [critical] = discord_server.messages("system-debug")
    assert plain_titles(critical) == ["Database unreachable"]
    assert pipeline.engine.stats.snapshot()["held"] == 3

    assert pipeline.tick(now=at("2025-06-03 06:59")) == 0
    assert pipeline.tick(now=at("2025-06-03 07:00")) == 1
    assert pipeline.flush(10)
    messages = discord_server.messages("system-debug")
    assert len(messages) == 2
    digest = messages[1]
    [embed] = digest.embeds
    assert "Digest: 3 notices held outside this channel" in embed["title"].replace("\\", "")
    lines = embed["description"].replace("\\", "").splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "Disk 91 % full",
        "Backup finished",
        "Certificate expires in 9 days",
    ]
    assert lines[0].startswith("23:30 ")  # local times of the held notices
    assert digest.flags == 0  # it held warnings: the digest notifies
    assert pipeline.tick(now=at("2025-06-03 07:01")) == 0  # nothing twice


def test_held_notices_survive_a_restart(make_pipeline, discord_server, tmp_path):
    """Held in SQLite: a new process (pipeline) on the same spool posts the digest in the morning."""
    first = make_pipeline(NIGHT)
    night = at("2025-06-02 23:30")
    first.submit([notice(f"warning {i}", ts=night) for i in range(4)], now=night)
    first.release(2.0, now=night + 60)  # still night: they stay held
    assert discord_server.messages("system-debug") == []
    assert (tmp_path / "spool" / "route.sqlite3").stat().st_mode & 0o777 == 0o600

    second = make_pipeline(NIGHT)
    assert second.digester.holding  # it found them at start-up and ticks for them
    assert second.tick(now=at("2025-06-03 06:00")) == 0
    assert second.tick(now=at("2025-06-03 07:00")) == 1
    assert second.flush(10)
    [digest] = discord_server.messages("system-debug")
    assert plain_titles(digest) == ["Digest: 4 notices held outside this channel's hours"]


def test_weekend_hold_released_monday_0900_local_across_dst(make_pipeline, discord_server):
    """Held on the Saturday before DST begins; released at Monday 09:00 CEST = 07:00 UTC, not 08:00."""
    pipeline = make_pipeline(
        'schedules:\n  office:\n    channels: [finance-activity]\n    days: mon-fri\n    hours: "09:00-17:00"\n'
    )
    saturday = at("2025-03-29 12:00")
    paid = Notice(
        Kind.EVENT,
        Severity.INFO,
        Category.PAYMENT,
        "Invoice #250090 paid",
        event_name="invoice.paid",
        attributes={"invoice.amount": 2450.0, "invoice.currency": "EUR"},
        timestamp=saturday,
    )
    pipeline.submit([paid, paid.replace(title="Invoice #250091 paid")], now=saturday)
    assert pipeline.tick(now=utc("2025-03-31 06:59")) == 0  # 08:59 CEST
    assert pipeline.tick(now=utc("2025-03-31 07:00")) == 1  # 09:00 CEST
    assert pipeline.flush(10)
    [digest] = discord_server.messages("finance-activity")
    text = str(digest.embeds[0]).replace("\\", "")
    assert "Invoice #250090 paid" in text and "Invoice #250091 paid" in text
    assert "2 × total 4,900.00 EUR" in text  # the amounts add up
    assert digest.flags == 1 << 12  # only INFO notices were held: a quiet digest


def test_rate_cap_folds_the_excess_into_one_digest(make_pipeline, discord_server):
    """With a cap of 3 a minute, notices 4–8 wait and arrive as one digest once the minute has passed."""
    pipeline = make_pipeline("rate_cap: 3\n")
    t0 = at("2025-06-02 10:00")
    pipeline.submit([notice(f"disk warning {i}", ts=t0, fingerprint=f"f{i}") for i in range(8)], now=t0)
    assert pipeline.flush(10)
    assert sum(len(m.embeds) for m in discord_server.messages("system-debug")) == 3
    assert pipeline.tick(now=t0 + 30) == 0
    assert pipeline.tick(now=t0 + 61) == 1
    assert pipeline.flush(10)
    digest = discord_server.messages("system-debug")[-1]
    assert plain_titles(digest) == ["Digest: 5 notices folded (more than 3 a minute)"]
    assert pipeline.engine.stats.dropped() == 0


def test_a_new_notice_after_the_cap_follows_the_digest(make_pipeline, discord_server):
    """When the channel has room again, what waited goes out first, then the new notice."""
    pipeline = make_pipeline("rate_cap: 2\n")
    t0 = at("2025-06-02 10:00")
    pipeline.submit([notice(f"n{i}", ts=t0) for i in range(4)], now=t0)
    pipeline.submit([notice("later", ts=t0 + 90)], now=t0 + 90)
    assert pipeline.flush(10)
    titles = [t for m in discord_server.messages("system-debug") for t in plain_titles(m)]
    assert titles[:2] == ["n0", "n1"]
    assert titles[2].startswith("Digest: 2 notices folded")
    assert titles[3] == "later"


def test_repeats_of_a_grouped_error_do_not_use_up_the_cap(make_pipeline, discord_server):
    """Twenty repeats of one error are one message edited by the engine, not twenty: nothing is held."""
    pipeline = make_pipeline("rate_cap: 2\n")
    t0 = at("2025-06-02 10:00")
    boom = Notice(Kind.ERROR, Severity.ERROR, Category.ERROR, "ValueError: boom", fingerprint="same", timestamp=t0)
    pipeline.submit([boom] * 20 + [notice("other", ts=t0)], now=t0)
    assert pipeline.flush(10)
    assert "held" not in pipeline.engine.stats.snapshot()
    titles = [t for m in discord_server.messages("system-debug") for t in plain_titles(m)]
    assert titles.count("ValueError: boom") == 1 and "other" in titles


def test_critical_is_never_held_or_capped(make_pipeline, discord_server):
    pipeline = make_pipeline(NIGHT + "rate_cap: 1\n")
    night = at("2025-06-02 23:30")
    pipeline.submit(
        [notice(f"fire {i}", Severity.CRITICAL, ts=night, fingerprint=f"c{i}") for i in range(3)], now=night
    )
    assert pipeline.flush(10)
    assert sum(len(m.embeds) for m in discord_server.messages("system-debug")) == 3


def test_memory_store_posts_what_it_holds_at_shutdown(make_pipeline, discord_server):
    """Without a durable store nothing may be lost: the last release posts the digest even at night."""
    pipeline = make_pipeline(NIGHT, store=MemoryStore())
    night = at("2025-06-02 23:30")
    pipeline.submit([notice("held in memory", ts=night)], now=night)
    pipeline.release(5.0, now=night + 60)
    [digest] = discord_server.messages("system-debug")
    assert "held in memory" in digest.embeds[0]["description"]


def test_digest_carries_the_mentions_of_what_it_held(make_pipeline, discord_server):
    """A held notice whose route pings a role pings it in the morning digest, and only that role."""
    pipeline = make_pipeline(
        NIGHT
        + """routes:
  - match: {event: "invoice.paid"}
    channel: system-debug
    mention: "<@&111111111111111111>"
"""
    )
    night = at("2025-06-02 23:30")
    pipeline.submit(
        [
            Notice(
                Kind.EVENT,
                Severity.INFO,
                Category.PAYMENT,
                "Invoice paid <@&999>",
                event_name="invoice.paid",
                attributes={"invoice.amount": 9000.0},
                timestamp=night,
            )
        ],
        now=night,
    )
    pipeline.tick(now=at("2025-06-03 07:00"))
    assert pipeline.flush(10)
    [digest] = discord_server.messages("system-debug")
    assert digest.content == "<@&111111111111111111>"
    assert digest.pings.roles == ("111111111111111111",)


def test_the_timer_posts_the_digest_without_any_new_notice(make_pipeline, discord_server):
    """Nobody calls tick(): the engine's timer does, on real time, once the held notice may go."""
    pipeline = make_pipeline("rate_cap: 1\n", tick_interval=0.2)
    past = time.time() - 120  # the minute of the cap is long over by now
    pipeline.submit([notice("first", ts=past), notice("second", ts=past)], now=past)
    messages = discord_server.wait_for_messages(2, "system-debug", timeout=15)
    assert plain_titles(messages[1]) == ["Digest: 1 notice folded (more than 1 a minute)"]


class TestRateWindowMemory:
    """The rate window's memory of posted groups, under a flood of distinct errors."""

    def test_a_flood_of_distinct_groups_keeps_memory_bounded(self):
        """Twenty thousand distinct errors within one group window: the window remembers at most its maximum."""
        window = RateWindow(cap=0, group_window=600.0)
        t0 = at("2025-06-02 10:00")
        for i in range(20 * _MAX_GROUPS):
            window.record("errors", t0 + i / 1000, f"fp{i}")
            assert len(window._groups) <= _MAX_GROUPS

    def test_recent_repeats_are_still_recognised_after_a_flood(self):
        """After the flood, a repeat of any of the latest errors is still an edit, not a new message."""
        window = RateWindow(cap=10, group_window=600.0)
        t0 = at("2025-06-02 10:00")
        total = 5 * _MAX_GROUPS
        for i in range(total):
            window.record("errors", t0 + i / 1000, f"fp{i}")
        now = t0 + total / 1000
        assert all(window.is_repeat("errors", f"fp{i}", now) for i in range(total - _MAX_GROUPS // 2, total))
        assert not window.is_repeat("errors", "fp0", now)  # the oldest were let go to bound memory
        assert not window.is_repeat("other-channel", f"fp{total - 1}", now)

    def test_a_group_posted_again_is_remembered_as_recent(self):
        """A group recorded again (a CRITICAL repeat) counts from its latest post, not its first."""
        window = RateWindow(cap=0, group_window=600.0)
        t0 = at("2025-06-02 10:00")
        window.record("errors", t0, "again")
        for i in range(_MAX_GROUPS - 1):
            window.record("errors", t0 + 1, f"fp{i}")
        window.record("errors", t0 + 2, "again")
        for i in range(_MAX_GROUPS // 2):
            window.record("errors", t0 + 3, f"late{i}")
        assert window.is_repeat("errors", "again", t0 + 4)
        assert not window.is_repeat("errors", "fp0", t0 + 4)

    def test_expired_groups_are_forgotten_before_fresh_ones(self):
        """When the memory is full, groups whose window has passed go first; fresh ones stay recognised."""
        window = RateWindow(cap=0, group_window=600.0)
        t0 = at("2025-06-02 10:00")
        for i in range(_MAX_GROUPS):
            window.record("errors", t0, f"old{i}")
        later = t0 + 700  # every old group's window has passed
        for i in range(10):
            window.record("errors", later, f"new{i}")
        assert len(window._groups) == 10
        assert all(window.is_repeat("errors", f"new{i}", later + 1) for i in range(10))
