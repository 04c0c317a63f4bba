"""Settings, resolved once at construction; the only reader of ``os.environ``.

Precedence, as in OpenTelemetry's own exporters:
constructor argument → ``OTEL_EXPORTER_DISCORD_<SIGNAL>_<NAME>`` →
``OTEL_EXPORTER_DISCORD_<NAME>`` → the config file → the default.

Every problem raises ``ConfigError`` (a ``ValueError``) whose message names the
setting and never contains a webhook token.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from otel_discord import environment_variables as env
from otel_discord.config.errors import ConfigError
from otel_discord.config.files import load_file
from otel_discord.config.parse import (
    FALLBACK_TIMEZONE,
    host_timezone,
    parse_bool,
    parse_channel_name,
    parse_float_positive,
    parse_int_positive,
    parse_timezone,
)
from otel_discord.config.webhook_url import WebhookURL, redact
from otel_discord.health.log import get_logger

DEFAULT_CHANNEL: Final = "default"
SIGNALS: Final = ("traces", "logs", "metrics")
_PREFIX: Final = "OTEL_EXPORTER_DISCORD_"

#: Defaults, used by ``Settings`` and by ``resolve`` alike.
DEFAULT_SLOW_QUERY_MS: Final = 500.0
DEFAULT_SLOW_REQUEST_MS: Final = 2000.0
DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_QUEUE_SIZE: Final = 10_000
DEFAULT_MASK_PII: Final = True

T = TypeVar("T")


@dataclass(frozen=True)
class Channel:
    """One Discord destination: a name the routes use, and its webhook."""

    name: str
    webhook: WebhookURL
    username: str | None = None
    avatar_url: str | None = None
    footer: str | None = None
    color: int | None = None


@dataclass(frozen=True)
class Settings:
    """Everything the pipeline needs, validated. ``raw_file`` keeps the file for later stages."""

    channels: Mapping[str, Channel]
    allowed_hosts: tuple[str, ...] = ()
    slow_query_ms: float = DEFAULT_SLOW_QUERY_MS
    slow_request_ms: float = DEFAULT_SLOW_REQUEST_MS
    timeout: float = DEFAULT_TIMEOUT
    queue_size: int = DEFAULT_QUEUE_SIZE
    trace_url: str | None = None
    spool_dir: Path = field(default_factory=lambda: default_state_dir("unknown_service"))
    username: str | None = None
    avatar_url: str | None = None
    mask_pii: bool = DEFAULT_MASK_PII
    environment: str | None = None
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(FALLBACK_TIMEZONE))  # TIMEZONE, else the host's
    app_packages: tuple[str, ...] = ()
    config_file: Path | None = None
    raw_file: Mapping[str, Any] = field(default_factory=dict, repr=False)  # holds expanded webhook URLs
    signal: str | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # OTEL_EXPORTER_DISCORD_* at resolve time

    def lookup(self, name: str, parse: Callable[[Any], T], default: T, argument: Any = None) -> T:
        """Resolve a feature's own setting with the same precedence and errors as the core ones.

        Feature modules (routing, summaries, …) declare their settings here instead
        of growing this module: ``settings.lookup("PRESET", parse_preset, "focused")``
        reads ``OTEL_EXPORTER_DISCORD_<SIGNAL>_PRESET``, ``OTEL_EXPORTER_DISCORD_PRESET``,
        then the file's ``preset`` key.
        """
        return _Resolver(self.signal, self.env, self.raw_file).get(name, argument, parse, default)

    @property
    def default_channel(self) -> Channel | None:
        return self.channels.get(DEFAULT_CHANNEL) or next(iter(self.channels.values()), None)

    def describe(self) -> dict[str, Any]:
        """The effective configuration with tokens masked (for doctor and startup logs)."""
        return {
            "channels": {name: str(ch.webhook) for name, ch in self.channels.items()},
            "allowed_hosts": list(self.allowed_hosts),
            "slow_query_ms": self.slow_query_ms,
            "slow_request_ms": self.slow_request_ms,
            "timeout": self.timeout,
            "queue_size": self.queue_size,
            "trace_url": self.trace_url,
            "spool_dir": str(self.spool_dir),
            "mask_pii": self.mask_pii,
            "timezone": self.timezone.key,
            "app_packages": list(self.app_packages),
            "config_file": str(self.config_file) if self.config_file else None,
        }


_told_fallback = False


def host_or_fallback_timezone(environ: Mapping[str, str]) -> ZoneInfo:
    """The host's zone, else UTC, said once per process (times would silently be off otherwise)."""
    global _told_fallback
    found = host_timezone(environ)
    if found is not None:
        return found
    if not _told_fallback:
        _told_fallback = True
        get_logger(__name__).info(
            "the host's time zone is unknown; using %s (set %s to change it)",
            FALLBACK_TIMEZONE,
            env.OTEL_EXPORTER_DISCORD_TIMEZONE,
        )
    return ZoneInfo(FALLBACK_TIMEZONE)


