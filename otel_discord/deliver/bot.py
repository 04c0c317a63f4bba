"""The optional bot: read acknowledgment reactions on cards, pre-add them, start a thread per incident.

Webhooks cannot read reactions, so these features need a bot token
(``OTEL_EXPORTER_DISCORD_BOT_TOKEN``). Six REST calls, hand-written on the
webhook client's plumbing rather than a Discord framework (asyncio, aiohttp and a
second rate limiter unaware of ours, for six calls; see
shared/research/notify-rules.md §3):

* ``messages`` (one poll per channel with open cards), ``message``, ``reactions``
  (who reacted, paged by id), ``add_reaction`` (the pre-fill), ``start_thread``
  (thread id = card id; 160004 "already created" counts as success) and ``send``.

Same rules as ``webhook.py``: every call returns an ``Outcome`` and never raises;
OpenTelemetry instrumentation is suppressed around each request; the token
lives only in the ``Authorization`` header, never in a URL, an error text or a
repr (``BotToken`` masks itself). Rate limits use ``ratelimit.RateLimiter``, the
webhook sender's state machine, keyed per route and channel: a call whose bucket
is empty is not sent and comes back as ``Outcome(None, error="rate limited …")``
with ``retry_in`` set, so the caller (a timer on the engine's thread) tries again
on a later tick instead of sleeping.

``reaction_actions`` is the pure part of a poll: which cards show a human
reaction with one of the acknowledgment emoji (the bot's own pre-added ones do
not count).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from otel_discord.config.webhook_url import WebhookURL
from otel_discord.deliver.ratelimit import RateLimiter
from otel_discord.deliver.webhook import Outcome, WebhookClient, instrumentation_suppressed, outcome_of, short_reason
from otel_discord.health.log import get_logger

_logger = get_logger(__name__)

API_VERSION: Final = "v10"
THREAD_EXISTS: Final = 160004
PAGE: Final = 100  # Discord's maximum `limit` for messages and reactions
_EMOJI_VS16: Final = "\ufe0f"


class BotToken:
    """A bot token that never shows itself: ``str``/``repr`` are masked; ``header`` is for requests only."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        value = value.strip()
        if value.lower().startswith("bot "):
            value = value[4:].strip()
        if not value or any(c.isspace() for c in value):
            raise ValueError("the bot token is empty or contains spaces")
        self._value = value

    @property
    def header(self) -> str:
        return f"Bot {self._value}"

    def __str__(self) -> str:
        return "Bot ****"

    def __repr__(self) -> str:
        return "BotToken(****)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BotToken) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def api_base(webhook: WebhookURL) -> str:
    """The REST base of the Discord a webhook points at (``https://discord.com/api/v10``, or a local server)."""
    return f"{webhook.base}/api/{API_VERSION}"


def encode_emoji(emoji: str) -> str:
    """Percent-encode for the path (10014 Unknown Emoji otherwise); custom emoji stay ``name:id``."""
    return quote(emoji, safe=":")


@dataclass(frozen=True, slots=True)
class Reactor:
    """A person who reacted to a card with one of the acknowledgment emoji."""

    message_id: str
    emoji: str
    user_id: str
    username: str = ""
    bot: bool = False


