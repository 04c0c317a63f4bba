"""The durable spool: one SQLite file shared by every process of an application.

``<spool_dir>/spool.sqlite3`` (mode 0600: notices can hold personal data) holds

* ``outbox``: notices waiting for Discord, in order of ``id``, each as JSON
  naming its channel (``codec.py``). Repeats of a group fold into the row still
  waiting (``count``), so an outage costs one row per problem, not per event.
* ``groups``: the fingerprint → message id map of grouped messages, keyed by
  channel *and* webhook id (a rotated webhook starts fresh messages).
* ``lease``: which process sends for a scope (see ``shared_limits.py``).
* ``sends``/``blocks``/``buckets``: the shared rate-limit state (``shared_limits.py``).

Stdlib ``sqlite3`` in WAL mode with ``synchronous=NORMAL`` (a commit survives
SIGKILL of the process; a power cut may lose the last ones), a busy timeout
and short ``BEGIN IMMEDIATE`` transactions, so several processes can write
without "database is locked". One connection per process, guarded by a lock;
a forked child opens its own and never touches (not even closes) the one it
inherited, and a fork waits until no thread of ours is inside SQLite.

Failures are sorted in two: ``SpoolBusy`` (another process holds the lock for
longer than the timeout: try again soon) and ``SpoolUnavailable`` (read-only,
full disk, damaged file: the engine degrades to memory-only delivery).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from otel_discord.deliver.spool_groups import GroupStore
from otel_discord.group import GroupPolicy, earliest, latest

FILE_NAME: Final = "spool.sqlite3"
BUSY_TIMEOUT: Final = 2.0
TRIM_BATCH: Final = 500  # rows trimmed per call (their bodies are read to write the fallback log)
_TRANSIENT: Final = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED"})

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, channel TEXT NOT NULL, grp TEXT,
    state INTEGER NOT NULL DEFAULT 0, writer TEXT NOT NULL, queued_at REAL NOT NULL,
    count INTEGER NOT NULL, first_seen REAL, last_seen REAL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_scope ON outbox(scope, id);
CREATE INDEX IF NOT EXISTS outbox_fold ON outbox(scope, channel, grp) WHERE state = 0 AND grp IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_writer ON outbox(writer);
CREATE TABLE IF NOT EXISTS groups (
    scope TEXT NOT NULL, channel TEXT NOT NULL, webhook TEXT NOT NULL, grp TEXT NOT NULL,
    message_id TEXT NOT NULL, started_at REAL NOT NULL, count INTEGER NOT NULL, written INTEGER NOT NULL,
    edited_at REAL NOT NULL, first_seen REAL, last_seen REAL, body TEXT NOT NULL,
    PRIMARY KEY (scope, channel, webhook, grp));
CREATE INDEX IF NOT EXISTS groups_message ON groups(scope, channel, webhook, message_id);
CREATE TABLE IF NOT EXISTS messages (
    scope TEXT NOT NULL, channel TEXT NOT NULL, webhook TEXT NOT NULL, message_id TEXT NOT NULL,
    embeds TEXT NOT NULL, PRIMARY KEY (scope, channel, webhook, message_id));
CREATE TABLE IF NOT EXISTS lease (scope TEXT PRIMARY KEY, holder TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sends (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sends_key ON sends(key, at);
CREATE TABLE IF NOT EXISTS blocks (key TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, lim INTEGER NOT NULL, win REAL NOT NULL);
"""


class SpoolBusy(Exception):
    """Another process held the spool longer than the busy timeout; try again later."""


class SpoolUnavailable(Exception):
    """The spool cannot be used (read-only, full, damaged); the message says why."""


