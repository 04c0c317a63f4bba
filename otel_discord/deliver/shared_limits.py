"""Many processes, one webhook: one elected sender per application, shared windows across applications.

Discord's limits (about 5 requests per 2 s per webhook, 30 messages per 60 s per
channel, shared by every webhook of the channel) do not care how many processes
post. Under ``gunicorn -w 4`` four engines would each believe they have the
whole budget. The processes of one application (a *scope*, see
``spool.default_scope``) therefore elect one sender through a lease row in the
spool file: the holder renews it every second (``LEASE_TTL`` 10 s); the others
only write the outbox, and take over when the lease runs out (a SIGKILLed
holder costs at most that long; its half-sent rows are sent again).

Why a leader rather than every process reserving send slots:

* grouping across processes falls out of it: one process sees every repeat in
  order, decides "post" or "edit", and debounces edits. With four senders, four
  workers would race to post the first occurrence and to write the last count;
* order: one sender delivers the outbox in ``id`` order, across processes and
  across restarts;
* the header-driven limiter (``ratelimit.py``) is exact again: it sees every
  request made through the webhook.

What a lease cannot cover is *different* applications on one host posting
through one webhook or into one channel. For them, and for a new leader taking
over mid-window, every request reserves a slot here first: sliding windows of
recent requests per webhook (its limit and window as Discord's headers report
them) and per channel, plus 429 blocks, all rows in the spool file, checked and
taken in one short transaction. A reservation made before the request counts as
"at the end of the timeout" until its answer arrives, so a process that dies
mid-request errs on the safe side. A sliding window never allows more than
``limit`` requests in any span of ``window`` seconds, so it also fits Discord's
fixed windows wherever they start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from otel_discord.deliver.ratelimit import DEFAULT_MARGIN
from otel_discord.deliver.spool import Spool
from otel_discord.deliver.webhook import RETRY_AFTER_MAX, Outcome

LEASE_TTL: Final = 10.0
LEASE_RENEW: Final = 1.0
#: Until a webhook's first answer reports its bucket (Discord: 5 per 2 s in practice).
DEFAULT_WEBHOOK_LIMIT: Final = 5
DEFAULT_WEBHOOK_WINDOW: Final = 2.0
GLOBAL_KEY: Final = "global"
_KEEP: Final = 600.0  # request rows older than this are of no use to any window
_LONGEST_BLOCK: Final = RETRY_AFTER_MAX + 60.0  # the longest a 429 or ban may block, and some


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value == value and abs(value) != float("inf") else None


@dataclass(frozen=True, slots=True)
class Reservation:
    """Slots taken for one request (their row ids)."""

    ids: tuple[int, ...]


class SharedLimits:
    """Sliding windows and blocks in the spool file (unix-seconds clock: every process shares it)."""

    def __init__(
        self,
        spool: Spool,
        *,
        channel_limit: int = 30,
        channel_window: float = 60.0,
        margin: float = DEFAULT_MARGIN,
        hold: float = 10.0,
    ) -> None:
        if channel_limit <= 0 or channel_window <= 0:
            raise ValueError("channel budget needs a positive limit and window")
        self.spool = spool
        self.channel_limit = channel_limit
        self.channel_window = channel_window
        self.margin = margin
        self.hold = hold  # how long an unanswered reservation counts as pending (the HTTP timeout)

    def _windows(self, db, webhook_key: str, channel_key: str | None) -> list[tuple[str, int, float]]:
        row = db.execute("SELECT lim, win FROM buckets WHERE key = ?", (webhook_key,)).fetchone()
        limit, window = (int(row[0]), float(row[1])) if row else (DEFAULT_WEBHOOK_LIMIT, DEFAULT_WEBHOOK_WINDOW)
        windows = [(webhook_key, limit, window)]
        if channel_key and channel_key != webhook_key:
            windows.append((channel_key, self.channel_limit, self.channel_window))
        return windows

    def _wait(self, db, keys: Sequence[str], windows: list[tuple[str, int, float]], now: float) -> float:
        # Rows further ahead than any wait could reach were written before the wall clock was
        # set back: they would block for the size of the jump, so they do not count.
        marks = ",".join("?" * len(keys))
        until = db.execute(
            f"SELECT max(until) FROM blocks WHERE key IN ({marks}) AND until <= ?", (*keys, now + _LONGEST_BLOCK)
        ).fetchone()[0]
        wait = max(0.0, (until or 0.0) - now)
        for key, limit, window in windows:
            times = [
                r[0]
                for r in db.execute(
                    "SELECT at FROM sends WHERE key = ? AND at > ? AND at <= ? ORDER BY at",
                    (key, now - window - self.margin, now + self.hold + self.margin),
                ).fetchall()
            ]
            if len(times) >= limit:
                wait = max(wait, times[len(times) - limit] + window + self.margin - now)
        return wait

    def delay(self, webhook_key: str, channel_key: str | None, now: float) -> float:
        """Seconds until a request through this webhook into this channel may go; 0 means go."""
        with self.spool.reading() as db:
            windows = self._windows(db, webhook_key, channel_key)
            return self._wait(db, [webhook_key, channel_key or webhook_key, GLOBAL_KEY], windows, now)

    def reserve(self, webhook_key: str, channel_key: str | None, now: float) -> Reservation | float:
        """Take a slot in every window, or return the seconds to wait (nothing taken)."""
        with self.spool.transaction() as db:
            windows = self._windows(db, webhook_key, channel_key)
            wait = self._wait(db, [webhook_key, channel_key or webhook_key, GLOBAL_KEY], windows, now)
            if wait > 0:
                return wait
            ids = []
            for key, _, _ in windows:
                cursor = db.execute("INSERT INTO sends (key, at) VALUES (?, ?)", (key, now + self.hold))
                ids.append(int(cursor.lastrowid or 0))
            return Reservation(tuple(ids))

    def settle(self, reservation: Reservation, now: float) -> None:
        """The request was answered at ``now``: that is when it counts."""
        with self.spool.transaction() as db:
            db.executemany("UPDATE sends SET at = ? WHERE rowid = ?", [(now, i) for i in reservation.ids])

    def cancel(self, reservation: Reservation) -> None:
        """The request never reached Discord (or Discord did not count it: a 429)."""
        with self.spool.transaction() as db:
            db.executemany("DELETE FROM sends WHERE rowid = ?", [(i,) for i in reservation.ids])

    def learn(self, webhook_key: str, channel_key: str | None, outcome: Outcome, now: float) -> None:
        """Keep the webhook's bucket size, and share a 429 with every process."""
        limit = _number(outcome.header("x-ratelimit-limit"))
        remaining = _number(outcome.header("x-ratelimit-remaining"))
        reset_after = _number(outcome.header("x-ratelimit-reset-after"))
        blocks: list[tuple[str, float]] = []
        if outcome.status == 429:
            wait = outcome.retry_after if outcome.retry_after is not None else (reset_after or 5.0)
            key = webhook_key
            if outcome.is_ban or outcome.is_global:
                key = GLOBAL_KEY
            elif outcome.scope == "shared" and channel_key:
                key = channel_key
            blocks.append((key, now + wait + self.margin))
        learnt = limit is not None and limit >= 1 and remaining == limit - 1 and reset_after and reset_after > 0
        if not blocks and not learnt:
            return
        with self.spool.transaction() as db:
            if learnt:  # the first request of a window: Reset-After is the whole window
                row = db.execute("SELECT win FROM buckets WHERE key = ?", (webhook_key,)).fetchone()
                window = max(float(reset_after), float(row[0]) if row else 0.0)
                db.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)", (webhook_key, int(limit), window))
            for key, until in blocks:
                db.execute(
                    "INSERT INTO blocks VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET until ="
                    " max(until, excluded.until)",
                    (key, until),
                )

    def prune(self, now: float) -> None:
        with self.spool.transaction() as db:
            db.execute("DELETE FROM sends WHERE at < ?", (now - _KEEP,))
            db.execute("DELETE FROM blocks WHERE until < ?", (now,))
