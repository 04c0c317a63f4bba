"""spool.py and codec.py: the SQLite outbox, the message map and the lease, as another process sees them."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from otel_discord.deliver import codec
from otel_discord.deliver.queue import Outgoing
from otel_discord.deliver.spool import Pending, Spool, SpoolBusy, SpoolUnavailable
from otel_discord.group import GroupPolicy
from otel_discord.notice import Category, Field, Kind, Notice, Severity

NOW = 1_750_000_000.0
POLICY = GroupPolicy(window=600, edit_interval=10)
TOKEN = "Sx8d-" + "k" * 63


def outgoing(title: str = "ValueError: boom", **kw) -> Outgoing:
    notice = Notice(
        Kind.ERROR,
        Severity.ERROR,
        Category.ERROR,
        title,
        fingerprint=kw.pop("fingerprint", "fp"),
        timestamp=NOW,
        channel="ops",
        **kw,
    )
    return Outgoing("ops", {"title": title}, notice)


def pending(
    group: str | None = "fp", count: int = 1, at: float = NOW, webhook: str | None = "77", body: str | None = None
) -> Pending:
    return Pending("ops", group, webhook, at, count, at, at, body or codec.encode(outgoing()))


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    made = Spool(tmp_path / "spool.sqlite3", "app").open()
    yield made
    made.close()


class TestFile:
    def test_file_is_private_and_in_wal_mode(self, spool, tmp_path):
        """Notices can hold personal data: 0600, in a 0700 directory; WAL so processes write side by side."""
        spool.persist([pending()], writer="w", policy=POLICY, now=NOW)
        path = tmp_path / "spool.sqlite3"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if extra.exists():
                assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def test_a_widened_file_is_narrowed_again(self, tmp_path):
        path = tmp_path / "spool.sqlite3"
        path.touch(mode=0o644)
        os.chmod(path, 0o644)
        Spool(path, "app").open().close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    def test_an_unusable_directory_says_why(self, tmp_path):
        """A spool dir under a regular file cannot be created: SpoolUnavailable, never an OSError."""
        (tmp_path / "file").write_text("x")
        with pytest.raises(SpoolUnavailable, match="Not a directory"):
            Spool(tmp_path / "file" / "spool" / "spool.sqlite3", "app").open()

    def test_a_full_database_is_unavailable_not_an_exception_of_sqlite(self, tmp_path):
        spool = Spool(tmp_path / "spool.sqlite3", "app", max_pages=40).open()
        big = codec.encode(outgoing("x" * 3000))
        with pytest.raises(SpoolUnavailable, match="full"):
            for _ in range(200):
                spool.persist([pending(group=None, body=big)], writer="w", policy=POLICY, now=NOW)

    def test_a_writer_that_holds_the_lock_makes_us_busy_not_broken(self, tmp_path):
        spool = Spool(tmp_path / "spool.sqlite3", "app", busy_timeout=0.05).open()
        other = sqlite3.connect(tmp_path / "spool.sqlite3", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(SpoolBusy):
                spool.persist([pending()], writer="w", policy=POLICY, now=NOW)
        finally:
            other.execute("ROLLBACK")
        assert spool.count() == 0
        spool.persist([pending()], writer="w", policy=POLICY, now=NOW)
        assert spool.count() == 1


class TestOutbox:
    def test_rows_keep_their_order_and_writer(self, spool):
        ids, _ = spool.persist([pending(group=None), pending(group=None)], writer="a", policy=POLICY, now=NOW)
        more, _ = spool.persist([pending(group=None)], writer="b", policy=POLICY, now=NOW)
        assert [row.id for row in spool.load(0)] == ids + more
        assert (spool.count("a"), spool.count("b"), spool.count()) == (2, 1, 3)

    def test_repeats_fold_into_the_waiting_row(self, spool):
        """While a group's row waits, repeats from any writer only raise its count: one row per problem."""
        spool.persist([pending(count=2, at=NOW)], writer="a", policy=POLICY, now=NOW)
        created, grouped = spool.persist([pending(count=5, at=NOW + 30)], writer="b", policy=POLICY, now=NOW)
        assert (created, grouped) == ([], 0)
        (row,) = spool.load(0)
        assert (row.count, row.first_seen, row.last_seen, row.writer) == (7, NOW, NOW + 30, "a")

    def test_a_claimed_row_takes_no_more_repeats(self, spool):
        """A row being sent is left alone: a repeat meanwhile becomes a row of its own, never lost."""
        (first,), _ = spool.persist([pending()], writer="a", policy=POLICY, now=NOW)
        assert spool.claim([first]) == {first: (1, NOW, NOW)}
        created, _ = spool.persist([pending(count=3)], writer="a", policy=POLICY, now=NOW)
        assert len(created) == 1
        spool.unclaim([first])
        spool.persist([pending(count=4)], writer="a", policy=POLICY, now=NOW)
        assert [row.count for row in spool.load(0)] == [5, 3]

    def test_repeats_fold_into_a_live_group_and_make_it_dirty(self, spool):
        """Once the message exists, repeats count into its group (the sender edits it)."""
        (row_id,), _ = spool.persist([pending()], writer="a", policy=POLICY, now=NOW)
        spool.posted(row_id, "ops", "77", "fp", POLICY.started("999", 1, NOW, NOW, NOW), codec.encode(outgoing()))
        assert spool.count() == 0
        created, grouped = spool.persist([pending(count=9, at=NOW + 5)], writer="b", policy=POLICY, now=NOW + 5)
        assert (created, grouped) == ([], 1)
        ((channel, webhook, key, group, body),) = spool.dirty_groups()
        assert (channel, webhook, key, group.message_id, group.count, group.written) == (
            "ops",
            "77",
            "fp",
            "999",
            10,
            1,
        )
        assert codec.decode(body).notice.title == "ValueError: boom"

    def test_a_repeat_through_another_webhook_or_after_the_window_does_not_fold(self, spool):
        spool.posted(0, "ops", "77", "fp", POLICY.started("999", 1, NOW, NOW, NOW), codec.encode(outgoing()))
        assert spool.persist([pending(webhook="88")], writer="a", policy=POLICY, now=NOW)[1] == 0
        assert spool.persist([pending(group="fp2", at=NOW + 700)], writer="a", policy=POLICY, now=NOW + 700)[1] == 0
        spool.ack([row.id for row in spool.load(0)])
        assert spool.persist([pending()], writer="a", policy=POLICY, now=NOW + 600)[1] == 0  # window over

    def test_fold_row_moves_a_waiting_row_into_its_group_in_one_step(self, spool):
        spool.posted(0, "ops", "77", "fp", POLICY.started("999", 1, NOW, NOW, NOW), codec.encode(outgoing()))
        created, _ = spool.persist([pending(webhook=None, count=4)], writer="a", policy=POLICY, now=NOW)
        assert spool.fold_row(created[0], "ops", "77", "fp", POLICY, NOW) is True
        assert spool.count() == 0 and spool.group("ops", "77", "fp")[0].count == 5
        assert spool.fold_row(created[0], "ops", "77", "fp", POLICY, NOW) is True  # gone already: handled

    def test_repost_turns_a_group_back_into_a_row(self, spool):
        spool.posted(0, "ops", "77", "fp", POLICY.started("999", 6, NOW - 50, NOW, NOW), codec.encode(outgoing()))
        spool.repost(
            "ops",
            "77",
            "fp",
            writer="a",
            now=NOW,
            count=6,
            first_seen=NOW - 50,
            last_seen=NOW,
            body=codec.encode(outgoing()),
        )
        assert spool.group("ops", "77", "fp") is None
        (row,) = spool.load(0)
        assert (row.group, row.count, row.first_seen) == ("fp", 6, NOW - 50)

    def test_trim_drops_the_expired_then_the_oldest_beyond_the_limit(self, spool):
        rows = [pending(group=None, at=NOW - 100), pending(group=None, at=NOW - 10)] + [
            pending(group=None, at=NOW - i) for i in (5, 4, 3)
        ]
        ids, _ = spool.persist(rows, writer="a", policy=POLICY, now=NOW)
        gone = spool.trim(NOW, max_age=60, max_rows=2)
        assert [(row.id, why) for row, why in gone] == [
            (ids[0], "spool_expired"),
            (ids[1], "spool_full"),
            (ids[2], "spool_full"),
        ]
        assert [row.id for row in spool.load(0)] == ids[3:]

    def test_a_large_excess_is_trimmed_a_batch_at_a_time_oldest_first(self, spool):
        """A flood far beyond SPOOL_MAX_ROWS: each call hands back at most ``limit`` rows (their bodies are
        read into memory to write the fallback log), expired ones first, until the spool is at its limit."""
        old = [pending(group=None, at=NOW - 100) for _ in range(3)]
        fresh = [pending(group=None, at=NOW - 1) for _ in range(12)]
        ids, _ = spool.persist(old + fresh, writer="a", policy=POLICY, now=NOW)
        batches = []
        while batch := spool.trim(NOW, max_age=60, max_rows=4, limit=5):
            batches.append([(row.id, why) for row, why in batch])
        assert [len(b) for b in batches] == [5, 5, 1]
        gone = [entry for batch in batches for entry in batch]
        assert gone == [(i, "spool_expired") for i in ids[:3]] + [(i, "spool_full") for i in ids[3:11]]
        assert [row.id for row in spool.load(0)] == ids[11:]


