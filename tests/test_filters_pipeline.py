"""Filters in the pipeline, against the strict local Discord: what each channel receives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_discord.config import resolve
from otel_discord.deliver.engine import DeliveryEngine
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.pipeline import Pipeline
from otel_discord.testing import DiscordServer


@pytest.fixture
def make_pipeline(discord_server: DiscordServer, tmp_path: Path) -> Iterator:
    made: list[Pipeline] = []

    def make(body: str, channels=("finance-activity", "system-debug", "user-activity")) -> Pipeline:
        environ, lines = {}, ["channels:"]
        for name in channels:
            var = "HOOK_" + name.upper().replace("-", "_")
            environ[var] = discord_server.create_webhook(name).url
            lines.append(f"  {name}: ${{{var}}}")
        path = tmp_path / "otel-discord.yaml"
        path.write_text("\n".join(lines) + "\n" + body)
        settings = resolve(
            "logs",
            config_file=path,
            environ=environ,
            allowed_hosts=discord_server.host_port,
            spool_dir=tmp_path / "spool",
        )
        pipeline = Pipeline(settings, engine=DeliveryEngine(settings, linger=0.0))
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.release(2.0)


def titles(server: DiscordServer, channel: str) -> list[str]:
    return [embed["title"].rsplit(" · ", 1)[-1] for m in server.messages(channel) for embed in m.embeds]


def event(name: str, category: Category, title: str, severity: Severity = Severity.INFO, **attributes) -> Notice:
    return Notice(Kind.EVENT, severity, category, title, event_name=name, attributes=attributes)


def test_filtered_notices_never_reach_discord_and_are_counted(make_pipeline, discord_server):
    """Small invoices, disabled events, ignored users and denied IPs stay out; the rest arrives."""
    pipeline = make_pipeline("""
filters:
  events: {disabled: [auth.logout]}
  users: {ignore: [uptime-robot]}
  ip: {deny: [10.0.0.0/8]}
""")
    pipeline.submit(
        [
            event("invoice.paid", Category.PAYMENT, "Invoice 1 paid", **{"invoice.amount": 2450.0}),
            event("invoice.paid", Category.PAYMENT, "Invoice 2 paid", **{"invoice.amount": 120.0}),
            event("auth.logout", Category.USER, "bram logged out", **{"user.name": "bram"}),
            event("auth.login", Category.USER, "uptime-robot logged in", **{"user.name": "uptime-robot"}),
            event("auth.login", Category.USER, "bram logged in from the office", **{"client.address": "10.1.1.1"}),
            event("auth.login", Category.USER, "anna logged in", **{"client.address": "203.0.113.7"}),
        ]
    )
    assert pipeline.flush(10)
    assert titles(discord_server, "finance-activity") == ["Invoice 1 paid"]
    assert titles(discord_server, "user-activity") == ["anna logged in"]
    stats = pipeline.engine.stats.snapshot()
    assert stats["filtered.below_min_amount"] == 1
    assert stats["filtered.event_disabled"] == 1
    assert stats["filtered.user_ignored"] == 1
    assert stats["filtered.ip_denied"] == 1
    assert stats["dropped"] == 0  # filtered is not lost


def test_audit_channel_gets_every_business_event_unfiltered(make_pipeline, discord_server):
    """The enterprise audit-logs channel receives the small invoice the amount filter keeps elsewhere."""
    pipeline = make_pipeline(
        "preset: enterprise\nfilters:\n  events: {disabled: ['invoice.*']}\n",
        channels=("financial-ops", "system-health", "user-tracking", "critical-alerts", "audit-logs"),
    )
    pipeline.submit(
        [
            event("invoice.paid", Category.PAYMENT, "Invoice 2 paid", **{"invoice.amount": 120.0}),
            event("auth.login", Category.USER, "anna logged in"),
            Notice(Kind.ERROR, Severity.ERROR, Category.ERROR, "ValueError: boom", fingerprint="f1"),
        ]
    )
    assert pipeline.flush(10)
    assert titles(discord_server, "audit-logs") == ["Invoice 2 paid", "anna logged in"]
    assert titles(discord_server, "financial-ops") == []
    assert titles(discord_server, "user-tracking") == ["anna logged in"]
    assert titles(discord_server, "system-health") == ["ValueError: boom"]
    for message in discord_server.messages("audit-logs"):
        assert message.flags == 1 << 12  # a record, not an alarm: the other channel notifies


def test_channel_minimum_level_applies_per_channel(make_pipeline, discord_server):
    """An error in an invoice goes to finance and system; finance's minimum level keeps INFO out of it."""
    pipeline = make_pipeline("filters:\n  min_level:\n    channels: {finance-activity: warning}\n")
    pipeline.submit(
        [
            event("invoice.created", Category.INVOICE, "Invoice created", **{"invoice.amount": 2000.0}),
            event(
                "invoice.overdue", Category.INVOICE, "Invoice overdue", Severity.WARNING, **{"invoice.amount": 2000.0}
            ),
            event("invoice.sync_failed", Category.INVOICE, "Invoice sync failed", Severity.ERROR),
        ]
    )
    assert pipeline.flush(10)
    assert titles(discord_server, "finance-activity") == ["Invoice overdue", "Invoice sync failed"]
    assert titles(discord_server, "system-debug") == ["Invoice sync failed"]


def test_high_value_transaction_notifies_and_passes_level_filters(make_pipeline, discord_server):
    """A €7,850 invoice reaches a WARNING-only channel and is sent without SUPPRESS_NOTIFICATIONS."""
    pipeline = make_pipeline("filters:\n  min_level:\n    channels: {finance-activity: warning}\n")
    pipeline.submit(
        [
            event("invoice.created", Category.INVOICE, "HIGH_VALUE_TRANSACTION", **{"invoice.amount": 7850.0}),
            event("invoice.created", Category.INVOICE, "Invoice created", **{"invoice.amount": 2450.0}),
        ]
    )
    assert pipeline.flush(10)
    [message] = discord_server.messages("finance-activity")
    assert [e["title"].rsplit(" · ", 1)[-1] for e in message.embeds] == ["HIGH\\_VALUE\\_TRANSACTION"]
    assert message.flags == 0


def test_info_notices_are_sent_silently(make_pipeline, discord_server):
    """Below WARNING the message carries SUPPRESS_NOTIFICATIONS; a warning does not."""
    pipeline = make_pipeline("")
    pipeline.submit([event("auth.login", Category.USER, "anna logged in")])
    pipeline.flush(10)
    pipeline.submit([event("auth.login_failed", Category.SECURITY, "Failed login", Severity.WARNING)])
    assert pipeline.flush(10)
    first, second = discord_server.messages("user-activity")
    assert first.flags == 1 << 12
    assert second.flags == 0
