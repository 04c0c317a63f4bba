"""Routes: which channel(s) a notice goes to, Alertmanager style.

Routes are checked in order: the file's ``routes:`` first, then the preset's.
The first route that matches wins, unless it says ``continue: true``, in which
case later routes are checked too (one notice, several channels). A notice no
route takes goes to the default channel. A route with ``audit: true`` copies
every notice it matches, unfiltered and never grouped or digested; it does not
count as a match for the default-channel fallback.

Config::

    routes:
      - match: {category: [invoice, payment], attributes: ["invoice.amount >= 10000"]}
        channel: finance-activity
        mention: "<@&123456789012345678>"
        continue: true
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from otel_discord.config import Settings
from otel_discord.config.files import check_keys, config_error, mapping
from otel_discord.config.parse import channel_name
from otel_discord.health.log import get_logger
from otel_discord.notice import Notice
from otel_discord.route.match import Matcher, parse_matcher
from otel_discord.route.mentions import Mention, MentionRules, parse_mention, parse_mentions
from otel_discord.route.presets import Preset, resolve_preset

_logger = get_logger(__name__)

ROUTE_KEYS: Final = ("match", "channel", "mention", "continue", "audit")

_warned_lock = threading.Lock()
_warned: set[str] = set()  # log-once keys, per process


def _warn_once(key: str, message: str, *args: Any) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    _logger.warning(message, *args)


@dataclass(frozen=True, slots=True)
class Route:
    match: Matcher
    channel: str
    mention: Mention | None = None
    cont: bool = False
    audit: bool = False
    origin: str = ""  # "routes[2]" or "preset focused[1]", for doctor and errors


def _flag(raw: Any, path: str) -> bool:
    if isinstance(raw, bool):
        return raw
    raise config_error(path, f"must be true or false, got {raw!r}")


def parse_routes(raw: Any, path: str = "routes") -> list[Route]:
    """A ``routes:`` list → ``Route`` objects (channel names are not checked here)."""
    if raw is None:
        return []
    if not isinstance(raw, (list, tuple)):
        raise config_error(path, "must be a list of routes")
    routes = []
    for i, item in enumerate(raw):
        where = f"{path}[{i}]"
        spec = mapping(item, where)
        check_keys(spec, ROUTE_KEYS, where)
        if not spec.get("channel") or not isinstance(spec["channel"], str):
            raise config_error(f"{where}.channel", "every route needs a channel name")
        mention = parse_mention(spec["mention"], f"{where}.mention") if spec.get("mention") else None
        routes.append(
            Route(
                match=parse_matcher(spec.get("match"), f"{where}.match"),
                channel=channel_name(spec["channel"]),
                mention=mention,
                cont=_flag(spec.get("continue", False), f"{where}.continue"),
                audit=_flag(spec.get("audit", False), f"{where}.audit"),
                origin=where,
            )
        )
    return routes


def select(routes: Iterable[Route], notice: Notice) -> list[Route]:
    """The routes ``notice`` takes: up to and including the first matching one without ``continue``."""
    chosen = []
    for route in routes:
        if route.match(notice):
            chosen.append(route)
            if not route.cont:
                break
    return chosen


def _preset_routes(preset: Preset, configured: Sequence[str], default: str) -> list[Route]:
    """The preset's routes with missing channels sent to ``default`` (audit copies are skipped)."""
    routes = []
    missing = []
    for route in parse_routes(preset.routes, f"preset {preset.name}"):
        if route.channel in configured:
            routes.append(route)
        elif route.audit:
            _warn_once(
                f"audit:{preset.name}",
                "preset %r: channel %r is not configured; business events are kept in the local audit log only",
                preset.name,
                route.channel,
            )
        else:
            missing.append(route.channel)
            routes.append(Route(route.match, default, route.mention, route.cont, route.audit, route.origin))
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        _warn_once(
            f"missing:{preset.name}:{names}",
            "preset %r: channel(s) %s not configured; their notices go to channel %r",
            preset.name,
            names,
            default,
        )
    return routes


class Router:
    """Assign ``notice.channel`` (and ``notice.mention``); a notice may go to several channels."""

    def __init__(self, settings: Settings) -> None:
        configured = list(settings.channels)
        default = settings.default_channel
        self.default = default.name if default is not None else None
        own = parse_routes(settings.raw_file.get("routes"), "routes")
        for route in own:
            if route.channel not in settings.channels:
                raise config_error(
                    f"{route.origin}.channel",
                    f"unknown channel {route.channel!r} (configured: {', '.join(configured) or 'none'})",
                )
        self.preset = resolve_preset(settings)
        preset_routes = _preset_routes(self.preset, configured, self.default or "") if self.preset else []
        self.routes: tuple[Route, ...] = tuple(own + preset_routes)
        self.mentions: MentionRules = parse_mentions(settings.raw_file.get("mentions"))
        self.audit_channels = frozenset(route.channel for route in self.routes if route.audit)

    def __call__(self, notice: Notice) -> list[Notice]:
        chosen = select(self.routes, notice)
        targets: dict[str, tuple[Mention | None, bool]] = {}
        for route in chosen:
            mention, audit = targets.get(route.channel, (None, False))
            if not route.audit:
                mention = route.mention | mention if route.mention else mention
            targets[route.channel] = (mention, audit or route.audit)
        if not any(not route.audit for route in chosen) and self.default is not None:
            targets.setdefault(self.default, (None, False))
        routed: list[Notice] = []
        first = True
        for channel, (mention, audit) in targets.items():
            if audit:
                routed.append(notice.replace(channel=channel, fingerprint="", mention=None))
                continue
            if first:  # the mentions: section pings once, in the first channel, not in every copy
                mention = (mention or Mention()) | self.mentions(notice)
                first = False
            routed.append(notice.replace(channel=channel, mention=mention.text if mention else None))
        return routed

    def describe(self) -> list[str]:
        """One line per route, for ``otel-discord doctor``."""
        lines = []
        for route in self.routes:
            flags = [flag for flag, on in (("continue", route.cont), ("audit", route.audit)) if on]
            mention = f" ping {route.mention.text}" if route.mention else ""
            extra = f" ({', '.join(flags)})" if flags else ""
            lines.append(f"{route.origin}: {route.match.describe()} → {route.channel}{mention}{extra}")
        lines.append(f"otherwise → {self.default}")
        return lines
