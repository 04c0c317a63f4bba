"""Business event types on or off, by event-name globs.

Config::

    filters:
      events:
        enabled: ["*"]                                # default: every event
        disabled: ["auth.logout", "auth.session_*"]   # wins over enabled

Only business events (notices with an event name) are affected; errors and
slow queries are not event types.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.notice import Notice


class EventFilter:
    """Reject business events that are disabled or not enabled."""

    def __init__(self, enabled: tuple[str, ...] = ("*",), disabled: tuple[str, ...] = ()) -> None:
        self.enabled = enabled
        self.disabled = disabled

    def __call__(self, notice: Notice, channel: str) -> str | None:
        name = (notice.event_name or "").lower()
        if not name:
            return None
        if any(fnmatchcase(name, glob) for glob in self.disabled):
            return "event_disabled"
        if not any(fnmatchcase(name, glob) for glob in self.enabled):
            return "event_not_enabled"
        return None

    def describe(self) -> dict[str, Any]:
        return {"enabled": list(self.enabled), "disabled": list(self.disabled)}


def _globs(raw: Any, path: str) -> tuple[str, ...]:
    globs = []
    for i, item in enumerate(as_list(raw)):
        if not isinstance(item, str) or not item.strip():
            raise config_error(f"{path}[{i}]", f"must be an event name or glob such as 'invoice.*', got {item!r}")
        globs.append(item.strip().lower())
    return tuple(globs)


def parse_event_filter(raw: Any, path: str = "filters.events") -> EventFilter:
    spec = mapping(raw, path)
    check_keys(spec, ("enabled", "disabled"), path)
    enabled = _globs(spec["enabled"], f"{path}.enabled") if "enabled" in spec else ("*",)
    return EventFilter(enabled, _globs(spec.get("disabled"), f"{path}.disabled"))
