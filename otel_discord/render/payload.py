"""Group rendered embeds into messages and build the Execute Webhook JSON body.

Discord allows 10 embeds and 6000 embed characters per message, and shows only the
first of several embeds that share a ``url`` (it merges them into an image gallery),
so ``pack`` starts a new message rather than lose an alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from otel_discord.config import parse_username
from otel_discord.health.log import get_logger
from otel_discord.notice import SUPPRESS_NOTIFICATIONS
from otel_discord.render import limits
from otel_discord.render.embed import valid_url
from otel_discord.render.escape import clean
from otel_discord.render.limits import embed_size, truncate

_logger = get_logger(__name__)

SUPPRESS_EMBEDS: Final = 1 << 2
#: Flags a webhook message with embeds may carry (IS_COMPONENTS_V2 forbids embeds).
ALLOWED_FLAGS: Final = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS


def pack(
    embeds: Sequence[Mapping[str, Any]],
    *,
    max_embeds: int = limits.EMBEDS_PER_MESSAGE,
    budget: int = limits.TOTAL_PER_MESSAGE,
) -> list[list[dict[str, Any]]]:
    """Split ``embeds`` into messages, in order, never splitting an embed.

    Each group holds at most ``max_embeds`` embeds and ``budget`` characters (as
    ``embed_size`` counts them), and no two embeds with the same ``url``. An embed
    bigger than ``budget`` on its own still gets a group of its own: ``render_embed``
    never makes one, and cutting someone else's embed here would hide the problem.
    """
    groups: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    urls: set[str] = set()
    for embed in embeds:
        item = dict(embed)
        item_size = embed_size(item)
        url = item.get("url")
        if current and (len(current) >= max_embeds or size + item_size > budget or (url and url in urls)):
            groups.append(current)
            current, size, urls = [], 0, set()
        current.append(item)
        size += item_size
        if url:
            urls.add(url)
    if current:
        groups.append(current)
    return groups


def build_payload(
    embeds: Sequence[Mapping[str, Any]],
    *,
    content: str | None = None,
    username: str | None = None,
    avatar_url: str | None = None,
    flags: int = 0,
    mention_roles: Sequence[str] = (),
    mention_users: Sequence[str] = (),
) -> dict[str, Any]:
    """The JSON body for one Execute Webhook call.

    ``allowed_mentions`` is always ``{"parse": []}``, so text can never ping anyone;
    only the given (trusted, configured) role and user ids may ping, and only if
    ``content`` mentions them. Optional keys that are empty are left out, because
    Discord rejects some empty values (``username: ""``).

    Raises ``ValueError`` if the message would be empty or ``embeds`` break a
    per-message limit (use ``pack`` first).
    """
    if len(embeds) > limits.EMBEDS_PER_MESSAGE:
        raise ValueError(f"{len(embeds)} embeds in one message (at most {limits.EMBEDS_PER_MESSAGE}); use pack()")
    total = sum(embed_size(embed) for embed in embeds)
    if total > limits.TOTAL_PER_MESSAGE:
        raise ValueError(f"embeds total {total} characters (at most {limits.TOTAL_PER_MESSAGE}); use pack()")
    payload: dict[str, Any] = {}
    text = truncate(clean(content), limits.CONTENT).strip() if content else ""
    if text:
        payload["content"] = text
    if embeds:
        payload["embeds"] = [dict(embed) for embed in embeds]
    if not payload:
        raise ValueError("a message needs content or at least one embed")
    mentions: dict[str, Any] = {"parse": []}
    roles = _snowflakes(mention_roles, "role")
    users = _snowflakes(mention_users, "user")
    if roles:
        mentions["roles"] = roles
    if users:
        mentions["users"] = users
    payload["allowed_mentions"] = mentions
    name = _username(username)
    if name:
        payload["username"] = name
    avatar = valid_url(avatar_url)
    if avatar:
        payload["avatar_url"] = avatar
    elif avatar_url:
        _logger.warning("avatar_url is not an http(s) URL Discord accepts; sending without it")
    kept = flags & ALLOWED_FLAGS if isinstance(flags, int) and flags > 0 else 0
    if kept != (flags or 0):
        _logger.warning("message flags %r: only 4 and 4096 are allowed with embeds; sending %d", flags, kept)
    if kept:
        payload["flags"] = kept
    return payload


def _snowflakes(ids: Sequence[str], kind: str) -> list[str]:
    """Unique decimal ids, at most 100; anything else is dropped with a warning."""
    valid: list[str] = []
    for raw in ids:
        text = str(raw).strip()
        if text.isdecimal() and text.isascii() and len(text) <= 20 and text not in valid:
            valid.append(text)
        elif text not in valid:
            _logger.warning("ignoring %s mention %r: not a Discord id", kind, text[:40])
    if len(valid) > limits.MENTION_IDS:
        _logger.warning("only the first %d %s mentions are allowed", limits.MENTION_IDS, kind)
    return valid[: limits.MENTION_IDS]


def _username(raw: str | None) -> str | None:
    """A webhook display name Discord accepts, or ``None`` to keep the webhook's own."""
    if not raw:
        return None
    try:
        # The same rule the config applies, so a name that passed there passes here.
        return parse_username(clean(raw))
    except ValueError:
        _logger.warning("username %r is not allowed by Discord; using the webhook's own name", raw[:80])
        return None
