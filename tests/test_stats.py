"""Counters, drop accounting, the "notices dropped" note, guard() and token redaction in logs."""

from __future__ import annotations

import logging
import threading

import pytest

from otel_discord.health.drops import (
    DropReason,
    Stats,
    format_drops,
    guard,
)
from otel_discord.health.log import get_logger

TOKEN = "Sx8d-" + "k" * 63


@pytest.fixture
def otel_logs():
    """Records of the otel_discord logger tree (it does not propagate to root), formatted like a handler would."""
    records: list[logging.LogRecord] = []
    lines: list[str] = []
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)
            lines.append(formatter.format(record))

    handler = Capture(level=logging.DEBUG)
    root = logging.getLogger("otel_discord")
    root.addHandler(handler)
    yield records, lines
    root.removeHandler(handler)


class TestStats:
    def test_counters_and_drops_show_in_snapshot(self):
        """incr and record_drop are visible in snapshot, drops under dropped.<reason> and a total."""
        stats = Stats()
        stats.incr("sent_messages")
        stats.incr("sent_embeds", 7)
        stats.record_drop(DropReason.QUEUE_OVERFLOW, 3)
        stats.record_drop("invalid_payload")
        snap = stats.snapshot()
        assert snap["sent_messages"] == 1
        assert snap["sent_embeds"] == 7
        assert snap["dropped.queue_overflow"] == 3
        assert snap["dropped.invalid_payload"] == 1
        assert snap["dropped"] == 4
        assert stats.dropped(DropReason.QUEUE_OVERFLOW) == 3 and stats.dropped() == 4

    def test_take_unreported_drops_swaps_out(self):
        """The count for the next message's note is handed out once; totals stay."""
        stats = Stats()
        stats.record_drop("queue_overflow", 5)
        assert stats.take_unreported_drops() == 5
        assert stats.take_unreported_drops() == 0
        stats.record_drop("queue_overflow", 2)
        assert stats.take_unreported_drops() == 2
        assert stats.snapshot()["dropped.queue_overflow"] == 7

    def test_peek_then_mark_keeps_drops_recorded_meanwhile(self):
        """A note shows what was peeked; drops recorded while it was in flight stay unreported."""
        stats = Stats()
        stats.record_drop("queue_overflow", 4)
        shown = stats.peek_unreported_drops()
        assert shown == {"queue_overflow": 4}
        stats.record_drop("queue_overflow", 1)
        stats.mark_reported(shown)
        assert stats.peek_unreported_drops() == {"queue_overflow": 1}

    def test_concurrent_increments_are_exact(self):
        """Counters are thread-safe: 8 threads × 5000 increments add up."""
        stats = Stats()

        def work() -> None:
            for _ in range(5000):
                stats.incr("retries")
                stats.record_drop("queue_overflow")

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert stats.snapshot()["retries"] == 40_000
        assert stats.take_unreported_drops() == 40_000

    def test_unknown_reason_is_counted_and_warned_once(self, otel_logs):
        """A reason outside the vocabulary is still counted, with one warning."""
        records, _ = otel_logs
        stats = Stats()
        stats.record_drop("cosmic_ray")
        stats.record_drop("cosmic_ray")
        assert stats.snapshot()["dropped.cosmic_ray"] == 2
        assert sum("cosmic_ray" in r.getMessage() for r in records) == 1

    def test_reset_starts_from_zero(self):
        stats = Stats()
        stats.incr("sent_messages")
        stats.record_drop("queue_overflow")
        stats.reset()
        assert stats.snapshot() == {"dropped": 0}
        assert stats.take_unreported_drops() == 0


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({}, ""),
        ({"queue_overflow": 0}, ""),
        ({"queue_overflow": 1}, "⚠️ 1 notice dropped (queue full)"),
        ({"queue_overflow": 1234}, "⚠️ 1,234 notices dropped (queue full)"),
        (
            {"queue_overflow": 1234, "invalid_payload": 6},
            "⚠️ 1,240 notices dropped (1,234 queue full, 6 rejected by Discord)",
        ),
        ({"webhook_disabled": 2}, "⚠️ 2 notices dropped (webhook disabled)"),
    ],
)
def test_format_drops(counts, expected):
    """The note reads naturally, with thousands separators and a label per reason."""
    assert format_drops(counts) == expected


class TestGuard:
    def test_swallows_and_logs_with_traceback(self, otel_logs):
        """An exception inside guard() is logged at ERROR with its traceback and does not propagate."""
        records, lines = otel_logs
        with guard("testing the guard"):
            raise ZeroDivisionError("boom")
        (record,) = [r for r in records if r.levelno == logging.ERROR]
        assert "testing the guard" in record.getMessage()
        assert "ZeroDivisionError: boom" in lines[-1]

    def test_does_not_swallow_keyboard_interrupt(self):
        """Ctrl-C still stops the application."""
        with pytest.raises(KeyboardInterrupt):
            with guard("x"):
                raise KeyboardInterrupt

    def test_traceback_with_token_is_redacted(self, otel_logs):
        """A third-party exception quoting a webhook URL is logged without the token."""
        _, lines = otel_logs
        with guard("posting"):
            raise ConnectionError(f"Max retries exceeded with url: /api/v10/webhooks/123/{TOKEN}?wait=true")
        assert lines and TOKEN not in "\n".join(lines)
        assert "/webhooks/123/****" in lines[-1]


def test_our_loggers_mask_arguments(otel_logs):
    """Even a careless %-argument holding a URL is masked."""
    _, lines = otel_logs
    get_logger("test_stats").warning("posting to %s", f"https://discord.com/api/webhooks/9/{TOKEN}")
    assert TOKEN not in lines[-1] and "/webhooks/9/****" in lines[-1]
