"""The summary state shared by every process of a service: ``spool_dir/summary.sqlite3``.

Gunicorn workers, a reloader's child and the process after a restart all open
the same file. Each process writes its own share (never a read-modify-write of
another's numbers); whoever posts reads everyone's. SQLite in WAL mode lets
readers and one writer work at once; every write is one short ``BEGIN
IMMEDIATE`` transaction with a ``busy_timeout``, so a process waits for the lock
instead of failing. Coordination is by constraint, not by lock files:
``INSERT OR IGNORE`` into a table with a primary key elects exactly one winner
(one summary per schedule tick, one milestone per period), and a read-then-write
inside one such transaction is a compare-and-set (one "fired" per threshold
crossing, one alert per missed job deadline).

Tables:

* ``slots``: one tally per (service, minute, writer process); rows older than
  ``FINE_FOR_S`` are merged into quarter-hour rows, rows past ``RETENTION_S`` deleted.
* ``totals``: running figures per calendar day/week/month/quarter/year (revenue
  month-to-date without reading a month of slots).
* ``alive``: heartbeat segments per app instance, for uptime.
* ``schedules``/``ticks``: when a schedule was first seen (no summary for time
  before that) and the election and figures of each tick (trends).
* ``alerts``, ``jobs``, ``milestones``, ``lease``: see thresholds, jobs,
  milestones and lifecycle.

After a fork the child gets its own lock, connection and writer name: one reset registered with ``health/forks.py``, whose single at-fork hook runs it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from otel_discord.health import forks
from otel_discord.health.log import get_logger
from otel_discord.summary.tally import Tally

_logger = get_logger(__name__)

FILE_NAME: Final = "summary.sqlite3"
BUSY_TIMEOUT_S: Final = 2.0
SLOT_S: Final = 60
COARSE_SLOT_S: Final = 15 * 60
#: Minute rows are kept this long, then merged per quarter hour: a daily summary then reads
#: about 100 rows per process instead of 1,440. Schedule times are on the quarter hour, so no
#: period boundary falls inside a merged row.
FINE_FOR_S: Final = 3 * 3600
#: Slot rows are kept long enough for a quarterly summary posted weeks late; trends need no
#: old rows (each summary stores its figures), and running totals are kept for two years.
RETENTION_S: Final = 120 * 86400
TOTALS_RETENTION_S: Final = 2 * 366 * 86400
#: A claimed tick not finished after this long is taken over (its winner died mid-way).
CLAIM_TIMEOUT_S: Final = 300.0
_MERGED: Final = "*"
_SCHEMA_VERSION: Final = "1"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS slots(
    service TEXT, slot INTEGER, writer TEXT, tally BLOB, PRIMARY KEY(service, slot, writer)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals(
    service TEXT, figure TEXT, period TEXT, start TEXT, value REAL,
    PRIMARY KEY(service, figure, period, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alive(
    service TEXT, instance TEXT, start REAL, last REAL,
    PRIMARY KEY(service, instance, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS schedules(
    service TEXT, schedule TEXT, since REAL, PRIMARY KEY(service, schedule)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ticks(
    service TEXT, schedule TEXT, tick REAL, claimed_by TEXT, claimed_at REAL, done_at REAL, figures TEXT,
    PRIMARY KEY(service, schedule, tick)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alerts(
    service TEXT, rule TEXT, subject TEXT, firing INTEGER, since REAL, value REAL,
    PRIMARY KEY(service, rule, subject)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS jobs(
    service TEXT, name TEXT, first_seen REAL, last_ok REAL, last_fail REAL, duration_ms REAL,
    alerted_deadline REAL, PRIMARY KEY(service, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS milestones(
    service TEXT, name TEXT, start TEXT, reached_at REAL, value REAL,
    PRIMARY KEY(service, name, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lease(
    service TEXT PRIMARY KEY, host TEXT, pid INTEGER, token TEXT, version TEXT,
    started_at REAL, heartbeat_at REAL, stopped_at REAL) WITHOUT ROWID;
"""


def _has_schema(conn: sqlite3.Connection) -> bool:
    """The tables exist: the schema is created in one transaction that writes this row last."""
    try:
        return conn.execute("SELECT 1 FROM meta WHERE key='schema'").fetchone() is not None
    except sqlite3.OperationalError:  # no such table
        return False


