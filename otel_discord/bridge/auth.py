"""Who may post to the bridge: a shared bearer token, and where the bridge may listen.

Anyone who can reach an open bridge can post to the team's channels, so the bridge takes a
shared secret that only the Collector knows (the ``otlp_http`` exporter sends it as
``Authorization: Bearer <token>`` from its ``headers``) and refuses to listen beyond
loopback without one.

Settings, resolved once by ``resolve_access`` (flag → environment variable):

* ``OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN``, or ``OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN_FILE`` /
  ``--token-file`` (a file holding it, as Docker and Kubernetes mount secrets; surrounding
  whitespace is ignored). Not both: two sources of one secret is a mistake waiting to happen.
* ``OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT`` / ``--tls-cert`` and ``…_TLS_KEY`` / ``--tls-key``:
  see ``bridge/tls.py``.

A token is at least ``MIN_TOKEN_LENGTH`` characters of RFC 6750's ``b64token`` alphabet, so
it travels in a header unchanged and is not guessable. It is compared with
``hmac.compare_digest`` (time independent of where the first wrong character is), and never
logged or echoed: messages give its length at most.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from otel_discord import environment_variables as env
from otel_discord.config import ConfigError
from otel_discord.config.webhook_url import is_loopback

__all__ = [
    "MIN_TOKEN_LENGTH",
    "Access",
    "BearerCheck",
    "RejectCounter",
    "Verdict",
    "check_exposure",
    "listens_on_loopback_only",
    "parse_token",
    "resolve_access",
]

MIN_TOKEN_LENGTH: Final = 16
MAX_TOKEN_LENGTH: Final = 4096  # a header line, not a file; bigger is a wrong file
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: How to make a good one; part of the error messages.
HOW_TO_MAKE_ONE: Final = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True)
class Access:
    """What the bridge demands of its clients. ``repr`` never shows the token."""

    token: str | None = field(default=None, repr=False)
    token_source: str | None = None  # the setting it came from, for messages
    cert_file: Path | None = None
    key_file: Path | None = None

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    def describe(self) -> str:
        """One phrase for the startup line: how clients authenticate, never the token itself."""
        auth = (
            f"bearer token required ({len(self.token)} characters, from {self.token_source})"
            if self.token
            else "no token: any local process may post"
        )
        return f"{auth}; {'TLS' if self.tls else 'plain HTTP'}"


def parse_token(text: str, source: str) -> str:
    """The token in ``text`` (surrounding whitespace removed), or a ``ConfigError`` naming ``source``."""
    token = text.strip()
    if not token:
        raise ConfigError(f"{source} is empty; make a token with {HOW_TO_MAKE_ONE}")
    if len(token) > MAX_TOKEN_LENGTH:
        raise ConfigError(
            f"{source} is {len(token)} characters long, more than {MAX_TOKEN_LENGTH}: is it the right file?"
        )
    if not _B64TOKEN.fullmatch(token):
        raise ConfigError(
            f"{source} ({len(token)} characters) may only contain letters, digits and "
            f"- . _ ~ + / (then = padding); make one with {HOW_TO_MAKE_ONE}"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"{source} is {len(token)} characters long; at least {MIN_TOKEN_LENGTH} "
            f"are needed, make one with {HOW_TO_MAKE_ONE}"
        )
    return token


def _read_token_file(path: str, source: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"{source}: cannot read {path}: {reason}") from None
    return parse_token(text, f"{source} ({path})")


def _setting(environ: Mapping[str, str], name: str) -> str | None:
    raw = environ.get(name)
    return raw if raw is not None and raw.strip() != "" else None


def resolve_access(
    environ: Mapping[str, str],
    *,
    token_file: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
) -> Access:
    """The bridge's access settings from its flags (arguments) and ``environ``; ``ConfigError`` if bad."""
    if token_file is not None:
        token, source = _read_token_file(token_file, "--token-file"), "--token-file"
    else:
        inline = _setting(environ, env.OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN)
        path = _setting(environ, env.OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN_FILE)
        if inline is not None and path is not None:
            raise ConfigError(
                f"{env.OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN} and "
                f"{env.OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN_FILE} are both set; set one"
            )
        if inline is not None:
            source = env.OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN
            token = parse_token(inline, source)
        elif path is not None:
            source = env.OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN_FILE
            token = _read_token_file(path.strip(), source)
        else:
            token, source = None, None
    cert = cert_file if cert_file is not None else _setting(environ, env.OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT)
    key = key_file if key_file is not None else _setting(environ, env.OTEL_EXPORTER_DISCORD_BRIDGE_TLS_KEY)
    if key is not None and cert is None:
        raise ConfigError(
            f"{env.OTEL_EXPORTER_DISCORD_BRIDGE_TLS_KEY} (--tls-key) is set without "
            f"{env.OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT} (--tls-cert)"
        )
    return Access(token, source, Path(cert.strip()) if cert else None, Path(key.strip()) if key else None)


