"""Where notices wait: outside a channel's schedule, or over its rate cap.

Two implementations of one small interface (``put``, ``channels``, ``take``,
``count``): ``SQLiteStore`` (``spool_dir/route.sqlite3``, survives a restart and is
shared safely by the processes of a gunicorn app: ``take`` claims rows in one
transaction, so a digest is posted once) and ``MemoryStore`` (tests, or when the
spool directory is unusable). Neither raises: a store that cannot hold a notice
returns False and the caller posts it at once instead.

A channel keeps at most ``MAX_HELD`` notices; beyond that only a count is kept,
so a flood overnight cannot fill the disk (the digest says how many it left out).

After a fork every SQLite store gets a fresh lock (a parent thread may have held it): one reset registered with ``health/forks.py``, whose single at-fork hook runs it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from otel_discord.health import forks
from otel_discord.health.log import get_logger
from otel_discord.health.scrub import redact, valid_utf8
from otel_discord.notice import Category, Field, Kind, Notice, Severity

_logger = get_logger(__name__)

FILE_NAME: Final = "route.sqlite3"
MAX_HELD: Final = 5000  # per channel
_SQL_TIMEOUT: Final = 5.0  # seconds to wait for another process's transaction


@dataclass(frozen=True, slots=True)
class Held:
    notice: Notice
    reason: str  # "schedule" or "rate"
    held_at: float


class HoldingStore(Protocol):
    def put(self, channel: str, reason: str, notice: Notice, now: float) -> bool: ...
    def channels(self) -> list[str]: ...
    def take(self, channel: str) -> tuple[list[Held], int]: ...
    def count(self, channel: str | None = None) -> int: ...


# --- notice ⇄ JSON ------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def encode(notice: Notice) -> str:
    """A notice as JSON text (attribute values that JSON cannot hold become text)."""
    data = {
        "kind": notice.kind.value,
        "severity": int(notice.severity),
        "category": notice.category.value,
        "title": notice.title,
        "description": notice.description,
        "fields": [[f.name, f.value, f.inline] for f in notice.fields],
        "code": notice.code,
        "code_language": notice.code_language,
        "url": notice.url,
        "attributes": {str(k): _plain(v) for k, v in notice.attributes.items()},
        "fingerprint": notice.fingerprint,
        "event_name": notice.event_name,
        "trace_id": notice.trace_id,
        "span_id": notice.span_id,
        "service": notice.service,
        "environment": notice.environment,
        "host": notice.host,
        "signal": notice.signal,
        "timestamp": _plain(notice.timestamp),
        "count": notice.count,
        "first_seen": _plain(notice.first_seen),
        "channel": notice.channel,
        "mention": notice.mention,
    }
    # The same rule as the spool's rows: valid UTF-8 (SQLite refuses lone surrogates) and no token.
    return redact(valid_utf8(json.dumps(data, ensure_ascii=False, allow_nan=False)))


def decode(text: str) -> Notice:
    data: Mapping[str, Any] = json.loads(text)
    return Notice(
        kind=Kind(data["kind"]),
        severity=Severity(data["severity"]),
        category=Category(data["category"]),
        title=data["title"],
        description=data.get("description", ""),
        fields=tuple(Field(str(n), str(v), bool(i)) for n, v, i in data.get("fields", [])),
        code=data.get("code"),
        code_language=data.get("code_language", ""),
        url=data.get("url"),
        attributes={k: tuple(v) if isinstance(v, list) else v for k, v in data.get("attributes", {}).items()},
        fingerprint=data.get("fingerprint", ""),
        event_name=data.get("event_name"),
        trace_id=data.get("trace_id"),
        span_id=data.get("span_id"),
        service=data.get("service"),
        environment=data.get("environment"),
        host=data.get("host"),
        signal=data.get("signal", "traces"),
        timestamp=float(data.get("timestamp") or 0.0),
        count=int(data.get("count", 1)),
        first_seen=data.get("first_seen"),
        channel=data.get("channel"),
        mention=data.get("mention"),
    )


# --- in memory ----------------------------------------------------------------------------


class MemoryStore:
    """Held notices in a dict: lost on exit (the pipeline posts them on release instead)."""

    durable = False

    def __init__(self, max_held: int = MAX_HELD) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, list[Held]] = {}
        self._overflow: dict[str, int] = {}
        self._max = max_held

    def put(self, channel: str, reason: str, notice: Notice, now: float) -> bool:
        with self._lock:
            lane = self._held.setdefault(channel, [])
            if len(lane) >= self._max:
                self._overflow[channel] = self._overflow.get(channel, 0) + 1
            else:
                lane.append(Held(notice, reason, now))
        return True

    def channels(self) -> list[str]:
        with self._lock:
            return [c for c in set(self._held) | set(self._overflow) if self._held.get(c) or self._overflow.get(c)]

    def take(self, channel: str) -> tuple[list[Held], int]:
        with self._lock:
            return self._held.pop(channel, []), self._overflow.pop(channel, 0)

    def count(self, channel: str | None = None) -> int:
        with self._lock:
            if channel is not None:
                return len(self._held.get(channel, ())) + self._overflow.get(channel, 0)
            return sum(map(len, self._held.values())) + sum(self._overflow.values())


# --- SQLite -------------------------------------------------------------------------------

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS held (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    reason TEXT NOT NULL,
    held_at REAL NOT NULL,
    notice TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS held_channel ON held (channel, id);
CREATE TABLE IF NOT EXISTS overflow (channel TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""


class SQLiteStore:
    """Held notices in ``spool_dir/route.sqlite3`` (mode 0600).

    One connection per process (a forked child opens its own), used under a lock.
    WAL with ``synchronous=NORMAL``: a commit survives the process crashing without
    waiting for the disk, which keeps a night's flood from stalling the export thread.
    """

    durable = True

    def __init__(self, path: Path, max_held: int = MAX_HELD) -> None:
        self.path = path
        self._max = max_held
        self._warned = False
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # our mode, before sqlite creates it
        with self._lock:
            self._connect().executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        """This process's connection (call with the lock held)."""
        if self._db is None or self._pid != os.getpid():
            db = sqlite3.connect(self.path, timeout=_SQL_TIMEOUT, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._db, self._pid = db, os.getpid()
        return self._db

    def _failed(self, what: str, exc: Exception) -> None:
        level = _logger.debug if self._warned else _logger.warning
        self._warned = True
        level("cannot %s the holding store %s: %s", what, self.path, exc)
        db, self._db = self._db, None  # reconnect next time: the file may have been replaced
        if db is not None and self._pid == os.getpid():
            try:
                db.close()
            except sqlite3.Error:
                pass

    def _reset_lock(self) -> None:
        self._lock = threading.Lock()

    def put(self, channel: str, reason: str, notice: Notice, now: float) -> bool:
        try:
            text = encode(notice)
        except (ValueError, TypeError) as exc:
            _logger.warning("cannot hold a notice: %s", exc)
            return False
        with self._lock:
            try:
                db = self._connect()
                db.execute("BEGIN IMMEDIATE")
                try:
                    (held,) = db.execute("SELECT COUNT(*) FROM held WHERE channel = ?", (channel,)).fetchone()
                    if held >= self._max:
                        db.execute(
                            "INSERT INTO overflow (channel, n) VALUES (?, 1) "
                            "ON CONFLICT (channel) DO UPDATE SET n = n + 1",
                            (channel,),
                        )
                    else:
                        db.execute(
                            "INSERT INTO held (channel, reason, held_at, notice) VALUES (?, ?, ?, ?)",
                            (channel, reason, now, text),
                        )
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                return True
            except (sqlite3.Error, OSError) as exc:
                self._failed("write to", exc)
                return False

    def channels(self) -> list[str]:
        with self._lock:
            try:
                rows = self._connect().execute(
                    "SELECT channel FROM held UNION SELECT channel FROM overflow WHERE n > 0"
                )
                return [row[0] for row in rows]
            except (sqlite3.Error, OSError) as exc:
                self._failed("read", exc)
                return []

    def take(self, channel: str) -> tuple[list[Held], int]:
        """Claim and remove everything held for ``channel`` (one transaction: no other process gets it)."""
        with self._lock:
            try:
                db = self._connect()
                db.execute("BEGIN IMMEDIATE")
                try:
                    rows = db.execute(
                        "SELECT id, reason, held_at, notice FROM held WHERE channel = ? ORDER BY id", (channel,)
                    ).fetchall()
                    found = db.execute("SELECT n FROM overflow WHERE channel = ?", (channel,)).fetchone()
                    db.execute("DELETE FROM held WHERE channel = ?", (channel,))
                    db.execute("DELETE FROM overflow WHERE channel = ?", (channel,))
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as exc:
                self._failed("read", exc)
                return [], 0
        held = []
        for _, reason, held_at, text in rows:
            try:
                held.append(Held(decode(text), reason, held_at))
            except (ValueError, KeyError, TypeError) as exc:  # a row from another version: skip it, say so
                _logger.warning("skipping an unreadable held notice: %s", exc)
        return held, int(found[0]) if found else 0

    def count(self, channel: str | None = None) -> int:
        where, args = ("WHERE channel = ?", (channel,)) if channel is not None else ("", ())
        with self._lock:
            try:
                db = self._connect()
                (held,) = db.execute(f"SELECT COUNT(*) FROM held {where}", args).fetchone()
                (extra,) = db.execute(f"SELECT COALESCE(SUM(n), 0) FROM overflow {where}", args).fetchone()
                return int(held) + int(extra)
            except (sqlite3.Error, OSError) as exc:
                self._failed("read", exc)
                return 0


_stores: weakref.WeakSet[SQLiteStore] = weakref.WeakSet()  # their locks are renewed in a forked child


def _after_fork() -> None:
    for store in _stores:
        store._reset_lock()


forks.in_child(_after_fork)


def open_store(spool_dir: Path) -> HoldingStore:
    """The SQLite store in ``spool_dir``, or a memory store (with a warning) if that is unusable."""
    try:
        store = SQLiteStore(spool_dir / FILE_NAME)
    except (sqlite3.Error, OSError) as exc:
        _logger.warning("cannot use %s for held notices (%s); holding them in memory", spool_dir / FILE_NAME, exc)
        return MemoryStore()
    _stores.add(store)
    return store


class LazyStore:
    """Opens the SQLite store on the first ``put``, or at once if a previous run left the file.

    Most processes never hold a notice; they should not create a database for nothing.
    """

    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir
        self._lock = threading.Lock()
        self._store: HoldingStore | None = None
        if (spool_dir / FILE_NAME).exists():
            self._open()

    def __repr__(self) -> str:
        return f"LazyStore({str(self.spool_dir / FILE_NAME)!r}, open={self._store is not None})"

    def _open(self) -> HoldingStore:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.spool_dir)
            return self._store

    @property
    def durable(self) -> bool:
        return bool(getattr(self._store, "durable", True))

    def put(self, channel: str, reason: str, notice: Notice, now: float) -> bool:
        return self._open().put(channel, reason, notice, now)

    def channels(self) -> list[str]:
        return self._store.channels() if self._store is not None else []

    def take(self, channel: str) -> tuple[list[Held], int]:
        return self._store.take(channel) if self._store is not None else ([], 0)

    def count(self, channel: str | None = None) -> int:
        return self._store.count(channel) if self._store is not None else 0
