"""Test helpers for otel-discord users and for our own suite.

``DiscordServer`` is a strict, Discord-compatible webhook server on 127.0.0.1 that
records what it accepted; ``validate_execute``/``validate_edit`` check a payload the way
Discord does without any server. Both need ``jsonschema`` (the ``testing`` extra).
"""

from __future__ import annotations

from otel_discord.testing._http import Request, Response
from otel_discord.testing.bot_state import BotInfo, Thread
from otel_discord.testing.server import DiscordServer
from otel_discord.testing.state import File, Message, Pings, Rejection, WebhookInfo
from otel_discord.testing.validate import (
    ValidationError,
    embed_total,
    errors_to_discord_json,
    is_empty_message,
    validate_edit,
    validate_execute,
)

__all__ = [
    "BotInfo",
    "DiscordServer",
    "File",
    "Message",
    "Pings",
    "Rejection",
    "Request",
    "Response",
    "Thread",
    "ValidationError",
    "WebhookInfo",
    "embed_total",
    "errors_to_discord_json",
    "is_empty_message",
    "validate_edit",
    "validate_execute",
]
