"""The bot side of the strict server: ``/channels/...`` routes that need ``Authorization: Bot <token>``.

Routes (``/api``, ``/api/v9`` or ``/api/v10``, then):

* ``GET  /channels/{c}/messages``                          ``after`` | ``before`` | ``around``, ``limit`` 1-100 (50)
* ``POST /channels/{c}/messages``                          a bot message (``MessageCreateRequest``)
* ``GET  /channels/{c}/messages/{m}``                      with the ``reactions`` summary
* ``GET  /channels/{c}/messages/{m}/reactions/{emoji}``    users, ``after``, ``limit`` 1-100 (25)
* ``PUT | DELETE /channels/{c}/messages/{m}/reactions/{emoji}/@me``  204
* ``POST /channels/{c}/messages/{m}/threads``              start a thread (``CreateTextThreadWithMessageRequest``)

As strict as Discord where Discord documents it: a missing or wrong token is
401; the emoji must be percent-encoded Unicode or ``name:id`` (else 10014
Unknown Emoji); a second thread from one message is 160004; reacting in an
archived thread is 50083; starting a thread in a forum or inside a thread is
50024 (the research's inference: Discord does not document that code). Bodies
are checked against Discord's schemas (``discord_schema.json``).

Rate limits: every route has a bucket per bot, method and channel with real
``X-RateLimit-*`` headers and 429s. Adding and removing reactions have their own bucket, by default
the 1 per second Discord advertises (its real limit was ~4 per second, but staff
advise following the headers). GETs count too: the poller is what is limited.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import unquote

from otel_discord.testing._http import HTTPError, Request, Response, error
from otel_discord.testing.bodies import BodyError, parse_body
from otel_discord.testing.bot_state import FORUM, TEXT, BotInfo, Thread
from otel_discord.testing.ratelimits import USER_MESSAGE, WebhookBuckets, retry_after_header
from otel_discord.testing.schema import ValidationError, schema_errors
from otel_discord.testing.state import Message, Registry, Rejection, utcnow
from otel_discord.testing.validate import errors_to_discord_json, is_empty_message, rule_errors

ROUTE: Final = re.compile(r"^/api(?:/v(?P<version>\d+))?/channels/(?P<channel>[^/]+)(?P<rest>/.*)?$")
_MESSAGES: Final = re.compile(r"^/messages/?$")
_MESSAGE: Final = re.compile(r"^/messages/(?P<m>[^/]+)/?$")
_REACTIONS: Final = re.compile(r"^/messages/(?P<m>[^/]+)/reactions/(?P<emoji>[^/]+)(?P<me>/(?:@|%40)me)?/?$")
_THREADS: Final = re.compile(r"^/messages/(?P<m>[^/]+)/threads/?$")
_SNOWFLAKE: Final = re.compile(r"^\d{1,20}$")
_CUSTOM: Final = re.compile(r"^[A-Za-z0-9_~]{1,32}:\d{1,20}$")
_SUPPORTED_VERSIONS: Final = (None, "9", "10")
THREAD_SCHEMA: Final = "CreateTextThreadWithMessageRequest"
MESSAGE_SCHEMA: Final = "MessageCreateRequest"
CONTENT_LIMIT: Final = 2000
_EMOJI_JOINERS: Final = {"\u200d", "\ufe0f", "\u20e3"}


def valid_emoji(decoded: str) -> bool:
    """Unicode emoji (no letters or spaces) or a custom ``name:id``; what Discord accepts, roughly."""
    if _CUSTOM.match(decoded):
        return True
    if not decoded or len(decoded) > 16:
        return False
    for char in decoded:
        if char in _EMOJI_JOINERS or char in "#*0123456789" and decoded.endswith("\u20e3"):
            continue
        if ord(char) < 0x2000 or unicodedata.category(char)[0] in "LNZC":
            return False
    return True


def _int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise HTTPError(
            Response(
                400,
                {
                    "code": 50035,
                    "message": "Invalid Form Body",
                    "errors": {
                        name: {
                            "_errors": [{"code": "NUMBER_TYPE_COERCE", "message": f'Value "{raw[:64]}" is not int.'}]
                        }
                    },
                },
            )
        )
    value = int(raw)
    if not low <= value <= high:
        code, text = (
            ("NUMBER_TYPE_MAX", f"int value should be less than or equal to {high}.")
            if value > high
            else ("NUMBER_TYPE_MIN", f"int value should be greater than or equal to {low}.")
        )
        raise HTTPError(
            Response(
                400,
                {
                    "code": 50035,
                    "message": "Invalid Form Body",
                    "errors": {name: {"_errors": [{"code": code, "message": text}]}},
                },
            )
        )
    return value


class BotAPI:
    """Bot routes over the server's ``Registry``; the caller holds the server's lock."""

    def __init__(
        self,
        registry: Registry,
        buckets: WebhookBuckets,
        reaction_buckets: WebhookBuckets,
        clock: Callable[[], float],
        epoch_offset: float,
        message_json: Callable[[Message, str | None], dict[str, Any]],
    ) -> None:
        self.registry = registry
        self.buckets = buckets
        self.reaction_buckets = reaction_buckets
        self.clock = clock
        self.epoch_offset = epoch_offset
        self.message_json = message_json

    def handle(self, request: Request) -> Response:
        """Answer one bot request; 4xx other than 429 are logged as rejections (token never shown)."""
        stats = self.registry.stats
        stats["bot_requests"] = stats.get("bot_requests", 0) + 1
        try:
            response = self._authorised(request)
        except HTTPError as early:
            response = early.response
        if 400 <= response.status < 500 and response.status != 429:
            self.registry.reject(
                Rejection(request.method, request.path, response.payload, response.status, response.body or {})
            )
        return response

    # ------------------------------------------------------------------ auth, limits, routing
    def _authorised(self, request: Request) -> Response:
        match = ROUTE.match(request.path)
        if match is None:
            raise error(404, 0, "404: Not Found")
        if match["version"] not in _SUPPORTED_VERSIONS:
            raise error(400, 50041, "Invalid API version provided")
        header = request.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        bot = self.registry.bot.bot_for(token.strip()) if scheme == "Bot" and token.strip() else None
        if bot is None:
            raise error(401, 0, "401: Unauthorized")
        channel = match["channel"]
        if not _SNOWFLAKE.match(channel) or not self._channel_exists(channel):
            raise error(404, 10003, "Unknown Channel")
        rest = match["rest"] or ""
        reaction = _REACTIONS.match(rest)
        buckets, key = (
            (self.reaction_buckets, f"bot:{bot.id}:reactions:{channel}")
            if reaction and request.method in ("PUT", "DELETE")
            else (self.buckets, f"bot:{bot.id}:{request.method}:{channel}")
        )
        bucket = buckets.hit(key, self.clock())
        headers = bucket.headers(self.epoch_offset)
        if bucket.retry_after is not None:
            self.registry.stats["rate_limited"]["user"] += 1
            body = {"message": USER_MESSAGE, "retry_after": round(bucket.retry_after, 3), "global": False}
            return Response(
                429,
                body,
                {**headers, "X-RateLimit-Scope": "user", "Retry-After": retry_after_header(bucket.retry_after)},
            )
        try:
            response = self._route(request, bot, channel, rest)
        except HTTPError as early:
            response = early.response
        response.headers = {**headers, **response.headers}
        return response

    def _channel_exists(self, channel: str) -> bool:
        return channel in self.registry.channel_ids.values() or channel in self.registry.bot.threads

    def _route(self, request: Request, bot: BotInfo, channel: str, rest: str) -> Response:
        method = request.method
        if _MESSAGES.match(rest):
            if method == "GET":
                return self._list(request, bot, channel)
            if method == "POST":
                return self._create(request, bot, channel)
        elif found := _MESSAGE.match(rest):
            if method == "GET":
                return Response(200, self.message_json(self._message(channel, found["m"]), bot.id))
        elif found := _REACTIONS.match(rest):
            message = self._message(channel, found["m"])
            emoji = self._emoji(found["emoji"])
            if found["me"]:
                if method == "PUT":
                    return self._react(bot, message, emoji)
                if method == "DELETE":
                    self.registry.bot.unreact(message.id, emoji, bot.id)
                    return Response(204)
            elif method == "GET":
                return self._reactors(request, message, emoji)
        elif found := _THREADS.match(rest):
            if method == "POST":
                return self._start_thread(request, bot, channel, found["m"])
        else:
            raise error(404, 0, "404: Not Found")
        raise error(405, 0, "405: Method Not Allowed")

    # ------------------------------------------------------------------ messages
    def _in_channel(self, channel: str) -> list[Message]:
        return [m for m in self.registry.live_messages() if (m.thread_id or m.channel_id) == channel]

    def _message(self, channel: str, message_id: str) -> Message:
        for message in self._in_channel(channel):
            if message.id == message_id:
                return message
        raise error(404, 10008, "Unknown Message")

    def _list(self, request: Request, bot: BotInfo, channel: str) -> Response:
        query = request.query
        given = [name for name in ("around", "before", "after") if name in query]
        for name in given:
            if not _SNOWFLAKE.match(query[name]):
                raise HTTPError(
                    Response(
                        400,
                        {
                            "code": 50035,
                            "message": "Invalid Form Body",
                            "errors": {
                                name: {
                                    "_errors": [
                                        {
                                            "code": "NUMBER_TYPE_COERCE",
                                            "message": f'Value "{query[name][:64]}" is not snowflake.',
                                        }
                                    ]
                                }
                            },
                        },
                    )
                )
        limit = _int(query, "limit", 50, 1, 100)
        messages = self._in_channel(channel)  # oldest first
        if "after" in query:  # the `limit` messages right after the id (inference: Discord's order is newest first)
            chosen = [m for m in messages if int(m.id) > int(query["after"])][:limit]
        elif "before" in query:
            chosen = [m for m in messages if int(m.id) < int(query["before"])][-limit:]
        elif "around" in query:
            pivot = int(query["around"])
            older = [m for m in messages if int(m.id) <= pivot][-(limit - limit // 2) :]
            chosen = older + [m for m in messages if int(m.id) > pivot][: limit // 2]
        else:
            chosen = messages[-limit:]
        return Response(200, [self.message_json(m, bot.id) for m in reversed(chosen)])

    def _create(self, request: Request, bot: BotInfo, channel: str) -> Response:
        try:
            parsed = parse_body(request.headers.get("Content-Type"), request.body)
        except BodyError as exc:
            raise HTTPError(Response(exc.status, exc.body)) from None
        payload = parsed.payload
        if not isinstance(payload, dict):
            return Response(400, {"code": 50109, "message": "The request body contains invalid JSON."})
        errors = schema_errors(payload, MESSAGE_SCHEMA) + [
            e for e in rule_errors(payload, [f.name for f in parsed.files]) if e.path[:1] != ("username",)
        ]
        content = payload.get("content")
        if (
            isinstance(content, str)
            and len(content) > CONTENT_LIMIT
            and not any(e.path == ("content",) for e in errors)
        ):
            # The spec says 4000; Discord's docs say 2000 for messages, and the docs win.
            errors.append(
                ValidationError(("content",), "BASE_TYPE_MAX_LENGTH", f"Must be {CONTENT_LIMIT} or fewer in length.")
            )
        if errors:
            return Response(400, errors_to_discord_json(errors), payload=payload)
        if is_empty_message(payload, [f.name for f in parsed.files], with_components=True):
            return Response(400, {"code": 50006, "message": "Cannot send an empty message"}, payload=payload)
        thread = self.registry.bot.threads.get(channel)
        if self.registry.bot.kind(channel) == "forum":
            raise error(400, 50024, "Cannot execute action on this channel type")
        if thread is not None:
            thread.archived = False  # sending into an archived thread unarchives it
        parent = thread.parent_id if thread else channel
        name = next((n for n, cid in self.registry.channel_ids.items() if cid == parent), parent)
        message = Message(
            id=self.registry.snowflake(),
            channel=name,
            channel_id=parent,
            webhook_id="",
            thread_id=thread.id if thread else None,
            payload=payload,
            edits=0,
            created_at=utcnow(),
            edited_at=None,
            files=list(parsed.files),
            attachment_ids=tuple(self.registry.snowflake() for _ in parsed.files),
            author_id=bot.id,
        )
        self.registry.messages[message.id] = message
        self.registry.stats["accepted"] += 1
        return Response(200, self.message_json(message, bot.id))

    # ------------------------------------------------------------------ reactions
    def _emoji(self, raw: str) -> str:
        try:
            decoded = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            decoded = ""
        if decoded == raw and not raw.isascii():  # only reachable with a raw, non-encoded path
            decoded = ""
        if not valid_emoji(decoded):
            raise error(400, 10014, "Unknown Emoji")
        return decoded

    def _archived(self, message: Message) -> bool:
        thread = self.registry.bot.threads.get(message.thread_id or "")
        return thread is not None and thread.archived

    def _react(self, bot: BotInfo, message: Message, emoji: str) -> Response:
        if self._archived(message):
            raise error(400, 50083, "Thread is archived")
        existing = self.registry.bot.reactions.get(message.id, {})
        if emoji not in existing and len(existing) >= 20:
            raise error(400, 30010, "Maximum number of reactions reached (20)")
        self.registry.bot.react(message.id, emoji, bot.id, True)
        self.registry.stats["reactions"] = self.registry.stats.get("reactions", 0) + 1
        return Response(204)

    def _reactors(self, request: Request, message: Message, emoji: str) -> Response:
        limit = _int(request.query, "limit", 25, 1, 100)
        after = request.query.get("after")
        users = self.registry.bot.reactions.get(message.id, {}).get(emoji, [])
        if after is not None:
            if not _SNOWFLAKE.match(after):
                raise error(400, 50035, "Invalid Form Body")
            users = [(u, b) for u, b in users if int(u) > int(after)]
        users = sorted(users, key=lambda pair: int(pair[0]))[:limit]  # paged by id, like Discord's cursor
        names = self.registry.bot.user_names
        bots = self.registry.bot.bots
        return Response(
            200,
            [
                {
                    "id": user,
                    "username": bots[user].name if user in bots else names.get(user, f"user-{user}"),
                    "discriminator": "0",
                    "global_name": None,
                    "avatar": None,
                    "bot": is_bot,
                    "public_flags": 0,
                }
                for user, is_bot in users
            ],
        )

    # ------------------------------------------------------------------ threads
    def _start_thread(self, request: Request, bot: BotInfo, channel: str, message_id: str) -> Response:
        if self.registry.bot.kind(channel) == "forum" or channel in self.registry.bot.threads:
            raise error(400, 50024, "Cannot execute action on this channel type")
        message = self._message(channel, message_id)
        try:
            parsed = parse_body(request.headers.get("Content-Type"), request.body)
        except BodyError as exc:
            raise HTTPError(Response(exc.status, exc.body)) from None
        payload = parsed.payload
        errors = schema_errors(payload, THREAD_SCHEMA)
        if errors:
            return Response(400, errors_to_discord_json(errors), payload=payload)
        if message.id in self.registry.bot.threads:
            raise error(400, 160004, "A thread has already been created for this message")
        thread = Thread(
            message.id,
            channel,
            str(payload["name"]),
            message.id,
            auto_archive_duration=int(payload.get("auto_archive_duration") or 1440),
            owner_id=bot.id,
        )
        self.registry.bot.threads[thread.id] = thread
        return Response(201, thread.json(self.registry.guild_id))


def channel_type(registry: Registry, channel_id: str) -> int:
    """Discord's channel type number for a channel of the local server."""
    if channel_id in registry.bot.threads:
        return 11
    return FORUM if registry.bot.kind(channel_id) == "forum" else TEXT


__all__ = ["ROUTE", "BotAPI", "channel_type", "valid_emoji"]