def default_state_dir(service: str | None = None) -> Path:
    """``$XDG_STATE_HOME/otel-discord`` or ``~/.local/state/otel-discord``; with ``service``, its own folder.

    The default spool is per service: two apps of one user must not share group state
    (one would edit the other's grouped messages) unless ``SPOOL_DIR`` says so.
    """
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    root = Path(base) / "otel-discord"
    if service is None:
        return root
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", service)[:80].lstrip(".") or "_"
    if safe != service:  # "my app" and "my_app" must not meet in one folder
        safe += "-" + hashlib.sha256(service.encode()).hexdigest()[:8]
    return root / safe


def service_name(environ: Mapping[str, str]) -> str:
    """``service.name`` as the SDK's resource reads it: ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``."""
    name = environ.get("OTEL_SERVICE_NAME", "").strip()
    for item in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = item.partition("=")
        if not name and key.strip() == "service.name":
            name = unquote(value.strip())
    return name or "unknown_service"


# --- parsers: each takes the text and returns a value or raises ValueError ------------


def _parse_hosts(text: Any) -> tuple[str, ...]:
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    return tuple(h.strip().lower() for h in items if str(h).strip())


def _parse_packages(text: Any) -> tuple[str, ...]:
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    names = tuple(str(item).strip() for item in items if str(item).strip())
    for name in names:  # Python, JS (@scope/name), Java/.NET (dotted) and Go (module path) names
        if not re.fullmatch(r"[A-Za-z_@][\w.@/-]*", name):
            raise ValueError(f"{name!r} is not a package name (expected e.g. shop,com.example)")
    return names


def _parse_trace_url(text: Any) -> str:
    template = str(text).strip()
    if "{trace_id}" not in template or not template.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL containing {trace_id}")
    return template


def _parse_str(text: Any) -> str:
    return str(text)


def parse_username(text: Any) -> str:
    name = str(text).strip()
    lowered = name.lower()
    if not 1 <= len(name) <= 80 or "discord" in lowered or "clyde" in lowered or lowered in ("everyone", "here"):
        raise ValueError("must be 1–80 characters and not contain 'discord' or 'clyde'")
    return name


def _parse_url(text: Any) -> str:
    url = str(text).strip()
    if not url.startswith(("http://", "https://")) or len(url) > 2048:
        raise ValueError("must be an http(s) URL of at most 2048 characters")
    return url


# --- the resolver -------------------------------------------------------------------


