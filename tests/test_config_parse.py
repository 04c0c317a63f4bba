"""One grammar for every duration, time zone and channel name, whichever setting reads it."""

from __future__ import annotations

import pytest

from otel_discord.config import resolve
from otel_discord.config.parse import (
    channel_name,
    host_timezone,
    parse_channel_name,
    parse_duration,
    parse_positive_duration,
    parse_timezone,
)
from otel_discord.deliver.options import DeliveryOptions

HOOK = "https://discord.com/api/webhooks/1/tok"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5), ("30s", 30), ("5m", 300), ("2 min", 120), ("1h30m", 5400), ("1h 30m", 5400),
        ("90", 90), (45, 45), (0.25, 0.25), ("2d", 172800), ("1w", 604800), ("24h", 86400),
        ("10 seconds", 10), ("3 hours", 10800), ("1.5h", 5400), ("0", 0), (" 5M ", 300),
    ],
)  # fmt: skip
def test_every_duration_form(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5 parsecs", "m5", "1h30", "-5s", "abc", "inf", True, "5mo"])
def test_durations_that_are_refused_say_the_grammar(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_positive_duration_refuses_zero():
    with pytest.raises(ValueError, match="above zero"):
        parse_positive_duration("0s")


def test_group_window_and_alert_window_read_the_same_grammar(tmp_path):
    """The bug this grammar fixed: GROUP_WINDOW=1h30m fell back to its default, ALERT_WINDOW worked."""
    from otel_discord.summary.config import load

    environ = {
        "OTEL_EXPORTER_DISCORD_WEBHOOK_URL": HOOK,
        "OTEL_EXPORTER_DISCORD_GROUP_WINDOW": "1h30m",
        "OTEL_EXPORTER_DISCORD_ALERT_WINDOW": "1h30m",
        "OTEL_EXPORTER_DISCORD_ALERT_P95_MS": "800",
    }
    settings = resolve("metrics", environ=environ, spool_dir=tmp_path)
    assert DeliveryOptions.from_settings(settings).group_window == 5400
    assert [t.window for t in load(settings).thresholds] == [5400]


def test_time_zone_setting_and_host_default(tmp_path):
    base = {"OTEL_EXPORTER_DISCORD_WEBHOOK_URL": HOOK}
    assert (
        resolve(environ={**base, "OTEL_EXPORTER_DISCORD_TIMEZONE": "America/New_York"}, spool_dir=tmp_path).timezone.key
        == "America/New_York"
    )
    assert resolve(environ={**base, "TZ": "Asia/Tokyo"}, spool_dir=tmp_path).timezone.key == "Asia/Tokyo"
    assert resolve(environ=base, timezone="Europe/Amsterdam", spool_dir=tmp_path).timezone.key == "Europe/Amsterdam"
    assert host_timezone({"TZ": ":Europe/Paris"}).key == "Europe/Paris"
    with pytest.raises(ValueError, match="IANA"):
        parse_timezone("Amsterdam")


@pytest.mark.parametrize(("raw", "name"), [("Finance_Activity", "finance-activity"), (" ops ", "ops"), ("a1", "a1")])
def test_channel_names_normalise_once(raw, name):
    assert channel_name(raw) == name
    assert parse_channel_name(raw) == name


def test_bad_channel_name_is_refused():
    with pytest.raises(ValueError, match="channel name"):
        parse_channel_name("my channel!")
