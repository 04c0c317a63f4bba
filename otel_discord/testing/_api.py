"""The Discord side of the strict server: webhook routes, their rules and their answers.

``WebhookAPI.handle`` runs with the server's lock held, so it reads and changes the
``Registry`` freely. Routes (``/api``, ``/api/v9`` or ``/api/v10``, then):

* ``POST   /webhooks/{id}/{token}``                       execute (``wait``, ``thread_id``, ``with_components``)
* ``GET    /webhooks/{id}/{token}``                       the webhook object
* ``DELETE /webhooks/{id}/{token}``                       delete the webhook
* ``GET | PATCH | DELETE /webhooks/{id}/{token}/messages/{message_id}`` (``thread_id``)

Forum channels (``DiscordServer.create_webhook(..., forum=True)``) need ``thread_name``
(a new post) or ``thread_id`` (220001); ``thread_name`` elsewhere is 220003. Posting
into an archived thread unarchives it; editing a message in one is 50083. The bot
routes are in ``_bot_api.py``.
"""

from __future__ import annotations

import dataclasses
import hmac
import re
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

from otel_discord.testing._http import HTTPError, Request, Response, error
from otel_discord.testing.bodies import BodyError, ParsedBody, parse_body
from otel_discord.testing.bot_state import Thread
from otel_discord.testing.ratelimits import (
    SHARED_MESSAGE,
    USER_MESSAGE,
    ChannelWindows,
    WebhookBuckets,
    retry_after_header,
)
from otel_discord.testing.state import File, Message, Registry, Rejection, WebhookInfo, iso, utcnow
from otel_discord.testing.validate import errors_to_discord_json, is_empty_message, validate_edit, validate_execute

_ROUTE: Final = re.compile(
    r"^/api(?:/v(?P<version>\d+))?/webhooks/(?P<id>\d+)/(?P<token>[^/]+)(?:/messages/(?P<message>[^/]+))?/?$"
)
_ATTACHMENT_ROUTE: Final = re.compile(r"^/attachments/(?P<channel>\d+)/(?P<id>\d+)/[^/]+$")
_SUPPORTED_VERSIONS: Final = (None, "9", "10")
_BOOLEANS: Final = {"true": True, "1": True, "True": True, "false": False, "0": False, "False": False}
_SNOWFLAKE: Final = re.compile(r"\d{1,20}")


def _form_error(name: str, code: str, message: str) -> HTTPError:
    errors = {name: {"_errors": [{"code": code, "message": message}]}}
    return HTTPError(Response(400, {"code": 50035, "message": "Invalid Form Body", "errors": errors}))


def _flag(query: dict[str, str], name: str) -> bool:
    raw = query.get(name)
    if raw is None:
        return False
    if raw not in _BOOLEANS:
        raise _form_error(name, "BOOLEAN_TYPE_COERCE", f'Value "{raw[:64]}" is not boolean.')
    return _BOOLEANS[raw]


def _parse(request: Request) -> ParsedBody:
    try:
        return parse_body(request.headers.get("Content-Type"), request.body)
    except BodyError as exc:
        raise HTTPError(Response(exc.status, exc.body)) from None


def _best_effort_payload(request: Request) -> Any:
    """The request body for the rejection log: parsed if possible, else its text."""
    try:
        return parse_body(request.headers.get("Content-Type"), request.body).payload
    except BodyError:
        return request.body.decode("utf-8", "replace")


