"""The bot client over real HTTP against the strict local Discord: polls, reactions, pre-fill, threads,
rate limits honoured without sleeping, and no token in any output; plus the pure poll decisions."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests
from fakes import FakeWall

from otel_discord.config.webhook_url import WebhookURL
from otel_discord.deliver.bot import (
    BotClient,
    BotToken,
    api_base,
    oldest_after,
    reaction_actions,
)
from otel_discord.testing import BotInfo, DiscordServer, WebhookInfo

TIMEOUT = 5


@pytest.fixture
def client(server: DiscordServer, hook: WebhookInfo, bot: BotInfo, clock: FakeWall) -> Iterator[BotClient]:
    webhook = WebhookURL.parse(hook.url, [server.host_port])
    made = BotClient(BotToken(bot.token), api_base(webhook), clock=clock)
    yield made
    made.close()


def card(hook: WebhookInfo, content: str = "card") -> str:
    response = requests.post(
        hook.url + "?wait=true", json={"content": content, "allowed_mentions": {"parse": []}}, timeout=TIMEOUT
    )
    return str(response.json()["id"])


def test_prefill_then_a_person_reacts_and_the_poll_finds_them(server, hook, bot, client, clock):
    first, second = card(hook, "one"), card(hook, "two")
    for emoji in ("✅", "🙋"):
        assert client.add_reaction(hook.channel_id, first, emoji).status == 204
        clock.now += 1.1  # the reaction bucket is 1/s (+ the limiter's margin); the client would refuse sooner
    server.add_reaction(first, "✅", "345678901234567890", name="anna")
    polled = client.messages(hook.channel_id, after=oldest_after([first, second]))
    assert polled.ok and [m["id"] for m in polled.json] == [second, first]
    by_id = {m["id"]: m for m in polled.json}
    assert reaction_actions(by_id[first], ["✅", "🙋", "🔕"]) == ["✅"]  # 🙋 has only the bot's own
    assert reaction_actions(by_id[second], ["✅"]) == []
    reactors, outcome = client.all_reactors(hook.channel_id, first, "✅")
    assert outcome.ok and sorted((r.user_id, r.bot) for r in reactors) == sorted(
        [(bot.id, True), ("345678901234567890", False)]
    )


def test_reactors_are_paged_past_one_hundred(server, hook, client):
    message = card(hook)
    users = [str(400000000000000000 + i) for i in range(130)]
    for user in users:
        server.add_reaction(message, "🔕", user)
    reactors, outcome = client.all_reactors(hook.channel_id, message, "🔕")
    assert outcome.ok and [r.user_id for r in reactors] == users and client.requests == 2


def test_an_empty_bucket_is_not_sent_but_reported(server, hook, client, clock):
    """The reaction bucket says 1/s: the second pre-fill waits (the caller retries on a later tick)."""
    message = card(hook)
    assert client.add_reaction(hook.channel_id, message, "✅").ok
    refused = client.add_reaction(hook.channel_id, message, "🙋")
    assert refused.status is None and "rate limited" in refused.error and client.requests == 1
    assert server.stats()["rate_limited"]["user"] == 0  # never hit Discord with it
    assert client.delay("reactions", hook.channel_id) > 0
    clock.now += 1.1
    assert client.add_reaction(hook.channel_id, message, "🙋").ok


def test_a_thread_from_the_card_and_a_repeat_is_success(server, hook, client):
    message = card(hook)
    started = client.start_thread(hook.channel_id, message, "ERROR · ValueError in /checkout " + "x" * 200)
    assert started.ok and started.json["id"] == message
    again = client.start_thread(hook.channel_id, message, "again")
    assert again.ok and again.json == {"id": message, "existing": True}
    [thread] = server.threads()
    assert len(thread.name) == 100


def test_a_deleted_card_is_10008(server, hook, client):
    message = card(hook)
    server.delete_message(message)
    outcome = client.message(hook.channel_id, message)
    assert outcome.status == 404 and outcome.discord_code == 10008


def test_no_token_in_reprs_errors_or_logs(server, hook, bot, client, caplog):
    caplog.set_level(logging.DEBUG)
    bad = BotClient(BotToken("Bot " + bot.token + "x"), client.base)
    outcome = bad.messages(hook.channel_id)
    assert outcome.status == 401
    server.set_down(True)
    down = client.messages(hook.channel_id)
    server.set_down(False)
    texts = [repr(client), str(client.token), repr(bad.token), outcome.describe(), down.error or "", caplog.text]
    assert all(bot.token not in text for text in texts)
    assert str(client.token) == "Bot ****"


@pytest.mark.parametrize(
    "reactions, expected",
    [
        ([], []),
        ([{"emoji": {"id": None, "name": "✅"}, "count": 1, "me": True}], []),
        ([{"emoji": {"id": None, "name": "✅"}, "count": 2, "me": True}], ["✅"]),
        ([{"emoji": {"id": None, "name": "✅"}, "count": 1, "me": False}], ["✅"]),
        ([{"emoji": {"id": None, "name": "☑️"}, "count": 3, "me": False}], ["☑"]),  # U+FE0F ignored
        ([{"emoji": {"id": "123456789012345678", "name": "ack"}, "count": 1, "me": False}], ["ack:123456789012345678"]),
        ([{"emoji": {"id": None, "name": "👀"}, "count": 5, "me": False}], []),
    ],
)
def test_reaction_actions_table(reactions, expected):
    assert reaction_actions({"reactions": reactions}, ["✅", "☑", "ack:123456789012345678", "🔕"]) == expected


def test_oldest_after_includes_the_oldest_card():
    assert oldest_after(["1579630126168145920", "1579630126168145999"]) == "1579630126168145919"
    assert oldest_after([]) is None
