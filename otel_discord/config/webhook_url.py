"""Parse, normalise and hide Discord webhook URLs.

The URL *is* the credential: anyone holding it can post and edit. So the token
lives only inside ``WebhookURL`` and every textual form of it (``str``, ``repr``,
error messages) shows ``id/****``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qs, urlsplit

from otel_discord.health.scrub import redact as redact  # re-exported: older imports

DISCORD_HOSTS: Final = frozenset(
    {"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com", "www.discord.com"}
)
_PATH = re.compile(r"^/api(?:/v\d{1,2})?/webhooks/(?P<id>\d{1,20})/(?P<token>[A-Za-z0-9._-]+)/?$")
_LOOSE_ID = re.compile(r"(?i)webhooks?/+\s*(\d+)")


def describe(raw: str) -> str:
    """What a refused value looks like, without the value: host, id and the token's length.

    Used instead of echoing the setting, whatever its shape (a bare token, a
    mistyped URL, prose such as ``discord webhook <token>``): the length and the
    host are enough to spot a truncated paste or the wrong variable.
    """
    text = raw.strip()
    facts: list[str] = []
    host = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/\s:?#@]+)", text)
    if host:
        facts.append(f"host {host[1].lower()}")
    found = _LOOSE_ID.search(text)
    if found:
        facts.append(f"id {found[1]}")
        tail = text[found.end() :].lstrip(" /")
    elif host:
        tail = text[host.end() :].rstrip("/").rsplit("/", 1)[-1]
    else:
        tail = max(text.split() or [""], key=len)
    token = re.split(r"[/?#\s]", tail.strip(), maxsplit=1)[0]
    facts.append(f"token of {len(token)} characters" if token else "no token")
    hints = []
    if re.search(r"\s", text):
        hints.append("it contains a space")
    if re.search(r"/(?:api/(?:v\d+/)?)?webhooks/", text, re.IGNORECASE) and not re.search(r"/webhooks/", text):
        hints.append("the path must be lower-case /api/webhooks/")
    if re.search(r"[^A-Za-z0-9._-]", token):
        hints.append("the token has characters a Discord token never has")
    return "(" + ", ".join(facts + hints) + ")"


def is_loopback(host: str) -> bool:
    """True for localhost and 127.0.0.0/8 / ::1 literals."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebhookURL:
    """A validated webhook; ``api_url`` is the canonical ``…/api/v10/webhooks/{id}/{token}``."""

    base: str  # scheme://host[:port], e.g. https://discord.com
    webhook_id: str
    _token: str = field(repr=False)
    thread_id: str | None = None

    @property
    def api_url(self) -> str:
        """The URL to POST to. Never log this."""
        return f"{self.base}/api/v10/webhooks/{self.webhook_id}/{self._token}"

    def message_url(self, message_id: str) -> str:
        """The URL to PATCH a message this webhook sent. Never log this."""
        return f"{self.api_url}/messages/{message_id}"

    @property
    def masked(self) -> str:
        return f"{self.base}/api/v10/webhooks/{self.webhook_id}/****"

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"WebhookURL({self.masked!r})"

    @classmethod
    def parse(cls, raw: str, allowed_hosts: Iterable[str] = ()) -> WebhookURL:
        """Validate ``raw``; raise ``ValueError`` with a token-free reason.

        Discord hosts (discordapp.com, ptb., canary.) are normalised to
        https://discord.com. Other hosts must be listed in ``allowed_hosts`` as
        ``host[:port]``; plain http is accepted only for loopback hosts so a
        token never crosses a network in clear text.
        """
        text = raw.strip()
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise ValueError(f"not a valid URL {describe(text)}") from None
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError(f"not an http(s) URL {describe(text)}")
        match = _PATH.match(parts.path)
        if match is None:
            raise ValueError(
                "not a webhook URL of the form https://discord.com/api/webhooks/<id>/<token> " + describe(text)
            )
        thread = parse_qs(parts.query).get("thread_id", [None])[0]
        if thread is not None and not thread.isdigit():
            raise ValueError("thread_id in the webhook URL must be a number")
        netloc = host if port is None else f"{host}:{port}"
        allowed = {h.strip().lower() for h in allowed_hosts if h.strip()}
        if host in DISCORD_HOSTS and port in (None, 443):
            if parts.scheme != "https":
                raise ValueError("Discord webhooks must use https://")
            base = "https://discord.com"
        elif netloc in allowed or host in allowed:
            if parts.scheme == "http" and not is_loopback(host):
                raise ValueError(f"plain http:// is only allowed for loopback hosts, not {netloc}")
            base = f"{parts.scheme}://{netloc}"
        else:
            raise ValueError(
                f"host {netloc!r} is not Discord; add it to OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS to allow it"
            )
        return cls(base=base, webhook_id=match["id"], _token=match["token"], thread_id=thread)
