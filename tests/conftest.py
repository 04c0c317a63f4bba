"""Shared fixtures: a strict local Discord (real HTTP on 127.0.0.1) and one webhook on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes import FakeWall

from otel_discord.testing import BotInfo, DiscordServer, WebhookInfo


@pytest.fixture
def discord_server() -> Iterator[DiscordServer]:
    """A started ``DiscordServer`` with Discord's default limits, stopped after the test."""
    with DiscordServer() as server:
        yield server


@pytest.fixture
def webhook(discord_server: DiscordServer) -> WebhookInfo:
    """A webhook posting to channel ``alerts`` of ``discord_server``."""
    return discord_server.create_webhook("alerts")


@pytest.fixture(autouse=True)
def _amsterdam_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as on the example app's host (Europe/Amsterdam), so times in assertions read the same
    on every machine. Settings read the host's zone from ``TZ`` first; tests of the default
    itself pass their own ``environ``."""
    monkeypatch.setenv("TZ", "Europe/Amsterdam")


# The bot-route tests: a strict server on a clock the test moves (rate-limit resets, archive
# times), a webhook and a bot on it. A module may override ``clock`` to start elsewhere.
@pytest.fixture
def clock() -> FakeWall:
    return FakeWall(1000.0)


@pytest.fixture
def server(clock: FakeWall) -> Iterator[DiscordServer]:
    with DiscordServer(clock=clock) as running:
        yield running


@pytest.fixture
def hook(server: DiscordServer) -> WebhookInfo:
    return server.create_webhook("alerts")


@pytest.fixture
def bot(server: DiscordServer) -> BotInfo:
    return server.create_bot()
