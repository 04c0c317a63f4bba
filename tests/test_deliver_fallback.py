"""FallbackLog: dropped notices stay readable on disk, privately, and writing never raises."""

from __future__ import annotations

import json
import logging
import stat

from otel_discord.deliver.fallback import DEFERRED_MAX, FallbackLog
from otel_discord.health.drops import Stats
from otel_discord.notice import Category, Field, Kind, Notice, Severity


def notice(title: str = "KeyError: 'invoice'", **kw) -> Notice:
    base = dict(
        kind=Kind.ERROR,
        severity=Severity.ERROR,
        category=Category.ERROR,
        title=title,
        description="GET /invoices/250090 failed",
        fields=(Field("route", "/invoices/<id>"),),
        code="Traceback ...",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        service="billing",
        channel="errors",
        timestamp=1_700_000_000.0,
        attributes={"user.email": "a@example.com"},
    )
    base.update(kw)
    return Notice(**base)


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_writes_readable_json_lines(tmp_path):
    """Each notice becomes one JSON object with its text, reason and times."""
    log = FallbackLog(tmp_path / "state" / "dropped.jsonl")
    log.write([notice(), notice("second")], "webhook_disabled")
    log.write([notice("third")], "invalid_payload")
    records = lines(log.path)
    assert [r["title"] for r in records] == ["KeyError: 'invoice'", "second", "third"]
    first = records[0]
    assert first["reason"] == "webhook_disabled"
    assert first["channel"] == "errors"
    assert first["severity"] == "error" and first["kind"] == "error"
    assert first["fields"] == [{"name": "route", "value": "/invoices/<id>"}]
    assert first["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert first["occurred_at"].startswith("2023-11-14T22:13:20")
    assert "attributes" not in first  # routing input, not for the reader
    assert records[2]["reason"] == "invalid_payload"
    assert log.stats.snapshot()["fallback_written"] == 3


def test_file_is_private_and_parent_created(tmp_path):
    """Mode 0600: notices can hold personal data."""
    path = tmp_path / "a" / "b" / "dropped.jsonl"
    FallbackLog(path).write([notice()], "shutdown_timeout")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_wide_file_is_narrowed(tmp_path):
    path = tmp_path / "dropped.jsonl"
    path.write_text("")
    path.chmod(0o644)
    FallbackLog(path).write([notice()], "shutdown_timeout")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_webhook_tokens_in_notice_text_are_masked(tmp_path):
    secret = "T" * 68
    log = FallbackLog(tmp_path / "dropped.jsonl")
    log.write([notice(description=f"posting to https://discord.com/api/webhooks/1/{secret} failed")], "x")
    text = log.path.read_text()
    assert secret not in text and "/webhooks/1/****" in text


def test_failure_is_counted_and_logged_once(tmp_path):
    """A path that cannot be a file (its parent is a file): no exception, one ERROR, counted."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("otel_discord").addHandler(handler)
    try:
        stats = Stats()
        log = FallbackLog(blocker / "dropped.jsonl", stats=stats)
        log.write([notice()], "webhook_disabled")
        log.write([notice(), notice()], "webhook_disabled")
    finally:
        logging.getLogger("otel_discord").removeHandler(handler)
    assert stats.snapshot()["fallback_errors"] == 3
    assert len([r for r in records if r.levelno == logging.ERROR]) == 1


def test_rotates_instead_of_growing_forever(tmp_path):
    log = FallbackLog(tmp_path / "dropped.jsonl", max_bytes=2000)
    for i in range(20):
        log.write([notice(f"n{i}")], "queue_overflow")
    assert log.path.stat().st_size <= 2000
    rotated = tmp_path / "dropped.jsonl.1"
    assert rotated.exists()
    # the newest notices are always in the live file
    assert lines(log.path)[-1]["title"] == "n19"


def test_defer_holds_without_io_then_writes(tmp_path):
    """defer() is for submit(): nothing touches the disk until write_deferred()."""
    log = FallbackLog(tmp_path / "dropped.jsonl")
    assert log.defer(notice("a"), "queue_overflow")
    assert log.defer(notice("b"), "queue_overflow")
    assert not log.path.exists() and log.pending() == 2
    log.write_deferred()
    assert [r["title"] for r in lines(log.path)] == ["a", "b"]
    assert log.pending() == 0


def test_defer_is_bounded(tmp_path):
    log = FallbackLog(tmp_path / "dropped.jsonl")
    accepted = sum(log.defer(notice(), "queue_overflow") for _ in range(DEFERRED_MAX + 25))
    assert accepted == DEFERRED_MAX
    assert log.stats.snapshot()["fallback_skipped"] == 25
