"""One alert per exception, whether it arrives as a log record, a span, or both.

A Flask view that raises produces two pieces of telemetry for one failure: the
``exception`` event on the request span and Flask's own ``Exception on /boom
[GET]`` log record, both in the same trace. The span and log exporters run on
different threads with different batch delays, so either may come first. This
process-wide registry sees both and lets only one through.

The span says more (route, status, user), so a logged exception whose trace is
sampled *waits* for its span while a Discord span exporter exists in this
process: if the span reports the same exception, the log record is dropped; if
the trace's local root span is exported without it, or the wait
(``LOG_ERROR_HOLD_MS``) runs out, the log record is delivered. A server span that
failed without an exception (a 5xx, an ERROR status) and a logged exception in
the same trace are also one failure: the logged one, with its stack trace, wins.

Held records are released by one daemon thread; ``take_held`` hands them back
at flush and shutdown so none is lost.

After a fork the child starts with no held or remembered exceptions (the parent delivers its own): one reset registered with ``health/forks.py``, whose single at-fork hook runs it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from otel_discord.health import forks
from otel_discord.health.log import get_logger
from otel_discord.notice import Notice

_logger = get_logger(__name__)

REMEMBERED: Final = 4096  # (trace, exception) keys kept to recognise the second report
MAX_HELD: Final = 1000  # beyond this, the oldest held record is delivered at once
THREAD_NAME: Final = "otel-discord-dedupe"
_STATUS_ONLY: Final = "<status>"  # a span error without an exception in this trace was reported
_LOGGED: Final = "<logged>"  # a logged exception in this trace was reported or is held

Deliver = Callable[[Notice], None]


def short_type(exc_type: str | None) -> str:
    """``sqlalchemy.exc.OperationalError`` → ``OperationalError``.

    Spans name non-builtin exceptions with their module, the logging bridge
    without it, so matching uses the bare class name.
    """
    return (exc_type or "").strip().rsplit(".", 1)[-1]


def fingerprint(*parts: str) -> str:
    """A grouping key hashed exactly as the span detector hashes its own.

    For errors the parts are (exception type, ``file:function`` of the first
    application frame, route or name), so the same bug reported by a span and by a
    log record groups together.
    """
    return hashlib.sha1("\x1f".join(parts).encode("utf-8", "replace"), usedforsecurity=False).hexdigest()


@dataclass(slots=True)
class _Held:
    deadline: float
    notice: Notice
    deliver: Deliver
    owner: Hashable


class ExceptionRegistry:
    """Decides which report of an exception is delivered; see the module docstring. Thread-safe."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        remembered: int = REMEMBERED,
        max_held: int = MAX_HELD,
        background: bool = True,
    ) -> None:
        """``background=False`` leaves releases to ``due``/``take_held`` (tests step the clock themselves)."""
        self._clock = clock
        self._background = background
        self._remembered = remembered
        self._max_held = max_held
        self._span_detectors: weakref.WeakSet[Any] = weakref.WeakSet()
        self._init_process_state()
        forks.in_child(self._init_process_state)

    def _init_process_state(self) -> None:
        # A forked child starts empty: the parent delivers what it holds.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._sent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._held: dict[tuple[str, str], _Held] = {}
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    # --- span side -----------------------------------------------------------------------

    def expect_spans(self, detector: Any) -> None:
        """Register a live span detector: logged exceptions may then wait for their span."""
        self._span_detectors.add(detector)

    @property
    def expecting_spans(self) -> bool:
        return len(self._span_detectors) > 0

    def span_error(self, trace_id: str, exc_type: str | None) -> bool:
        """May the span detector report this trace's error? Cancels a held log record of the same exception."""
        name = short_type(exc_type)
        with self._cond:
            if name:
                key = (trace_id, name)
                if key in self._sent:
                    return False
                self._held.pop(key, None)  # the span tells the same story, better
                self._remember(key)
                return True
            # Failed without an exception: a logged exception of this trace explains it.
            held = [key for key in self._held if key[0] == trace_id]
            if held or (trace_id, _LOGGED) in self._sent:
                for key in held:
                    self._held[key].deadline = 0.0
                self._cond.notify_all()
                return False
            self._remember((trace_id, _STATUS_ONLY))
            return True

    def spans_exported(self, spans: Iterable[Any]) -> None:
        """Release held records of traces whose local root span was just exported (their span said nothing)."""
        if not self._held:  # read without the lock: a stale answer only delays a release
            return
        ended = set()
        for span in spans:
            parent = span.parent
            if parent is None or getattr(parent, "is_remote", False):
                trace_id = getattr(span.context, "trace_id", 0)
                if isinstance(trace_id, int) and trace_id > 0:
                    ended.add(format(trace_id, "032x"))
        if not ended:
            return
        with self._cond:
            for key, held in self._held.items():
                if key[0] in ended:
                    held.deadline = 0.0
            self._cond.notify_all()

    # --- log side ------------------------------------------------------------------------

    def log_error(
        self,
        notice: Notice,
        exc_type: str | None,
        *,
        sampled: bool,
        hold: float,
        deliver: Deliver,
        owner: Hashable,
        now: float,
    ) -> Notice | None:
        """The notice to deliver now, or None when it was already reported or is held for its span."""
        trace_id = notice.trace_id
        name = short_type(exc_type)
        if not trace_id or not name:
            return notice
        key = (trace_id, name)
        with self._cond:
            if key in self._sent or key in self._held or (trace_id, _STATUS_ONLY) in self._sent:
                return None
            if hold > 0 and sampled and self.expecting_spans:
                self._held[key] = _Held(now + hold, notice, deliver, owner)
                waiting = [held for held in self._held.values() if held.deadline > 0]
                for held in waiting[: max(0, len(waiting) - self._max_held)]:  # the oldest go now
                    held.deadline = 0.0
                self._ensure_thread()
                self._cond.notify_all()
                return None
            self._remember(key)
            self._remember((trace_id, _LOGGED))
            return notice

    def mark_sent(self, trace_id: str | None, exc_type: str | None) -> None:
        """Record that an exception was reported another way (a business event carrying it)."""
        name = short_type(exc_type)
        if trace_id and name:
            with self._cond:
                self._remember((trace_id, name))
                self._remember((trace_id, _LOGGED))

    def take_held(self, owner: Hashable | None = None) -> list[tuple[Deliver, Notice]]:
        """Remove and return the held records (of ``owner``, or all): flush and shutdown deliver them now."""
        with self._cond:
            keys = [key for key, held in self._held.items() if owner is None or held.owner == owner]
            return self._release(keys)

    def due(self, now: float) -> list[tuple[Deliver, Notice]]:
        """Remove and return the held records whose wait is over at ``now``."""
        with self._cond:
            return self._release([key for key, held in self._held.items() if held.deadline <= now])

    def held_count(self) -> int:
        return len(self._held)

    # --- internals -----------------------------------------------------------------------

    def _remember(self, key: tuple[str, str]) -> None:
        self._sent[key] = None
        self._sent.move_to_end(key)
        while len(self._sent) > self._remembered:
            self._sent.popitem(last=False)

    def _release(self, keys: list[tuple[str, str]]) -> list[tuple[Deliver, Notice]]:
        released = []
        for key in keys:
            held = self._held.pop(key)
            self._remember(key)
            self._remember((key[0], _LOGGED))
            released.append((held.deliver, held.notice))
        return released

    def _ensure_thread(self) -> None:
        # Called with the lock held.
        if not self._background:
            return
        if self._pid != os.getpid():
            self._init_process_state()
        if self._thread is not None and self._thread.is_alive():
            return
        thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down: flush and shutdown take what is held
            return
        self._thread = thread

    def _run(self) -> None:
        while True:
            with self._cond:
                now = self._clock()
                deadlines = [held.deadline for held in self._held.values()]
                if not deadlines:
                    self._cond.wait()
                    continue
                wait = min(deadlines) - now
                if wait > 0:
                    self._cond.wait(wait)
                    continue
            for deliver, notice in self.due(self._clock()):
                try:
                    deliver(notice)
                except Exception:  # a bug in a callback must not stop the releases
                    _logger.error("internal error while delivering a held log notice", exc_info=True)


_registry = ExceptionRegistry()


def registry() -> ExceptionRegistry:
    """The registry of this process, shared by every span and log exporter."""
    return _registry
