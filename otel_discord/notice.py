"""The one type that flows detect → route → group → render: a ``Notice``.

A notice is what a person should see: something went wrong, something was slow,
something important happened. It carries no Discord specifics (render does that)
and no delivery state (deliver does that).
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

#: Discord's message flag for "deliver silently" (no push, no sound). The one definition:
#: routing decides it (quiet hours, severity), render and the testing server read it.
SUPPRESS_NOTIFICATIONS: Final = 1 << 12


class Severity(enum.IntEnum):
    """How much a notice matters; ordered so filters can compare (``>= WARNING``)."""

    DEBUG = 10
    INFO = 20
    SUCCESS = 25
    WARNING = 30
    ERROR = 40
    CRITICAL = 50

    @classmethod
    def parse(cls, value: str | int | Severity) -> Severity:
        """Read a level from config: a name (``"warning"``, ``"WARN"``) or a number."""
        if isinstance(value, Severity):
            return value
        if isinstance(value, int):
            return cls(value)
        name = str(value).strip().upper()
        aliases = {"WARN": "WARNING", "FATAL": "CRITICAL", "ERR": "ERROR"}
        name = aliases.get(name, name)
        try:
            return cls[name]
        except KeyError:
            valid = ", ".join(level.name.lower() for level in cls)
            raise ValueError(f"unknown level {value!r} (expected one of: {valid})") from None


class Category(str, enum.Enum):
    """What a notice is about; each has an emoji and usually a channel."""

    INVOICE = "INVOICE"
    PAYMENT = "PAYMENT"
    BTW = "BTW"
    IMPORT = "IMPORT"
    EXPORT = "EXPORT"
    USER = "USER"
    SYSTEM = "SYSTEM"
    ERROR = "ERROR"
    SECURITY = "SECURITY"
    PERFORMANCE = "PERFORMANCE"

    @classmethod
    def parse(cls, value: str | Category) -> Category:
        """Read a category from config, case-insensitively."""
        if isinstance(value, Category):
            return value
        try:
            return cls(str(value).strip().upper())
        except ValueError:
            valid = ", ".join(c.value.lower() for c in cls)
            raise ValueError(f"unknown category {value!r} (expected one of: {valid})") from None


class Kind(str, enum.Enum):
    """Which detector made the notice; render picks a layout by it."""

    ERROR = "error"
    SLOW_QUERY = "slow_query"
    SLOW_REQUEST = "slow_request"
    EVENT = "event"
    SUMMARY = "summary"
    SYSTEM = "system"
    THRESHOLD = "threshold"
    DIGEST = "digest"


@dataclass(frozen=True, slots=True)
class Field:
    """One name/value pair shown in the embed's field grid (untrusted text; render escapes it)."""

    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True, slots=True)
class Notice:
    """Something worth a Discord message, independent of how it will look.

    Text fields hold raw, untrusted text: render escapes, masks and truncates.
    ``attributes`` keeps the original telemetry attributes for routing filters.
    """

    kind: Kind
    severity: Severity
    category: Category
    title: str
    description: str = ""
    fields: tuple[Field, ...] = ()
    code: str | None = None  # a stack trace or SQL statement, shown in a code block
    code_language: str = ""  # "py", "sql", ...
    url: str | None = None  # where the title links to (invoice page, trace)
    attributes: Mapping[str, Any] = field(default_factory=dict)
    fingerprint: str = ""  # same fingerprint → same group (see group.py)
    event_name: str | None = None
    trace_id: str | None = None  # 32 lowercase hex digits
    span_id: str | None = None  # 16 lowercase hex digits
    service: str | None = None
    environment: str | None = None
    host: str | None = None
    signal: str = "traces"  # traces | logs | metrics | internal
    timestamp: float = field(default_factory=time.time)  # unix seconds of the occurrence
    count: int = 1  # occurrences folded into this notice
    first_seen: float | None = None
    channel: str | None = None  # set by routing
    mention: str | None = None  # role/user mention for the message content, set by routing

    def replace(self, **changes: Any) -> Notice:
        """Return a copy with some fields changed (notices are immutable)."""
        return dataclasses.replace(self, **changes)


# The sign of each level and category: in embed titles (render) and digest lines (route) alike.
SEVERITY_EMOJI: Final[dict[Severity, str]] = {
    Severity.DEBUG: "🔍",
    Severity.INFO: "📘",
    Severity.SUCCESS: "✅",
    Severity.WARNING: "⚠️",
    Severity.ERROR: "🔴",
    Severity.CRITICAL: "💥",
}

CATEGORY_EMOJI: Final[dict[Category, str]] = {
    Category.INVOICE: "📄",
    Category.PAYMENT: "💳",
    Category.BTW: "🏛️",
    Category.IMPORT: "📥",
    Category.EXPORT: "📤",
    Category.USER: "👤",
    Category.SYSTEM: "⚙️",
    Category.ERROR: "🚨",
    Category.SECURITY: "🔒",
    Category.PERFORMANCE: "📊",
}
