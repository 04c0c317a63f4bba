"""Minimum level per channel and per category.

Config::

    filters:
      min_level:
        channels: {system-debug: info}      # below this, not posted to that channel
        categories: {performance: warning}  # below this, not posted anywhere
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from otel_discord.config.files import check_keys, config_error, mapping
from otel_discord.config.parse import channel_name
from otel_discord.notice import Category, Notice, Severity
from otel_discord.route.match import parse_category, parse_level


class LevelFilter:
    """Reject notices below a channel's or a category's minimum level."""

    def __init__(self, channels: Mapping[str, Severity], categories: Mapping[Category, Severity]) -> None:
        self.channels = dict(channels)
        self.categories = dict(categories)

    def __call__(self, notice: Notice, channel: str) -> str | None:
        floor = self.categories.get(notice.category)
        if floor is not None and notice.severity < floor:
            return "below_category_level"
        floor = self.channels.get(channel)
        if floor is not None and notice.severity < floor:
            return "below_channel_level"
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "channels": {name: level.name.lower() for name, level in self.channels.items()},
            "categories": {c.value.lower(): level.name.lower() for c, level in self.categories.items()},
        }


def parse_level_filter(raw: Any, configured: Sequence[str], path: str = "filters.min_level") -> LevelFilter:
    spec = mapping(raw, path)
    check_keys(spec, ("channels", "categories"), path)
    channels: dict[str, Severity] = {}
    for name, level in mapping(spec.get("channels"), f"{path}.channels").items():
        where = f"{path}.channels.{name}"
        channel = channel_name(name)
        if channel not in configured:
            raise config_error(where, f"unknown channel {channel!r} (configured: {', '.join(configured)})")
        channels[channel] = parse_level(level, where)
    categories = {
        parse_category(name, f"{path}.categories.{name}"): parse_level(level, f"{path}.categories.{name}")
        for name, level in mapping(spec.get("categories"), f"{path}.categories").items()
    }
    return LevelFilter(channels, categories)
