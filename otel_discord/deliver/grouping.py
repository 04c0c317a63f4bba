"""The engine's side of grouping (``group.py`` decides, this applies): folds, group starts and edits.

The fingerprint → message map lives in the spool (``groups`` table), so every
process of the application folds its repeats into the same group and a new
sender, after a restart or a takeover, keeps editing the same message. Keys
include the webhook id: after a reload replaced a channel's webhook, its groups
continue in a fresh message through the new one (their unwritten count is
posted anew; nothing is lost).

First occurrences of different groups share messages (``pack``: up to 10
embeds, 6000 characters); the spool keeps each message's (key, embed) list, so
an edit re-sends the whole list with the embeds of the message's live groups
brought up to date (one PATCH settles every group of the message) and the
others as they were. An embed that grew past the message's 6000 characters
moves its group to a new message. Edits always carry ``allowed_mentions`` with
nothing allowed: an edit must never ping anyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_discord.deliver import codec
from otel_discord.deliver.queue import Entry, Outgoing
from otel_discord.deliver.spool import Spool
from otel_discord.group import SEEN_FIELD, TRACE_FIELD, Group, GroupPolicy, seen_text
from otel_discord.render import limits
from otel_discord.render.limits import embed_size

NO_MENTIONS: Final = {"parse": []}
_MAX_STARTED: Final = 4096  # keys whose start the book remembers (for rows waiting with the same key)


@dataclass(frozen=True, slots=True)
class EditJob:
    """One PATCH to make: the group as read, and its first occurrence."""

    channel: str
    webhook: str
    key: str
    group: Group
    item: Outgoing
    # The message's embeds as this edit shows them, and the count each live group of it reaches.
    listing: tuple[tuple[str, dict[str, Any]], ...] = ()
    written: tuple[tuple[str, int], ...] = ()


def shown(embed: Mapping[str, Any], count: int, first_seen: float | None, last_seen: float | None) -> dict[str, Any]:
    """A grouped notice's embed as its message shows it: the Seen field once it repeated."""
    return with_seen(embed, count, first_seen, last_seen) if count > 1 else dict(embed)


