"""HTTP to one Discord webhook: execute (POST), edit (PATCH), info (GET).

Every call returns an ``Outcome`` value and never raises, so the engine decides
what a failure means. Two safety rules hold for every request:

* OpenTelemetry instrumentation is suppressed around it. With
  opentelemetry-instrumentation-requests installed, a webhook POST would
  otherwise become a CLIENT span whose ``http.url`` carries the token, exported
  to wherever the app sends its traces (and, for a failing POST, maybe back to
  Discord: a feedback loop).
* The token appears in no error text: messages pass through ``redact``.
"""

from __future__ import annotations

import json as _json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

import requests
from opentelemetry import context as otel_context

from otel_discord.config.webhook_url import WebhookURL, redact
from otel_discord.health.log import REDACT_FILTER, get_logger
from otel_discord.version import PROJECT_URL, __version__

_logger = get_logger(__name__)

#: urllib3 logs each request line (path and all: the token) at DEBUG, and retries at
#: WARNING, on these loggers of the *application's* tree; an app that turns DEBUG on
#: would print webhook tokens. A logger's filter only sees its own records, hence each.
_URLLIB3_LOGGERS: Final = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager")
for _name in _URLLIB3_LOGGERS:
    logging.getLogger(_name).addFilter(REDACT_FILTER)  # idempotent; costs nothing below DEBUG

USER_AGENT: Final = f"DiscordBot ({PROJECT_URL}, {__version__})"
#: Hostile or buggy Retry-After values are clamped to this (urllib3 does the same).
RETRY_AFTER_MAX: Final = 3600.0
#: Discord's JSON error codes meaning "this webhook will never work again".
WEBHOOK_GONE_CODES: Final = frozenset({10015, 50027})  # Unknown Webhook, Invalid Webhook Token
_UNKNOWN_MESSAGE: Final = 10008  # a 404 on an edit: the message is gone, not the webhook

# A File is (filename, content, content type).
File = tuple[str, bytes, str]


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one request came back with. ``status`` None means no HTTP response at all.

    ``headers`` keys are lower-case. ``error`` is a token-free description of any
    failure (network error or non-2xx status), None on success.
    """

    status: int | None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        lowered = MappingProxyType({str(k).lower(): str(v) for k, v in self.headers.items()})
        object.__setattr__(self, "headers", lowered)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def retry_after(self) -> float | None:
        """Seconds Discord asks us to wait: the larger of body ``retry_after`` and ``Retry-After``.

        Discord's header is whole seconds, the body has milliseconds; either may be
        missing (a Cloudflare ban has neither).
        """
        values = [_float(self.header("retry-after"))]
        if isinstance(self.json, Mapping):
            values.append(_float(self.json.get("retry_after")))
        present = [v for v in values if v is not None]
        return min(RETRY_AFTER_MAX, max(0.0, *present)) if present else None

    @property
    def discord_code(self) -> int | None:
        """Discord's JSON error ``code`` (10015, 50035, ...), or None."""
        code = self.json.get("code") if isinstance(self.json, Mapping) else None
        return code if isinstance(code, int) and not isinstance(code, bool) else None

    @property
    def discord_message(self) -> str | None:
        message = self.json.get("message") if isinstance(self.json, Mapping) else None
        return redact(message) if isinstance(message, str) else None

    @property
    def has_rate_limit_headers(self) -> bool:
        return any(name.startswith("x-ratelimit-") for name in self.headers)

    @property
    def is_ban(self) -> bool:
        """A 429 from Cloudflare rather than Discord's limiter: an IP ban, back off for minutes.

        It carries no ``X-RateLimit-*`` headers, or a body with ``code`` 0
        (discord-api-docs#5810).
        """
        return self.status == 429 and (not self.has_rate_limit_headers or self.discord_code == 0)

    @property
    def is_global(self) -> bool:
        body_global = isinstance(self.json, Mapping) and self.json.get("global") is True
        header = (self.header("x-ratelimit-global") or "").lower() == "true"
        return body_global or header or (self.header("x-ratelimit-scope") or "").lower() == "global"

    @property
    def scope(self) -> str | None:
        """``X-RateLimit-Scope`` of a 429: user, global or shared."""
        scope = self.header("x-ratelimit-scope")
        return scope.lower() if scope else None

    @property
    def webhook_gone(self) -> bool:
        """Discord says this webhook will never accept anything again (deleted or bad token).

        401/403/404 with Unknown Webhook or Invalid Webhook Token; also any 401 and
        any 404, since Discord asks clients to stop using a webhook that returned
        404 (repeats lead to an IP ban, discord-api-docs rate-limits page), except
        404 Unknown Message, which an edit of a deleted message gets.
        """
        if self.status in (401, 403, 404) and self.discord_code in WEBHOOK_GONE_CODES:
            return True
        return self.status == 401 or (self.status == 404 and self.discord_code != _UNKNOWN_MESSAGE)

    def describe(self) -> str:
        """One line for logs: status, Discord's message and code, and the first form errors."""
        if self.status is None:
            return self.error or "no response"
        parts = [f"HTTP {self.status}"]
        if self.discord_message:
            parts.append(self.discord_message)
        if self.discord_code is not None:
            parts.append(f"(code {self.discord_code})")
        problems = list(_form_errors(self.json.get("errors") if isinstance(self.json, Mapping) else None))
        if problems:
            shown = "; ".join(problems[:5]) + ("; …" if len(problems) > 5 else "")
            parts.append(f"— {shown}")
        return redact(" ".join(parts))


