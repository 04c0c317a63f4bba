"""On-call rotations: wall-clock handovers across both DST days, holidays with cover, active windows, overrides."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from otel_discord.config import ConfigError
from otel_discord.route.rules import parse_rules
from otel_discord.route.rules._parse import wall_to_epoch

AMS = ZoneInfo("Europe/Amsterdam")
PEOPLE = {
    "anna": "345678901234567890",
    "bram": "456789012345678901",
    "chris": "567890123456789012",
    "dirk": "567890123456789013",
}
ROLES = {"devs": "678901234567890123"}


def at(text: str) -> float:
    """Unix seconds of an Amsterdam wall-clock time; pass an explicit offset for ambiguous times."""
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=AMS)).timestamp()


def rules(**rotations):
    return parse_rules(
        {
            "timezone": "Europe/Amsterdam",
            "people": PEOPLE,
            "roles": ROLES,
            "calendars": {"nl": {"country": "NL"}, "own": {"dates": ["12-31", "2026-07-01"]}},
            "rotations": rotations,
        }
    )


WEEKLY = {"members": ["anna", "bram", "chris"], "every": "weekly", "handover": "mon 09:00", "starts": "2026-01-05"}


@pytest.mark.parametrize(
    "moment, expected",
    [
        ("2026-01-05 08:59", "chris"),  # before the anchor the rotation runs backwards
        ("2026-01-05 09:00", "anna"),
        ("2026-01-12 08:59", "anna"),
        ("2026-01-12 09:00", "bram"),
        ("2026-01-19 09:00", "chris"),
        ("2026-01-26 09:00", "anna"),
        # Spring forward on Sun 29 March 2026: the handover stays Monday 09:00 local (07:00 UTC, not 08:00).
        ("2026-03-30 08:59", "chris"),
        ("2026-03-30 09:00", "anna"),
        ("2026-03-30T07:00:00+00:00", "anna"),
        ("2026-03-30T06:59:00+00:00", "chris"),
        # Fall back on Sun 25 October 2026: Monday 09:00 local is 08:00 UTC again.
        ("2026-10-26 08:59", "chris"),
        ("2026-10-26 09:00", "anna"),
        ("2026-10-26T07:59:00+00:00", "chris"),
        ("2026-10-26T08:00:00+00:00", "anna"),
    ],
)
def test_weekly_handover_is_monday_0900_local_across_dst(moment, expected):
    """Members hand over on Monday at 09:00 Amsterdam time in winter, in summer and on both DST weeks."""
    on_call = rules(primary=WEEKLY).rotations.on_call("primary", at(moment))
    assert str(on_call.who) == expected


def test_next_handover_is_reported_in_local_time():
    """`until` is the next handover: 09:00 local on the Monday after the spring change."""
    on_call = rules(primary=WEEKLY).rotations.on_call("primary", at("2026-03-25 12:00"))
    assert datetime.fromtimestamp(on_call.until, AMS).strftime("%a %Y-%m-%d %H:%M %Z") == "Mon 2026-03-30 09:00 CEST"


@pytest.mark.parametrize(
    "moment, expected",
    [
        ("2026-03-28 02:29", "bram"),
        ("2026-03-28 02:30", "anna"),
        # 02:30 does not exist on 29 March: the handover is the next valid instant, 03:00 CEST.
        ("2026-03-29T00:59:59+00:00", "anna"),
        ("2026-03-29 03:00", "bram"),
        ("2026-03-30 02:30", "anna"),
        # 02:30 happens twice on 25 October: the first one (CEST, 00:30 UTC) is the handover.
        ("2026-10-25T00:29:00+00:00", "anna"),
        ("2026-10-25T00:30:00+00:00", "bram"),
        ("2026-10-25T01:30:00+00:00", "bram"),  # the second 02:30 (CET) is no handover
        ("2026-10-26 02:30", "anna"),
    ],
)
def test_daily_handover_in_the_dst_gap_and_the_repeated_hour(moment, expected):
    """A daily 02:30 handover: spring's missing 02:30 becomes 03:00; autumn's double 02:30 counts once."""
    spec = {"members": ["anna", "bram"], "every": "daily", "handover": "02:30", "starts": "2026-01-01"}
    assert str(rules(r=spec).rotations.on_call("r", at(moment)).who) == expected


@pytest.mark.parametrize(
    "wall, utc",
    [
        ("2026-03-29 02:30", "2026-03-29 01:00"),  # non-existent → next valid instant (03:00 CEST)
        ("2026-10-25 02:30", "2026-10-25 00:30"),  # ambiguous → first occurrence (fold=0)
        ("2026-07-01 09:00", "2026-07-01 07:00"),
    ],
)
def test_wall_to_epoch(wall, utc):
    assert (
        wall_to_epoch(datetime.fromisoformat(wall), AMS) == datetime.fromisoformat(utc).replace(tzinfo=UTC).timestamp()
    )


def test_twelve_hour_turns_hand_over_at_0900_and_2100():
    spec = {"members": ["anna", "bram"], "every": "12h", "handover": "09:00", "starts": "2026-03-28"}
    rot = rules(r=spec).rotations
    assert [
        str(rot.on_call("r", at(t)).who)
        for t in ("2026-03-28 09:00", "2026-03-28 20:59", "2026-03-28 21:00", "2026-03-29 09:00", "2026-03-29 21:00")
    ] == ["anna", "anna", "bram", "anna", "bram"]


COVERED = {
    **WEEKLY,
    "calendars": ["nl", "own"],
    "otherwise": "oncall:backup",
    "active": {"days": "mon-fri", "hours": "08:00-18:00"},
}
BACKUP = {"members": ["dirk"], "every": "weekly", "handover": "mon 09:00", "starts": "2026-01-05"}


@pytest.mark.parametrize(
    "moment, expected, why",
    [
        ("2026-04-28 12:00", "bram", "turn"),  # a Tuesday, office hours: turn 16 (16 mod 3 = 1 → bram)
        ("2026-04-28 19:00", "dirk", "outside active hours"),
        ("2026-05-02 12:00", "dirk", "outside active hours"),  # Saturday
        ("2026-04-27 12:00", "dirk", "holiday nl"),  # Koningsdag, from the country calendar
        ("2026-04-06 12:00", "dirk", "holiday nl"),  # Easter Monday moves every year: MM-DD cannot say it
        ("2026-05-14 12:00", "dirk", "holiday nl"),  # Ascension Day
        ("2026-12-31 12:00", "dirk", "holiday own 12-31"),
        ("2026-07-01 12:00", "dirk", "holiday own 2026-07-01"),
    ],
)
def test_holidays_and_closed_hours_go_to_the_otherwise_cover(moment, expected, why):
    on_call = rules(primary=COVERED, backup=BACKUP).rotations.on_call("primary", at(moment))
    assert str(on_call.who) == expected
    assert why in on_call.why


@pytest.mark.parametrize("on_holiday, expected", [("same", "bram"), ("nobody", None), ("otherwise", "role:devs")])
def test_on_holiday_choices(on_holiday, expected):
    spec = {**WEEKLY, "calendars": ["nl"], "otherwise": "role:devs", "on_holiday": on_holiday}
    who = rules(primary=spec).rotations.on_call("primary", at("2026-04-27 12:00")).who
    assert (str(who) if who else None) == expected


OVERRIDES = {
    **WEEKLY,
    "overrides": [
        {"who": "chris", "from": "2026-01-06 09:00", "to": "2026-01-08 09:00", "note": "swap"},
        {"who": "dirk", "from": "2026-01-07 00:00", "to": "2026-01-07 12:00"},
        {"who": "nobody", "from": "2026-01-20 00:00", "to": "2026-01-20 06:00"},
    ],
}


@pytest.mark.parametrize(
    "moment, expected",
    [
        ("2026-01-06 08:59", "anna"),
        ("2026-01-06 09:00", "chris"),
        ("2026-01-07 06:00", "dirk"),  # the later override wins where they overlap
        ("2026-01-07 12:00", "chris"),
        ("2026-01-08 09:00", "anna"),  # `to` is exclusive
        ("2026-01-20 03:00", None),  # an explicit gap
    ],
)
def test_overrides_always_win_and_the_last_listed_wins_overlaps(moment, expected):
    who = (
        rules(primary={**OVERRIDES, "calendars": ["nl"], "otherwise": "bram"})
        .rotations.on_call("primary", at(moment))
        .who
    )
    assert (str(who) if who else None) == expected


def test_next_is_the_member_after_the_current_one():
    rot = rules(primary=WEEKLY).rotations
    from otel_discord.route.rules.people import Target

    assert str(rot.resolve(Target("oncall", "primary", next=True), at("2026-01-05 10:00"))) == "bram"
    assert str(rot.resolve(Target("oncall", "primary", next=True), at("2026-01-19 10:00"))) == "anna"


@pytest.mark.parametrize(
    "spec, path",
    [
        ({**WEEKLY, "members": []}, "rotations.primary.members"),
        ({**WEEKLY, "members": ["zoe"]}, "rotations.primary.members[0]"),
        ({**WEEKLY, "every": "30m"}, "rotations.primary.every"),
        ({**WEEKLY, "every": "often"}, "rotations.primary.every"),
        ({**WEEKLY, "handover": "moon 09:00"}, "rotations.primary.handover"),
        ({**WEEKLY, "handover": "mon 9h"}, "rotations.primary.handover"),
        ({**WEEKLY, "starts": "soon"}, "rotations.primary.starts"),
        ({**WEEKLY, "timezone": "Mars/Olympus"}, "rotations.primary.timezone"),
        ({**WEEKLY, "calendars": ["xx"]}, "rotations.primary.calendars[0]"),
        ({**WEEKLY, "calendars": ["nl"]}, "rotations.primary.otherwise"),  # who covers holidays?
        ({**WEEKLY, "active": {"days": "mon-fri"}}, "rotations.primary.otherwise"),
        ({**WEEKLY, "otherwise": "oncall:nope"}, "rotations.primary.otherwise"),
        ({**WEEKLY, "on_holiday": "maybe"}, "rotations.primary.on_holiday"),
        ({**WEEKLY, "overrides": [{"who": "anna", "from": "2026-01-02 09:00"}]}, "rotations.primary.overrides[0].to"),
        (
            {**WEEKLY, "overrides": [{"who": "anna", "from": "2026-01-02", "to": "2026-01-01"}]},
            "rotations.primary.overrides[0].to",
        ),
        ({**WEEKLY, "shift": 1}, "rotations.primary.shift"),
    ],
)
def test_config_errors_name_the_field(spec, path):
    with pytest.raises(ConfigError, match="config file " + re.escape(path) + ":"):
        rules(primary=spec)


def test_covers_that_loop_are_refused():
    with pytest.raises(ConfigError, match=r"rotations\.a\.otherwise: covers form a loop: a → b → a"):
        rules(
            a={**WEEKLY, "active": {"days": "mon-fri"}, "otherwise": "oncall:b"},
            b={**WEEKLY, "active": {"days": "sat-sun"}, "otherwise": "oncall:a"},
        )