class _Resolver:
    """Looks one setting up through the precedence chain and names its source on error."""

    def __init__(self, signal: str | None, environ: Mapping[str, str], file_data: Mapping[str, Any]):
        self._signal = signal
        self._environ = environ
        self._file = file_data

    def get(self, name: str, argument: Any, parse: Callable[[Any], T], default: T) -> T:
        for source, raw in self._candidates(name, argument):
            try:
                return parse(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{source}: {redact(str(exc))}") from None
        return default

    def _candidates(self, name: str, argument: Any):
        if argument is not None:
            yield f"argument {name.lower()}", argument
            return
        keys = [f"{_PREFIX}{name}"]
        if self._signal:
            keys.insert(0, f"{_PREFIX}{self._signal.upper()}_{name}")
        for key in keys:
            raw = self._environ.get(key)
            if raw is not None and raw.strip() != "":
                yield key, raw
                return
        if name.lower() in self._file:
            yield f"config file key {name.lower()!r}", self._file[name.lower()]


def _parse_channel_name(name: str, source: str) -> str:
    try:
        return parse_channel_name(name)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _webhook(raw: Any, source: str, hosts: tuple[str, ...]) -> WebhookURL:
    try:
        return WebhookURL.parse(str(raw), hosts)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _resolve_channels(
    signal: str | None,
    webhook_url: str | None,
    channels_arg: Mapping[str, str] | None,
    environ: Mapping[str, str],
    file_data: Mapping[str, Any],
    hosts: tuple[str, ...],
) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    # File channels first; env and arguments replace them by name.
    file_channels = file_data.get("channels") or {}
    if not isinstance(file_channels, Mapping):
        raise ConfigError("config file key 'channels' must be a mapping of name → settings")
    for raw_name, spec in file_channels.items():
        name = _parse_channel_name(str(raw_name), f"config file channels.{raw_name}")
        where = f"config file channels.{raw_name}"
        if isinstance(spec, str):
            spec = {"webhook_url": spec}
        if not isinstance(spec, Mapping) or "webhook_url" not in spec:
            raise ConfigError(f"{where}: needs a webhook_url")
        color = spec.get("color")
        try:
            channels[name] = Channel(
                name=name,
                webhook=_webhook(spec["webhook_url"], f"{where}.webhook_url", hosts),
                username=parse_username(spec["username"]) if spec.get("username") else None,
                avatar_url=_parse_url(spec["avatar_url"]) if spec.get("avatar_url") else None,
                footer=str(spec["footer"])[:2048] if spec.get("footer") else None,
                color=int(str(color).lstrip("#"), 16) if isinstance(color, str) else color,
            )
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    prefix = f"{_PREFIX}WEBHOOK_URL_"
    for key, raw in environ.items():
        if key.startswith(prefix) and raw.strip():
            name = _parse_channel_name(key[len(prefix) :], key)
            channels[name] = Channel(name, _webhook(raw, key, hosts))
    for raw_name, raw in (channels_arg or {}).items():
        name = _parse_channel_name(raw_name, f"argument channels[{raw_name!r}]")
        channels[name] = Channel(name, _webhook(raw, f"argument channels[{raw_name!r}]", hosts))
    resolver = _Resolver(signal, environ, file_data)
    default = resolver.get("WEBHOOK_URL", webhook_url, str, None)
    if default is not None:
        source = "argument webhook_url" if webhook_url is not None else env.OTEL_EXPORTER_DISCORD_WEBHOOK_URL
        channels[DEFAULT_CHANNEL] = Channel(DEFAULT_CHANNEL, _webhook(default, source, hosts))
    return channels


def resolve(
    signal: str | None = None,
    *,
    webhook_url: str | None = None,
    channels: Mapping[str, str] | None = None,
    allowed_hosts: str | list[str] | None = None,
    slow_query_ms: float | None = None,
    slow_request_ms: float | None = None,
    timeout: float | None = None,
    queue_size: int | None = None,
    trace_url: str | None = None,
    spool_dir: str | os.PathLike[str] | None = None,
    username: str | None = None,
    avatar_url: str | None = None,
    mask_pii: bool | None = None,
    environment: str | None = None,
    timezone: str | None = None,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build ``Settings`` for one exporter (``signal`` picks the signal-specific variables)."""
    environ = os.environ if environ is None else environ
    if signal is not None and signal not in SIGNALS:
        raise ConfigError(f"signal must be one of {SIGNALS}, got {signal!r}")
    file_path = config_file if config_file is not None else environ.get(env.OTEL_EXPORTER_DISCORD_CONFIG) or None
    file_data = load_file(Path(file_path), environ) if file_path else {}
    r = _Resolver(signal, environ, file_data)
    hosts = r.get("ALLOWED_HOSTS", allowed_hosts, _parse_hosts, ())
    resolved_channels = _resolve_channels(signal, webhook_url, channels, environ, file_data, hosts)
    if not resolved_channels:
        raise ConfigError(
            f"{env.OTEL_EXPORTER_DISCORD_WEBHOOK_URL} is not set (nor any "
            f"{env.OTEL_EXPORTER_DISCORD_WEBHOOK_URL}_<CHANNEL> or channels in the config file)"
        )
    return Settings(
        channels=resolved_channels,
        allowed_hosts=hosts,
        slow_query_ms=r.get("SLOW_QUERY_MS", slow_query_ms, parse_float_positive, DEFAULT_SLOW_QUERY_MS),
        slow_request_ms=r.get("SLOW_REQUEST_MS", slow_request_ms, parse_float_positive, DEFAULT_SLOW_REQUEST_MS),
        timeout=r.get("TIMEOUT", timeout, parse_float_positive, DEFAULT_TIMEOUT),
        queue_size=r.get("QUEUE_SIZE", queue_size, parse_int_positive, DEFAULT_QUEUE_SIZE),
        trace_url=r.get("TRACE_URL", trace_url, _parse_trace_url, None),
        spool_dir=r.get(
            "SPOOL_DIR", spool_dir, lambda v: Path(os.path.expanduser(str(v))), default_state_dir(service_name(environ))
        ),
        username=r.get("USERNAME", username, parse_username, None),
        avatar_url=r.get("AVATAR_URL", avatar_url, _parse_url, None),
        mask_pii=r.get("MASK_PII", mask_pii, parse_bool, DEFAULT_MASK_PII),
        environment=r.get("ENVIRONMENT", environment, _parse_str, None),
        timezone=r.get("TIMEZONE", timezone, parse_timezone, None) or host_or_fallback_timezone(environ),
        app_packages=r.get("APP_PACKAGES", None, _parse_packages, ()),
        config_file=Path(file_path) if file_path else None,
        raw_file=file_data,
        signal=signal,
        env={k: v for k, v in environ.items() if k.startswith(_PREFIX)},
    )
