"""The nightly backup job: a consistent copy of the SQLite database, old copies pruned."""

from __future__ import annotations

import logging
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from . import events
from .db import Database

JOB_NAME: Final = "nightly-backup"
#: Copies kept in the backup directory; a week of nightly runs.
KEEP: Final = 7


@dataclass(frozen=True, slots=True)
class BackupResult:
    ok: bool
    duration_ms: float
    path: Path | None = None
    size_bytes: int = 0
    error: str = ""


def run_backup(database: Database, backup_dir: str | Path, now: datetime | None = None) -> BackupResult:
    """Copy the database into ``backup_dir``; emit ``job.completed`` or ``job.failed``.

    Never raises: the result (and the event) says what happened, so a scheduler or
    the web route can report it without a traceback page.
    """
    started = time.perf_counter()
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S-%f")
    try:
        source_path = database.sqlite_path
        if source_path is None:
            raise RuntimeError(f"backup supports SQLite database files only, not {database.engine.url.drivername}")
        target_dir = Path(backup_dir)
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"ozark-{stamp}.db"
        if not source_path.is_file():
            raise FileNotFoundError(f"database file not found: {source_path}")
        # sqlite3's online backup API copies a consistent snapshot even while requests write.
        with closing(sqlite3.connect(source_path)) as source, closing(sqlite3.connect(target)) as copy:
            source.backup(copy)
        pruned = _prune(target_dir)
    except Exception as exc:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        events.emit(
            "job.failed",
            f"Job {JOB_NAME} failed after {duration_ms:.0f} ms: {exc}",
            {"job.name": JOB_NAME, "job.duration_ms": duration_ms, "error.type": type(exc).__name__},
            level=logging.ERROR,
            exc_info=True,
        )
        return BackupResult(ok=False, duration_ms=duration_ms, error=f"{type(exc).__name__}: {exc}")
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    size = target.stat().st_size
    events.emit(
        "job.completed",
        f"Job {JOB_NAME} completed in {duration_ms:.0f} ms ({target.name}, {size // 1024} KiB)",
        {
            "job.name": JOB_NAME,
            "job.duration_ms": duration_ms,
            "job.output": target.name,
            "job.size_bytes": size,
            "job.pruned": pruned,
        },
    )
    return BackupResult(ok=True, duration_ms=duration_ms, path=target, size_bytes=size)


def _prune(target_dir: Path) -> int:
    """Delete all but the newest ``KEEP`` copies; returns how many were deleted."""
    copies = sorted(target_dir.glob("ozark-*.db"))  # the timestamp in the name sorts by age
    for old in copies[:-KEEP]:
        old.unlink()
    return max(len(copies) - KEEP, 0)


def list_backups(backup_dir: str | Path) -> list[Path]:
    """Existing copies, newest first."""
    directory = Path(backup_dir)
    if not directory.is_dir():
        return []
    return sorted(directory.glob("ozark-*.db"), reverse=True)
