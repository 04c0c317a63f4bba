"""Silences and maintenance windows hold and count (never drop) and summarise once when they end;
incident rules, people, calendars and acknowledgment settings read and check their config."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from otel_discord.config import ConfigError
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.route.rules import parse_rules
from otel_discord.route.rules.silences import SilenceLedger

AMS = ZoneInfo("Europe/Amsterdam")
PEOPLE = {"anna": "345678901234567890", "bram": {"discord": "456789012345678901"}}
ROLES = {"devs": "678901234567890123"}


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=AMS).timestamp()


def notice(title="slow query", category=Category.PERFORMANCE, severity=Severity.WARNING, fingerprint="fp1"):
    return Notice(Kind.SLOW_QUERY, severity, category, title, fingerprint=fingerprint)


def ledger(**file):
    return SilenceLedger(parse_rules({"people": PEOPLE, **file}, AMS).silences)


ONE_OFF = {
    "silences": [
        {
            "match": {"category": "performance"},
            "from": "2026-12-01 22:00",
            "to": "2026-12-02 02:00",
            "by": "bram",
            "comment": "Postgres 17 upgrade",
        }
    ]
}


@pytest.mark.parametrize(
    "moment, held",
    [
        ("2026-12-01 21:59", False),
        ("2026-12-01 22:00", True),
        ("2026-12-02 01:59", True),
        ("2026-12-02 02:00", False),
    ],
)
def test_a_silence_holds_matching_notices_between_from_and_to(moment, held):
    assert (ledger(**ONE_OFF).hold(notice(), at(moment)) is not None) is held


def test_a_silence_holds_only_what_it_matches():
    book = ledger(**ONE_OFF)
    assert book.hold(notice(category=Category.ERROR), at("2026-12-01 23:00")) is None


def test_when_a_silence_ends_one_summary_says_what_it_held():
    book = ledger(**ONE_OFF)
    for _ in range(3):
        book.hold(notice("slow query"), at("2026-12-01 23:00"))
    book.hold(notice("slow request", fingerprint="fp2"), at("2026-12-01 23:30"))
    assert book.ended(at("2026-12-02 01:00")) == []  # still active
    [summary] = book.ended(at("2026-12-02 02:00"))
    assert summary.count == 4 and summary.titles == (("slow query", 3), ("slow request", 1))
    assert "held 4 occurrence(s)" in summary.text() and "slow query × 3" in summary.text()
    assert book.ended(at("2026-12-02 03:00")) == []  # once only
    assert book.silences == []  # an ended one-off silence is forgotten


def test_memory_is_bounded_by_title_count():
    book = ledger(**ONE_OFF)
    for i in range(50):
        book.hold(notice(f"title {i}", fingerprint=f"f{i}"), at("2026-12-01 23:00"))
    [summary] = book.ended(at("2026-12-02 02:00"))
    assert summary.count == 50 and len(summary.titles) == 10 and summary.other == 40


def test_expire_ends_a_silence_now():
    book = ledger(**ONE_OFF)
    book.hold(notice(), at("2026-12-01 23:00"))
    book.expire("config-0", at("2026-12-01 23:10"))
    assert book.hold(notice(), at("2026-12-01 23:20")) is None
    [summary] = book.ended(at("2026-12-01 23:20"))
    assert summary.count == 1


MAINTENANCE = {
    "maintenance": {"sunday-deploys": {"days": "sun", "hours": "02:00-04:00", "match": {"level": "warning"}}}
}


@pytest.mark.parametrize(
    "moment, held",
    [
        ("2026-12-06 02:00", True),  # Sunday
        ("2026-12-06 04:00", False),
        ("2026-12-13 03:59", True),  # every Sunday
        ("2026-12-07 03:00", False),  # Monday
    ],
)
def test_maintenance_windows_recur(moment, held):
    assert (ledger(**MAINTENANCE).hold(notice(), at(moment)) is not None) is held


def test_a_maintenance_window_summarises_each_time_it_closes():
    book = ledger(**MAINTENANCE)
    book.hold(notice(), at("2026-12-06 02:30"))
    assert len(book.ended(at("2026-12-06 04:00"))) == 1
    book.hold(notice(), at("2026-12-13 02:30"))
    assert [s.count for s in book.ended(at("2026-12-13 05:00"))] == [1]


def test_a_silence_by_fingerprint():
    book = ledger(silences=[{"fingerprint": "fp2", "from": "2026-12-01", "to": "2026-12-02"}])
    assert book.hold(notice(fingerprint="fp1"), at("2026-12-01 12:00")) is None
    assert book.hold(notice(fingerprint="fp2"), at("2026-12-01 12:00")) is not None


BASE = {"people": PEOPLE, "roles": ROLES, "escalation": {"p": {"steps": [{"notify": "anna"}]}}}


def test_incident_rules_first_match_wins_and_need_a_fingerprint():
    rules = parse_rules(
        {
            **BASE,
            "incidents": [
                {"match": {"level": "critical"}, "escalate": "p", "assign": "role:devs"},
                {"match": {"category": "performance"}, "assign": "anna"},
            ],
        }
    )
    critical = rules.select(notice(severity=Severity.CRITICAL))
    assert critical.policy.name == "p" and str(critical.assign) == "role:devs"
    assert rules.select(notice()).policy is None and str(rules.select(notice()).assign) == "anna"
    assert rules.select(notice(category=Category.ERROR)) is None
    assert rules.select(notice(severity=Severity.CRITICAL, fingerprint="")) is None


def test_who_may_acknowledge():
    rules = parse_rules({**BASE, "acknowledge": {"who": ["anna", "role:devs"]}})
    ack, directory = rules.acknowledge, rules.directory
    assert ack.allowed("345678901234567890", [], directory)
    assert ack.allowed("999999999999999999", ["678901234567890123"], directory)
    assert not ack.allowed("999999999999999999", [], directory)
    assert not ack.allowed("345678901234567890", [], directory, is_bot=True)
    anyone = parse_rules(BASE).acknowledge
    assert anyone.allowed("999999999999999999", [], directory) and anyone.action("☑️") is None
    assert anyone.action("✅") == "acknowledge" and anyone.action("🙋") == "take" and anyone.action("🔕") == "silence"


@pytest.mark.parametrize(
    "file, path",
    [
        ({"people": {"anna": "12345"}}, "people.anna"),
        ({"people": {"anna": {"id": "345678901234567890"}}}, "people.anna.id"),
        ({"people": {"anna": {}}}, "people.anna"),
        ({"roles": {"devs": "x"}}, "roles.devs"),
        ({"calendars": {"nl": {"country": "XX"}}}, "calendars.nl.country"),
        ({"calendars": {"nl": {"dates": ["13-45"]}}}, "calendars.nl.dates[0]"),
        ({"calendars": {"nl": {"subdivision": "ZH"}}}, "calendars.nl.subdivision"),
        ({"incidents": [{"match": {"level": "critical"}}]}, "incidents[0]"),
        ({"incidents": [{"escalate": "nope"}]}, "incidents[0].escalate"),
        ({"incidents": [{"assign": "role:nope"}]}, "incidents[0].assign"),
        ({"incidents": [{"match": {"level": "loud"}, "assign": "anna"}]}, "incidents[0].match.level"),
        ({"silences": [{"match": {"level": "error"}, "from": "2026-01-01"}]}, "silences[0].to"),
        ({"silences": [{"from": "2026-01-01", "to": "2026-01-02"}]}, "silences[0]"),
        ({"silences": [{"match": {}, "from": "2026-01-02", "to": "2026-01-01"}]}, "silences[0].to"),
        ({"maintenance": {"m": {"match": {}}}}, "maintenance.m"),
        ({"maintenance": {"m": {"hours": "25:00-26:00"}}}, "maintenance.m.hours"),
        ({"acknowledge": {"emoji": "✅", "take": "✅"}}, "acknowledge"),
        ({"acknowledge": {"who": ["oncall:x"]}}, "acknowledge.who[0]"),
        ({"acknowledge": {"silence_for": "a while"}}, "acknowledge.silence_for"),
        ({"acknowledge": {"prefill": "sure"}}, "acknowledge.prefill"),
        ({"timezone": "Nowhere/Land"}, "timezone"),
    ],
)
def test_config_errors_name_the_field(file, path):
    with pytest.raises(ConfigError, match="config file " + re.escape(path) + ":"):
        parse_rules({**BASE, **file})


def test_people_in_short_and_long_form():
    directory = parse_rules(BASE).directory
    assert directory.people["anna"].discord == "345678901234567890"
    assert directory.people["bram"].discord == "456789012345678901"
    assert directory.person_by_id("456789012345678901").name == "bram"


def test_a_country_calendar_without_the_package_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_holidays(name, *args, **kwargs):
        if name == "holidays":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_holidays)
    with pytest.raises(ConfigError, match=r"calendars\.nl\.country: needs the optional 'holidays' package"):
        parse_rules({"calendars": {"nl": {"country": "NL"}}})


def test_the_example_config_has_valid_notification_rules():
    """otel-discord.example.yaml's rules parse, and its escalation names the rotation's person on call."""
    from pathlib import Path

    import yaml

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "otel-discord.example.yaml").read_text("utf-8"))
    rules = parse_rules(raw)
    assert set(rules.rotations) == {"primary", "after-hours"} and rules.policies["critical"].repeat == 1
    monday_10 = at("2026-01-05 10:00")
    assert str(rules.rotations.on_call("primary", monday_10).who) == "anna"
    assert str(rules.rotations.on_call("primary", at("2026-12-24 12:00")).who) == "chris"  # the override
    assert str(rules.select(notice(severity=Severity.CRITICAL)).assign) == "oncall:primary"
