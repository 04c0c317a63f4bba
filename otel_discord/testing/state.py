"""What the strict server remembers: webhooks, messages, rejections and counters.

The types here are immutable snapshots; ``Registry`` holds the mutable state and is
not thread-safe by itself: ``DiscordServer`` guards every call with its lock. A
preview page reads the same snapshots through ``DiscordServer``'s methods.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from otel_discord.testing.bot_state import BotState

DISCORD_EPOCH_MS: Final = 1_420_070_400_000
# Webhooks' default allowed_mentions is disputed (docs: users only; many reports:
# everything). The strict server assumes the worst so a missing allowed_mentions shows up
# as a ping in tests instead of in someone's phone at night.
DEFAULT_PARSE: Final = ("users", "roles", "everyone")
_USER_MENTION = re.compile(r"<@!?(\d{1,20})>")
_ROLE_MENTION = re.compile(r"<@&(\d{1,20})>")
_EVERYONE = re.compile(r"@(everyone|here)\b")


class Snowflakes:
    """Discord-style ids: milliseconds since 2015 shifted left 22 bits, strictly increasing."""

    def __init__(self, worker: int = 1) -> None:
        self._lock = threading.Lock()
        self._last = 0
        self._worker = worker & 0x1F

    def __call__(self) -> str:
        with self._lock:
            value = ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (self._worker << 17)
            self._last = max(value, self._last + 1)
            return str(self._last)


def new_token() -> str:
    """68 URL-safe characters, the shape of a current webhook token."""
    return secrets.token_urlsafe(51)


@dataclass(frozen=True)
class WebhookInfo:
    """A webhook of the local server. ``url`` holds the token: never log it (the repr hides it)."""

    id: str
    token: str = field(repr=False)
    channel: str
    channel_id: str
    url: str = field(repr=False)
    name: str = "otel-discord"

    @property
    def masked_url(self) -> str:
        return self.url.rsplit("/", 1)[0] + "/****"


class File(NamedTuple):
    """An uploaded attachment, unpackable as ``(name, content_type, data)``."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Pings:
    """Who a message would notify: mentions in ``content`` that ``allowed_mentions`` lets through."""

    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    everyone: bool = False

    def __bool__(self) -> bool:
        return bool(self.users or self.roles or self.everyone)


def compute_pings(payload: Mapping[str, Any]) -> Pings:
    """Apply Discord's allowed_mentions rules to the mentions written in ``content``.

    Mentions inside embeds never notify, so only ``content`` counts.
    """
    content = payload.get("content")
    if not isinstance(content, str) or not content:
        return Pings()
    allowed = payload.get("allowed_mentions")
    if not isinstance(allowed, Mapping):
        parse, users_ok, roles_ok = set(DEFAULT_PARSE), [], []
    else:
        parse = set(allowed.get("parse") or ())
        users_ok = [str(u) for u in allowed.get("users") or ()]
        roles_ok = [str(r) for r in allowed.get("roles") or ()]
    users = [u for u in dict.fromkeys(_USER_MENTION.findall(content)) if "users" in parse or u in users_ok]
    roles = [r for r in dict.fromkeys(_ROLE_MENTION.findall(content)) if "roles" in parse or r in roles_ok]
    everyone = "everyone" in parse and _EVERYONE.search(content) is not None
    return Pings(tuple(users), tuple(roles), everyone)


@dataclass(frozen=True)
class Message:
    """An accepted message as it looks now (``payload`` has every edit applied)."""

    id: str
    channel: str
    channel_id: str
    webhook_id: str
    thread_id: str | None
    payload: dict[str, Any]
    edits: int
    created_at: datetime
    edited_at: datetime | None
    files: list[File] = field(default_factory=list)  # (name, content_type, data) each
    attachment_ids: tuple[str, ...] = ()
    author_id: str | None = None  # a bot's id for messages a bot sent (webhook_id is then "")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.payload.get("embeds") or [])

    @property
    def content(self) -> str:
        return self.payload.get("content") or ""

    @property
    def flags(self) -> int:
        return self.payload.get("flags") or 0

    @property
    def pings(self) -> Pings:
        return compute_pings(self.payload)

    def snapshot(self) -> Message:
        """A copy whose payload the caller may mutate without touching the server's state."""
        return Message(**{**self.__dict__, "payload": copy.deepcopy(self.payload), "files": list(self.files)})


@dataclass(frozen=True)
class Rejection:
    """A request the server refused (4xx except 429); ``path`` has the token masked."""

    method: str
    path: str
    payload: Any  # the parsed JSON body, or the raw text when it did not parse
    status: int
    error: dict[str, Any]


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _empty_stats() -> dict[str, Any]:
    return {
        "requests": 0,  # every API request (custom routes excluded)
        "accepted": 0,  # messages created
        "rejected": 0,  # == len(rejected())
        "edits": 0,
        "deleted": 0,
        "rate_limited": {"user": 0, "shared": 0, "global": 0},
        "banned": 0,  # Cloudflare-style 429s served while banned
        "faults": 0,  # responses from fail_next()
        "dropped": 0,  # requests hung up on while set_down(True)
        "bot_requests": 0,  # requests to the bot routes (/channels/...)
        "reactions": 0,  # reactions added through the bot routes
    }


class Registry:
    """The mutable state behind ``DiscordServer``; callers hold the server's lock."""

    def __init__(self) -> None:
        self.snowflake = Snowflakes()
        self.guild_id = self.snowflake()
        self.webhooks: dict[str, WebhookInfo] = {}
        self.deleted_webhooks: set[str] = set()
        self.channel_ids: dict[str, str] = {}
        self.messages: dict[str, Message] = {}  # insertion order == creation order
        self.deleted_messages: set[str] = set()
        self.rejections: list[Rejection] = []
        self.stats = _empty_stats()
        self.revision = 0  # bumped on every change, so a preview page can poll cheaply
        self.bot = BotState()  # bots, channel kinds, reactions, threads

    def touch(self) -> None:
        self.revision += 1

    def clear_records(self) -> None:
        self.messages.clear()
        self.deleted_messages.clear()
        self.bot.clear()
        self.rejections.clear()
        self.stats = _empty_stats()
        self.touch()

    def channel_id(self, channel: str) -> str:
        if channel not in self.channel_ids:
            self.channel_ids[channel] = self.snowflake()
        return self.channel_ids[channel]

    def live_messages(self, channel: str | None = None) -> Iterator[Message]:
        for message in self.messages.values():
            if message.id in self.deleted_messages:
                continue
            if channel is None or message.channel == channel:
                yield message

    def reject(self, rejection: Rejection) -> None:
        self.rejections.append(rejection)
        self.stats["rejected"] += 1
        self.touch()

    def stats_copy(self) -> dict[str, Any]:
        return {**self.stats, "rate_limited": dict(self.stats["rate_limited"])}