@dataclass
class BotClient:
    """REST calls for one bot token against one Discord (see the module docstring)."""

    token: BotToken = field(repr=False)
    base: str = "https://discord.com/api/v10"
    timeout: float = 10.0
    clock: Callable[[], float] = time.monotonic
    limiter: RateLimiter = field(default_factory=RateLimiter)
    http: WebhookClient = field(default_factory=WebhookClient)
    requests: int = 0  # requests actually sent (tests and doctor)

    def __repr__(self) -> str:
        return f"BotClient(base={self.base!r}, token=****)"

    # ------------------------------------------------------------------ the calls
    def messages(self, channel_id: str, *, after: str | None = None, limit: int = PAGE) -> Outcome:
        params = {"limit": str(max(1, min(PAGE, limit)))}
        if after is not None:
            params["after"] = after
        return self._call("GET", "messages", channel_id, f"/channels/{channel_id}/messages", params=params)

    def message(self, channel_id: str, message_id: str) -> Outcome:
        return self._call("GET", "messages", channel_id, f"/channels/{channel_id}/messages/{message_id}")

    def reactions(self, channel_id: str, message_id: str, emoji: str, *, after: str | None = None) -> Outcome:
        params = {"limit": str(PAGE)}
        if after is not None:
            params["after"] = after
        path = f"/channels/{channel_id}/messages/{message_id}/reactions/{encode_emoji(emoji)}"
        return self._call("GET", "reactions.list", channel_id, path, params=params)

    def add_reaction(self, channel_id: str, message_id: str, emoji: str) -> Outcome:
        path = f"/channels/{channel_id}/messages/{message_id}/reactions/{encode_emoji(emoji)}/@me"
        return self._call("PUT", "reactions", channel_id, path)

    def start_thread(self, channel_id: str, message_id: str, name: str, *, archive_after: int = 1440) -> Outcome:
        """Start the card's thread; an existing one (160004) is success, as the thread id is the card's id."""
        body = {"name": (name.strip() or "incident")[:100], "auto_archive_duration": archive_after}
        outcome = self._call(
            "POST", "threads", channel_id, f"/channels/{channel_id}/messages/{message_id}/threads", json=body
        )
        if outcome.status == 400 and outcome.discord_code == THREAD_EXISTS:
            return Outcome(200, {"id": message_id, "existing": True}, outcome.headers)
        return outcome

    def all_reactors(self, channel_id: str, message_id: str, emoji: str) -> tuple[list[Reactor], Outcome]:
        """Every user who reacted with ``emoji`` (pages of 100 by id); the last outcome tells if it failed."""
        found: list[Reactor] = []
        after: str | None = None
        while True:
            outcome = self.reactions(channel_id, message_id, emoji, after=after)
            if not outcome.ok or not isinstance(outcome.json, list):
                return found, outcome
            for user in outcome.json:
                if isinstance(user, Mapping) and str(user.get("id", "")).isdigit():
                    found.append(
                        Reactor(
                            message_id, emoji, str(user["id"]), str(user.get("username") or ""), bool(user.get("bot"))
                        )
                    )
            if len(outcome.json) < PAGE:
                return found, outcome
            after = found[-1].user_id

    # ------------------------------------------------------------------ plumbing
    def delay(self, route: str, channel_id: str) -> float:
        """Seconds until ``route`` on ``channel_id`` may be called (0: now)."""
        return self.limiter.delay(f"bot:{route}:{channel_id}", "bot", self.clock(), route)

    def _call(self, method: str, route: str, channel_id: str, path: str, **kwargs: Any) -> Outcome:
        if not str(channel_id).isdigit():
            return Outcome(None, error=f"invalid channel id {str(channel_id)[:40]!r}")
        key = f"bot:{route}:{channel_id}"
        wait = self.limiter.delay(key, "bot", self.clock(), route)
        if wait > 0:
            return Outcome(None, error=f"rate limited: try again in {wait:.2f} s")
        outcome = self._request(method, self.base + path, **kwargs)
        self.limiter.on_response(key, "bot", outcome, self.clock(), route)
        if not outcome.ok:
            _logger.debug("bot %s %s: %s", method, route, outcome.describe())
        return outcome

    def _request(self, method: str, url: str, **kwargs: Any) -> Outcome:
        """One HTTP request on the shared session, with the token in the header only."""
        self.requests += 1
        try:
            session = self.http._get_session()
            with instrumentation_suppressed():
                response = session.request(
                    method,
                    url,
                    timeout=self.timeout,
                    verify=True,
                    allow_redirects=False,
                    headers={"Authorization": self.token.header},
                    **kwargs,
                )
                body = response.content
            return outcome_of(response.status_code, response.headers, body)
        except Exception as exc:  # the contract is "never raises"; requests' errors name the URL, not the header
            return Outcome(None, error=f"{type(exc).__name__}: {short_reason(exc)}")

    def close(self) -> None:
        self.http.close()


def _same_emoji(a: str, b: str) -> bool:
    return a.replace(_EMOJI_VS16, "") == b.replace(_EMOJI_VS16, "")


def reaction_actions(message: Mapping[str, Any], emoji: Iterable[str]) -> list[str]:
    """Which of ``emoji`` a message object shows a reaction to by someone other than the bot (pure).

    ``count - me`` counts the others: the bot's own pre-added reaction is in the count.
    """
    wanted = list(emoji)
    found: list[str] = []
    for reaction in message.get("reactions") or ():
        if not isinstance(reaction, Mapping):
            continue
        info = reaction.get("emoji") or {}
        name = str(info.get("name") or "")
        shown = f"{name}:{info['id']}" if info.get("id") else name
        others = int(reaction.get("count") or 0) - (1 if reaction.get("me") else 0)
        for candidate in wanted:
            if others > 0 and _same_emoji(candidate, shown) and candidate not in found:
                found.append(candidate)
    return found


def oldest_after(message_ids: Iterable[str]) -> str | None:
    """The ``after`` cursor that includes the oldest of ``message_ids`` (``after`` is exclusive)."""
    ids = [int(m) for m in message_ids if str(m).isdigit()]
    return str(min(ids) - 1) if ids else None