class GroupBook:
    """Dirty groups of the spool, refreshed by the sender, and the writes that follow each answer."""

    def __init__(self, policy: GroupPolicy, writer: str) -> None:
        self.policy = policy
        self.writer = writer
        self.spool: Spool | None = None
        self._dirty: dict[tuple[str, str, str], tuple[Group, str]] = {}
        self._stale = False
        self.reposted = 0  # rows put back in the outbox, until the engine has counted them
        # A waiting row finds a live group it had not found before only when this sender starts
        # that group (repeats arriving later fold as they are written): rows are looked at again
        # only then. ``generation`` counts starts; ``_started`` keeps each key's last one.
        self.generation = 0
        self._started: dict[str, int] = {}
        self._floor = 0  # rows looked at before this look again (a reset, forgotten keys)

    def reset(self, spool: Spool | None) -> None:
        self.spool = spool
        self._dirty = {}
        self._stale = spool is not None
        self.generation += 1
        self._floor = self.generation
        self._started.clear()

    def refresh(self) -> None:
        """Read the dirty groups again (another process, or a fold of ours, changed them)."""
        assert self.spool is not None
        self._dirty = {(c, w, k): (g, body) for c, w, k, g, body in self.spool.dirty_groups()}
        self._stale = False

    def invalidate(self) -> None:
        """Something in the spool changed: read the groups again before using them."""
        self._stale = self.spool is not None

    def _current(self) -> dict[tuple[str, str, str], tuple[Group, str]]:
        if self._stale:
            self.refresh()
        return self._dirty

    def __len__(self) -> int:
        return len(self._current())

    def channels(self) -> set[str]:
        return {channel for channel, _, _ in self._current()}

    # ------------------------------------------------------------------ folding and starting
    def fold(self, entries: list[Entry], webhook: str, now: float) -> list[Entry]:
        """Fold waiting rows of one channel into their groups' live messages (no request: one read,
        and one transaction if any folds); the entries handled. The rest are posted. A row is looked
        at again only after this sender started its group (or after a reset)."""
        assert self.spool is not None
        todo = [
            e
            for e in entries
            if e.group is not None
            and e.row_id is not None
            and not e.solo
            and e.fold_checked < max(self._floor, self._started.get(e.group, -1))
        ]
        if not todo:
            return []
        for entry in todo:
            entry.fold_checked = self.generation
        channel = todo[0].item.channel
        live = self.spool.live_keys(channel, webhook, sorted({str(e.group) for e in todo}), self.policy, now)
        if not live:
            return []
        ids = set(
            self.spool.fold_rows(
                [(int(e.row_id), str(e.group)) for e in todo if e.group in live],  # type: ignore[arg-type]
                channel,
                webhook,
                self.policy,
                now,
            )
        )
        folded = [e for e in todo if e.row_id in ids]
        self._stale = self._stale or bool(folded)
        return folded

    def _mark_started(self, keys: list[str]) -> None:
        self.generation += 1
        for key in keys:
            self._started[key] = self.generation
        if len(self._started) > _MAX_STARTED:  # forget the oldest half: rows before them look again
            forgotten = list(self._started)[: len(self._started) // 2]
            self._floor = max(self._floor, max(self._started[k] for k in forgotten))
            for key in forgotten:
                del self._started[key]

    def started_many(
        self, entries: list[Entry], embeds: list[dict[str, Any]], webhook: str, answer: Any, now: float
    ) -> bool:
        """A message of first occurrences was posted: remember it and its groups (False: no id)."""
        assert self.spool is not None
        message_id = answer.get("id") if isinstance(answer, Mapping) else None
        if not isinstance(message_id, str) or not message_id.isdigit():
            return False
        self._mark_started([str(e.group) for e in entries])
        members = []
        for entry in entries:
            assert entry.group is not None and entry.row_id is not None
            notice = entry.item.notice
            group = self.policy.started(message_id, notice.count, notice.first_seen, notice.timestamp, now)
            members.append((entry.row_id, entry.group, group, codec.encode(entry.item)))
        self.spool.posted_message(entries[0].item.channel, webhook, members, embeds)
        return True

    def started(self, entry: Entry, webhook: str, answer: Any, now: float) -> bool:
        """The first occurrence was posted: remember its message (False if Discord sent no id)."""
        assert self.spool is not None and entry.group is not None and entry.row_id is not None
        message_id = answer.get("id") if isinstance(answer, Mapping) else None
        if not isinstance(message_id, str) or not message_id.isdigit():
            return False
        self._mark_started([str(entry.group)])
        notice = entry.item.notice
        group = self.policy.started(message_id, notice.count, notice.first_seen, notice.timestamp, now)
        self.spool.posted(entry.row_id, entry.item.channel, webhook, entry.group, group, codec.encode(entry.item))
        return True

    # ------------------------------------------------------------------ edits
    def next_edit(self, channel: str, webhook: str, now: float, *, flushing: bool) -> EditJob | float | None:
        """The edit due now in ``channel``, else seconds until one is (None: nothing to edit).

        Groups of a webhook the channel no longer uses are reposted through the new one.
        """
        assert self.spool is not None
        soonest: float | None = None
        for (name, hook, key), (group, body) in list(self._current().items()):
            if name != channel:
                continue
            if hook != webhook:
                self._repost(name, hook, key, group, body, now, group.count - group.written, None)
                return 0.0
            wait = self.policy.edit_delay(group, now, flushing=flushing)
            if wait is None:
                continue
            if wait <= 0:
                return self._job(name, hook, key, group, body, now)
            soonest = wait if soonest is None else min(soonest, wait)
        return soonest

    def _job(self, channel: str, hook: str, key: str, group: Group, body: str, now: float) -> EditJob | float:
        """The edit of ``key``'s message: all its embeds, every live group's brought up to date.
        0.0: the group outgrew the message and moved to a new one (its row is in the outbox)."""
        assert self.spool is not None
        item = codec.decode(body)
        found = self.spool.message(channel, hook, group.message_id)
        if found is None:  # a message of its own (or recorded before messages were shared)
            listing = [(key, shown(item.embed, group.count, group.first_seen, group.last_seen))]
            return EditJob(channel, hook, key, group, item, tuple(listing), ((key, group.count),))
        stored, live = found
        live[key] = (group, body)
        listing, written = [], []
        for member, embed in stored:
            if member in live:
                current, member_body = live[member]
                member_item = item if member == key else codec.decode(member_body)
                embed = shown(member_item.embed, current.count, current.first_seen, current.last_seen)
                written.append((member, current.count))
            listing.append((member, embed))
        if len(listing) > 1 and sum(embed_size(e) for _, e in listing) > limits.TOTAL_PER_MESSAGE:
            # Its Seen field pushed the message past Discord's limit: the rest continues anew.
            self._repost(channel, hook, key, group, body, now, group.count - group.written, None)
            return 0.0
        return EditJob(channel, hook, key, group, item, tuple(listing), tuple(written))

    @staticmethod
    def payload(job: EditJob) -> dict[str, Any]:
        embeds = [dict(embed) for _, embed in job.listing]
        return {"embeds": embeds, "allowed_mentions": dict(NO_MENTIONS)}

    def edited(self, job: EditJob, now: float) -> None:
        """The message shows ``job.listing`` now (or we gave up on showing it)."""
        assert self.spool is not None
        written = dict(job.written) or {job.key: job.group.count}
        self.spool.message_edited(job.channel, job.webhook, job.group.message_id, job.listing, written, now)
        for key in written:
            self._dirty.pop((job.channel, job.webhook, key), None)

    def message_gone(self, job: EditJob, now: float) -> None:
        """404 Unknown Message: someone deleted it. Post every live group of it anew, with its count."""
        assert self.spool is not None
        found = self.spool.message(job.channel, job.webhook, job.group.message_id)
        live = found[1] if found is not None else {}
        live[job.key] = (job.group, codec.encode(job.item))
        for key, (group, body) in live.items():
            self._repost(job.channel, job.webhook, key, group, body, now, group.count, group.first_seen)
        self.spool.forget_message(job.channel, job.webhook, job.group.message_id)

    def _repost(
        self,
        channel: str,
        webhook: str,
        key: str,
        group: Group,
        body: str,
        now: float,
        count: int,
        first_seen: float | None,
    ) -> None:
        assert self.spool is not None
        if count > 0:
            self.spool.repost(
                channel,
                webhook,
                key,
                writer=self.writer,
                now=now,
                count=count,
                first_seen=first_seen,
                last_seen=group.last_seen,
                body=body,
            )
            self.reposted += 1
        else:
            self.spool.forget_group(channel, webhook, key)
        self._dirty.pop((channel, webhook, key), None)

    def forget_channel(self, channel: str) -> int:
        """Drop the pending edits of a channel that cannot be delivered to; how many were dropped."""
        assert self.spool is not None
        gone = [(c, w, k) for c, w, k in self._dirty if c == channel]
        for c, w, k in gone:
            self.spool.forget_group(c, w, k)
            self._dirty.pop((c, w, k), None)
        return len(gone)


def with_seen(
    embed: Mapping[str, Any], count: int, first_seen: float | None, last_seen: float | None
) -> dict[str, Any]:
    """A copy of ``embed`` whose Seen field shows the count (added before Trace if missing).

    The embed was rendered for the first occurrence; only this field changes. A
    full field list loses its last own field rather than break Discord's limit of 25.
    """
    result = dict(embed)
    fields = [dict(f) for f in embed.get("fields") or () if isinstance(f, Mapping)]
    seen = {"name": SEEN_FIELD, "value": seen_text(count, first_seen, last_seen), "inline": True}
    names = [f.get("name") for f in fields]
    if SEEN_FIELD in names:
        fields[names.index(SEEN_FIELD)] = seen
    else:
        at = names.index(TRACE_FIELD) if TRACE_FIELD in names else len(fields)
        if len(fields) >= limits.FIELDS:
            at = max(0, at - 1)
            del fields[at]
        fields.insert(at, seen)
    result["fields"] = fields
    return result
