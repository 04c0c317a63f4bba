"""Grouping as people see it in Discord: one message per problem, edited with the count, never spam."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fakes import FAST_RETRY, FakeWall

from otel_discord.config import resolve
from otel_discord.deliver.engine import DeliveryEngine, Outgoing
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.render.embed import render_embed
from otel_discord.testing import DiscordServer


def error(i: int = 0, fingerprint: str = "ValueError|app.py:parse|/pay", channel: str = "default") -> Outgoing:
    notice = Notice(
        Kind.ERROR,
        Severity.ERROR,
        Category.ERROR,
        "ValueError: could not convert 'twelve'",
        fingerprint=fingerprint,
        channel=channel,
        description=f"request {i}",
    )
    return Outgoing(channel, render_embed(notice), notice)


def event(i: int, channel: str = "default") -> Outgoing:
    notice = Notice(Kind.EVENT, Severity.SUCCESS, Category.PAYMENT, f"invoice #{250090 + i} paid", channel=channel)
    return Outgoing(channel, render_embed(notice), notice)


def seen(message, index: int = 0) -> int:
    for field in message.embeds[index].get("fields") or ():
        if field["name"] == "Seen":
            return int(re.match(r"×(\d+)", field["value"]).group(1))
    return 1


@pytest.fixture
def make_engine(tmp_path) -> Iterator:
    made: list[DeliveryEngine] = []

    def make(server: DiscordServer, webhook_url=None, *, channels=None, environ=None, **kw) -> DeliveryEngine:
        settings = resolve(
            webhook_url=webhook_url,
            channels=channels,
            allowed_hosts=server.host_port,
            spool_dir=tmp_path,
            environ=environ or {},
        )
        engine = DeliveryEngine(settings, retry=FAST_RETRY, **kw)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        if not engine.closed:
            engine.shutdown(0.5)


def test_repeats_edit_the_first_message_with_the_count(discord_server, make_engine):
    """The first occurrence is posted at once; repeats edit that message; the last count is written."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    engine.submit(error(0))
    assert engine.flush(10)
    (first,) = discord_server.messages()
    assert seen(first) == 1 and first.edits == 0
    for i in range(1, 5):
        engine.submit(error(i))
    assert engine.flush(10)
    (message,) = discord_server.messages()
    assert message.id == first.id and message.edits >= 1
    assert seen(message) == 5
    assert message.embeds[0]["description"].startswith("request 0")  # still the first occurrence
    assert engine.stats.snapshot()["edits"] == message.edits


def test_100000_repeats_are_a_handful_of_requests(discord_server, make_engine):
    """A storm of one error: one message, a few edits, every occurrence counted."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    item = error()
    for _ in range(100_000):
        assert engine.submit(item)
    assert engine.flush(30)
    (message,) = discord_server.messages()
    assert seen(message) == 100_000
    assert discord_server.stats()["requests"] <= 6  # the channel lookup, the post, a few edits
    assert engine.stats.dropped() == 0


def test_edits_are_debounced_and_the_last_count_is_always_written(discord_server, make_engine):
    """At most one edit per GROUP_EDIT_INTERVAL (10 s here, on a clock the test moves)."""
    hook = discord_server.create_webhook("alerts")
    wall = FakeWall()
    engine = make_engine(discord_server, hook.url, wall=wall)
    engine.submit(error(0))
    assert engine.flush(10)
    for i in range(1, 4):
        engine.submit(error(i))
    assert discord_server.wait_for(lambda: engine.spool_depth() == 0 and engine.pending() > 0, timeout=10)
    time.sleep(0.6)  # several ticks of the sender: none may edit before the interval
    assert discord_server.messages()[0].edits == 0
    wall.advance(10)
    assert discord_server.wait_for(lambda: seen(discord_server.messages()[0]) == 4, timeout=10)
    engine.submit(error(4))
    time.sleep(0.6)
    assert discord_server.messages()[0].edits == 1
    assert engine.flush(10)  # a flush does not wait for the interval
    (message,) = discord_server.messages()
    assert (message.edits, seen(message)) == (2, 5)


def test_after_the_window_a_new_message_starts(discord_server, make_engine):
    """GROUP_WINDOW (10 min) after its message was posted, a repeat notifies people again."""
    hook = discord_server.create_webhook("alerts")
    wall = FakeWall()
    engine = make_engine(discord_server, hook.url, wall=wall)
    engine.submit(error(0))
    engine.submit(error(1))
    assert engine.flush(10)
    wall.advance(601)
    engine.submit(error(2))
    assert engine.flush(10)
    first, second = discord_server.messages()
    assert (seen(first), seen(second)) == (2, 1)


def test_a_deleted_message_is_posted_anew_with_its_count(discord_server, make_engine):
    """A moderator deleted the grouped message (edit → 404 Unknown Message): a new message carries on."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    engine.submit(error(0))
    engine.submit(error(1))
    assert engine.flush(10)
    (old,) = discord_server.messages()
    discord_server.delete_message(old.id)
    engine.submit(error(2))
    assert engine.flush(10)
    (new,) = discord_server.messages()
    assert new.id != old.id and seen(new) == 3
    assert engine.stats.snapshot()["messages_reposted"] == 1
    engine.submit(error(3))
    assert engine.flush(10)
    (same,) = discord_server.messages()
    assert same.id == new.id and seen(same) == 4
    assert [r.status for r in discord_server.rejected()] == [404]