def default_scope(config_file: Path | None) -> str:
    """Which processes share one outbox: same working directory, program and config file.

    gunicorn workers (forked from one master) and restarts of one application
    agree; two different applications sharing a spool directory do not, so one
    never sends the other's notices through its own channel names.
    """
    program = os.path.basename(sys.argv[0]) if getattr(sys, "argv", None) and sys.argv[0] else ""
    try:
        cwd = os.getcwd()
    except OSError:  # the working directory was deleted
        cwd = ""
    raw = f"{cwd}\0{program}\0{config_file or ''}"
    return hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Row:
    """One outbox row (``count``/``first_seen``/``last_seen`` are current; the body's notice may lag)."""

    id: int
    channel: str
    group: str | None
    writer: str
    queued_at: float
    count: int
    first_seen: float | None
    last_seen: float | None
    body: str


@dataclass(frozen=True, slots=True)
class Pending:
    """What the housekeeping thread hands to ``Spool.persist``: one item, encoded (or how to encode
    it: a repeat expected to fold is encoded only if it turns out to need a row after all)."""

    channel: str
    group: str | None
    webhook: str | None  # the channel's webhook id now (to fold into its live group)
    queued_at: float
    count: int
    first_seen: float | None
    last_seen: float | None
    body: str | Callable[[], str]


def _classify(exc: BaseException) -> Exception:
    name = getattr(exc, "sqlite_errorname", "")
    if name in _TRANSIENT or "database is locked" in str(exc) or "database table is locked" in str(exc):
        return SpoolBusy(str(exc))
    return SpoolUnavailable(f"{type(exc).__name__}: {exc}")


_live: weakref.WeakSet[Spool] = weakref.WeakSet()
_inherited: list[Spool] = []  # a child's copies of its parent's spools: kept, never closed


class FairLock:
    """A lock granted in arrival order.

    Under a flood the housekeeping thread writes one transaction after another;
    with a plain ``threading.Lock`` it re-took the lock before the waiting sender
    ever woke, so nothing was sent until the flood ended. Tickets make them take
    turns.
    """

    __slots__ = ("_cond", "_next", "_serving")

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next = 0
        self._serving = 0

    def acquire(self) -> None:
        with self._cond:
            ticket = self._next
            self._next += 1
            while ticket != self._serving:
                self._cond.wait()

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()

    def __enter__(self) -> FairLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _before_fork() -> None:
    for spool in list(_live):
        spool._lock.acquire()


def _after_fork_parent() -> None:
    for spool in list(_live):
        spool._lock.release()


def _after_fork_child() -> None:
    # Closing the parent's connection here could checkpoint or unlink its WAL under it.
    _inherited.extend(_live)
    _live.clear()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_parent, after_in_child=_after_fork_child)


