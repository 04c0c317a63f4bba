"""Counters of what the exporter did and, above all, of what it lost.

Like sentry-python's client reports, every drop is counted under a reason from a
fixed vocabulary, and the drops not yet shown to anyone are swapped out and
reported in the next Discord message ("⚠️ 1,234 notices dropped (queue full)").
``guard()`` keeps our own bugs out of the instrumented application.
"""

from __future__ import annotations

import enum
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final

from otel_discord.health.log import get_logger


class DropReason(str, enum.Enum):
    """Why a notice never reached Discord (the ``reason`` of ``Stats.record_drop``)."""

    QUEUE_OVERFLOW = "queue_overflow"  # the delivery queue was full
    WEBHOOK_DISABLED = "webhook_disabled"  # Discord said the webhook is gone or its token is wrong
    INVALID_PAYLOAD = "invalid_payload"  # Discord rejected this very embed (400/413)
    SHUTDOWN_TIMEOUT = "shutdown_timeout"  # still queued when shutdown's time was up
    RETRIES_EXHAUSTED = "retries_exhausted"  # an unexpected 4xx kept coming back
    UNKNOWN_CHANNEL = "unknown_channel"  # routed to a channel no exporter configured
    ENGINE_STOPPED = "engine_stopped"  # submitted after shutdown
    INTERNAL_ERROR = "internal_error"  # a bug of ours, logged with its traceback
    SPOOL_EXPIRED = "spool_expired"  # waited longer than SPOOL_MAX_AGE for Discord
    SPOOL_FULL = "spool_full"  # the oldest, beyond SPOOL_MAX_ROWS waiting
    SPOOL_UNREADABLE = "spool_unreadable"  # a spool row that no longer decodes (damaged or foreign)


DROP_REASONS: Final = frozenset(reason.value for reason in DropReason)

#: How each reason reads in the "notices dropped" note posted to Discord.
DROP_LABELS: Final[Mapping[str, str]] = {
    DropReason.QUEUE_OVERFLOW.value: "queue full",
    DropReason.WEBHOOK_DISABLED.value: "webhook disabled",
    DropReason.INVALID_PAYLOAD.value: "rejected by Discord",
    DropReason.SHUTDOWN_TIMEOUT.value: "shutdown",
    DropReason.RETRIES_EXHAUSTED.value: "delivery failed",
    DropReason.UNKNOWN_CHANNEL.value: "unknown channel",
    DropReason.ENGINE_STOPPED.value: "exporter stopped",
    DropReason.INTERNAL_ERROR.value: "internal error",
    DropReason.SPOOL_EXPIRED.value: "too old",
    DropReason.SPOOL_FULL.value: "spool full",
    DropReason.SPOOL_UNREADABLE.value: "unreadable spool row",
}

_DROP_PREFIX: Final = "dropped."


_logger = get_logger(__name__)


class Stats:
    """Thread-safe counters (``incr``) and drops by reason (``record_drop``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self._drops: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        self._warned_reasons: set[str] = set()

    def incr(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name`` (sent_messages, sent_embeds, retries, http_429, ...)."""
        with self._lock:
            self._counters[name] += n

    def record_drop(self, reason: str | DropReason, n: int = 1) -> None:
        """Count ``n`` notices lost for ``reason``; they show up in the next message's note."""
        key = reason.value if isinstance(reason, DropReason) else str(reason)
        if n <= 0:
            return
        with self._lock:
            self._drops[key] += n
            self._unreported[key] += n
            unknown = key not in DROP_REASONS and key not in self._warned_reasons
            if unknown:
                self._warned_reasons.add(key)
        if unknown:
            # Still counted: losing the number would be worse than an odd label.
            _logger.warning("drop reason %r is not one of %s", key, sorted(DROP_REASONS))

    def snapshot(self) -> dict[str, int]:
        """All counters, plus ``dropped.<reason>`` and their total ``dropped``."""
        with self._lock:
            result = dict(self._counters)
            result.update({_DROP_PREFIX + reason: n for reason, n in self._drops.items()})
            result["dropped"] = sum(self._drops.values())
            return result

    def dropped(self, reason: str | DropReason | None = None) -> int:
        """Notices dropped for ``reason`` (all reasons when None) since the process started."""
        with self._lock:
            if reason is None:
                return sum(self._drops.values())
            return self._drops[reason.value if isinstance(reason, DropReason) else reason]

    def take_unreported_drops(self) -> int:
        """Swap out and return the count of drops not yet reported."""
        with self._lock:
            total = sum(self._unreported.values())
            self._unreported.clear()
            return total

    def peek_unreported_drops(self) -> dict[str, int]:
        """Drops not yet reported, by reason, left in place (see ``mark_reported``)."""
        with self._lock:
            return {reason: n for reason, n in self._unreported.items() if n > 0}

    def mark_reported(self, counts: Mapping[str, int]) -> None:
        """Take ``counts`` off the unreported drops once a message showing them was delivered.

        Peek-then-mark rather than take: if the message carrying the note fails,
        the count stays for the next one; drops recorded meanwhile are kept.
        """
        with self._lock:
            for reason, n in counts.items():
                self._unreported[reason] = max(0, self._unreported[reason] - n)

    def reset(self) -> None:
        """Start from zero with a new lock (a forked child counts its own work)."""
        self._lock = threading.Lock()
        self._counters = Counter()
        self._drops = Counter()
        self._unreported = Counter()


def format_drops(counts: Mapping[str, int]) -> str:
    """The note for Discord: ``⚠️ 1,234 notices dropped (queue full)``; "" when nothing was dropped."""
    total = sum(counts.values())
    if total <= 0:
        return ""
    noun = "notice" if total == 1 else "notices"
    parts = sorted(((n, reason) for reason, n in counts.items() if n > 0), reverse=True)
    if len(parts) == 1:
        detail = DROP_LABELS.get(parts[0][1], parts[0][1].replace("_", " "))
    else:
        detail = ", ".join(f"{n:,} {DROP_LABELS.get(reason, reason.replace('_', ' '))}" for n, reason in parts)
    return f"⚠️ {total:,} {noun} dropped ({detail})"


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Log any exception raised inside with its traceback, and swallow it.

    Our code runs inside someone else's application (the SDK's export thread, our
    worker); a bug of ours must cost a log line, never their request.
    """
    try:
        yield
    except Exception:
        _logger.error("internal error while %s (otel-discord keeps running)", what, exc_info=True)