class TestLease:
    def test_one_holder_at_a_time_until_it_expires(self, spool):
        assert spool.acquire("a", NOW, 10) == (True, True)
        assert spool.acquire("b", NOW + 5, 10) == (False, False)
        assert spool.acquire("a", NOW + 5, 10) == (True, False)  # renewed
        assert spool.acquire("b", NOW + 16, 10) == (True, True)  # a stopped renewing

    def test_a_dead_holder_is_replaced_at_once(self, spool):
        spool.acquire("a", NOW, 10)
        assert spool.acquire("b", NOW + 1, 10, gone=lambda holder: holder == "a") == (True, True)

    def test_taking_over_sends_the_last_holders_half_sent_rows_again(self, spool):
        """A holder killed mid-send leaves claimed rows: the next one sends them (at least once)."""
        ids, _ = spool.persist([pending(group=None)], writer="a", policy=POLICY, now=NOW)
        spool.acquire("a", NOW, 10)
        spool.claim(ids)
        spool.acquire("b", NOW + 20, 10)
        spool.persist([pending(count=2)], writer="b", policy=POLICY, now=NOW)  # state 0 again: folds work
        assert spool.claim(ids) == {ids[0]: (1, NOW, NOW)}

    def test_release_lets_the_next_holder_in_at_once(self, spool):
        spool.acquire("a", NOW, 10)
        spool.release("a")
        assert spool.acquire("b", NOW + 1, 10) == (True, True)

    def test_scopes_do_not_share_rows_or_leases(self, tmp_path):
        one, two = (Spool(tmp_path / "s.sqlite3", scope).open() for scope in ("one", "two"))
        one.persist([pending()], writer="a", policy=POLICY, now=NOW)
        assert (one.count(), two.count(), two.load(0)) == (1, 0, [])
        assert one.acquire("a", NOW, 10)[0] and two.acquire("b", NOW, 10)[0]


