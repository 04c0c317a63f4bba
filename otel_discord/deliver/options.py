"""The delivery engine's own settings (spool, grouping, replay, reload), read through ``Settings.lookup``.

Same precedence as every setting: ``OTEL_EXPORTER_DISCORD_<SIGNAL>_<NAME>`` →
``OTEL_EXPORTER_DISCORD_<NAME>`` → the config file's ``<name>`` key → default.
The engine is built inside an exporter's constructor, where a raise would
disable all instrumentation: a bad value logs one ERROR naming the setting and
the default is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from otel_discord.config import ConfigError, Settings, parse_bool, parse_int_positive
from otel_discord.config.parse import parse_duration, parse_positive_duration
from otel_discord.group import DEFAULT_EDIT_INTERVAL, DEFAULT_WINDOW
from otel_discord.health.log import get_logger

_logger = get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class DeliveryOptions:
    """Resolved settings of the spool, grouping, replay and reload (see docs/readme/reliability.md)."""

    spool: bool = True  # SPOOL: false keeps everything in memory (lost on restart)
    spool_max_age: float = 86400.0  # SPOOL_MAX_AGE
    spool_max_rows: int = 10_000  # SPOOL_MAX_ROWS
    replay_collapse_after: float = 300.0  # REPLAY_COLLAPSE_AFTER
    group_window: float = DEFAULT_WINDOW  # GROUP_WINDOW
    group_edit_interval: float = DEFAULT_EDIT_INTERVAL  # GROUP_EDIT_INTERVAL
    reload_interval: float = 5.0  # RELOAD_INTERVAL: 0 turns file/environment polling off
    channel_limit: int = 30  # CHANNEL_LIMIT: messages per CHANNEL_WINDOW into one Discord channel
    channel_window: float = 60.0  # CHANNEL_WINDOW (Discord's hidden per-channel limit: 30 per 60 s)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryOptions:
        defaults = cls()

        def get(name: str, parse: Callable[[Any], T], default: T) -> T:
            try:
                return settings.lookup(name, parse, default)
            except ConfigError as exc:
                _logger.error("ignoring an invalid setting, using %r instead: %s", default, exc)
                return default

        return cls(
            spool=get("SPOOL", parse_bool, defaults.spool),
            spool_max_age=get("SPOOL_MAX_AGE", parse_positive_duration, defaults.spool_max_age),
            spool_max_rows=get("SPOOL_MAX_ROWS", parse_int_positive, defaults.spool_max_rows),
            replay_collapse_after=get("REPLAY_COLLAPSE_AFTER", parse_positive_duration, defaults.replay_collapse_after),
            group_window=get("GROUP_WINDOW", parse_positive_duration, defaults.group_window),
            group_edit_interval=get("GROUP_EDIT_INTERVAL", parse_duration, defaults.group_edit_interval),
            reload_interval=get("RELOAD_INTERVAL", parse_duration, defaults.reload_interval),
            channel_limit=get("CHANNEL_LIMIT", parse_int_positive, defaults.channel_limit),
            channel_window=get("CHANNEL_WINDOW", parse_positive_duration, defaults.channel_window),
        )
