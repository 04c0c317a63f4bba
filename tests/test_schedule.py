"""Schedule windows: working days, business hours, holidays, quiet hours, time zones and DST."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from otel_discord.config import ConfigError, resolve
from otel_discord.route.schedule import Schedules, load_schedules, parse_window

AMS = ZoneInfo("Europe/Amsterdam")
HOOK = "https://discord.com/api/webhooks/{id}/tok-{id}"


def at(text: str, tz: ZoneInfo = AMS) -> float:
    """Unix seconds of a local wall-clock time (``2025-03-31 09:30``) in ``tz``."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def utc(text: str) -> float:
    return datetime.fromisoformat(text + "+00:00").timestamp()


def window(**spec):
    return parse_window("w", {"channels": ["ops"], **spec}, AMS, "schedules.w")[0]


def test_business_hours_on_working_days():
    """Mon–Fri 09:00–17:30 is open inside, closed before, after and at the weekend."""
    office = window(days="mon-fri", hours="09:00-17:30")
    assert office.is_open(at("2025-06-02 09:00"))  # Monday
    assert office.is_open(at("2025-06-06 17:29"))  # Friday
    assert not office.is_open(at("2025-06-06 17:30"))
    assert not office.is_open(at("2025-06-02 08:59"))
    assert not office.is_open(at("2025-06-07 12:00"))  # Saturday


def test_weekends_shorthand_and_day_forms():
    assert not window(weekends=False).is_open(at("2025-06-08 12:00"))  # Sunday
    assert window(weekends=False).is_open(at("2025-06-09 12:00"))
    assert window(days="weekends").is_open(at("2025-06-08 03:00"))
    assert window(days=["mon", "wed"]).is_open(at("2025-06-04 10:00"))
    assert not window(days="sat,sun").is_open(at("2025-06-04 10:00"))
    assert window(days="fri-mon").is_open(at("2025-06-09 10:00"))  # a range that wraps the week


def test_holidays_by_date_and_every_year():
    """A holiday is closed all day: a date once, MM-DD every year."""
    office = window(days="mon-fri", hours="09:00-17:00", holidays=["2025-04-21", "12-25"])
    assert not office.is_open(at("2025-04-21 10:00"))  # Easter Monday 2025
    assert office.is_open(at("2026-04-21 10:00"))
    assert not office.is_open(at("2025-12-25 10:00"))
    assert not office.is_open(at("2026-12-25 10:00"))


def test_quiet_hours_across_midnight():
    """Quiet hours 23:00–07:00 close the channel at night, whatever the day."""
    night = window(quiet_hours="23:00-07:00")
    assert not night.is_open(at("2025-06-02 23:00"))
    assert not night.is_open(at("2025-06-03 06:59"))
    assert night.is_open(at("2025-06-03 07:00"))
    assert night.is_open(at("2025-06-02 22:59"))


def test_overnight_hours_belong_to_the_day_they_start():
    """A Friday 22:00–02:00 shift is open at 01:00 on Saturday, not on Friday 01:00."""
    shift = window(days="fri", hours="22:00-02:00")
    assert shift.is_open(at("2025-06-07 01:00"))  # Saturday night, Friday's shift
    assert not shift.is_open(at("2025-06-06 01:00"))  # Friday night belongs to Thursday
    assert shift.is_open(at("2025-06-06 23:00"))


def test_business_hours_follow_daylight_saving_time():
    """09:00 Amsterdam is 08:00 UTC in winter and 07:00 UTC in summer (DST began 2025-03-30)."""
    office = window(days="mon-fri", hours="09:00-17:00")
    assert office.is_open(utc("2025-03-28 08:00"))  # Friday, CET: 09:00
    assert not office.is_open(utc("2025-03-28 07:30"))
    assert office.is_open(utc("2025-03-31 07:00"))  # Monday, CEST: 09:00
    assert not office.is_open(utc("2025-03-31 06:30"))  # 08:30 local
    assert office.is_open(utc("2025-10-27 08:00"))  # Monday after DST ended: 09:00 CET
    assert not office.is_open(utc("2025-10-27 07:30"))


