"""Shared fixtures: a strict local Discord (real HTTP on 127.0.0.1) and one webhook on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_discord.testing import DiscordServer, WebhookInfo


@pytest.fixture
def discord_server() -> Iterator[DiscordServer]:
    """A started ``DiscordServer`` with Discord's default limits, stopped after the test."""
    with DiscordServer() as server:
        yield server


@pytest.fixture
def webhook(discord_server: DiscordServer) -> WebhookInfo:
    """A webhook posting to channel ``alerts`` of ``discord_server``."""
    return discord_server.create_webhook("alerts")
