"""The shared SQLite state: election, per-writer rows, compaction, uptime."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from otel_discord.summary.state import CLAIM_TIMEOUT_S, FINE_FOR_S, Store
from otel_discord.summary.tally import Tally

NOW = 1_760_457_600.0  # 2025-10-14 16:00 UTC


def tally(requests: float, revenue: float = 0.0, instance: str = "a") -> Tally:
    t = Tally()
    t.add("requests", requests)
    t.add("revenue", revenue)
    t.latency.add([10, 100], [0, requests, 0], requests * 50)
    t.instances.add(instance)
    return t


def write(store: Store, now: float, t: Tally, service: str = "ozark") -> None:
    with store.transaction() as db:
        store.add_slot(db, service, now, t)


class TestElection:
    def test_exactly_one_of_many_claimants_wins_a_tick(self, tmp_path):
        """Eight stores (as eight processes would) race for one tick from eight threads: one wins."""
        stores = [Store(tmp_path / "s.sqlite3") for _ in range(8)]
        results: list[bool] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(stores))

        def race(store: Store) -> None:
            barrier.wait()
            try:
                results.append(store.claim("ozark", "daily@18:00", NOW, NOW))
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert errors == []
        assert sorted(results) == [False] * 7 + [True]

    def test_an_unfinished_claim_is_taken_over_after_the_timeout(self, tmp_path):
        """A winner that died before posting does not cost the summary: another process takes the tick."""
        first, second = Store(tmp_path / "s.sqlite3"), Store(tmp_path / "s.sqlite3")
        assert first.claim("ozark", "daily@18:00", NOW, NOW)
        assert not second.claim("ozark", "daily@18:00", NOW, NOW + 10)
        assert second.claim("ozark", "daily@18:00", NOW, NOW + CLAIM_TIMEOUT_S + 1)
        second.finish("ozark", "daily@18:00", NOW, NOW + CLAIM_TIMEOUT_S + 2, {"requests": 1})
        assert not first.claim("ozark", "daily@18:00", NOW, NOW + 10 * CLAIM_TIMEOUT_S)

    def test_finished_figures_are_the_next_summarys_previous(self, tmp_path):
        store = Store(tmp_path / "s.sqlite3")
        store.claim("ozark", "daily@18:00", NOW, NOW)
        store.finish("ozark", "daily@18:00", NOW, NOW, {"requests": 12})
        assert store.previous_figures("ozark", "daily@18:00", NOW + 86400) == {"requests": 12}
        assert store.previous_figures("ozark", "daily@18:00", NOW) is None


def test_file_is_in_wal_mode_with_a_busy_timeout(tmp_path):
    store = Store.open(tmp_path)
    assert store.read("PRAGMA journal_mode")[0][0] == "wal"
    assert store.read("PRAGMA busy_timeout")[0][0] >= 1000


def test_unusable_directory_falls_back_to_memory(tmp_path):
    """A spool path that is a file cannot hold the database: the state lives in memory instead."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = Store.open(blocker)
    assert store.path == ":memory:"
    write(store, NOW, tally(3))
    assert store.slots("ozark", NOW - 60, NOW + 60)[0][1].get("requests") == 3


def test_writers_have_their_own_rows_and_the_reader_sees_all(tmp_path):
    """Two processes in one minute write two rows; a process writing twice in a minute merges its row."""
    a, b = Store(tmp_path / "s.sqlite3"), Store(tmp_path / "s.sqlite3")
    write(a, NOW + 1, tally(2))
    write(a, NOW + 30, tally(3))
    write(b, NOW + 40, tally(5, instance="b"))
    rows = a.slots("ozark", NOW, NOW + 60)
    assert len(rows) == 2
    assert sum(t.get("requests") for _, t in rows) == 10


def test_compaction_keeps_every_figure(tmp_path):
    """Minute rows older than two days become quarter-hour rows; sums and histograms are unchanged."""
    store = Store(tmp_path / "s.sqlite3")
    old = NOW - FINE_FOR_S - 3 * 3600
    for minute in range(40):
        write(store, old + minute * 60, tally(1, revenue=100))
    write(store, NOW, tally(7))
    before = store.slots("ozark", old - 3600, NOW + 60)
    assert store.compact(NOW) == 40
    after = store.slots("ozark", old - 3600, NOW + 60)
    assert len(after) < len(before)
    total = lambda rows, f: sum(t.get(f) for _, t in rows)  # noqa: E731
    assert total(after, "requests") == total(before, "requests") == 47
    assert total(after, "revenue") == 4000
    assert sum(t.latency.count for _, t in after) == 47


def test_totals_add_up_across_writers(tmp_path):
    a, b = Store(tmp_path / "s.sqlite3"), Store(tmp_path / "s.sqlite3")
    for store, amount in ((a, 250.0), (b, 100.0), (a, 50.0)):
        with store.transaction() as db:
            store.add_totals(db, "ozark", {("revenue", "quarter", "2025-10-01"): amount})
    assert b.total("ozark", "revenue", "quarter", "2025-10-01") == 400.0


class TestUptime:
    def beat(self, store, instance, now, started=None, gap=150.0):
        with store.transaction() as db:
            store.heartbeat(db, "ozark", instance, now, started=started, gap=gap)

    def test_share_of_the_period_covered_by_heartbeats(self, tmp_path):
        """Beats every minute for 6 hours, a 2-hour silence, 4 more hours: 10 of 12 hours is 83%."""
        store = Store(tmp_path / "s.sqlite3")
        start = NOW
        for minute in range(0, 6 * 60 + 1):
            self.beat(store, "a", start + minute * 60)
        for minute in range(8 * 60, 12 * 60 + 1):
            self.beat(store, "a", start + minute * 60)
        assert store.uptime("ozark", start, start + 12 * 3600) == pytest.approx(10 / 12)

    def test_overlapping_instances_count_once(self, tmp_path):
        """Two workers alive at the same time do not make uptime exceed 100%."""
        store = Store(tmp_path / "s.sqlite3")
        for minute in range(0, 61):
            self.beat(store, "a", NOW + minute * 60)
            self.beat(store, "b", NOW + minute * 60 + 5)
        assert store.uptime("ozark", NOW, NOW + 3600) == pytest.approx(1.0)

    def test_first_segment_starts_when_the_streams_started(self, tmp_path):
        """The first export comes an interval after start-up; the stream start time fills that interval."""
        store = Store(tmp_path / "s.sqlite3")
        self.beat(store, "a", NOW + 60, started=NOW)
        self.beat(store, "a", NOW + 120)
        assert store.uptime("ozark", NOW, NOW + 120) == pytest.approx(1.0)

    def test_no_heartbeat_ever_is_unknown_not_zero(self, tmp_path):
        assert Store(tmp_path / "s.sqlite3").uptime("ozark", NOW, NOW + 60) is None


def test_sqlite_lock_errors_surface_for_the_caller_to_handle(tmp_path):
    """A write lock held past the busy timeout raises sqlite3.OperationalError (the monitor keeps the data)."""
    path = tmp_path / "s.sqlite3"
    store = Store(path)
    store.read("SELECT 1")
    store._connection().execute("PRAGMA busy_timeout=50")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError):
            write(store, NOW, tally(1))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
