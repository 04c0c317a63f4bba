"""The spool's ``groups`` and ``messages`` tables: the fingerprint → message id map of grouped messages.

First occurrences of different groups share messages (up to 10 embeds), so
``messages`` keeps, per message, its ordered list of (group key, embed as last
sent): an edit re-sends the whole list with the embeds of its live groups
brought up to date and the others left as they are.

A mixin of ``Spool`` (it uses its connection and transactions). Keyed by scope,
channel, webhook id and group key: every process of the application folds its
repeats into the same group, and a rotated webhook starts fresh messages.
Each method is one short transaction, so a fold and the deletion of the row
it came from can never be half done.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

from otel_discord.group import Group, GroupPolicy

_IN_CHUNK: Final = 500  # keys per "IN (...)" (SQLite caps the parameters of a statement)


class GroupStore:
    """Group operations over the connection of a ``Spool`` (which provides the three below)."""

    scope: str
    transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    reading: Callable[[], AbstractContextManager[sqlite3.Connection]]

    def _group(self, db: sqlite3.Connection, channel: str, webhook: str, key: str) -> tuple[Group, str] | None:
        row = db.execute(
            "SELECT message_id, started_at, count, written, edited_at, first_seen, last_seen, body FROM groups"
            " WHERE scope = ? AND channel = ? AND webhook = ? AND grp = ?",
            (self.scope, channel, webhook, key),
        ).fetchone()
        return (Group(*row[:7]), row[7]) if row else None

    def _write_group(
        self, db: sqlite3.Connection, channel: str, webhook: str, key: str, group: Group, body: str | None
    ) -> None:
        values = (
            group.message_id,
            group.started_at,
            group.count,
            group.written,
            group.edited_at,
            group.first_seen,
            group.last_seen,
        )
        if body is None:
            db.execute(
                "UPDATE groups SET message_id = ?, started_at = ?, count = ?, written = ?, edited_at = ?,"
                " first_seen = ?, last_seen = ? WHERE scope = ? AND channel = ? AND webhook = ? AND grp = ?",
                (*values, self.scope, channel, webhook, key),
            )
        else:
            db.execute(
                "INSERT OR REPLACE INTO groups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.scope, channel, webhook, key, *values, body),
            )

    def group(self, channel: str, webhook: str, key: str) -> tuple[Group, str] | None:
        """The group and the body of its first occurrence, or None."""
        with self.reading() as db:
            return self._group(db, channel, webhook, key)

    def fold_row(self, row_id: int, channel: str, webhook: str, key: str, policy: GroupPolicy, now: float) -> bool:
        """Move a waiting row into its live group (one transaction). False: no live group, post it.

        A row that is gone already (trimmed) counts as handled.
        """
        return bool(self.fold_rows([(row_id, key)], channel, webhook, policy, now))

    def live_keys(self, channel: str, webhook: str, keys: Sequence[str], policy: GroupPolicy, now: float) -> set[str]:
        """Which of ``keys`` have a live group a repeat may fold into (one read, no transaction)."""
        if not keys:
            return set()
        marks = ",".join("?" * len(keys))
        with self.reading() as db:
            rows = db.execute(
                "SELECT grp, message_id, started_at, count, written, edited_at, first_seen, last_seen FROM groups"
                f" WHERE scope = ? AND channel = ? AND webhook = ? AND grp IN ({marks})",
                (self.scope, channel, webhook, *keys),
            ).fetchall()
        return {row[0] for row in rows if policy.accepts(Group(*row[1:]), now)}

    def foldable(
        self, keys: Iterable[tuple[str, str | None, str]], policy: GroupPolicy, now: float
    ) -> set[tuple[str, str]]:
        """Which (channel, webhook id or None, group key) would fold now, as (channel, group key): a live
        group accepts them, or a row of their group is waiting (``Spool.persist`` decides for good)."""
        wanted: dict[tuple[str, str | None], set[str]] = {}
        for channel, webhook, key in keys:
            wanted.setdefault((channel, webhook), set()).add(key)
        found: set[tuple[str, str]] = set()
        with self.reading() as db:
            for (channel, webhook), groups in wanted.items():
                ordered = sorted(groups)
                for start in range(0, len(ordered), _IN_CHUNK):
                    chunk = ordered[start : start + _IN_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    if webhook is not None:
                        for row in db.execute(
                            "SELECT grp, message_id, started_at, count, written, edited_at, first_seen, last_seen"
                            f" FROM groups WHERE scope = ? AND channel = ? AND webhook = ? AND grp IN ({marks})",
                            (self.scope, channel, webhook, *chunk),
                        ):
                            if policy.accepts(Group(*row[1:]), now):
                                found.add((channel, row[0]))
                    for (key,) in db.execute(
                        "SELECT DISTINCT grp FROM outbox WHERE scope = ? AND channel = ? AND state = 0"
                        f" AND grp IN ({marks})",
                        (self.scope, channel, *chunk),
                    ):
                        found.add((channel, key))
        return found

    def fold_rows(
        self, rows: Sequence[tuple[int, str]], channel: str, webhook: str, policy: GroupPolicy, now: float
    ) -> list[int]:
        """``fold_row`` for several (row id, key) pairs in one transaction; the ids handled."""
        handled: list[int] = []
        with self.transaction() as db:
            for row_id, key in rows:
                row = db.execute("SELECT count, first_seen, last_seen FROM outbox WHERE id = ?", (row_id,)).fetchone()
                if row is not None:
                    found = self._group(db, channel, webhook, key)
                    if found is None or not policy.accepts(found[0], now):
                        continue
                    self._write_group(db, channel, webhook, key, policy.fold(found[0], *row), None)
                    db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                handled.append(row_id)
        return handled

    def posted(self, row_id: int, channel: str, webhook: str, key: str, group: Group, body: str) -> None:
        """A grouped notice's message exists: its row goes, its group starts (one transaction)."""
        with self.transaction() as db:
            self._write_group(db, channel, webhook, key, group, body)
            db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))

    def posted_message(
        self,
        channel: str,
        webhook: str,
        members: Sequence[tuple[int, str, Group, str]],
        embeds: Sequence[dict[str, Any]],
    ) -> None:
        """A message of grouped notices exists: their rows go, their groups start, the message's
        (key, embed) list is kept for edits (one transaction). ``members``: (row id, key, group, body)."""
        if not members:
            return
        message_id = members[0][2].message_id
        listing = json.dumps([[key, embed] for (_, key, _, _), embed in zip(members, embeds, strict=True)])
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO groups VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        self.scope,
                        channel,
                        webhook,
                        key,
                        group.message_id,
                        group.started_at,
                        group.count,
                        group.written,
                        group.edited_at,
                        group.first_seen,
                        group.last_seen,
                        body,
                    )
                    for _, key, group, body in members
                ],
            )
            db.executemany("DELETE FROM outbox WHERE id = ?", [(row_id,) for row_id, _, _, _ in members])
            db.execute(
                "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?)",
                (self.scope, channel, webhook, message_id, listing),
            )

    def message(
        self, channel: str, webhook: str, message_id: str
    ) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, tuple[Group, str]]] | None:
        """A grouped message's (key, embed as last sent) list and its live groups (key → group, body);
        None when the message was not recorded (posted alone, before messages were shared)."""
        with self.reading() as db:
            row = db.execute(
                "SELECT embeds FROM messages WHERE scope = ? AND channel = ? AND webhook = ? AND message_id = ?",
                (self.scope, channel, webhook, message_id),
            ).fetchone()
            if row is None:
                return None
            live = db.execute(
                "SELECT grp, message_id, started_at, count, written, edited_at, first_seen, last_seen, body"
                " FROM groups WHERE scope = ? AND channel = ? AND webhook = ? AND message_id = ?",
                (self.scope, channel, webhook, message_id),
            ).fetchall()
        listing = [(str(key), dict(embed)) for key, embed in json.loads(row[0])]
        return listing, {r[0]: (Group(*r[1:8]), r[8]) for r in live}

    def message_edited(
        self,
        channel: str,
        webhook: str,
        message_id: str,
        listing: Sequence[tuple[str, dict[str, Any]]],
        written: dict[str, int],
        now: float,
    ) -> None:
        """An edit succeeded: the message shows ``listing``, group ``key`` shows ``written[key]``."""
        with self.transaction() as db:
            db.execute(
                "UPDATE messages SET embeds = ? WHERE scope = ? AND channel = ? AND webhook = ? AND message_id = ?",
                (json.dumps([[k, e] for k, e in listing]), self.scope, channel, webhook, message_id),
            )
            for key, count in written.items():
                found = self._group(db, channel, webhook, key)
                if found is not None and found[0].message_id == message_id:
                    self._write_group(db, channel, webhook, key, GroupPolicy.edited(found[0], count, now), None)

    def forget_message(self, channel: str, webhook: str, message_id: str) -> None:
        with self.transaction() as db:
            db.execute(
                "DELETE FROM messages WHERE scope = ? AND channel = ? AND webhook = ? AND message_id = ?",
                (self.scope, channel, webhook, message_id),
            )

    def repost(
        self,
        channel: str,
        webhook: str,
        key: str,
        *,
        writer: str,
        now: float,
        count: int,
        first_seen: float | None,
        last_seen: float | None,
        body: str,
    ) -> None:
        """The group's message is gone (deleted, or its webhook replaced): post its count anew."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM groups WHERE scope = ? AND channel = ? AND webhook = ? AND grp = ?",
                (self.scope, channel, webhook, key),
            )
            db.execute(
                "INSERT INTO outbox (scope, channel, grp, writer, queued_at, count, first_seen, last_seen, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self.scope, channel, key, writer, now, count, first_seen, last_seen, body),
            )

    def mark_written(self, channel: str, webhook: str, key: str, written: int, now: float) -> None:
        """An edit showing ``written`` occurrences succeeded (later folds keep the group dirty)."""
        with self.transaction() as db:
            found = self._group(db, channel, webhook, key)
            if found is not None:
                self._write_group(db, channel, webhook, key, GroupPolicy.edited(found[0], written, now), None)

    def dirty_groups(self) -> list[tuple[str, str, str, Group, str]]:
        """(channel, webhook, key, group, body) of every group whose message is behind."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT channel, webhook, grp, message_id, started_at, count, written, edited_at, first_seen,"
                " last_seen, body FROM groups WHERE scope = ? AND count > written",
                (self.scope,),
            ).fetchall()
        return [(r[0], r[1], r[2], Group(*r[3:10]), r[10]) for r in rows]

    def forget_group(self, channel: str, webhook: str, key: str) -> None:
        with self.transaction() as db:
            db.execute(
                "DELETE FROM groups WHERE scope = ? AND channel = ? AND webhook = ? AND grp = ?",
                (self.scope, channel, webhook, key),
            )

    def prune_groups(self, before: float) -> None:
        """Forget groups whose window ended before ``before`` and whose message is up to date."""
        with self.transaction() as db:
            db.execute(
                "DELETE FROM groups WHERE scope = ? AND started_at < ? AND count <= written", (self.scope, before)
            )
            # A message none of whose groups is live any more is never edited again.
            db.execute(
                "DELETE FROM messages WHERE scope = ? AND NOT EXISTS (SELECT 1 FROM groups g WHERE"
                " g.scope = messages.scope AND g.channel = messages.channel AND g.webhook = messages.webhook"
                " AND g.message_id = messages.message_id)",
                (self.scope,),
            )