def test_a_failed_edit_is_retried_until_the_count_is_written(discord_server, make_engine):
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    engine.submit(error(0))
    assert engine.flush(10)
    discord_server.fail_next(2, 502)
    engine.submit(error(1))
    assert engine.flush(10)
    assert seen(discord_server.messages()[0]) == 2
    assert engine.stats.snapshot()["retries"] == 2


def test_an_edit_never_pings(discord_server, make_engine):
    """The first message may ping the configured role; the edit sends allowed_mentions that allow nothing."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    base = error(0)
    loud = Outgoing(
        "default",
        base.embed,
        base.notice,
        content="<@&123456789012345678> payments failing",
        mention_roles=("123456789012345678",),
    )
    engine.submit(loud)
    assert engine.flush(10)
    assert discord_server.messages()[0].pings.roles == ("123456789012345678",)
    engine.submit(loud)
    assert engine.flush(10)
    (message,) = discord_server.messages()
    assert message.edits == 1 and message.payload["allowed_mentions"] == {"parse": []}
    assert message.content.endswith("payments failing")  # the edit replaced the embed only


def test_business_events_are_never_grouped_and_share_messages(discord_server, make_engine):
    """No fingerprint, no grouping: three paid invoices are three embeds (packed into one message)."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, linger=30)
    for i in range(3):
        engine.submit(event(i))
    assert engine.flush(10)
    (message,) = discord_server.messages()
    titles = [e["title"].rsplit("· ", 1)[-1].replace("\\", "") for e in message.embeds]  # unescaped
    assert titles == [f"invoice #{250090 + i} paid" for i in range(3)]


def test_grouped_and_ungrouped_notices_never_share_a_message(discord_server, make_engine):
    """An edit re-sends its message's embeds as the spool recorded them: only grouped ones are recorded."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url, linger=30)
    engine.submit(event(0))
    engine.submit(error(0))
    engine.submit(event(1))
    assert engine.flush(10)
    assert [len(m.embeds) for m in discord_server.messages()] == [1, 1, 1]


def test_exempt_channels_are_never_grouped(discord_server, make_engine):
    """Audit channels keep every notice as its own embed, whatever the fingerprint."""
    hook = discord_server.create_webhook("compliance")
    engine = make_engine(discord_server, channels={"compliance": hook.url}, linger=30)
    engine.exempt({"compliance"})
    for i in range(3):
        engine.submit(error(i, channel="compliance"))
    assert engine.flush(10)
    assert sum(len(m.embeds) for m in discord_server.messages()) == 3
    assert all(seen(m) == 1 for m in discord_server.messages())


def test_repeats_while_discord_is_down_become_one_message(discord_server, make_engine):
    """Folded in the spool while waiting: Discord gets one message with the count, no burst."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    discord_server.set_down(True)
    for i in range(50):
        engine.submit(error(i))
    assert discord_server.wait_for(lambda: discord_server.stats()["dropped"] >= 1, timeout=10)
    discord_server.set_down(False)
    assert engine.flush(10)
    (message,) = discord_server.messages()
    assert seen(message) == 50


