"""Process-wide observations that summaries need but that are not notices.

SQLAlchemy emits no query-count metric, and business figures come from log
records: so the detectors record what they see here (cheap, thread-safe
counters), and the metric exporter's summaries read and persist them.

After a fork the child gets a fresh lock and starts counting from zero: one reset registered with ``health/forks.py``, whose single at-fork hook runs it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from otel_discord.health import forks

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_events: list[tuple[str, dict[str, Any]]] = []
_MAX_EVENTS = 10_000  # bounded: summaries drain this every export interval


def _reset_after_fork() -> None:
    # A forked worker must not count again what its parent observed but had not drained yet
    # (the parent drains and persists its own); a lock held by a parent thread is never released.
    global _lock
    _lock = threading.Lock()
    _counts.clear()
    _events.clear()


forks.in_child(_reset_after_fork)


def count(name: str, n: int = 1) -> None:
    """Add ``n`` to a named counter, e.g. ``db.queries`` or ``db.slow_queries``."""
    with _lock:
        _counts[name] += n


def business_event(name: str, attributes: Mapping[str, Any]) -> None:
    """Remember a business event (``invoice.paid`` with its amount) for the next summary."""
    with _lock:
        if len(_events) < _MAX_EVENTS:
            _events.append((name, dict(attributes)))
        else:
            _counts["observe.events_dropped"] += 1


def drain() -> tuple[dict[str, int], list[tuple[str, dict[str, Any]]]]:
    """Take everything observed since the last drain (counters reset to zero)."""
    with _lock:
        counts, events = dict(_counts), list(_events)
        _counts.clear()
        _events.clear()
    return counts, events
