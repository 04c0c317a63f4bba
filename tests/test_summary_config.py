"""The metric exporter's own settings: precedence, list forms, and errors that name the setting."""

from __future__ import annotations

import pytest
from test_summary_support import settings_for

from otel_discord.config import ConfigError
from otel_discord.summary import config


def load(tmp_path, environ=None, arguments=None, **file):
    return config.load(settings_for(tmp_path, environ, **file), arguments)


def test_defaults(tmp_path):
    loaded = load(tmp_path, {"TZ": "America/New_York", "OTEL_EXPORTER_DISCORD_TIMEZONE": ""})
    assert [s.spec for s in loaded.schedules] == ["daily@18:00"]
    assert loaded.tz.key == "America/New_York" and loaded.currency == "EUR"  # the host's zone by default
    assert loaded.thresholds == () and loaded.jobs == () and loaded.health is None
    assert loaded.system_events is True


@pytest.mark.parametrize(
    ("label", "environ", "arguments", "file", "expected"),
    [
        ("file", {}, None, {"summaries": ["weekly@mon 09:00"]}, ["weekly@mon 09:00"]),
        (
            "generic env over file",
            {"OTEL_EXPORTER_DISCORD_SUMMARY_SCHEDULE": "daily@17:00"},
            None,
            {"summaries": ["weekly@mon 09:00"]},
            ["daily@17:00"],
        ),
        (
            "signal env over generic",
            {
                "OTEL_EXPORTER_DISCORD_SUMMARY_SCHEDULE": "daily@17:00",
                "OTEL_EXPORTER_DISCORD_METRICS_SUMMARY_SCHEDULE": "every 15m",
            },
            None,
            {},
            ["every 15m"],
        ),
        (
            "argument over all",
            {"OTEL_EXPORTER_DISCORD_METRICS_SUMMARY_SCHEDULE": "every 15m"},
            {"summary_schedule": "quarterly"},
            {},
            ["quarterly@1 09:00"],
        ),
        (
            "several in one variable",
            {"OTEL_EXPORTER_DISCORD_SUMMARY_SCHEDULE": "daily@18:00, weekly@fri 17:00"},
            None,
            {},
            ["daily@18:00", "weekly@fri 17:00"],
        ),
        ("off", {"OTEL_EXPORTER_DISCORD_SUMMARY_SCHEDULE": "off"}, None, {}, []),
    ],
)
def test_schedule_precedence(tmp_path, label, environ, arguments, file, expected):
    assert [s.spec for s in load(tmp_path, environ, arguments, **file).schedules] == expected, label


def test_file_entries_may_carry_their_own_time_zone(tmp_path):
    loaded = load(tmp_path, summaries=[{"schedule": "daily@09:00", "timezone": "America/New_York"}, "monthly@1 09:00"])
    assert [s.tz.key for s in loaded.schedules] == ["America/New_York", "Europe/Amsterdam"]


def test_thresholds_from_the_file_and_environment_shortcuts(tmp_path):
    loaded = load(
        tmp_path,
        {"OTEL_EXPORTER_DISCORD_ALERT_P95_MS": "1200", "OTEL_EXPORTER_DISCORD_ALERT_WINDOW": "10m"},
        thresholds=[{"metric": "p95_ms", "above": 800}, {"metric": "cpu_percent", "above": 90, "hysteresis": 15}],
    )
    rules = {t.rule: t for t in loaded.thresholds}
    assert rules["p95_ms"].above == 1200 and rules["p95_ms"].window == 600  # the shortcut wins
    assert rules["cpu_percent"].resolve_below == pytest.approx(76.5)


def test_jobs_milestones_and_business_metrics_in_both_forms(tmp_path):
    loaded = load(
        tmp_path,
        {
            "OTEL_EXPORTER_DISCORD_JOBS": "nightly-backup:24h:1h, sync:15m",
            "OTEL_EXPORTER_DISCORD_BUSINESS_METRICS": "revenue=ozark.revenue",
        },
        milestones=[{"name": "Q revenue", "metric": "revenue", "period": "quarter", "target": 100000}],
    )
    assert [(j.name, j.every, j.grace) for j in loaded.jobs] == [("nightly-backup", 86400, 3600), ("sync", 900, 0)]
    assert loaded.milestones[0].target == 100000 and loaded.milestones[0].period == "quarter"
    assert [(b.figure, b.metric) for b in loaded.business] == [("revenue", "ozark.revenue")]


@pytest.mark.parametrize(
    ("environ", "file", "names"),
    [
        ({"OTEL_EXPORTER_DISCORD_TIMEZONE": "Mars/Olympus"}, {}, "OTEL_EXPORTER_DISCORD_TIMEZONE"),
        ({}, {"jobs": [{"name": "x"}]}, "config file key 'jobs'"),
        (
            {},
            {"milestones": [{"name": "x", "metric": "revenue", "period": "decade", "target": 1}]},
            "config file key 'milestones'",
        ),
        ({}, {"thresholds": [{"metric": "disk", "above": 1}]}, "config file key 'thresholds'"),
        ({"OTEL_EXPORTER_DISCORD_ALERT_CPU_PERCENT": "-5"}, {}, "OTEL_EXPORTER_DISCORD_ALERT_CPU_PERCENT"),
    ],
)
def test_errors_name_the_setting(tmp_path, environ, file, names):
    with pytest.raises(ConfigError, match=names):
        load(tmp_path, environ, **file)
