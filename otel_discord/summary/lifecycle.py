"""System events: startup, shutdown, and "the previous instance stopped uncleanly".

*Once per service instance, not once per process.* ``opentelemetry-instrument
gunicorn -w 4`` builds the exporter once, in the master, and forks the workers;
``flask run --debug`` builds it in the reloader parent and again in every child
it spawns. So the process that builds the exporter tries to take the service's
**lease** (one row per service in the shared state file):

* no row, or a row whose holder stopped cleanly or is dead → take it; this
  process is the *primary* and posts the startup notice. A dead holder that
  never released the row stopped uncleanly (SIGKILL, a crash, SIGTERM under
  ``flask run``, which skips ``atexit``): the startup notice says so, with the
  time of its last heartbeat;
* a row held by a live process → this is a secondary (a reloader child, a
  second exporter in the same process): no notices.

A forked worker inherits the exporter but is never primary (it was not the
process that took the lease). "Live" is checked precisely on the same host: the
holder's pid must still exist with the same start time (``/proc``, so a reused
pid after a container restart does not count); elsewhere, or without
``/proc``, by a heartbeat younger than ``LEASE_TTL_S`` or ``kill(pid, 0)``.
Every export of any process of the service refreshes the heartbeat. Only the
primary posts the shutdown notice and releases the lease.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.summary.state import Store

LEASE_TTL_S: Final = 15 * 60


def process_token(pid: int) -> str | None:
    """``boot id:start time`` of process ``pid`` (Linux), None if unknown or not running."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rpartition(")")[2].split()
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            boot_id = boot.read().strip()
        return f"{boot_id}:{fields[19]}"  # field 22 of stat, counted after "pid (comm)"
    except (OSError, IndexError):
        return None


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    token: str
    version: str
    started_at: float
    heartbeat_at: float
    stopped_at: float | None

    def alive(self, host: str, now: float) -> bool:
        if self.stopped_at is not None:
            return False
        if self.host == host:
            return process_token(self.pid) == self.token if self.token else _pid_exists(self.pid)
        return now - self.heartbeat_at < LEASE_TTL_S


class Lifecycle:
    """The lease and the notices of one service's lifecycle (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        service: str,
        *,
        version: str | None,
        tz: ZoneInfo,
        channels: Mapping[str, str],
        host: str | None = None,
    ) -> None:
        self._store = store
        self.service = service
        self._version = version or ""
        self._tz = tz
        self._channels = dict(channels)  # name → masked webhook URL
        self.host = host or socket.gethostname()
        self._pid = os.getpid()
        self._started_at: float | None = None
        self.primary = False

    @property
    def started_at(self) -> float | None:
        return self._started_at

    def start(self, now: float) -> list[Notice]:
        """Take the lease if free; the startup notice (mentioning an unclean stop) if this is the primary."""
        token = process_token(self._pid) or ""
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT host, pid, token, version, started_at, heartbeat_at, stopped_at FROM lease WHERE service=?",
                (self.service,),
            ).fetchone()
            previous = Holder(*row) if row is not None else None
            if previous is not None and previous.alive(self.host, now):
                self.primary = False
                return []
            db.execute(
                "INSERT OR REPLACE INTO lease(service, host, pid, token, version, started_at, heartbeat_at, "
                "stopped_at) VALUES (?,?,?,?,?,?,?,NULL)",
                (self.service, self.host, self._pid, token, self._version, now, now),
            )
        self.primary = True
        self._started_at = now
        unclean = previous if previous is not None and previous.stopped_at is None else None
        return [self._startup_notice(now, unclean)]

    def beat(self, db: Any, now: float) -> None:
        """Refresh the service's heartbeat (inside the caller's write transaction)."""
        db.execute(
            "UPDATE lease SET heartbeat_at=? WHERE service=? AND stopped_at IS NULL AND heartbeat_at<?",
            (now, self.service, now),
        )

    def stop(self, now: float) -> list[Notice]:
        """Release the lease and say goodbye, if this process is the primary (and not a forked child)."""
        if not self.primary or os.getpid() != self._pid or self._started_at is None:
            return []
        with self._store.transaction() as db:
            cursor = db.execute(
                "UPDATE lease SET stopped_at=?, heartbeat_at=? WHERE service=? AND pid=? AND started_at=? "
                "AND stopped_at IS NULL",
                (now, now, self.service, self._pid, self._started_at),
            )
        self.primary = False
        if cursor.rowcount != 1:
            return []
        return [
            Notice(
                kind=Kind.SYSTEM,
                severity=Severity.INFO,
                category=Category.SYSTEM,
                title=f"{self.service} stopped",
                description="Clean shutdown.",
                fields=(*self._identity_fields(), Field("Uptime", _span(now - self._started_at))),
                **self._common("stopped", now),
            )
        ]

    # --- helpers ------------------------------------------------------------------------
    def _startup_notice(self, now: float, unclean: Holder | None) -> Notice:
        description = "Started."
        severity = Severity.INFO
        if unclean is not None:
            severity = Severity.WARNING
            description = (
                f"The previous instance (pid {unclean.pid} on {unclean.host}) stopped uncleanly at "
                f"{self._when(unclean.heartbeat_at)} (its last heartbeat): killed, crashed, or stopped "
                "without running its exit handlers."
            )
        channels = "\n".join(f"{name}: {url}" for name, url in sorted(self._channels.items())) or "—"
        return Notice(
            kind=Kind.SYSTEM,
            severity=severity,
            category=Category.SYSTEM,
            title=f"{self.service} started" + (" after an unclean stop" if unclean is not None else ""),
            description=description,
            fields=(*self._identity_fields(), Field("Channels", channels, inline=False)),
            **self._common("started", now),
        )

    def _identity_fields(self) -> tuple[Field, ...]:
        return (
            Field("Service", self.service),
            Field("Version", self._version or "—"),
            Field("Host", self.host),
            Field("PID", str(self._pid)),
        )

    def _common(self, state: str, now: float) -> dict[str, Any]:
        return {
            "attributes": {"service.name": self.service, "system.event": state, "host.name": self.host},
            "fingerprint": f"system:{self.service}:{state}:{int(now)}",
            "event_name": f"service.{state}",
            "service": self.service,
            "host": self.host,
            "signal": "metrics",
            "timestamp": now,
        }

    def _when(self, instant: float) -> str:
        local = datetime.fromtimestamp(instant, self._tz)
        return f"{local:%a} {local.day} {local:%b %Y %H:%M:%S} ({self._tz.key})"


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


def health_notice(service: str, now: float, figures: Mapping[str, Any]) -> Notice:
    """The periodic "still running" notice of ``service``."""
    fields = [Field("Instances", str(figures.get("instances", 0)))]
    since = figures.get("up_since")
    if since is not None:
        fields.append(Field("Up for", _span(now - float(since))))
    fields.append(Field("Requests", f"{figures.get('requests', 0):,.0f}"))
    fields.append(Field("Errors", f"{figures.get('errors', 0):,.0f}"))
    if figures.get("dropped"):
        fields.append(Field("Notices dropped", f"{figures['dropped']:,}"))
    return Notice(
        kind=Kind.SYSTEM,
        severity=Severity.INFO,
        category=Category.SYSTEM,
        title=f"{service} is running",
        description=str(figures.get("period", "")),
        fields=tuple(fields),
        attributes={"service.name": service, "system.event": "heartbeat"},
        fingerprint=f"system:{service}:heartbeat:{int(now)}",
        event_name="service.heartbeat",
        service=service,
        signal="metrics",
        timestamp=now,
    )
