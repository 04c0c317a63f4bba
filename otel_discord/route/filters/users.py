"""The user watch list (always posted) and ignore list (never posted).

Config::

    filters:
      users:
        watch: [anna]             # bypasses every other filter
        ignore: ["uptime-*"]      # e.g. a monitoring account

Users are read from ``enduser.id`` and ``user.name``; entries are globs,
compared case-insensitively. A user on both lists is a configuration error.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, Final

from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.notice import Notice

USER_ATTRIBUTES: Final = ("enduser.id", "user.name")


def users_of(attributes: Mapping[str, Any]) -> list[str]:
    return [str(attributes[key]).strip().lower() for key in USER_ATTRIBUTES if attributes.get(key) not in (None, "")]


class UserFilter:
    def __init__(self, watch: tuple[str, ...] = (), ignore: tuple[str, ...] = ()) -> None:
        self.watch = watch
        self.ignore = ignore

    def watched(self, notice: Notice) -> bool:
        """True when the notice is about a watched user: it skips the other filters."""
        return bool(self.watch) and any(
            fnmatchcase(user, glob) for user in users_of(notice.attributes) for glob in self.watch
        )

    def __call__(self, notice: Notice, channel: str) -> str | None:
        if self.ignore and any(fnmatchcase(u, glob) for u in users_of(notice.attributes) for glob in self.ignore):
            return "user_ignored"
        return None

    def describe(self) -> dict[str, Any]:
        return {"watch": list(self.watch), "ignore": list(self.ignore)}


def _names(raw: Any, path: str) -> tuple[str, ...]:
    names = []
    for i, item in enumerate(as_list(raw)):
        if isinstance(item, (dict, list)) or item is None or not str(item).strip():
            raise config_error(f"{path}[{i}]", f"must be a user name or id, got {item!r}")
        names.append(str(item).strip().lower())
    return tuple(names)


def parse_user_filter(raw: Any, path: str = "filters.users") -> UserFilter:
    spec = mapping(raw, path)
    check_keys(spec, ("watch", "ignore"), path)
    watch = _names(spec.get("watch"), f"{path}.watch")
    ignore = _names(spec.get("ignore"), f"{path}.ignore")
    both = sorted(set(watch) & set(ignore))
    if both:
        raise config_error(path, f"{', '.join(both)} cannot be on both the watch and the ignore list")
    return UserFilter(watch, ignore)