class Spool(GroupStore):
    """The spool of one scope in one file (``path``), or in memory (``path`` None)."""

    def __init__(
        self, path: Path | None, scope: str, *, busy_timeout: float = BUSY_TIMEOUT, max_pages: int | None = None
    ) -> None:
        self.path = path
        self.scope = scope
        self.busy_timeout = busy_timeout
        self.max_pages = max_pages  # caps the file (tests use it for a full disk)
        self._lock = FairLock()
        self._db: sqlite3.Connection | None = None
        _live.add(self)

    @property
    def durable(self) -> bool:
        return self.path is not None

    def __repr__(self) -> str:
        return f"Spool({str(self.path) if self.path else ':memory:'!r}, scope={self.scope!r})"

    # ------------------------------------------------------------------ connection
    def open(self) -> Spool:
        """Create or open the file and its tables. Raises ``SpoolUnavailable`` or ``SpoolBusy``."""
        with self._lock:
            if self._db is None:
                try:
                    self._db = self._connect()
                except sqlite3.Error as exc:
                    raise _classify(exc) from None
                except OSError as exc:
                    raise SpoolUnavailable(f"{exc.strerror or exc} ({exc.filename or self.path})") from None
        return self

    def _connect(self) -> sqlite3.Connection:
        target = ":memory:"
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                if os.fstat(fd).st_mode & 0o077:
                    os.fchmod(fd, 0o600)  # someone widened it; it holds alert text
            finally:
                os.close(fd)
            target = str(self.path)
        db = sqlite3.connect(target, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            if self.path is not None:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
            if self.max_pages:
                db.execute(f"PRAGMA max_page_count = {int(self.max_pages)}")
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except sqlite3.Error:
                pass  # best effort: the process is stopping

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction (``BEGIN IMMEDIATE``): all or nothing, errors classified."""
        with self._lock:
            db = self._require()
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _classify(exc) from None
            try:
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # SQLite rolled back already (a full disk does)
                if isinstance(exc, sqlite3.Error):
                    raise _classify(exc) from None
                raise

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._require()
            try:
                yield db
            except sqlite3.Error as exc:
                raise _classify(exc) from None

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise SpoolUnavailable("spool is not open")
        return self._db

    def data_version(self) -> int:
        """Changes whenever another connection commits (cheap: no file read)."""
        with self.reading() as db:
            return int(db.execute("PRAGMA data_version").fetchone()[0])

    # ------------------------------------------------------------------ outbox
    def persist(
        self,
        items: Sequence[Pending],
        *,
        writer: str,
        policy: GroupPolicy,
        now: float,
        failed: list[tuple[int, Exception]] | None = None,
    ) -> tuple[list[int], int]:
        """Store ``items`` in one transaction; return the new row ids and how many went into groups.

        A repeat folds into its group's live message (the sender will edit it) or
        into its group's row still waiting; anything else becomes a row. An item whose
        lazy body cannot be made is left out and reported in ``failed`` (index, error).
        """
        created: list[int] = []
        grouped = 0
        with self.transaction() as db:
            for index, item in enumerate(items):
                folded = self._fold(db, item, policy, now) if item.group is not None else None
                if folded is not None:
                    grouped += folded == "group"
                    continue
                body = item.body
                if not isinstance(body, str):
                    try:
                        body = body()
                    except Exception as exc:  # the caller reports it; the other items go in
                        if failed is not None:
                            failed.append((index, exc))
                        continue
                cursor = db.execute(
                    "INSERT INTO outbox (scope, channel, grp, writer, queued_at, count, first_seen, last_seen, body)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.scope,
                        item.channel,
                        item.group,
                        writer,
                        item.queued_at,
                        item.count,
                        item.first_seen,
                        item.last_seen,
                        body,
                    ),
                )
                created.append(int(cursor.lastrowid or 0))
        return created, grouped

    def _fold(self, db: sqlite3.Connection, item: Pending, policy: GroupPolicy, now: float) -> str | None:
        """Where a repeat went: "group" (a live message), "row" (a waiting row) or None (nowhere)."""
        assert item.group is not None
        if item.webhook is not None:
            found = self._group(db, item.channel, item.webhook, item.group)
            if found is not None and policy.accepts(found[0], now):
                folded = policy.fold(found[0], item.count, item.first_seen, item.last_seen)
                self._write_group(db, item.channel, item.webhook, item.group, folded, None)
                return "group"
        row = db.execute(
            "SELECT id, first_seen, last_seen FROM outbox WHERE scope = ? AND channel = ? AND grp = ? AND state = 0"
            " ORDER BY id LIMIT 1",
            (self.scope, item.channel, item.group),
        ).fetchone()
        if row is None:
            return None
        db.execute(
            "UPDATE outbox SET count = count + ?, first_seen = ?, last_seen = ? WHERE id = ?",
            (item.count, earliest(row[1], item.first_seen), latest(row[2], item.last_seen), row[0]),
        )
        return "row"

    def load(self, after_id: int, limit: int = 500) -> list[Row]:
        """Rows of this scope after ``after_id``, oldest first."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT id, channel, grp, writer, queued_at, count, first_seen, last_seen, body FROM outbox"
                " WHERE scope = ? AND id > ? ORDER BY id LIMIT ?",
                (self.scope, after_id, limit),
            ).fetchall()
        return [Row(*row) for row in rows]

    def claim(self, ids: Sequence[int]) -> dict[int, tuple[int, float | None, float | None]]:
        """Mark rows as being sent (no more folding into them); their current counts by id."""
        with self.transaction() as db:
            marks = ",".join("?" * len(ids))
            db.execute(f"UPDATE outbox SET state = 1 WHERE id IN ({marks})", tuple(ids))
            rows = db.execute(
                f"SELECT id, count, first_seen, last_seen FROM outbox WHERE id IN ({marks})", tuple(ids)
            ).fetchall()
        return {row[0]: (row[1], row[2], row[3]) for row in rows}

    def unclaim(self, ids: Sequence[int]) -> None:
        with self.transaction() as db:
            db.execute(f"UPDATE outbox SET state = 0 WHERE id IN ({','.join('?' * len(ids))})", tuple(ids))

    def ack(self, ids: Sequence[int]) -> None:
        """Delivered (or dropped): the rows go."""
        if ids:
            with self.transaction() as db:
                db.execute(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(ids))})", tuple(ids))

    def count(self, writer: str | None = None) -> int:
        """Rows of this scope (written by ``writer`` only, if given)."""
        with self.reading() as db:
            if writer is None:
                return int(db.execute("SELECT count(*) FROM outbox WHERE scope = ?", (self.scope,)).fetchone()[0])
            return int(db.execute("SELECT count(*) FROM outbox WHERE writer = ?", (writer,)).fetchone()[0])

    def trim(self, now: float, max_age: float, max_rows: int, limit: int = TRIM_BATCH) -> list[tuple[Row, str]]:
        """Remove rows older than ``max_age`` and the oldest beyond ``max_rows``, at most ``limit`` of them
        (call again while it returns that many: their bodies are in memory meanwhile); return them with why."""
        select = "SELECT id, channel, grp, writer, queued_at, count, first_seen, last_seen, body FROM outbox"
        with self.transaction() as db:
            expired = [
                Row(*r)
                for r in db.execute(
                    f"{select} WHERE scope = ? AND queued_at < ? ORDER BY id LIMIT ?",
                    (self.scope, now - max_age, limit),
                ).fetchall()
            ]
            total = int(db.execute("SELECT count(*) FROM outbox WHERE scope = ?", (self.scope,)).fetchone()[0])
            excess = min(max(0, total - len(expired) - max_rows), limit - len(expired))
            full = (
                [
                    Row(*r)
                    for r in db.execute(
                        f"{select} WHERE scope = ? AND queued_at >= ? AND state = 0 ORDER BY id LIMIT ?",
                        (self.scope, now - max_age, excess),
                    ).fetchall()
                ]
                if excess > 0
                else []
            )
            gone = [row.id for row in expired + full]
            for start in range(0, len(gone), 500):
                chunk = gone[start : start + 500]
                db.execute(f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        return [(row, "spool_expired") for row in expired] + [(row, "spool_full") for row in full]

    # ------------------------------------------------------------------ lease
    def acquire(
        self, holder: str, now: float, ttl: float, gone: Callable[[str], bool] = lambda holder: False
    ) -> tuple[bool, bool]:
        """Hold or renew the scope's send lease: (held, taken over from someone else).

        A lease runs out ``ttl`` after its last renewal, or at once when ``gone(holder)``
        knows its holder died (a SIGKILLed process on this host).
        """
        with self.transaction() as db:
            row = db.execute("SELECT holder, expires FROM lease WHERE scope = ?", (self.scope,)).fetchone()
            if row is not None and row[0] != holder and row[1] > now and not gone(row[0]):
                return False, False
            db.execute("INSERT OR REPLACE INTO lease VALUES (?, ?, ?)", (self.scope, holder, now + ttl))
            fresh = row is None or row[0] != holder
            if fresh:  # the last holder may have died mid-send: its rows are ours to send again
                db.execute("UPDATE outbox SET state = 0 WHERE scope = ? AND state = 1", (self.scope,))
            return True, fresh

    def release(self, holder: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM lease WHERE scope = ? AND holder = ?", (self.scope, holder))