def distinct(i: int) -> Outgoing:
    return error(i, fingerprint=f"ValueError|app.py:parse{i}|/pay")


def submit_while_down(server: DiscordServer, engine: DeliveryEngine, items: list[Outgoing]) -> None:
    """Everything reaches the spool before Discord answers: the sender sees the whole backlog at once."""
    server.set_down(True)
    for it in items:
        assert engine.submit(it)
    assert server.wait_for(lambda: engine.spool_depth() == len(items) and server.stats()["dropped"] >= 1, timeout=10)
    server.set_down(False)


def test_distinct_errors_share_messages_and_an_edit_keeps_the_neighbours(discord_server, make_engine):
    """25 different errors: 3 messages (10 + 10 + 5 embeds), not 25. A repeat of the 2nd edits its
    message: the other 9 embeds exactly as they were, the 2nd showing ×2, mentions allowing nothing."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    submit_while_down(discord_server, engine, [distinct(i) for i in range(25)])
    assert engine.flush(10)
    messages = discord_server.messages()
    assert [len(m.embeds) for m in messages] == [10, 10, 5]
    before = [dict(e) for e in messages[0].embeds]
    assert [e["description"].split("\n")[0] for e in before] == [f"request {i}" for i in range(10)]
    engine.submit(distinct(1))
    assert engine.flush(10)
    first, second, third = discord_server.messages()
    assert (first.id, first.edits, second.edits, third.edits) == (messages[0].id, 1, 0, 0)
    assert first.payload["allowed_mentions"] == {"parse": []}
    assert [seen(first, k) for k in range(10)] == [1, 2] + [1] * 8
    assert [e for k, e in enumerate(first.embeds) if k != 1] == [e for k, e in enumerate(before) if k != 1]
    assert first.embeds[1]["description"] == before[1]["description"]  # still the first occurrence
    engine.submit(distinct(7))  # another group of the same message: the 2nd keeps its count
    assert engine.flush(10)
    (first, *_) = discord_server.messages()
    assert [seen(first, k) for k in range(10)] == [1, 2, 1, 1, 1, 1, 1, 2, 1, 1]


def test_a_deleted_shared_message_reposts_all_its_groups(discord_server, make_engine):
    """10008 on the edit of a shared message: its groups are posted anew (together), counts intact."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    submit_while_down(discord_server, engine, [distinct(i) for i in range(4)])
    assert engine.flush(10)
    (old,) = discord_server.messages()
    discord_server.delete_message(old.id)
    engine.submit(distinct(2))
    assert engine.flush(10)
    (new,) = discord_server.messages()
    assert new.id != old.id
    assert sorted(e["description"].split("\n")[0] for e in new.embeds) == [f"request {i}" for i in range(4)]
    assert sorted(seen(new, k) for k in range(4)) == [1, 1, 1, 2]
    engine.submit(distinct(0))  # the new message is the groups' message now
    assert engine.flush(10)
    (same,) = discord_server.messages()
    assert same.id == new.id and sorted(seen(same, k) for k in range(4)) == [1, 1, 2, 2]


def test_a_group_that_outgrows_its_shared_message_moves_to_a_new_one(discord_server, make_engine):
    """Two embeds that just fit 6000 characters: the Seen field would break the limit, so the repeat's
    group continues in a new message instead of a refused edit; the first message stays as it was."""
    hook = discord_server.create_webhook("alerts")
    engine = make_engine(discord_server, hook.url)
    big = []
    for i in range(2):
        base = distinct(i)
        embed = {"title": f"big {i}", "description": "x" * 2990}
        big.append(Outgoing("default", embed, base.notice))
    submit_while_down(discord_server, engine, big)
    assert engine.flush(10)
    (shared,) = discord_server.messages()
    assert len(shared.embeds) == 2
    engine.submit(big[1])
    assert engine.flush(10)
    first, moved = discord_server.messages()
    assert first.id == shared.id and first.edits == 0 and first.embeds == shared.embeds
    assert [e["title"] for e in moved.embeds] == ["big 1"]
    assert not [r for r in discord_server.rejected() if r.status == 400]
    engine.submit(big[1])  # it lives in the new message now
    assert engine.flush(10)
    assert [m.edits for m in discord_server.messages()] == [0, 1]
