"""What the strict server remembers for bot routes: bots, channel kinds, reactions and threads.

Lives beside ``state.Registry`` (``Registry.bot``) and, like it, is guarded by the
server's lock. Reactions keep the order users reacted in; Discord does not
document the order of Get Reactions, and a client must not rely on it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Final, Literal

ChannelKind = Literal["text", "forum"]
TEXT: Final = 0  # Discord channel types
PUBLIC_THREAD: Final = 11
FORUM: Final = 15


def new_bot_token(bot_id: str) -> str:
    """The shape of a bot token: base64 of the id, a timestamp part and an HMAC part."""
    import base64

    head = base64.urlsafe_b64encode(bot_id.encode()).decode().rstrip("=")
    return f"{head}.{secrets.token_urlsafe(5)}.{secrets.token_urlsafe(28)}"


@dataclass(frozen=True)
class BotInfo:
    """A bot user of the local server. Never log ``token`` (the repr hides it)."""

    id: str
    token: str = field(repr=False)
    name: str = "otel-discord-bot"


@dataclass
class Thread:
    id: str
    parent_id: str
    name: str
    starter_message_id: str | None  # a thread started from a message has that message's id
    archived: bool = False
    auto_archive_duration: int = 1440
    owner_id: str = ""

    def json(self, guild_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": PUBLIC_THREAD,
            "guild_id": guild_id,
            "parent_id": self.parent_id,
            "name": self.name,
            "owner_id": self.owner_id,
            "last_message_id": None,
            "flags": 0,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 0,
            "total_message_sent": 0,
            "thread_metadata": {
                "archived": self.archived,
                "auto_archive_duration": self.auto_archive_duration,
                "archive_timestamp": "2026-01-01T00:00:00+00:00",
                "locked": False,
            },
        }


@dataclass
class BotState:
    bots: dict[str, BotInfo] = field(default_factory=dict)  # id → bot
    kinds: dict[str, ChannelKind] = field(default_factory=dict)  # channel id → kind (default text)
    threads: dict[str, Thread] = field(default_factory=dict)  # thread id → thread
    reactions: dict[str, dict[str, list[tuple[str, bool]]]] = field(default_factory=dict)
    # message id → emoji → [(user id, is bot)] in reaction order
    user_names: dict[str, str] = field(default_factory=dict)

    def bot_for(self, token: str) -> BotInfo | None:
        import hmac

        for bot in self.bots.values():
            if hmac.compare_digest(bot.token.encode(), token.encode()):
                return bot
        return None

    def kind(self, channel_id: str) -> ChannelKind:
        return self.kinds.get(channel_id, "text")

    def react(self, message_id: str, emoji: str, user_id: str, is_bot: bool) -> bool:
        """Add a reaction; False if that user already reacted with it."""
        users = self.reactions.setdefault(message_id, {}).setdefault(emoji, [])
        if any(u == user_id for u, _ in users):
            return False
        users.append((user_id, is_bot))
        return True

    def unreact(self, message_id: str, emoji: str, user_id: str) -> bool:
        by_emoji = self.reactions.get(message_id, {})
        users = by_emoji.get(emoji, [])
        kept = [(u, b) for u, b in users if u != user_id]
        if len(kept) == len(users):
            return False
        if kept:
            by_emoji[emoji] = kept
        else:
            by_emoji.pop(emoji, None)
        return True

    def summary(self, message_id: str, viewer: str | None) -> list[dict[str, Any]]:
        """The ``reactions`` array of a message object, ``me`` from ``viewer``'s point of view."""
        out = []
        for emoji, users in self.reactions.get(message_id, {}).items():
            name, _, custom_id = emoji.partition(":")
            out.append(
                {
                    "emoji": {"id": custom_id or None, "name": name if custom_id else emoji},
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": viewer is not None and any(u == viewer for u, _ in users),
                    "me_burst": False,
                    "burst_colors": [],
                }
            )
        return out

    def clear(self) -> None:
        self.reactions.clear()
        self.threads.clear()
