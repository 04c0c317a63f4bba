"""Schedules: parsing, ticks and periods in a time zone, across DST changes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from test_summary_support import AMS, local

from otel_discord.summary.schedules import Schedule, parse_schedule, period_start

UTC = UTC
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600.0


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()


class TestParse:
    @pytest.mark.parametrize(
        ("text", "spec"),
        [
            ("daily@18:00", "daily@18:00"),
            ("daily", "daily@18:00"),
            ("Daily 7:15", "daily@07:15"),
            ("every 15m", "every 15m"),
            ("every 2h", "every 2h"),
            ("every 90 minutes", "every 90m"),
            ("weekly@mon 09:00", "weekly@mon 09:00"),
            ("weekly@friday@17:30", "weekly@fri 17:30"),
            ("weekly", "weekly@mon 09:00"),
            ("monthly@1 09:00", "monthly@1 09:00"),
            ("monthly", "monthly@1 09:00"),
            ("quarterly@09:00", "quarterly@1 09:00"),
            ("quarterly", "quarterly@1 09:00"),
        ],
    )
    def test_accepted_forms_normalise_to_one_spec(self, text, spec):
        assert parse_schedule(text, AMS).spec == spec

    @pytest.mark.parametrize(
        "text",
        [
            "hourly",
            "daily@25:00",
            "weekly@someday",
            "every 0m",
            "every 3d",
            "monthly@32",
            "daily 18:00 now",
            "daily@18:07",
            "every 130m",
        ],
    )
    def test_rejected_forms_are_named_in_the_error(self, text):
        with pytest.raises(ValueError, match=re.escape(repr(text))):
            parse_schedule(text, AMS)


class TestDaily:
    def test_latest_tick_and_period(self):
        """daily@18:00 at 17:59 still points at yesterday's tick; at 18:00 today's; the period is the day between."""
        schedule = parse_schedule("daily@18:00", AMS)
        assert schedule.latest_tick(local(2025, 10, 14, 17, 59)) == local(2025, 10, 13, 18, 0)
        tick = schedule.latest_tick(local(2025, 10, 14, 18, 0))
        assert tick == local(2025, 10, 14, 18, 0)
        assert schedule.period(tick) == (local(2025, 10, 13, 18, 0), tick)
        assert schedule.label(tick) == "Tue 14 Oct"

    def test_period_is_25_hours_on_fall_back_day_and_23_on_spring_forward_day(self):
        schedule = parse_schedule("daily@18:00", AMS)
        start, end = schedule.period(local(2025, 10, 26, 18, 0))
        assert end - start == 25 * HOUR
        start, end = schedule.period(local(2025, 3, 30, 18, 0))
        assert end - start == 23 * HOUR

    def test_missing_wall_time_posts_past_the_gap(self):
        """02:30 does not exist on 30 March 2025 in Amsterdam: the summary goes out at 03:30 CEST (01:30 UTC)."""
        schedule = parse_schedule("daily@02:30", AMS)
        assert schedule.latest_tick(utc(2025, 3, 30, 2, 0)) == utc(2025, 3, 30, 1, 30)

    def test_repeated_wall_time_posts_once(self):
        """02:30 happens twice on 26 October 2025: only the first counts, so the second passes without a tick."""
        schedule = parse_schedule("daily@02:30", AMS)
        first = utc(2025, 10, 26, 0, 30)  # 02:30 CEST
        assert schedule.latest_tick(first) == first
        assert schedule.latest_tick(utc(2025, 10, 26, 1, 45)) == first  # 02:45 CET, after the repeat
        assert schedule.latest_tick(utc(2025, 10, 27, 1, 30)) == utc(2025, 10, 27, 1, 30)

    def test_time_zone_of_the_schedule_decides(self):
        """daily@18:00 in New York is 22:00 UTC in October."""
        schedule = parse_schedule("daily@18:00", NEW_YORK)
        assert schedule.latest_tick(utc(2025, 10, 14, 23, 0)) == utc(2025, 10, 14, 22, 0)


class TestEvery:
    @pytest.mark.parametrize(("day", "ticks"), [((2025, 10, 26), 100), ((2025, 3, 30), 92), ((2025, 10, 14), 96)])
    def test_every_quarter_hour_on_dst_days_keeps_15_minute_periods(self, day, ticks):
        """A 25-hour day has 100 quarter hours, a 23-hour day 92; each period lasts exactly 15 minutes."""
        schedule = parse_schedule("every 15m", AMS)
        start = local(*day, 0, 0)
        end = local(*day, 0, 0) + 26 * HOUR
        seen = []
        now = start
        while now < end:
            tick = schedule.latest_tick(now)
            if not seen or tick != seen[-1]:
                seen.append(tick)
            now += 300
        on_day = [t for t in seen if datetime.fromtimestamp(t, AMS).date() == datetime(*day).date()]
        assert len(on_day) == ticks
        for tick in on_day[1:]:
            first, last = schedule.period(tick)
            assert last - first == 15 * 60

    def test_label_is_the_wall_clock_range(self):
        schedule = parse_schedule("every 15m", AMS)
        assert schedule.label(local(2025, 10, 14, 14, 15)) == "14:00–14:15"


class TestCalendarPeriods:
    def test_weekly_covers_the_seven_days_before_the_tick(self):
        schedule = parse_schedule("weekly@mon 09:00", AMS)
        tick = schedule.latest_tick(local(2025, 10, 15, 12, 0))
        assert tick == local(2025, 10, 13, 9, 0)
        assert schedule.period(tick) == (local(2025, 10, 6, 9, 0), tick)
        assert schedule.label(tick) == "week 41 2025"

    def test_monthly_covers_the_previous_calendar_month(self):
        schedule = parse_schedule("monthly@1 09:00", AMS)
        tick = schedule.latest_tick(local(2025, 10, 1, 9, 30))
        assert schedule.period(tick) == (local(2025, 9, 1, 0, 0), local(2025, 10, 1, 0, 0))
        assert schedule.label(tick) == "September 2025"

    def test_monthly_day_past_the_month_end_falls_on_the_last_day(self):
        schedule = parse_schedule("monthly@31 09:00", AMS)
        assert schedule.latest_tick(local(2025, 3, 15, 12, 0)) == local(2025, 2, 28, 9, 0)

    def test_quarterly_covers_the_previous_btw_quarter(self):
        schedule = parse_schedule("quarterly@09:00", AMS)
        tick = schedule.latest_tick(local(2025, 10, 1, 10, 0))
        assert tick == local(2025, 10, 1, 9, 0)
        assert schedule.period(tick) == (local(2025, 7, 1, 0, 0), local(2025, 10, 1, 0, 0))
        assert schedule.label(tick) == "2025-Q3"
        # An hour earlier the latest tick is the one that opened Q3, summarising Q2.
        assert schedule.label(schedule.latest_tick(local(2025, 10, 1, 8, 0))) == "2025-Q2"

    @pytest.mark.parametrize(
        ("kind", "expected"),
        [
            ("day", "2025-11-14"),
            ("week", "2025-11-10"),
            ("month", "2025-11-01"),
            ("quarter", "2025-10-01"),
            ("year", "2025-01-01"),
        ],
    )
    def test_calendar_period_starts_are_local(self, kind, expected):
        """23:30 UTC on 13 Nov is already the 14th in Amsterdam."""
        assert period_start(kind, utc(2025, 11, 13, 23, 30), AMS).isoformat() == expected


def test_schedule_is_a_value():
    """Two parses of one text are equal (their spec is the election key across processes)."""
    assert parse_schedule("daily@18:00", AMS) == Schedule("daily", AMS)