class WebhookAPI:
    """Discord's webhook routes over a ``Registry``; the caller holds the server's lock."""

    def __init__(
        self,
        registry: Registry,
        buckets: WebhookBuckets,
        windows: ChannelWindows,
        clock: Callable[[], float],
        epoch_offset: float,
        base_url: Callable[[], str],
    ) -> None:
        self.registry = registry
        self.buckets = buckets
        self.windows = windows
        self.clock = clock
        self.epoch_offset = epoch_offset
        self.base_url = base_url

    # ------------------------------------------------------------------ entry points
    def handle(self, request: Request) -> Response:
        """Answer one API request and log it as a rejection if it is a 4xx other than 429."""
        try:
            response = self._authorised(request)
        except HTTPError as early:
            response = early.response
        if 400 <= response.status < 500 and response.status != 429:
            payload = response.payload if response.payload is not None else _best_effort_payload(request)
            self.registry.reject(
                Rejection(request.method, request.masked_target, payload, response.status, response.body or {})
            )
        return response

    def attachment(self, request: Request) -> Response | None:
        """An uploaded file, served like Discord's CDN; ``None`` if the path is not a file URL."""
        match = _ATTACHMENT_ROUTE.match(request.path) if request.method in ("GET", "HEAD") else None
        if match is None:
            return None
        for message in self.registry.live_messages():
            for attachment_id, file in zip(message.attachment_ids, message.files):
                if attachment_id == match["id"]:
                    return Response(200, raw=file.data, content_type=file.content_type, headers={"Via": ""})
        return Response(404, {"code": 0, "message": "404: Not Found"})

    # ------------------------------------------------------------------ routing
    def _authorised(self, request: Request) -> Response:
        match = _ROUTE.match(request.path)
        if match is None:
            raise error(404, 0, "404: Not Found")
        if match["version"] not in _SUPPORTED_VERSIONS:
            raise error(400, 50041, "Invalid API version provided")
        hook = self.registry.webhooks.get(match["id"])
        if hook is None or hook.id in self.registry.deleted_webhooks:
            raise error(404, 10015, "Unknown Webhook")
        if not hmac.compare_digest(hook.token.encode(), match["token"].encode()):
            raise error(401, 50027, "Invalid Webhook Token")
        now = self.clock()
        # GETs report the bucket without using it; see ratelimits.py.
        bucket = self.buckets.peek(hook.id, now) if request.method == "GET" else self.buckets.hit(hook.id, now)
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
            response = self._route(request, hook, match["message"])
        except HTTPError as early:
            response = early.response
        response.headers = {**headers, **response.headers}
        return response

    def _route(self, request: Request, hook: WebhookInfo, message_id: str | None) -> Response:
        thread_id = request.query.get("thread_id")
        if thread_id is not None and not _SNOWFLAKE.fullmatch(thread_id):
            raise _form_error("thread_id", "NUMBER_TYPE_COERCE", f'Value "{thread_id[:64]}" is not snowflake.')
        method = request.method
        if message_id is None:
            if method == "POST":
                return self._execute(request, hook, thread_id)
            if method == "GET":
                return Response(200, self._webhook_json(hook))
            if method == "DELETE":
                self.registry.deleted_webhooks.add(hook.id)
                return Response(204)
            raise error(405, 0, "405: Method Not Allowed")
        message = self.registry.messages.get(message_id)
        # A message is found only through its own webhook and, if in a thread, its thread_id.
        if (
            message is None
            or message.id in self.registry.deleted_messages
            or message.webhook_id != hook.id
            or message.thread_id != thread_id
        ):
            raise error(404, 10008, "Unknown Message")
        if method == "GET":
            return Response(200, self.message_json(message))
        if method == "DELETE":
            self.registry.deleted_messages.add(message.id)
            self.registry.stats["deleted"] += 1
            return Response(204)
        if method == "PATCH":
            return self._edit(request, message)
        raise error(405, 0, "405: Method Not Allowed")

    # ------------------------------------------------------------------ execute / edit
    def _execute(self, request: Request, hook: WebhookInfo, thread_id: str | None) -> Response:
        wait, with_components = _flag(request.query, "wait"), _flag(request.query, "with_components")
        parsed = _parse(request)
        payload, files = parsed.payload, parsed.files
        errors = validate_execute(payload, [f.name for f in files], with_components=with_components)
        if errors:
            return Response(400, errors_to_discord_json(errors), payload=payload)
        forum = self.registry.bot.kind(hook.channel_id) == "forum"
        if payload.get("thread_name") is not None:
            if thread_id is not None:
                raise error(400, 220002, "Webhooks cannot have both a thread_name and thread_id")
            if not forum:
                raise error(400, 220003, "Webhooks can only create threads in forum channels")
        elif forum and thread_id is None:
            raise error(400, 220001, "Webhooks posted to forum channels must have a thread_name or thread_id")
        known = self.registry.bot.threads.get(thread_id or "")
        if known is not None and known.parent_id != hook.channel_id:
            raise error(400, 10003, "Unknown Channel")  # a thread of another channel
        if not with_components:
            payload = {k: v for k, v in payload.items() if k != "components"}  # Discord drops them silently
        now = self.clock()
        wait_for = self.windows.retry_after(hook.channel_id, now)
        if wait_for is not None:
            self.registry.stats["rate_limited"]["shared"] += 1
            body = {"message": SHARED_MESSAGE, "retry_after": round(wait_for, 3), "global": False}
            return Response(429, body, {"X-RateLimit-Scope": "shared", "Retry-After": retry_after_header(wait_for)})
        self.windows.record(hook.channel_id, now)
        snowflake = self.registry.snowflake
        if payload.get("thread_name") is not None:  # a forum post: a new thread holding this message
            thread_id = snowflake()
            self.registry.bot.threads[thread_id] = Thread(
                thread_id, hook.channel_id, str(payload["thread_name"]), None, owner_id=hook.id
            )
        elif known is not None:
            known.archived = False  # sending into an archived thread unarchives it [D:webhook]
        message = Message(
            id=snowflake(),
            channel=hook.channel,
            channel_id=hook.channel_id,
            webhook_id=hook.id,
            thread_id=thread_id,
            payload=payload,
            edits=0,
            created_at=utcnow(),
            edited_at=None,
            files=list(files),
            attachment_ids=tuple(snowflake() for _ in files),
        )
        self.registry.messages[message.id] = message
        self.registry.stats["accepted"] += 1
        # With files Discord answers 200 even without wait (discord-api-docs#5099).
        return Response(200, self.message_json(message)) if wait or files else Response(204)

    def _edit(self, request: Request, current: Message) -> Response:
        with_components = _flag(request.query, "with_components")
        thread = self.registry.bot.threads.get(current.thread_id or "")
        if thread is not None and thread.archived:
            raise error(400, 50083, "Thread is archived")  # editing never unarchives
        parsed = _parse(request)
        patch, files = parsed.payload, parsed.files
        errors = validate_edit(patch, [f.name for f in files])
        if errors:
            return Response(400, errors_to_discord_json(errors), payload=patch)
        if not with_components:
            patch = {k: v for k, v in patch.items() if k != "components"}
        # Named fields replace, null clears, the rest stays.
        payload = {k: v for k, v in {**current.payload, **patch}.items() if v is not None}
        kept: list[tuple[str, File]] = list(zip(current.attachment_ids, current.files))
        if "attachments" in patch:  # v10: the list names every attachment that stays
            keep = {str(a.get("id")) for a in patch.get("attachments") or () if isinstance(a, dict)}
            kept = [pair for pair in kept if pair[0] in keep]
        kept += [(self.registry.snowflake(), f) for f in files]
        if is_empty_message(payload, [f for _, f in kept], with_components=True):
            return Response(400, {"code": 50006, "message": "Cannot send an empty message"}, payload=patch)
        updated = dataclasses.replace(
            current,
            payload=payload,
            edits=current.edits + 1,
            edited_at=utcnow(),
            files=[f for _, f in kept],
            attachment_ids=tuple(i for i, _ in kept),
        )
        self.registry.messages[current.id] = updated
        self.registry.stats["edits"] += 1
        return Response(200, self.message_json(updated))

    # ------------------------------------------------------------------ JSON shapes
    def _webhook_json(self, hook: WebhookInfo) -> dict[str, Any]:
        return {
            "id": hook.id,
            "type": 1,
            "channel_id": hook.channel_id,
            "guild_id": self.registry.guild_id,
            "name": hook.name,
            "avatar": None,
            "application_id": None,
            "token": hook.token,
        }

    def message_json(self, message: Message, viewer: str | None = None) -> dict[str, Any]:
        """The message object Discord returns (and a preview page can render); ``viewer`` is the bot
        asking, for the ``me`` of each reaction."""
        payload = message.payload
        hook = self.registry.webhooks.get(message.webhook_id)
        if hook is not None:
            author = {
                "id": message.webhook_id,
                "username": payload.get("username") or hook.name,
                "avatar": None,
                "discriminator": "0000",
                "bot": True,
                "global_name": None,
            }
        else:
            bot = self.registry.bot.bots.get(message.author_id or "")
            author = {
                "id": message.author_id,
                "username": bot.name if bot else "bot",
                "avatar": None,
                "discriminator": "0",
                "bot": True,
                "global_name": None,
            }
        # Webhook embeds are always "rich" and cannot set provider or video.
        embeds = [
            {**{k: v for k, v in e.items() if v is not None and k not in ("provider", "video")}, "type": "rich"}
            for e in payload.get("embeds") or []
            if isinstance(e, dict)
        ]
        attachments = []
        for attachment_id, file in zip(message.attachment_ids, message.files):
            url = f"{self.base_url()}/attachments/{message.channel_id}/{attachment_id}/{quote(file.name)}"
            attachments.append(
                {
                    "id": attachment_id,
                    "filename": file.name,
                    "size": len(file.data),
                    "content_type": file.content_type,
                    "url": url,
                    "proxy_url": url,
                }
            )
        pings = message.pings
        extra: dict[str, Any] = {}
        if message.webhook_id:
            extra["webhook_id"] = message.webhook_id
        reactions = self.registry.bot.summary(message.id, viewer)
        if reactions:
            extra["reactions"] = reactions
        thread = self.registry.bot.threads.get(message.id)
        if thread is not None and thread.starter_message_id == message.id:
            extra["thread"] = thread.json(self.registry.guild_id)
        return {
            **extra,
            "id": message.id,
            "type": 0,
            "content": payload.get("content") or "",
            "channel_id": message.thread_id or message.channel_id,
            "author": author,
            "embeds": embeds,
            "attachments": attachments,
            "components": payload.get("components") or [],
            "mentions": [{"id": user, "username": f"user-{user}", "bot": False} for user in pings.users],
            "mention_roles": list(pings.roles),
            "mention_everyone": pings.everyone,
            "pinned": False,
            "tts": bool(payload.get("tts")),
            "flags": payload.get("flags") or 0,
            "timestamp": iso(message.created_at),
            "edited_timestamp": iso(message.edited_at) if message.edited_at else None,
        }
