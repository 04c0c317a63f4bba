"""Suspicious activity in the stream of business events: duplicate entries, repeated failed logins.

Each detector keeps a little state per key (a client and amount, an address) in
a bounded, insertion-ordered map, and is told the time of each event (``at``,
unix seconds) instead of reading a clock, so tests are tables. Each finding is
reported once: not again for the same key until its window has passed.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict, deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from otel_discord.detect.money import currency_code, to_decimal
from otel_discord.notice import Category, Severity

CAPACITY: Final = 4096  # keys remembered per detector; the oldest are forgotten first
DUPLICATE_EVENT: Final = "suspicious.duplicate_entry"
FAILED_LOGINS_EVENT: Final = "suspicious.failed_logins"
LOGIN_FAILED: Final = "auth.login_failed"
_SPACES: Final = re.compile(r"\s+")
_CENT: Final = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Finding:
    """Something suspicious: rendered like a business event named ``event_name``."""

    event_name: str
    attributes: Mapping[str, Any]
    severity: Severity
    category: Category = Category.SECURITY


class _Recent:
    """Keys with their state, oldest first, at most ``capacity`` of them."""

    def __init__(self, capacity: int) -> None:
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._capacity = capacity

    def get(self, key: Hashable) -> Any:
        return self._data.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self._capacity:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


@dataclass(slots=True)
class _Entry:
    at: float
    number: Any
    alerted_at: float | None = None


class DuplicateEntries:
    """Two ``<entity>.created`` events for the same client and amount within ``window`` seconds."""

    def __init__(self, window: float, capacity: int = CAPACITY) -> None:
        self.window = window
        self._seen = _Recent(capacity)

    def observe(self, event_name: str, attributes: Mapping[str, Any], at: float) -> Finding | None:
        if self.window <= 0 or not event_name.endswith(".created"):
            return None
        entity = event_name.split(".", 1)[0]
        client = attributes.get(f"{entity}.client")
        amount = to_decimal(attributes.get(f"{entity}.amount"))
        if not isinstance(client, str) or not client.strip() or amount is None:
            return None
        currency = currency_code(attributes.get(f"{entity}.currency"))
        key = (entity, _SPACES.sub(" ", client).strip().casefold(), amount.quantize(_CENT), currency)
        number = attributes.get(f"{entity}.number")
        previous: _Entry | None = self._seen.get(key)
        entry = _Entry(at, number)
        finding = None
        if previous is not None and 0 <= at - previous.at <= self.window:
            entry.alerted_at = previous.alerted_at
            if previous.alerted_at is None or at - previous.alerted_at > self.window:
                entry.alerted_at = at
                finding = Finding(
                    DUPLICATE_EVENT,
                    {
                        "suspicious.kind": "duplicate_entry",
                        "event.entity": entity,
                        "duplicate.number": number,
                        "duplicate.previous_number": previous.number,
                        "duplicate.client": client,
                        "duplicate.amount": float(amount),
                        "duplicate.currency": currency,
                        "duplicate.seconds_apart": round(at - previous.at, 3),
                        "duplicate.window_seconds": self.window,
                    },
                    Severity.WARNING,
                )
        self._seen.put(key, entry)
        return finding


@dataclass(slots=True)
class _Failures:
    times: deque[float]
    users: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    quiet_until: float = float("-inf")


class FailedLogins:
    """``limit`` ``auth.login_failed`` events from one address within ``window`` seconds."""

    def __init__(self, limit: int, window: float, capacity: int = CAPACITY) -> None:
        self.limit = limit
        self.window = window
        self._by_address = _Recent(capacity)

    def observe(self, event_name: str, attributes: Mapping[str, Any], at: float) -> Finding | None:
        if event_name != LOGIN_FAILED or self.limit <= 0 or self.window <= 0:
            return None
        raw = attributes.get("client.address")
        address = str(raw) if raw not in (None, "") else "unknown"
        state: _Failures | None = self._by_address.get(address)
        if state is None:
            state = _Failures(deque(maxlen=self.limit))
        user = attributes.get("user.name") or attributes.get("enduser.id")
        if user and str(user) not in state.users:
            state.users.append(str(user)[:64])
        state.times.append(at)
        self._by_address.put(address, state)
        if at < state.quiet_until:
            return None
        while state.times and state.times[0] < at - self.window:
            state.times.popleft()
        if len(state.times) < self.limit:
            return None
        state.quiet_until = at + self.window
        state.times.clear()
        return Finding(
            FAILED_LOGINS_EVENT,
            {
                "suspicious.kind": "failed_logins",
                "client.address": address,
                "auth.failures": self.limit,
                "auth.window_seconds": self.window,
                "auth.usernames": ", ".join(state.users),
            },
            Severity.ERROR,
        )


class SuspiciousActivity:
    """Every detector of this module behind one thread-safe ``observe``."""

    def __init__(self, *, duplicate_window: float, failed_login_limit: int, failed_login_window: float) -> None:
        self._lock = threading.Lock()
        self.duplicates = DuplicateEntries(duplicate_window)
        self.failed_logins = FailedLogins(failed_login_limit, failed_login_window)

    def observe(self, event_name: str, attributes: Mapping[str, Any], at: float) -> list[Finding]:
        """Findings triggered by this event (usually none)."""
        with self._lock:
            found = (
                self.duplicates.observe(event_name, attributes, at),
                self.failed_logins.observe(event_name, attributes, at),
            )
        return [finding for finding in found if finding is not None]
