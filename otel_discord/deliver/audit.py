"""The local audit log: every business event, one JSON line each, in ``spool_dir/audit.jsonl``.

Discord webhooks cannot read a channel's history back, so the record of what
happened (for the bookkeeper, for an accountant's question next year) is kept
here, before any filter, and ``otel-discord export`` prints it as CSV or JSON.

The file is append-only and created with mode 0600 (it holds what the
application logged, personal data included; credentials are masked). Each line
is written with one ``write`` on an ``O_APPEND`` descriptor, so the processes of
a gunicorn app can share it. Writing never raises: a full disk costs a warning.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Final

from otel_discord.health.log import get_logger
from otel_discord.notice import Notice
from otel_discord.render.mask import Masker

_logger = get_logger(__name__)

FILE_NAME: Final = "audit.jsonl"
_CREDENTIALS: Final = Masker(enabled=False)  # masks credentials only: the audit log keeps the facts


def _value(value: Any) -> Any:
    if isinstance(value, str):
        return _CREDENTIALS(value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, (list, tuple)):
        return [_value(v) for v in value]
    return _CREDENTIALS(str(value))


def to_record(notice: Notice) -> dict[str, Any]:
    """The audit line for one business event."""
    ts = notice.timestamp if notice.timestamp == notice.timestamp else 0.0
    try:
        when = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError, OSError):
        when = None
    return {
        "time": when,
        "ts": round(ts, 6),
        "event": notice.event_name,
        "severity": notice.severity.name.lower(),
        "category": notice.category.value.lower(),
        "title": _CREDENTIALS(notice.title),
        "attributes": {str(k): _value(v) for k, v in notice.attributes.items()},
        "service": notice.service,
        "environment": notice.environment,
        "host": notice.host,
        "trace_id": notice.trace_id,
        "span_id": notice.span_id,
    }


class AuditLog:
    """Appends business events to ``path``; ``record`` never raises."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._failing = False

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    def record(self, notice: Notice) -> bool:
        """Append ``notice`` (a business event); False if the disk said no (logged once per outage)."""
        try:
            line = json.dumps(to_record(notice), ensure_ascii=False, allow_nan=False, default=str) + "\n"
            data = line.encode("utf-8")
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                written = os.write(fd, data)
            finally:
                os.close(fd)
            if written != len(data):
                raise OSError(f"short write ({written} of {len(data)} bytes)")
        except (OSError, ValueError, TypeError) as exc:
            if not self._failing:
                _logger.warning("cannot append to the audit log %s: %s", self.path, exc)
            self._failing = True
            return False
        if self._failing:
            _logger.warning("appending to the audit log %s again", self.path)
            self._failing = False
        return True


def read(
    path: Path,
    *,
    since: float | None = None,
    until: float | None = None,
    events: Sequence[str] = (),
) -> Iterator[dict[str, Any]]:
    """The records of ``path`` with ``since <= ts < until`` whose event matches one of the globs.

    Lines that do not parse (a write cut short by a crash) are skipped.
    """
    globs = [glob.lower() for glob in events]
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, Mapping):
                continue
            ts = record.get("ts")
            if not isinstance(ts, (int, float)):
                continue
            if since is not None and ts < since:
                continue
            if until is not None and ts >= until:
                continue
            if globs and not any(fnmatchcase(str(record.get("event") or "").lower(), g) for g in globs):
                continue
            yield dict(record)