def test_quiet_hours_on_the_nights_the_clocks_change():
    """The hour that does not exist (02:00–03:00 on 30 March) is skipped; the doubled one is quiet twice."""
    quiet = window(quiet_hours="02:00-03:00")
    assert quiet.is_open(utc("2025-03-30 01:00"))  # 03:00 CEST: the skipped hour is over
    assert quiet.is_open(utc("2025-03-30 00:59"))  # 01:59 CET
    assert not quiet.is_open(utc("2025-10-26 00:30"))  # 02:30 CEST, first time
    assert not quiet.is_open(utc("2025-10-26 01:30"))  # 02:30 CET, second time
    assert quiet.is_open(utc("2025-10-26 02:00"))  # 03:00 CET


def test_next_open_crosses_the_weekend_and_dst():
    """From Saturday night the office next opens Monday 09:00 local, in UTC terms after DST began."""
    schedules = Schedules({"ops": [window(days="mon-fri", hours="09:00-17:00")]})
    assert schedules.next_open("ops", at("2025-03-29 22:00")) == utc("2025-03-31 07:00")
    assert schedules.next_open("ops", at("2025-03-31 10:00")) is None  # open now
    assert schedules.is_open("elsewhere", at("2025-03-29 22:00"))  # no schedule: always open


def test_own_time_zone_per_schedule():
    london = parse_window(
        "uk", {"channels": ["ops"], "hours": "09:00-17:00", "timezone": "Europe/London"}, AMS, "schedules.uk"
    )[0]
    assert london.is_open(at("2025-06-02 09:00", ZoneInfo("Europe/London")))
    assert not london.is_open(at("2025-06-02 09:30"))  # 08:30 in London


def test_several_schedules_must_all_be_open(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"""channels:
  ops: {HOOK.format(id=1)}
schedules:
  office: {{channels: [ops], days: mon-fri}}
  night: {{channels: [ops], quiet_hours: "12:00-13:00"}}
""")
    schedules = load_schedules(
        resolve("logs", config_file=path, environ={"TZ": "Europe/Amsterdam"}, spool_dir=tmp_path)
    )
    assert schedules.is_open("ops", at("2025-06-02 11:00"))
    assert not schedules.is_open("ops", at("2025-06-02 12:30"))
    assert not schedules.is_open("ops", at("2025-06-07 11:00"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"hours": 540}, "schedules.w.hours: write time ranges in quotes"),
        ({"hours": "9-17"}, "schedules.w.hours: cannot read time range"),
        ({"hours": "09:00-25:00"}, "is not a time of day"),
        ({"hours": "09:00-09:00"}, "is empty"),
        ({"days": "someday"}, "schedules.w.days: cannot read day"),
        ({"holidays": ["2025-13-01"]}, "schedules.w.holidays[0]: cannot read holiday"),
        ({"timezone": "Mars/Olympus"}, "schedules.w.timezone: unknown time zone"),
        ({"weekend": False}, "schedules.w.weekend: unknown key"),
        ({"channels": []}, "schedules.w.channels: names no channel"),
    ],
)
def test_schedule_mistakes_name_the_key(spec, message):
    with pytest.raises(ConfigError) as caught:
        parse_window("w", {"channels": ["ops"], **spec}, AMS, "schedules.w")
    assert str(caught.value).startswith("config file schedules.w")
    assert message in str(caught.value)


def test_unknown_channel_and_timezone_setting(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"channels:\n  ops: {HOOK.format(id=1)}\nschedules:\n  x: {{channels: [opps]}}\n")
    with pytest.raises(ConfigError, match=r"^config file schedules\.x\.channels: unknown channel 'opps'"):
        load_schedules(resolve("logs", config_file=path, environ={}, spool_dir=tmp_path))
    with pytest.raises(ConfigError, match="OTEL_EXPORTER_DISCORD_TIMEZONE: unknown time zone"):
        load_schedules(
            resolve(
                "logs", config_file=path, spool_dir=tmp_path, environ={"OTEL_EXPORTER_DISCORD_TIMEZONE": "Amsterdam"}
            )
        )
