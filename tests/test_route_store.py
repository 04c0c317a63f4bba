"""The holding store: notices survive as they were, a digest is claimed once, a flood is bounded."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from otel_discord.notice import Category, Field, Kind, Notice, Severity
from otel_discord.route.digest import build_digest
from otel_discord.route.holding import (
    FILE_NAME,
    LazyStore,
    MemoryStore,
    SQLiteStore,
    decode,
    encode,
    open_store,
)


def sample(i: int = 0) -> Notice:
    return Notice(
        Kind.EVENT,
        Severity.WARNING,
        Category.INVOICE,
        f"Invoice #{250000 + i} overdue",
        description="14 days",
        fields=(Field("Client", "Bakkerij de Vries", inline=False),),
        attributes={"invoice.amount": 2450.5, "tags": ("a", "b"), "odd": object()},
        event_name="invoice.overdue",
        trace_id="0" * 31 + "1",
        timestamp=1748858400.0 + i,
        channel="finance-activity",
        mention="<@&123>",
    )


def test_a_held_notice_comes_back_as_it_went_in():
    """Everything a digest shows survives the trip through JSON (odd attribute values become text)."""
    back = decode(encode(sample()))
    original = sample()
    assert back.replace(attributes={}) == original.replace(attributes={})
    assert back.attributes["invoice.amount"] == 2450.5
    assert back.attributes["tags"] == ("a", "b")
    assert isinstance(back.attributes["odd"], str)


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_take_returns_everything_once_in_order(tmp_path, kind):
    store = SQLiteStore(tmp_path / FILE_NAME) if kind == "sqlite" else MemoryStore()
    for i in range(3):
        assert store.put("ops", "schedule", sample(i), 1000.0 + i)
    assert store.put("finance", "rate", sample(9), 2000.0)
    assert sorted(store.channels()) == ["finance", "ops"]
    assert store.count() == 4 and store.count("ops") == 3
    held, extra = store.take("ops")
    assert [h.notice.title for h in held] == [
        "Invoice #250000 overdue",
        "Invoice #250001 overdue",
        "Invoice #250002 overdue",
    ]
    assert held[0].reason == "schedule" and held[0].held_at == 1000.0 and extra == 0
    assert store.take("ops") == ([], 0)
    assert store.channels() == ["finance"]


def test_two_processes_never_post_the_same_digest(tmp_path):
    """Two stores on one file (two gunicorn workers): only the first take gets the rows."""
    a, b = SQLiteStore(tmp_path / FILE_NAME), SQLiteStore(tmp_path / FILE_NAME)
    for i in range(5):
        a.put("ops", "schedule", sample(i), 1.0)
    first, second = a.take("ops"), b.take("ops")
    assert len(first[0]) == 5 and second == ([], 0)


def test_a_flood_is_bounded_and_counted(tmp_path):
    """Beyond the cap only a count is kept; the digest still says how many there were."""
    store = SQLiteStore(tmp_path / FILE_NAME, max_held=3)
    for i in range(10):
        store.put("ops", "schedule", sample(i), 1.0)
    assert store.count("ops") == 10
    held, extra = store.take("ops")
    assert len(held) == 3 and extra == 7
    digest = build_digest("ops", held, extra, 1748862000.0, ZoneInfo("Europe/Amsterdam"))
    assert digest.title == "Digest: 10 notices held outside this channel's hours"
    assert digest.description.splitlines()[-1] == "… and 7 more"
    assert digest.kind is Kind.DIGEST and digest.fingerprint == "" and digest.mention == "<@&123>"


def test_the_file_is_private_and_created_only_when_needed(tmp_path):
    lazy = LazyStore(tmp_path / "spool")
    assert lazy.channels() == [] and not (tmp_path / "spool").exists()  # nothing held, nothing created
    lazy.put("ops", "rate", sample(), 1.0)
    path = tmp_path / "spool" / FILE_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    assert LazyStore(tmp_path / "spool").count("ops") == 1  # a restart finds it


def test_a_broken_database_falls_back_to_memory(tmp_path):
    """A file that is not a database (or a full disk) costs a warning, never an exception: hold in memory."""
    (tmp_path / FILE_NAME).write_bytes(b"this is not an SQLite database, but it is 100 bytes long " * 2)
    store = open_store(tmp_path)
    assert isinstance(store, MemoryStore)
    assert store.put("ops", "rate", sample(), 1.0) and store.count("ops") == 1
