"""An escalation end to end over real HTTP with a fake clock: pages from the rotation, the bot's pre-filled
reactions, a person's ✅ stopping escalation and editing the card; the no-bot mode; no double page."""

from __future__ import annotations

import logging

import pytest
import requests
from fakes import FakeWall

from otel_discord.config.webhook_url import WebhookURL
from otel_discord.deliver.bot import BotClient, BotToken, api_base
from otel_discord.deliver.incidents import BOT_MISSING, IncidentDesk
from otel_discord.deliver.webhook import WebhookClient
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.route.rules import parse_rules
from otel_discord.route.rules.incident import State
from otel_discord.testing import DiscordServer, WebhookInfo

T0 = 1_780_000_000.0  # Thu 28 May 2026, 22:26 in Amsterdam
MIN = 60.0
ANNA, BRAM, DEVS = "345678901234567890", "456789012345678901", "678901234567890123"
RULES = {
    "people": {"anna": ANNA, "bram": BRAM},
    "roles": {"devs": DEVS},
    "rotations": {
        "primary": {"members": ["anna", "bram"], "every": "weekly", "handover": "mon 09:00", "starts": "2026-05-25"}
    },
    "escalation": {
        "critical": {
            "steps": [
                {"notify": "oncall:primary", "wait": "10m"},
                {"notify": ["oncall:primary.next", "role:devs"], "wait": "15m"},
            ],
            "repeat": 2,
        }
    },
    "incidents": [{"match": {"level": "error"}, "escalate": "critical"}],
}


@pytest.fixture
def clock() -> FakeWall:
    return FakeWall(5000.0)  # the rules' fake time starts here


def boom() -> Notice:
    return Notice(
        Kind.ERROR,
        Severity.ERROR,
        Category.ERROR,
        "ValueError in /checkout",
        fingerprint="fp-1",
        channel="alerts",
        timestamp=T0,
    )


def desk_for(server: DiscordServer, hook: WebhookInfo, clock: FakeWall, *, with_bot: bool):
    webhook = WebhookURL.parse(hook.url, [server.host_port])
    bot = None
    if with_bot:
        info = server.create_bot()
        bot = BotClient(BotToken(info.token), api_base(webhook), clock=clock)
    client = WebhookClient()
    return IncidentDesk(parse_rules(RULES), lambda name: webhook if name == "alerts" else None, client, bot), bot


def post_card(desk: IncidentDesk, hook: WebhookInfo) -> str:
    """The card, as the engine posts a grouped message (wait=true gives its id)."""
    body = requests.post(
        hook.url + "?wait=true",
        json={"embeds": [{"title": "ValueError in /checkout"}], "allowed_mentions": {"parse": []}},
        timeout=5,
    ).json()
    desk.card_posted("fp-1", hook.channel_id, body["id"])
    return str(body["id"])


def run(desk: IncidentDesk, clock: FakeWall, minutes: range) -> None:
    for minute in minutes:
        clock.now += 1.1  # the server's and the bot's clock: a reaction bucket per tick
        desk.tick(T0 + minute * MIN)


def test_a_reaction_acknowledges_and_stops_escalation(server, hook, clock):
    desk, bot = desk_for(server, hook, clock, with_bot=True)
    desk.observe(boom(), T0)
    card = post_card(desk, hook)
    run(desk, clock, range(0, 3))
    # Page 1 at once, to whoever is on call (anna's week); the bot pre-added ✅ 🙋 🔕, one per second.
    pages = server.messages()[1:]
    assert [p.pings.users for p in pages] == [(ANNA,)]
    assert list(server.reactions(card)) == ["✅", "🙋", "🔕"]
    run(desk, clock, range(3, 11))
    pages = server.messages()[1:]
    assert [(p.pings.users, p.pings.roles) for p in pages] == [((ANNA,), ()), ((BRAM,), (DEVS,))]
    server.add_reaction(card, "✅", ANNA, name="anna")
    run(desk, clock, range(11, 90))
    incident = desk.incidents["fp-1"]
    assert incident.state is State.ACKNOWLEDGED and incident.acked_by == "anna"
    edited = server.message(card)
    assert edited.content.startswith(f"✅ Acknowledged by <@{ANNA}> at ") and not edited.pings
    assert edited.embeds[0]["title"] == "ValueError in /checkout"  # the card keeps its embed
    assert len(server.messages()) == 3  # the card and two pages: without the ✅ four more would follow
    assert bot.requests < 200  # one poll per channel per tick, Get Reactions only for the reacted card


def test_the_bots_own_reactions_do_not_acknowledge(server, hook, clock):
    desk, _ = desk_for(server, hook, clock, with_bot=True)
    desk.observe(boom(), T0)
    post_card(desk, hook)
    run(desk, clock, range(0, 12))
    assert desk.incidents["fp-1"].state is State.OPEN
    assert len(server.messages()) == 3


def test_take_assigns_to_the_reactor(server, hook, clock):
    desk, _ = desk_for(server, hook, clock, with_bot=True)
    desk.observe(boom(), T0)
    card = post_card(desk, hook)
    run(desk, clock, range(0, 3))
    server.add_reaction(card, "🙋", BRAM)
    run(desk, clock, range(3, 5))
    incident = desk.incidents["fp-1"]
    assert incident.assignee == "bram" and incident.acked_by == "bram"
    assert "Assigned: bram" in server.message(card).content


def test_without_a_bot_escalation_runs_to_the_end_and_says_so_once(server, hook, clock, caplog):
    caplog.set_level(logging.INFO, logger="otel_discord")
    desk, _ = desk_for(server, hook, clock, with_bot=False)
    desk.observe(boom(), T0)
    card = post_card(desk, hook)
    server.add_reaction(card, "✅", ANNA)  # nobody can read it without a bot
    run(desk, clock, range(0, 90))
    assert len(server.messages()) == 7 and desk.incidents["fp-1"].exhausted  # the card, 2 steps × 3 rounds
    assert server.stats()["bot_requests"] == 0
    assert [r.getMessage() for r in caplog.records].count(BOT_MISSING) == 1


def test_one_decision_never_pages_twice(server, hook, clock):
    desk, _ = desk_for(server, hook, clock, with_bot=False)
    desk.observe(boom(), T0)
    post_card(desk, hook)
    for _ in range(3):
        desk.tick(T0)  # the same moment again (a second timer call, a retry)
    assert len(server.messages()) == 2 and len(desk.sent) == 1


def test_repeats_join_the_open_incident(server, hook, clock):
    desk, _ = desk_for(server, hook, clock, with_bot=False)
    first = desk.observe(boom(), T0)
    again = desk.observe(boom(), T0 + 30)
    assert again.id == first.id and again.count == 2
    assert desk.observe(boom().replace(severity=Severity.WARNING, fingerprint="fp-2"), T0) is None
