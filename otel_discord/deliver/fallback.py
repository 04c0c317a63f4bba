"""The last resort: notices that could not be delivered, as JSON lines on disk.

A notice that Discord refused, or that was still queued when the process
stopped, is written to ``<spool_dir>/dropped.jsonl`` so that a person can still
read it (``jq . dropped.jsonl``). The file is private (mode 0600): notices can
hold personal data. Writing never raises: on a full or read-only disk the loss
is counted and logged once.

The delivery engine's ``submit()`` must not touch the disk (it runs on the
application's export thread), so notices dropped there are ``defer()``-ed to a
bounded in-memory list that the worker thread writes out.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from otel_discord.config.webhook_url import redact
from otel_discord.health.drops import Stats
from otel_discord.health.log import get_logger
from otel_discord.notice import Notice

_logger = get_logger(__name__)

FILE_NAME: Final = "dropped.jsonl"
MAX_BYTES: Final = 50 * 1024 * 1024  # then rotate to dropped.jsonl.1, so an outage cannot fill the disk
DEFERRED_MAX: Final = 1000  # notices held for the worker to write; beyond that only counted


def notice_record(notice: Notice, reason: str, when: datetime | None = None) -> dict[str, Any]:
    """The JSON object written for one notice: what a person needs to read it later.

    ``attributes`` are left out: they are routing input, can be large, and hold
    whatever the application put in its telemetry.
    """
    occurred = datetime.fromtimestamp(notice.timestamp, UTC).isoformat()
    record: dict[str, Any] = {
        "dropped_at": (when or datetime.now(UTC)).isoformat(),
        "reason": reason,
        "channel": notice.channel,
        "occurred_at": occurred,
        "kind": notice.kind.value,
        "severity": notice.severity.name.lower(),
        "category": notice.category.value,
        "title": notice.title,
        "description": notice.description,
        "fields": [{"name": f.name, "value": f.value} for f in notice.fields],
        "count": notice.count,
    }
    optional = {
        "code": notice.code,
        "url": notice.url,
        "event_name": notice.event_name,
        "trace_id": notice.trace_id,
        "span_id": notice.span_id,
        "service": notice.service,
        "environment": notice.environment,
        "host": notice.host,
        "fingerprint": notice.fingerprint or None,
    }
    record.update({key: value for key, value in optional.items() if value is not None})
    return record


class FallbackLog:
    """Append-only JSON lines of notices finally dropped; thread-safe, never raises."""

    def __init__(self, path: Path, *, stats: Stats | None = None, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.stats = stats if stats is not None else Stats()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._deferred: list[tuple[Notice, str]] = []
        self._failed_once = False

    def __repr__(self) -> str:
        return f"FallbackLog({str(self.path)!r})"

    def _ensure_process(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's lock state means nothing here
            self._lock = threading.Lock()
            self._deferred = []
            self._pid = os.getpid()

    def defer(self, notice: Notice, reason: str) -> bool:
        """Hold ``notice`` for ``write_deferred``; no I/O. False when the holding list is full."""
        self._ensure_process()
        with self._lock:
            if len(self._deferred) >= DEFERRED_MAX:
                self.stats.incr("fallback_skipped")
                return False
            self._deferred.append((notice, reason))
            return True

    def pending(self) -> int:
        """Notices deferred and not yet written."""
        return len(self._deferred)

    def write_deferred(self) -> None:
        """Write whatever ``defer`` collected (called by the worker thread)."""
        self._ensure_process()
        with self._lock:
            batch, self._deferred = self._deferred, []
        by_reason: dict[str, list[Notice]] = {}
        for notice, reason in batch:
            by_reason.setdefault(reason, []).append(notice)
        for reason, notices in by_reason.items():
            self.write(notices, reason)

    def write(self, notices: Iterable[Notice], reason: str) -> None:
        """Append one line per notice. Never raises; a failure is counted and logged once."""
        self._ensure_process()
        items = list(notices)
        if not items:
            return
        try:
            now = datetime.now(UTC)
            lines = "".join(
                json.dumps(notice_record(n, reason, now), ensure_ascii=False, default=str) + "\n" for n in items
            )
            data = redact(lines).encode("utf-8", "replace")  # a lone surrogate costs one character
            with self._lock:
                self._append(data)
            self.stats.incr("fallback_written", len(items))
        except Exception as exc:  # OSError mostly; anything else must not escape either
            self.stats.incr("fallback_errors", len(items))
            if not self._failed_once:
                self._failed_once = True
                _logger.error(
                    "cannot write dropped notices to %s (%s); %d lost, later failures are only counted",
                    self.path,
                    redact(str(exc)),
                    len(items),
                )

    def _append(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            if self.path.stat().st_size + len(data) > self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        except FileNotFoundError:
            pass
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            if os.fstat(fd).st_mode & 0o077:
                try:
                    os.fchmod(fd, 0o600)  # an existing file someone widened; it holds alert text
                except OSError:
                    pass  # not ours to change; still worth appending to
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)