class TestCodec:
    def test_round_trip_keeps_what_delivery_needs(self):
        notice = Notice(
            Kind.EVENT,
            Severity.SUCCESS,
            Category.PAYMENT,
            "invoice #250090 paid",
            "€5,250.00",
            fields=(Field("Amount", "€5,250.00"), Field("Klant", "Acme", inline=False)),
            url="https://ozark.example/invoices/250090",
            trace_id="0af7651916cd43dd8448eb211c80319c",
            service="ozark",
            count=3,
            first_seen=NOW - 9,
            timestamp=NOW,
            channel="sales",
            attributes={"invoice.id": 250090},
        )
        item = Outgoing(
            "sales",
            {"title": "💳 paid", "fields": [{"name": "a", "value": "b"}]},
            notice,
            size=12,
            content="<@&123>",
            flags=4096,
            mention_roles=("123",),
        )
        back = codec.decode(codec.encode(item))
        assert back == Outgoing("sales", item.embed, notice.replace(attributes={}), 12, "<@&123>", 4096, ("123",))

    def test_json_not_pickle_and_no_token(self):
        """The spool holds data, never code, and never a webhook token a message happened to quote."""
        item = outgoing(f"failed: https://discord.com/api/webhooks/123/{TOKEN}")
        text = codec.encode(item)
        assert TOKEN not in text and "/webhooks/123/****" in text
        assert json.loads(text)["channel"] == "ops"

    @pytest.mark.parametrize("text", ["[]", '{"v": 99}', '{"v": 1, "channel": "x"}', "not json"])
    def test_foreign_rows_are_refused(self, text):
        with pytest.raises(ValueError):
            codec.decode(text)

    def test_an_embed_json_cannot_carry_is_refused_at_encoding(self):
        with pytest.raises(ValueError):
            codec.encode(Outgoing("ops", {"title": "x", "color": float("nan")}, outgoing().notice))
