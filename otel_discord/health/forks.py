"""Process-local state across ``os.fork`` (gunicorn ``--preload``): the one at-fork hook outside deliver/.

A forked child has a single thread, the one that forked. A lock another thread of
the parent held at that moment stays locked for ever in the child, a SQLite
connection must not be used on both sides, and what the parent observed but has
not yet persisted is the parent's to report. So state that must not cross a fork
registers a reset here with ``in_child``; the single hook runs the resets in the
child right after the fork, before any other thread of the child exists, so a
reset needs no lock of its own.

Why one registry and not one hook per module: ``os.register_at_fork`` hooks can
never be removed, run in registration order and grow with every object that
registers one. Here a bound method is held weakly (an object that is collected
drops out), a plain function strongly, and a failing reset costs a log line, not
the child.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import Any

from otel_discord.health.log import get_logger

__all__ = ["in_child"]

_logger = get_logger(__name__)

_resets: list[Callable[[], Callable[[], Any] | None]] = []


def in_child(reset: Callable[[], Any]) -> None:
    """Call ``reset()`` in every child forked from now on (a bound method is held weakly)."""
    if hasattr(reset, "__self__") and hasattr(reset, "__func__"):
        _resets.append(weakref.WeakMethod(reset))  # type: ignore[arg-type]
    else:
        _resets.append(lambda: reset)


def _after_fork_in_child() -> None:
    alive = []
    for ref in _resets:
        reset = ref()
        if reset is None:
            continue
        alive.append(ref)
        try:
            reset()
        except Exception:  # a bug in one reset must not cost the child the others
            _logger.error("internal error while resetting state after a fork", exc_info=True)
    _resets[:] = alive


os.register_at_fork(after_in_child=_after_fork_in_child)
