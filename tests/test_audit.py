"""The local audit log of business events, and ``otel-discord export`` reading it back as CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from otel_discord.cli import main
from otel_discord.commands.export import parse_moment
from otel_discord.config import resolve
from otel_discord.deliver import audit
from otel_discord.deliver.engine import DeliveryEngine
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.pipeline import Pipeline

AMS = ZoneInfo("Europe/Amsterdam")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=AMS).timestamp()


def event(name: str, title: str, ts: float, category: Category = Category.INVOICE, **attributes) -> Notice:
    return Notice(
        Kind.EVENT,
        Severity.INFO,
        category,
        title,
        event_name=name,
        attributes=attributes,
        timestamp=ts,
        service="ozark-finances",
    )


EVENTS = [
    event(
        "invoice.created",
        "Invoice #250089 created",
        at("2026-01-05 10:00"),
        **{"invoice.number": "250089", "invoice.amount": 120.0, "invoice.client": '=HYPERLINK("x")'},
    ),
    event(
        "invoice.paid",
        "Invoice #250088 paid",
        at("2026-01-06 11:30"),
        Category.PAYMENT,
        **{"invoice.number": "250088", "invoice.amount": 7850.0, "user.name": "anna"},
    ),
    event("auth.login", "anna logged in", at("2026-01-07 09:00"), Category.USER, **{"user.name": "anna"}),
    event(
        "invoice.paid",
        "Invoice #250089 paid",
        at("2026-02-01 00:30"),
        Category.PAYMENT,
        **{"invoice.number": "250089", "invoice.amount": 120.0},
    ),
]


@pytest.fixture
def pipeline(discord_server, tmp_path):
    hook = discord_server.create_webhook("ops")
    settings = resolve(
        "logs", webhook_url=hook.url, allowed_hosts=discord_server.host_port, spool_dir=tmp_path / "spool", environ={}
    )
    made = Pipeline(settings, engine=DeliveryEngine(settings, linger=0.0))
    yield made
    made.release(2.0)


def test_every_business_event_is_recorded_even_when_filtered(pipeline, discord_server, tmp_path):
    """The €120 invoices are not posted (below MIN_AMOUNT) but the audit log has all four events."""
    error = Notice(Kind.ERROR, Severity.ERROR, Category.ERROR, "ValueError: boom")
    pipeline.submit([*EVENTS, error])
    assert pipeline.flush(10)
    posted = [e["title"] for m in discord_server.messages() for e in m.embeds]
    assert len(posted) == 3  # paid €7,850, the login, the error
    path = tmp_path / "spool" / "audit.jsonl"
    assert path.stat().st_mode & 0o777 == 0o600
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in records] == ["invoice.created", "invoice.paid", "auth.login", "invoice.paid"]
    first = records[0]
    assert first["attributes"]["invoice.amount"] == 120.0
    assert first["severity"] == "info" and first["category"] == "invoice" and first["service"] == "ozark-finances"
    assert first["time"] == "2026-01-05T09:00:00.000+00:00"


def test_credentials_are_masked_in_the_audit_log(tmp_path):
    """A webhook token or password in an event never lands on disk; personal data (the facts) does."""
    log = audit.AuditLog(tmp_path / "audit.jsonl")
    token = "https://discord.com/api/webhooks/123/SECRETTOKENVALUE"
    assert log.record(
        event(
            "import.failed",
            f"Import failed: {token}",
            0.0,
            Category.IMPORT,
            **{"import.errors": "db url postgresql://app:hunter2@db/x", "user.email": "a@b.nl"},
        )
    )
    text = (tmp_path / "audit.jsonl").read_text()
    assert "SECRETTOKENVALUE" not in text and "hunter2" not in text
    assert "a@b.nl" in text


def test_disk_errors_never_reach_the_application(discord_server, tmp_path):
    """With the spool path unusable the audit write fails quietly and the notice is still posted."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the spool directory should be")
    hook = discord_server.create_webhook("ops")
    settings = resolve(
        "logs", webhook_url=hook.url, allowed_hosts=discord_server.host_port, spool_dir=blocker / "spool", environ={}
    )
    pipeline = Pipeline(settings, engine=DeliveryEngine(settings, linger=0.0))
    try:
        assert pipeline.audit.record(EVENTS[1]) is False
        pipeline.submit([EVENTS[1]])
        assert pipeline.flush(10)
        assert len(discord_server.messages()) == 1
    finally:
        pipeline.release(2.0)


def write_log(path: Path) -> None:
    log = audit.AuditLog(path)
    for notice in EVENTS:
        assert log.record(notice)
    with open(path, "a") as handle:
        handle.write('{"event": "cut short by a crash", "ts": 17')  # a torn last line is skipped


def test_export_csv_by_period_and_event(tmp_path, capsys):
    """January's invoice events as CSV: local times, one column per attribute, formulas defused."""
    path = tmp_path / "audit.jsonl"
    write_log(path)
    status = main(
        ["export", "--audit-log", str(path), "--since", "2026-01-01", "--until", "2026-02-01", "--event", "invoice.*"]
    )
    assert status == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [r["title"] for r in rows] == ["Invoice #250089 created", "Invoice #250088 paid"]
    assert rows[0]["time"] == "2026-01-05T10:00:00+01:00"
    assert rows[0]["invoice.amount"] == "120.0" and rows[1]["invoice.amount"] == "7850.0"
    assert rows[0]["invoice.client"] == '\'=HYPERLINK("x")'  # CSV injection: not a formula
    assert rows[1]["user.name"] == "anna" and rows[0]["user.name"] == ""
    assert "2 event(s)" in captured.err


def test_export_json_until_is_exclusive(tmp_path, capsys):
    path = tmp_path / "audit.jsonl"
    write_log(path)
    assert (
        main(
            [
                "export",
                "--audit-log",
                str(path),
                "--format",
                "json",
                "--since",
                "2026-01-06 11:30",
                "--until",
                "2026-02-01T00:30+01:00",
            ]
        )
        == 0
    )
    records = json.loads(capsys.readouterr().out)
    assert [r["title"] for r in records] == ["Invoice #250088 paid", "anna logged in"]
    assert records[0]["local_time"] == "2026-01-06T11:30:00+01:00"
    assert records[0]["attributes"]["invoice.amount"] == 7850.0


def test_export_reads_the_spool_dir_and_reports_bad_times(tmp_path, capsys):
    write_log(tmp_path / "audit.jsonl")
    assert main(["export", "--spool-dir", str(tmp_path), "--event", "auth.*"]) == 0
    assert "anna logged in" in capsys.readouterr().out
    assert main(["export", "--spool-dir", str(tmp_path), "--since", "last tuesday"]) == 2
    assert "cannot read time 'last tuesday'" in capsys.readouterr().err


def test_parse_moment_forms():
    now = at("2026-03-10 12:00")
    assert parse_moment("7d", AMS, now) == now - 7 * 86400
    assert parse_moment("12h", AMS, now) == now - 12 * 3600
    assert parse_moment("2026-03-29", AMS, now) == at("2026-03-29 00:00")
    assert parse_moment("2026-03-30 09:00", AMS, now) == at("2026-03-30 09:00")  # CEST, after the change
    assert parse_moment("2026-03-30T07:00:00Z", AMS, now) == at("2026-03-30 09:00")
    assert parse_moment("now", AMS, now) == now