def listens_on_loopback_only(host: str) -> bool:
    """True when every address ``host`` binds to is a loopback address.

    ``""``, ``0.0.0.0`` and ``::`` are every interface. A name is resolved, because a
    name such as ``gateway.internal`` binds wherever it points; one that does not resolve
    counts as exposed (the bind would fail anyway).
    """
    if not host.strip():
        return False
    if is_loopback(host):
        return True
    try:
        ipaddress.ip_address(host.strip("[]"))
        return False  # a literal that is not loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(is_loopback(str(info[4][0]).split("%", 1)[0]) for info in infos)


def check_exposure(host: str, access: Access) -> None:
    """Refuse (``ConfigError``) to listen beyond loopback without a token: anyone could post."""
    if access.token is None and not listens_on_loopback_only(host):
        raise ConfigError(
            f"refusing to listen on {host or 'every interface'} without a bearer token: anyone who can "
            f"reach it could post to your channels. Set {env.OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN} (or "
            f"{env.OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN_FILE}, or --token-file) and give the Collector the "
            "same value (OTEL_DISCORD_BRIDGE_TOKEN in collector-config.yaml), or listen on 127.0.0.1"
        )


class Verdict(enum.Enum):
    """What ``BearerCheck`` found in an ``Authorization`` header; ``OK`` lets the request in."""

    OK = "ok"
    MISSING = "no Authorization header"
    NOT_BEARER = "an Authorization header that is not a bearer token"
    EMPTY = "an empty bearer token (is OTEL_DISCORD_BRIDGE_TOKEN set where the Collector runs?)"
    WRONG = "a wrong bearer token"


class BearerCheck:
    """Decides one ``Authorization`` header against the token, in constant time."""

    __slots__ = ("_expected",)

    def __init__(self, token: str) -> None:
        self._expected = token.encode("ascii")

    def __repr__(self) -> str:
        return f"BearerCheck(<{len(self._expected)} characters>)"

    def __call__(self, header: str | None) -> Verdict:
        if header is None or not header.strip():
            return Verdict.MISSING
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer":  # RFC 7235: the scheme is case-insensitive
            return Verdict.NOT_BEARER
        presented = value.strip()
        if not presented:
            return Verdict.EMPTY
        # WSGI gives headers as latin-1 strings, so this is lossless; never raises.
        if hmac.compare_digest(presented.encode("latin-1", "replace"), self._expected):
            return Verdict.OK
        return Verdict.WRONG


class RejectCounter:
    """Counts refusals and says when one is worth a log line: the 1st, 2nd, 4th, 8th, …

    A scanner knocking all day must not flood the log, yet the first refusal (usually a
    Collector without the token) is reported at once, and the count keeps growing visibly.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self) -> int | None:
        """Count one refusal; return the running total when it should be logged, else None."""
        with self._lock:
            self.count += 1
            total = self.count
        return total if total & (total - 1) == 0 else None
