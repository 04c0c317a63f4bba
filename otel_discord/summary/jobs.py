"""Job monitoring: a dead man's switch for jobs that stop reporting.

Jobs report through business events: ``job.completed`` and ``job.failed`` with
``job.name`` and ``job.duration_ms`` (``error.type`` on failure). A failure is
alerted at once by the log exporter, which sees the event first; here it only
updates the job's state. A job listed in the config file
(``jobs: [{name: nightly-backup, every: 24h, grace: 1h}]``) is also expected to
complete at least every ``every``; when ``every + grace`` passes without a
``job.completed``, one alert goes out, and another for each further ``every``
that passes, until the job reports again (then one "recovered" notice). A job
never seen is measured from when monitoring started.

The last success of every job is kept in the ``jobs`` table, so a restart
neither forgets a missed deadline nor alerts it twice; the compare-and-set on
``alerted_deadline`` inside one write transaction makes one process send it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.summary.config import JobSpec
from otel_discord.summary.state import Store


class Jobs:
    """See the module docstring."""

    def __init__(self, specs: Sequence[JobSpec], store: Store, tz: ZoneInfo) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._store = store
        self._tz = tz

    def record(self, service: str, events: Iterable[tuple[str, Mapping[str, Any]]], now: float) -> list[Notice]:
        """Store what ``job.completed``/``job.failed`` events say; a notice per failure and per recovery."""
        notices = []
        for name, attributes in events:
            if name not in ("job.completed", "job.failed"):
                continue
            job = str(attributes.get("job.name") or "").strip()
            if not job:
                continue
            duration = _number(attributes.get("job.duration_ms"))
            if name == "job.completed":
                notice = self._completed(service, job, duration, now)
            else:
                # The log exporter posted this job.failed event the moment it was logged
                # (with its traceback); a second alert here would only repeat it.
                self._failed(service, job, duration, attributes, now)
                notice = None
            if notice is not None:
                notices.append(notice)
        return notices

    def overdue(self, service: str, now: float) -> list[Notice]:
        """Alerts for configured jobs whose deadline passed (each missed deadline once)."""
        notices = []
        for spec in self._specs.values():
            # Read first, without the write lock: every worker runs this on every export.
            if self._deadline(service, spec, now, None) is None:
                continue
            with self._store.transaction() as db:
                due = self._deadline(service, spec, now, db)
                if due is None:
                    continue
                deadline, reference, ever_ok = due
                db.execute(
                    "UPDATE jobs SET alerted_deadline=? WHERE service=? AND name=?", (deadline, service, spec.name)
                )
            notices.append(self._overdue_notice(service, spec, reference, ever_ok, now))
        return notices

    def _deadline(self, service: str, spec: JobSpec, now: float, db: Any) -> tuple[float, float, bool] | None:
        """(missed deadline, reference time, ever succeeded) if an alert is due, else None.

        With ``db`` (a write transaction) a job seen for the first time is recorded.
        """
        sql = "SELECT first_seen, last_ok, alerted_deadline FROM jobs WHERE service=? AND name=?"
        params = (service, spec.name)
        row = db.execute(sql, params).fetchone() if db is not None else next(iter(self._store.read(sql, params)), None)
        if row is None:
            if db is not None:
                db.execute("INSERT INTO jobs(service, name, first_seen) VALUES (?,?,?)", (service, spec.name, now))
                return None
            return (0.0, now, False)  # not known yet: let the transaction record it
        first_seen, last_ok, alerted = row
        reference = float(last_ok if last_ok is not None else first_seen)
        missed = math.floor((now - reference - spec.grace) / spec.every)
        if missed < 1:
            return None
        deadline = reference + missed * spec.every + spec.grace
        if alerted is not None and float(alerted) >= deadline:
            return None
        return deadline, reference, last_ok is not None

    # --- events -------------------------------------------------------------------------
    def _completed(self, service: str, job: str, duration: float | None, now: float) -> Notice | None:
        with self._store.transaction() as db:
            row = db.execute(
                "SELECT alerted_deadline, last_ok FROM jobs WHERE service=? AND name=?", (service, job)
            ).fetchone()
            db.execute(
                "INSERT INTO jobs(service, name, first_seen, last_ok, duration_ms) VALUES (?,?,?,?,?) "
                "ON CONFLICT(service, name) DO UPDATE SET last_ok=excluded.last_ok, "
                "duration_ms=excluded.duration_ms, alerted_deadline=NULL",
                (service, job, now, now, duration),
            )
        if row is None or row[0] is None:
            return None
        spec = self._specs.get(job)
        last = f"last success before this: {self._when(row[1])}" if row[1] is not None else "first success seen"
        return Notice(
            kind=Kind.EVENT,
            severity=Severity.SUCCESS,
            category=Category.SYSTEM,
            title=f"Job {job} completed again",
            description=f"It was overdue; {last}.",
            fields=_fields(duration, spec),
            **_common(service, job, "recovered", now),
        )

    def _failed(
        self, service: str, job: str, duration: float | None, attributes: Mapping[str, Any], now: float
    ) -> Notice:
        with self._store.transaction() as db:
            row = db.execute("SELECT last_ok FROM jobs WHERE service=? AND name=?", (service, job)).fetchone()
            db.execute(
                "INSERT INTO jobs(service, name, first_seen, last_fail) VALUES (?,?,?,?) "
                "ON CONFLICT(service, name) DO UPDATE SET last_fail=excluded.last_fail",
                (service, job, now, now),
            )
        error = str(attributes.get("error.type") or attributes.get("exception.type") or "").strip()
        fields = list(_fields(duration, self._specs.get(job)))
        if error:
            fields.insert(0, Field("Error", error))
        last_ok = row[0] if row is not None else None
        fields.append(Field("Last success", self._when(last_ok) if last_ok is not None else "never seen"))
        return Notice(
            kind=Kind.EVENT,
            severity=Severity.ERROR,
            category=Category.SYSTEM,
            title=f"Job {job} failed" + (f": {error}" if error else ""),
            description=str(attributes.get("exception.message") or "")[:300],
            fields=tuple(fields),
            **_common(service, job, "failed", now),
        )

    def _overdue_notice(self, service: str, spec: JobSpec, reference: float, ever_ok: bool, now: float) -> Notice:
        silent = _duration(now - reference)
        since = (
            f"Last success: {self._when(reference)}."
            if ever_ok
            else f"Never seen since monitoring started {self._when(reference)}."
        )
        return Notice(
            kind=Kind.THRESHOLD,
            severity=Severity.ERROR,
            category=Category.SYSTEM,
            title=f"Job {spec.name} has not completed for {silent}",
            description=f"{since} Expected every {_duration(spec.every)}"
            + (f" (grace {_duration(spec.grace)})." if spec.grace else "."),
            fields=(
                Field("Expected every", _duration(spec.every)),
                Field("Grace", _duration(spec.grace)),
                Field("Silent for", silent),
            ),
            **_common(service, spec.name, "overdue", now),
        )

    def _when(self, instant: float) -> str:
        local = datetime.fromtimestamp(float(instant), self._tz)
        return f"{local:%a} {local.day} {local:%b %H:%M} ({self._tz.key})"


def _common(service: str, job: str, state: str, now: float) -> dict[str, Any]:
    return {
        "attributes": {"service.name": service, "job.name": job, "job.state": state},
        "fingerprint": f"job:{service}:{job}:{state}:{int(now)}",
        "event_name": f"job.{state}",
        "service": service,
        "signal": "metrics",
        "timestamp": now,
    }


def _fields(duration: float | None, spec: JobSpec | None) -> tuple[Field, ...]:
    fields = []
    if duration is not None:
        fields.append(Field("Duration", _duration(duration / 1000.0)))
    if spec is not None:
        fields.append(Field("Expected every", _duration(spec.every)))
    return tuple(fields)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _duration(seconds: float) -> str:
    """``25 h``, ``1 h 30 min``, ``45 min``, ``12 s``, ``2 d 3 h``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes = int(round(seconds / 60))
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days >= 2:
        return f"{days} d {hours} h" if hours else f"{days} d"
    hours += days * 24
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"
