"""A strict, Discord-compatible webhook server on 127.0.0.1 for tests and previews.

It speaks real HTTP (stdlib ``ThreadingHTTPServer`` in a daemon thread), so a client is
exercised end to end: status codes, Discord's error bodies, rate-limit headers,
keep-alive connections and dropped connections. Payloads are checked by ``validate.py``
against Discord's own schema plus the rules Discord enforces in code; rate limits are
described in ``ratelimits.py``; the routes in ``_api.py``. Everything accepted is
recorded and read back through thread-safe methods (``messages()``, ``rejected()``,
``stats()``); ``add_route`` mounts extra pages (a preview page) on the same server.
Bot routes (``/channels/...``, ``Authorization: Bot <token>`` from ``create_bot()``) read
messages and reactions and start threads (``_bot_api.py``); ``add_reaction`` and
``archive_thread`` play the people and Discord's housekeeping in tests.

Usage::

    with DiscordServer() as server:
        hook = server.create_webhook("alerts")
        ... point the exporter at hook.url (allowed host: server.host_port) ...
        [message] = server.wait_for_messages(1)

Windows of the rate limits read the injectable ``clock``, so tests step time instead
of sleeping; everything else (``wait_for*``, ``set_latency``) is real time.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Final

from otel_discord.testing._api import WebhookAPI
from otel_discord.testing._bot_api import ROUTE as BOT_ROUTE
from otel_discord.testing._bot_api import BotAPI
from otel_discord.testing._http import HTTPServer, Request, Response
from otel_discord.testing.bot_state import BotInfo, Thread, new_bot_token
from otel_discord.testing.ratelimits import USER_MESSAGE, ChannelWindows, WebhookBuckets, retry_after_header
from otel_discord.testing.state import Message, Registry, Rejection, WebhookInfo, new_token

BAN_MESSAGE: Final = (
    "You are being blocked from accessing our API temporarily due to exceeding our rate limits "
    "frequently. Please read our docs at https://discord.com/developers/docs/topics/rate-limits "
    "to prevent this moving forward."
)

Handler = Callable[[Request], Response]


class DiscordServer:
    """A strict local stand-in for Discord's webhook API (see the module docstring)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        webhook_limit: int = 5,
        webhook_window: float = 2.0,
        channel_limit: int = 30,
        channel_window: float = 60.0,
        bot_limit: int = 5,
        bot_window: float = 1.0,
        reaction_window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host, self._port = host, port
        self._clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._httpd: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._registry = Registry()
        self._api = WebhookAPI(
            self._registry,
            WebhookBuckets(webhook_limit, webhook_window),
            ChannelWindows(channel_limit, channel_window),
            clock,
            epoch_offset=time.time() - clock(),  # maps clock() onto unix time for X-RateLimit-Reset
            base_url=lambda: self.base_url,
        )
        self._bot_api = BotAPI(
            self._registry,
            WebhookBuckets(bot_limit, bot_window),
            WebhookBuckets(1, reaction_window),
            clock,
            epoch_offset=self._api.epoch_offset,
            message_json=self._api.message_json,
        )
        self._routes: dict[tuple[str, str], Handler] = {}
        self._clear_faults()

    def _clear_faults(self) -> None:
        self._down = False
        self._fail: list[int] = []
        self._latency = 0.0
        self._ban_until = self._global_until = float("-inf")

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> DiscordServer:
        """Listen and serve in a daemon thread; returns ``self``. Idempotent."""
        with self._lock:
            if self._httpd is None:
                self._stopping.clear()
                httpd = HTTPServer((self._host, self._port), self._dispatch)
                self._port = httpd.server_address[1]
                self._httpd = httpd
                self._thread = threading.Thread(
                    target=httpd.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name=f"discord-server-{self._port}",
                    daemon=True,
                )
                self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection, kept-alive ones included. Idempotent."""
        self._stopping.set()  # cuts injected latency short
        with self._lock:
            httpd, thread, self._httpd, self._thread = self._httpd, self._thread, None, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            httpd.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> DiscordServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self.host_port}"

    @property
    def host_port(self) -> str:
        """``host:port``, what users put in OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS."""
        return f"{self._host}:{self._port}"

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``handler(request) -> Response`` at ``path`` (a trailing ``*`` matches a prefix).

        For pages mounted on the same server (a preview page). Such routes are not
        Discord: no faults, rate limits, latency or stats apply to them, and they are
        matched before the API routes.
        """
        with self._lock:
            self._routes[(method.upper(), path)] = handler

    # ----------------------------------------------------------------- webhooks
    def create_webhook(
        self, channel: str = "alerts", name: str = "otel-discord", *, forum: bool = False
    ) -> WebhookInfo:
        """A new webhook posting to ``channel`` (channels are made on first use).

        Call after ``start()`` when the port is chosen by the OS: the URL needs it.
        ``name`` is not checked: Discord would refuse "otel-discord" as a webhook name, but
        only a ``username`` override in a payload is validated here.
        """
        if not 1 <= len(name) <= 80:
            raise ValueError("webhook names are 1-80 characters, as at Discord")
        with self._lock:
            if self._port == 0:
                raise RuntimeError("start() the server before creating webhooks (port 0 is not known yet)")
            registry = self._registry
            hook_id, token = registry.snowflake(), new_token()
            url = f"{self.base_url}/api/webhooks/{hook_id}/{token}"
            info = WebhookInfo(hook_id, token, channel, registry.channel_id(channel), url, name)
            if forum:
                registry.bot.kinds[info.channel_id] = "forum"
            registry.webhooks[hook_id] = info
            registry.touch()
            return info

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete a webhook: from now on it answers 404 Unknown Webhook (10015)."""
        with self._changed:
            if str(webhook_id) not in self._registry.webhooks:
                raise KeyError(f"no webhook {webhook_id}")
            self._registry.deleted_webhooks.add(str(webhook_id))
            self._registry.touch()
            self._changed.notify_all()

    def webhooks(self) -> list[WebhookInfo]:
        """Every webhook created, deleted ones included."""
        with self._lock:
            return list(self._registry.webhooks.values())

    def channels(self) -> dict[str, str]:
        """Channel name → channel id."""
        with self._lock:
            return dict(self._registry.channel_ids)

    # ----------------------------------------------------------------- bots (see _bot_api.py)
    def create_bot(self, name: str = "otel-discord-bot") -> BotInfo:
        """A bot user whose token the ``/channels/...`` routes accept as ``Authorization: Bot <token>``."""
        with self._lock:
            bot_id = self._registry.snowflake()
            bot = BotInfo(bot_id, new_bot_token(bot_id), name)
            self._registry.bot.bots[bot_id] = bot
            return bot

    def add_reaction(
        self, message_id: str, emoji: str, user_id: str, *, name: str | None = None, bot: bool = False
    ) -> None:
        """A person (or another bot) reacts to a message, as in Discord's client (a test hook)."""
        with self._changed:
            if str(message_id) not in self._registry.messages:
                raise KeyError(f"no message {message_id}")
            self._registry.bot.react(str(message_id), emoji, str(user_id), bot)
            if name:
                self._registry.bot.user_names[str(user_id)] = name
            self._registry.touch()
            self._changed.notify_all()

    def remove_reaction(self, message_id: str, emoji: str, user_id: str) -> None:
        with self._changed:
            self._registry.bot.unreact(str(message_id), emoji, str(user_id))
            self._registry.touch()
            self._changed.notify_all()

    def reactions(self, message_id: str) -> dict[str, list[str]]:
        """Emoji → user ids who reacted, in order (the bot's own included)."""
        with self._lock:
            return {
                emoji: [u for u, _ in users]
                for emoji, users in self._registry.bot.reactions.get(str(message_id), {}).items()
            }

    def threads(self) -> list[Thread]:
        """Every thread: started from a message by a bot, or a forum post made by a webhook (copies)."""
        with self._lock:
            return [dataclasses.replace(t) for t in self._registry.bot.threads.values()]

    def archive_thread(self, thread_id: str) -> None:
        """Archive a thread as Discord does after inactivity (a test hook): edits inside get 50083."""
        with self._changed:
            self._registry.bot.threads[str(thread_id)].archived = True
            self._registry.touch()
            self._changed.notify_all()

    # ----------------------------------------------------------------- recorded state
    def messages(self, channel: str | None = None) -> list[Message]:
        """Accepted, not deleted messages in order, as they stand after edits (copies)."""
        with self._lock:
            return [m.snapshot() for m in self._registry.live_messages(channel)]

    def message(self, message_id: str) -> Message | None:
        """One message (deleted ones included), or ``None``."""
        with self._lock:
            found = self._registry.messages.get(str(message_id))
            return found.snapshot() if found else None

    def message_json(self, message_id: str) -> dict[str, Any]:
        """The message object Discord would return for ``message_id`` (for previews)."""
        with self._lock:
            return self._api.message_json(self._registry.messages[str(message_id)])

    def rejected(self) -> list[Rejection]:
        """Requests refused with a 4xx other than 429, in order (tokens masked)."""
        with self._lock:
            return list(self._registry.rejections)

    def stats(self) -> dict[str, Any]:
        """Counters: requests, accepted, rejected, edits, deleted, rate_limited by scope
        (user/shared/global), banned, faults (from ``fail_next``), dropped (while down)."""
        with self._lock:
            return self._registry.stats_copy()

    @property
    def revision(self) -> int:
        """Grows on every recorded change; cheap to poll for a preview page."""
        with self._lock:
            return self._registry.revision

    def reset(self) -> None:
        """Forget messages, rejections, stats, rate-limit windows and faults; keep webhooks."""
        with self._changed:
            self._registry.clear_records()
            self._api.buckets.clear()
            self._api.windows.clear()
            self._bot_api.buckets.clear()
            self._bot_api.reaction_buckets.clear()
            self._clear_faults()
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait (real time) until ``predicate()`` is true; False if ``timeout`` passed first.

        Re-checked on every recorded change and at least every 50 ms, so a predicate over
        any state (``stats()`` included) works.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.05))
            return True

    def wait_for_messages(self, n: int, channel: str | None = None, timeout: float = 10.0) -> list[Message]:
        """Wait until at least ``n`` messages are in ``channel`` (any channel if None) and return them.

        Raises ``AssertionError`` describing what did arrive (and what was refused) if
        ``timeout`` passes first.
        """
        if self.wait_for(lambda: sum(1 for _ in self._registry.live_messages(channel)) >= n, timeout):
            return self.messages(channel)
        arrived = [(m.channel, m.content[:60], len(m.embeds)) for m in self.messages(channel)]
        refused = [(r.method, r.status, r.error) for r in self.rejected()[-5:]]
        where = f"channel {channel!r}" if channel else "any channel"
        raise AssertionError(
            f"expected ≥ {n} messages in {where} within {timeout} s, got {len(arrived)}: {arrived}; "
            f"last rejections: {refused}; stats: {self.stats()}"
        )

    # ----------------------------------------------------------------- fault injection
    def set_down(self, down: bool) -> None:
        """While down, every API request is hung up on without a response (a connection error)."""
        with self._lock:
            self._down = down
            httpd = self._httpd
        if down and httpd is not None:
            httpd.close_connections()  # pooled keep-alive connections die too

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` API requests with ``status`` and a JSON error body."""
        HTTPStatus(status)  # an unknown status is a mistake in the test
        with self._lock:
            self._fail.extend([status] * n)

    def set_latency(self, seconds: float) -> None:
        """Delay every API response by ``seconds`` (real time; ``stop()`` cuts it short).

        The request is handled first, so a client that times out may still have posted.
        """
        with self._lock:
            self._latency = max(0.0, seconds)

    def delete_message(self, message_id: str) -> None:
        """Delete a message as a moderator would; edits then get 404 Unknown Message (10008)."""
        with self._changed:
            if str(message_id) not in self._registry.messages:
                raise KeyError(f"no message {message_id}")
            self._registry.deleted_messages.add(str(message_id))
            self._registry.stats["deleted"] += 1
            self._registry.touch()
            self._changed.notify_all()

    def ban(self, seconds: float) -> None:
        """A Cloudflare-style IP ban for ``seconds`` of ``clock``: 429 with no rate-limit
        headers, no Retry-After and no ``Via`` (what tells it apart from Discord's own 429s)."""
        with self._lock:
            self._ban_until = self._clock() + seconds

    def global_rate_limit(self, seconds: float) -> None:
        """Answer every API request with a global 429 for ``seconds`` of ``clock``."""
        with self._lock:
            self._global_until = self._clock() + seconds

    # ----------------------------------------------------------------- request handling
    def _route_for(self, request: Request) -> Handler | None:
        with self._lock:
            exact = self._routes.get((request.method, request.path))
            if exact is not None:
                return exact
            for (method, path), handler in self._routes.items():
                if method == request.method and path.endswith("*") and request.path.startswith(path[:-1]):
                    return handler
        return None

    def _dispatch(self, request: Request) -> Response | None:
        handler = self._route_for(request)
        if handler is not None:
            return handler(request)
        with self._changed:
            attachment = self._api.attachment(request)
            if attachment is not None:
                return attachment
            self._registry.stats["requests"] += 1
            if self._down:
                self._registry.stats["dropped"] += 1
                return None
            api = self._bot_api if BOT_ROUTE.match(request.path) else self._api
            response = self._fault() or api.handle(request)
            self._registry.touch()
            self._changed.notify_all()
            latency = self._latency
        if latency:
            self._stopping.wait(latency)
        return response

    def _fault(self) -> Response | None:
        now = self._clock()
        stats = self._registry.stats
        if now < self._ban_until:
            stats["banned"] += 1
            # A static Cloudflare page: no Via (discord.py's "not from Discord" tell), no limits.
            return Response(429, {"code": 0, "message": BAN_MESSAGE}, {"Via": ""})
        if now < self._global_until:
            stats["rate_limited"]["global"] += 1
            retry = self._global_until - now
            headers = {
                "X-RateLimit-Global": "true",
                "X-RateLimit-Scope": "global",
                "Retry-After": retry_after_header(retry),
            }
            return Response(429, {"message": USER_MESSAGE, "retry_after": round(retry, 3), "global": True}, headers)
        if self._fail:
            status = self._fail.pop(0)
            stats["faults"] += 1
            return Response(status, {"message": f"{status}: {HTTPStatus(status).phrase}", "code": 0})
        return None
