"""Filters: which routed notices are not posted (and which always are).

One module per filter, each a callable ``(notice, channel) -> reason | None``:

* ``level.py``: minimum level per channel and per category.
* ``events.py``: business event types enabled / disabled (globs).
* ``amount.py``: finance events below ``MIN_AMOUNT``; high-value transactions.
* ``users.py``: the watch list (always posted) and the ignore list.
* ``network.py``: CIDR allow / deny lists on ``client.address``.

Filters never apply to an audit channel (``audit: true`` routes). A rejected
notice is counted under ``filtered.<reason>`` in the engine's stats: it was not
lost, the configuration asked for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from otel_discord.config import Settings
from otel_discord.config.files import check_keys, mapping
from otel_discord.notice import Notice
from otel_discord.route.filters.amount import AmountFilter, parse_amount_filter
from otel_discord.route.filters.events import EventFilter, parse_event_filter
from otel_discord.route.filters.level import LevelFilter, parse_level_filter
from otel_discord.route.filters.network import NetworkFilter, parse_network_filter
from otel_discord.route.filters.users import UserFilter, parse_user_filter

FILTER_KEYS: Final = ("min_level", "events", "amount", "users", "ip")

__all__ = ["AmountFilter", "EventFilter", "FilterChain", "LevelFilter", "NetworkFilter", "UserFilter"]


class FilterChain:
    """Every configured filter, cheapest first; the watch list skips them all."""

    def __init__(
        self,
        *,
        users: UserFilter | None = None,
        network: NetworkFilter | None = None,
        events: EventFilter | None = None,
        levels: LevelFilter | None = None,
        amount: AmountFilter | None = None,
    ) -> None:
        self.users = users or UserFilter()
        self.network = network or NetworkFilter()
        self.events = events or EventFilter()
        self.levels = levels or LevelFilter({}, {})
        self.amount = amount or AmountFilter()
        self._chain = (self.users, self.network, self.events, self.amount)

    @classmethod
    def from_settings(cls, settings: Settings) -> FilterChain:
        """Read the ``filters:`` section and the amount settings; ConfigError names the bad key."""
        spec = mapping(settings.raw_file.get("filters"), "filters")
        check_keys(spec, FILTER_KEYS, "filters")
        configured: Sequence[str] = list(settings.channels)
        return cls(
            users=parse_user_filter(spec.get("users")),
            network=parse_network_filter(spec.get("ip")),
            events=parse_event_filter(spec.get("events")),
            levels=parse_level_filter(spec.get("min_level"), configured),
            amount=parse_amount_filter(settings, spec.get("amount")),
        )

    def __call__(self, notice: Notice, channel: str) -> str | None:
        """Why ``notice`` is not posted to ``channel``, or None when it is."""
        if self.users.watched(notice):
            return None
        for check in self._chain:
            reason = check(notice, channel)
            if reason:
                return reason
        if self.amount.is_high_value(notice):
            return None  # a high-value transaction is posted whatever its level
        return self.levels(notice, channel)

    def describe(self) -> dict[str, Any]:
        return {
            "min_level": self.levels.describe(),
            "events": self.events.describe(),
            "amount": self.amount.describe(),
            "users": self.users.describe(),
            "ip": self.network.describe(),
        }