class Store:
    """One SQLite connection per process to the shared state file (see the module docstring).

    ``writer`` names this process in ``slots``; a forked child gets a new one
    and its own connection (a SQLite connection must not cross a fork).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._init_process_state()
        forks.in_child(self._init_process_state)

    def _init_process_state(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self.writer = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def __repr__(self) -> str:
        return f"Store({self.path!r})"

    @classmethod
    def open(cls, directory: Path) -> Store:
        """The store in ``directory`` (created); in memory if the directory cannot be used."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
            store = cls(directory / FILE_NAME)
            with store.transaction():
                pass
            return store
        except (OSError, sqlite3.Error) as exc:
            _logger.warning(
                "cannot use %s (%s); summary state is kept in memory, so this process neither shares it "
                "with other workers nor keeps it across a restart",
                directory / FILE_NAME,
                exc,
            )
            return cls(":memory:")

    def _connection(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            self._init_process_state()
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        """Open and set up the file. Switching a new file to WAL takes an exclusive lock that does
        not wait for the busy timeout, so workers starting together retry for a moment."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        delay = 0.01
        while True:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            try:
                conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
                if self.path != ":memory:" and conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                if not _has_schema(conn):  # once per file: a write lock per connection is not free
                    conn.executescript(
                        f"BEGIN IMMEDIATE;{_SCHEMA}"
                        f"INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', '{_SCHEMA_VERSION}');COMMIT;"
                    )
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()
                if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction (``BEGIN IMMEDIATE``), committed on success, else rolled back."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._connection().execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # --- slots --------------------------------------------------------------------------
    def add_slot(self, db: sqlite3.Connection, service: str, now: float, tally: Tally) -> None:
        """Add ``tally`` to this process's row of the minute holding ``now``."""
        slot = int(now // SLOT_S) * SLOT_S
        row = db.execute(
            "SELECT tally FROM slots WHERE service=? AND slot=? AND writer=?", (service, slot, self.writer)
        ).fetchone()
        combined = Tally.loads(row[0]).merge(tally) if row else tally
        db.execute(
            "INSERT OR REPLACE INTO slots(service, slot, writer, tally) VALUES (?,?,?,?)",
            (service, slot, self.writer, combined.pack()),
        )

    def slots(self, service: str, start: float, end: float, *, routes: bool = True) -> list[tuple[int, Tally]]:
        """(slot start, tally) of every row of ``service`` in ``[start, end)``, all writers."""
        rows = self.read(
            "SELECT slot, tally FROM slots WHERE service=? AND slot>=? AND slot<? ORDER BY slot",
            (service, int(start), int(end) if end == int(end) else int(end) + 1),
        )
        result = []
        for slot, text in rows:
            try:
                result.append((int(slot), Tally.loads(text, routes=routes)))
            except (ValueError, TypeError, KeyError):
                _logger.debug("skipping an unreadable summary row", exc_info=True)
        return result

    def add_totals(self, db: sqlite3.Connection, service: str, values: Mapping[tuple[str, str, str], float]) -> None:
        """Add to running totals keyed (figure, period kind, period start date)."""
        db.executemany(
            "INSERT INTO totals(service, figure, period, start, value) VALUES (?,?,?,?,?) "
            "ON CONFLICT(service, figure, period, start) DO UPDATE SET value = value + excluded.value",
            [(service, figure, period, start, value) for (figure, period, start), value in values.items() if value],
        )

    def total(self, service: str, figure: str, period: str, start: str) -> float:
        rows = self.read(
            "SELECT value FROM totals WHERE service=? AND figure=? AND period=? AND start=?",
            (service, figure, period, start),
        )
        return float(rows[0][0]) if rows else 0.0

    def totals_like(self, service: str, period: str, start: str) -> dict[str, float]:
        rows = self.read(
            "SELECT figure, value FROM totals WHERE service=? AND period=? AND start=?", (service, period, start)
        )
        return {str(figure): float(value) for figure, value in rows}

    # --- heartbeats and uptime ----------------------------------------------------------
    def heartbeat(
        self, db: sqlite3.Connection, service: str, instance: str, now: float, *, started: float | None, gap: float
    ) -> None:
        """Extend the instance's alive segment to ``now``, or start a new one after more than ``gap``.

        A new segment starts at ``started`` (when the instance's streams began)
        if given, but never more than ``gap`` before ``now``.
        """
        row = db.execute(
            "SELECT start, last FROM alive WHERE service=? AND instance=? ORDER BY start DESC LIMIT 1",
            (service, instance),
        ).fetchone()
        if row is not None and row[1] <= now <= row[1] + gap:
            db.execute(
                "UPDATE alive SET last=? WHERE service=? AND instance=? AND start=?", (now, service, instance, row[0])
            )
            return
        if row is not None and now < row[1]:
            return  # a late beat inside a known segment
        begin = now if started is None else max(min(started, now), now - gap)
        if row is not None:
            begin = max(begin, row[1])
        db.execute(
            "INSERT OR REPLACE INTO alive(service, instance, start, last) VALUES (?,?,?,?)",
            (service, instance, begin, now),
        )

    def uptime(self, service: str, start: float, end: float) -> float | None:
        """Share of ``[start, end)`` covered by the alive segments of any instance; None without any."""
        rows = self.read(
            "SELECT start, last FROM alive WHERE service=? AND last>=? AND start<? ORDER BY start",
            (service, start, end),
        )
        if end <= start:
            return None
        if not rows and not self.read("SELECT 1 FROM alive WHERE service=? LIMIT 1", (service,)):
            return None
        covered, reach = 0.0, start
        for seg_start, seg_last in rows:
            lo, hi = max(seg_start, reach), min(seg_last, end)
            if hi > lo:
                covered += hi - lo
                reach = hi
        return covered / (end - start)

    def instances_alive(self, service: str, since: float) -> int:
        rows = self.read("SELECT COUNT(DISTINCT instance) FROM alive WHERE service=? AND last>=?", (service, since))
        return int(rows[0][0]) if rows else 0

    # --- schedules and election ---------------------------------------------------------
    def schedule_since(self, service: str, schedule: str, now: float) -> float:
        """When this schedule was first seen for ``service`` (recorded now if never)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO schedules(service, schedule, since) VALUES (?,?,?)", (service, schedule, now)
            )
            return float(
                db.execute(
                    "SELECT since FROM schedules WHERE service=? AND schedule=?", (service, schedule)
                ).fetchone()[0]
            )

    def claim(self, service: str, schedule: str, tick: float, now: float) -> bool:
        """Elect this process to act on ``tick``: True for exactly one claimant (see ``CLAIM_TIMEOUT_S``)."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO ticks(service, schedule, tick, claimed_by, claimed_at) VALUES (?,?,?,?,?)",
                (service, schedule, tick, self.writer, now),
            )
            if cursor.rowcount == 1:
                return True
            cursor = db.execute(
                "UPDATE ticks SET claimed_by=?, claimed_at=? "
                "WHERE service=? AND schedule=? AND tick=? AND done_at IS NULL AND claimed_at<?",
                (self.writer, now, service, schedule, tick, now - CLAIM_TIMEOUT_S),
            )
            return cursor.rowcount == 1

    def finish(self, service: str, schedule: str, tick: float, now: float, figures: Mapping[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE ticks SET done_at=?, figures=? WHERE service=? AND schedule=? AND tick=?",
                (now, json.dumps(figures, allow_nan=False), service, schedule, tick),
            )

    def previous_figures(self, service: str, schedule: str, tick: float) -> dict[str, Any] | None:
        """The figures of the last summary posted before ``tick``, for trend arrows."""
        rows = self.read(
            "SELECT figures FROM ticks WHERE service=? AND schedule=? AND tick<? AND done_at IS NOT NULL "
            "AND figures IS NOT NULL ORDER BY tick DESC LIMIT 1",
            (service, schedule, tick),
        )
        try:
            return json.loads(rows[0][0]) if rows else None
        except ValueError:
            return None

    # --- upkeep -------------------------------------------------------------------------
    def compact(self, now: float) -> int:
        """Merge minute rows older than ``FINE_FOR_S`` into quarter-hour rows; drop expired rows.

        One transaction per quarter hour, so no other process waits long for the write lock.
        """
        cutoff = int((now - FINE_FOR_S) // COARSE_SLOT_S) * COARSE_SLOT_S
        groups = self.read(
            "SELECT DISTINCT service, slot - slot % ? FROM slots WHERE slot<? AND NOT (writer=? AND slot%?=0)",
            (COARSE_SLOT_S, cutoff, _MERGED, COARSE_SLOT_S),
        )
        merged = 0
        for service, quarter in groups:
            with self.transaction() as db:
                where = "service=? AND slot>=? AND slot<? AND NOT (writer=? AND slot=?)"
                params = (service, quarter, quarter + COARSE_SLOT_S, _MERGED, quarter)
                rows = db.execute(f"SELECT tally FROM slots WHERE {where}", params).fetchall()
                tally = Tally()
                for (text,) in rows:
                    try:
                        tally.merge(Tally.loads(text))
                    except (ValueError, TypeError, KeyError):
                        continue
                self._merge_row(db, service, int(quarter), tally)
                db.execute(f"DELETE FROM slots WHERE {where}", params)
                merged += len(rows)
        expired = now - RETENTION_S
        with self.transaction() as db:
            db.execute("DELETE FROM slots WHERE slot<?", (expired,))
            db.execute("DELETE FROM alive WHERE last<?", (expired,))
            db.execute("DELETE FROM ticks WHERE tick<?", (expired,))
            oldest_total = datetime.fromtimestamp(now - TOTALS_RETENTION_S, UTC).date().isoformat()
            db.execute("DELETE FROM totals WHERE start<?", (oldest_total,))
            # Internal elections (_alerts every minute, _maintenance, _health) need no history.
            db.execute("DELETE FROM ticks WHERE substr(schedule, 1, 1)='_' AND tick<?", (now - 86400,))
        return merged

    @staticmethod
    def _merge_row(db: sqlite3.Connection, service: str, slot: int, tally: Tally) -> None:
        row = db.execute(
            "SELECT tally FROM slots WHERE service=? AND slot=? AND writer=?", (service, slot, _MERGED)
        ).fetchone()
        if row:
            tally = Tally.loads(row[0]).merge(tally)
        db.execute(
            "INSERT OR REPLACE INTO slots(service, slot, writer, tally) VALUES (?,?,?,?)",
            (service, slot, _MERGED, tally.pack()),
        )