def _form_errors(tree: Any, path: str = "") -> Iterator[str]:
    """Flatten Discord's nested ``errors`` tree into ``embeds.0.fields.1.value: Must be …``."""
    if not isinstance(tree, Mapping):
        return
    for key, value in tree.items():
        if key == "_errors" and isinstance(value, list):
            for item in value:
                message = item.get("message") if isinstance(item, Mapping) else None
                yield f"{path or 'request'}: {message or item}"
        else:
            yield from _form_errors(value, f"{path}.{key}" if path else str(key))


@contextmanager
def instrumentation_suppressed() -> Iterator[None]:
    # Both keys: older requests instrumentations check only the generic one, newer
    # ones also honour the HTTP-specific one.
    ctx = otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
    ctx = otel_context.set_value(otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, ctx)
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


class WebhookClient:
    """Sends requests to webhooks over one ``requests.Session`` per process.

    The session is created lazily and again in a forked child: a gunicorn worker
    must not share the master's pooled sockets.
    """

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"WebhookClient(timeout={self.timeout})"

    def execute(self, webhook: WebhookURL, payload: dict[str, Any], *, files: Sequence[File] | None = None) -> Outcome:
        """POST a message with ``?wait=true`` (so failures are reported and the message id returned)."""
        params = {"wait": "true"}
        if webhook.thread_id:
            params["thread_id"] = webhook.thread_id
        if files:
            multipart = {f"files[{i}]": (name, data, ctype) for i, (name, data, ctype) in enumerate(files)}
            form = {"payload_json": _json.dumps(payload, ensure_ascii=False)}
            return self._request("POST", webhook.api_url, params=params, data=form, files=multipart)
        return self._request("POST", webhook.api_url, params=params, json=payload)

    def edit(self, webhook: WebhookURL, message_id: str, payload: dict[str, Any]) -> Outcome:
        """PATCH a message this webhook sent earlier."""
        params = {"thread_id": webhook.thread_id} if webhook.thread_id else {}
        if not str(message_id).isdigit():
            return Outcome(None, error=f"invalid message id {str(message_id)[:40]!r}")
        return self._request("PATCH", webhook.message_url(str(message_id)), params=params, json=payload)

    def info(self, webhook: WebhookURL) -> Outcome:
        """GET the webhook object (``channel_id``, ``guild_id``, ``name``), without its token.

        Discord returns the token (and a ``url`` holding it) in this object; an
        Outcome is a value that may end up in a log or a repr, so both go.
        """
        outcome = self._request("GET", webhook.api_url)
        if isinstance(outcome.json, Mapping) and ("token" in outcome.json or "url" in outcome.json):
            scrubbed = {key: value for key, value in outcome.json.items() if key not in ("token", "url")}
            return Outcome(outcome.status, scrubbed, outcome.headers, outcome.error)
        return outcome

    def close(self) -> None:
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception:  # closing is best effort
                _logger.debug("closing the HTTP session failed", exc_info=True)

    def _get_session(self) -> requests.Session:
        if self._pid != os.getpid():
            # Forked: the parent's lock may be held by a thread that no longer exists
            # here, and its pooled sockets belong to the parent.
            self._lock = threading.Lock()
            self._session = None
            self._pid = os.getpid()
        with self._lock:
            if self._session is None:
                session = requests.Session()
                session.headers["User-Agent"] = USER_AGENT
                session.verify = True
                self._session = session
            return self._session

    def _request(self, method: str, url: str, **kwargs: Any) -> Outcome:
        try:
            session = self._get_session()
            with instrumentation_suppressed():
                response = session.request(
                    method,
                    url,
                    timeout=self.timeout,
                    verify=True,  # never configurable: the URL is the credential
                    allow_redirects=False,  # a redirect would re-send the payload somewhere else
                    **kwargs,
                )
                body = response.content
            return outcome_of(response.status_code, response.headers, body)
        except requests.Timeout:
            return Outcome(None, error=f"no answer within {self.timeout:g} s")
        except requests.ConnectionError as exc:
            return Outcome(None, error=f"connection failed: {short_reason(exc)}")
        except Exception as exc:  # the contract is "never raises"
            return Outcome(None, error=f"{type(exc).__name__}: {short_reason(exc)}")


def short_reason(exc: BaseException) -> str:
    return redact(str(exc))[:300]


def outcome_of(status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
    data: Any = None
    if body:
        try:
            data = _json.loads(body)
        except ValueError:
            data = None  # Cloudflare's HTML pages; status and headers say enough
    outcome = Outcome(status, data, headers)
    if not outcome.ok:
        return Outcome(status, data, outcome.headers, outcome.describe())
    return outcome
