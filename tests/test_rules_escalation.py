"""Escalation timing with repeat, one catch-up page after downtime, acknowledgment, re-ack, resolve, silence, gaps."""

from __future__ import annotations

import dataclasses
import re

import pytest

from otel_discord.config import ConfigError
from otel_discord.route.rules import incident as inc
from otel_discord.route.rules import parse_rules
from otel_discord.route.rules.people import Target

T0 = 1_780_000_000.0  # a Thursday in May 2026
MIN = 60.0
PEOPLE = {"anna": "345678901234567890", "bram": "456789012345678901", "chris": "567890123456789012"}


def config(**policy):
    return parse_rules(
        {
            "people": PEOPLE,
            "roles": {"devs": "678901234567890123"},
            "rotations": {
                "primary": {
                    "members": ["anna", "bram"],
                    "every": "weekly",
                    "handover": "mon 09:00",
                    "starts": "2026-01-05",
                    "overrides": [{"who": "nobody", "from": "2026-05-28 00:00", "to": "2026-05-29 00:00"}],
                }
            },
            "escalation": {
                "p": {
                    "steps": [
                        {"notify": "anna", "wait": "10m"},
                        {"notify": "bram", "wait": "15m"},
                        {"notify": "role:devs", "wait": "30m"},
                    ],
                    **policy,
                }
            },
            "incidents": [{"match": {"level": "error"}, "escalate": "p"}],
        }
    )


def run(rules, minutes, *, actions=None, start=None):
    """Tick once per listed minute; apply ``actions[minute](incident, now)`` first. → (incident, pages)."""
    policy = rules.policies["p"]
    incident = start or inc.open_incident("i1", "fp", "alerts", "boom", policy, T0)
    pages = []
    for minute in minutes:
        now = T0 + minute * MIN
        if actions and minute in actions:
            incident = actions[minute](incident, now) or incident
        changed, order = inc.tick(
            incident, policy, now, lambda t: rules.resolve(t, now), rules.assignee(incident.assignee, now)
        )
        incident = changed or incident
        if order is not None:
            pages.append(
                (
                    minute,
                    order.page.step + 1,
                    order.page.loop + 1,
                    [str(w) for w in order.page.who],
                    order.page.catch_up,
                    order.dedupe_key,
                )
            )
    return incident, pages


def test_steps_page_at_their_waits_and_repeat_runs_the_chain_again():
    incident, pages = run(config(repeat=1), range(0, 121))
    assert [(m, step, loop, who) for m, step, loop, who, _, _ in pages] == [
        (0, 1, 1, ["anna"]),
        (10, 2, 1, ["bram"]),
        (25, 3, 1, ["role:devs"]),
        (55, 1, 2, ["anna"]),
        (65, 2, 2, ["bram"]),
        (80, 3, 2, ["role:devs"]),
    ]
    assert incident.exhausted and incident.next_at is None
    assert len({key for *_, key in pages}) == 6  # every page has its own dedupe key
    assert [e.kind for e in incident.events].count("exhausted") == 1


def test_without_repeat_the_chain_runs_once():
    incident, pages = run(config(), range(0, 200))
    assert [m for m, *_ in pages] == [0, 10, 25]
    assert incident.exhausted


def test_after_downtime_only_the_latest_overdue_step_is_paged_once():
    """Down from minute 1 to minute 60: steps 2, 3 and the repeat's step 1 were due; one catch-up page."""
    _, pages = run(config(repeat=1), [0, 60, 61, 62, 65])
    assert [(m, step, loop, catch_up) for m, step, loop, _, catch_up, _ in pages] == [
        (0, 1, 1, False),
        (60, 1, 2, True),
        (65, 2, 2, False),
    ]


def test_acknowledgment_stops_escalation():
    incident, pages = run(config(repeat=2), range(0, 200), actions={12: lambda i, now: inc.acknowledge(i, "anna", now)})
    assert [m for m, *_ in pages] == [0, 10]
    assert incident.state is inc.State.ACKNOWLEDGED and incident.acked_by == "anna"
    assert incident.acked_at == T0 + 12 * MIN


def test_reack_after_reopens_a_problem_that_keeps_firing():
    actions = {5: lambda i, now: inc.acknowledge(i, "anna", now), 30: lambda i, now: inc.occurred(i, now)}
    incident, pages = run(config(reack_after="1h"), range(0, 80), actions=actions)
    assert [(m, step) for m, step, *_ in pages] == [(0, 1), (65, 1), (75, 2)]
    assert incident.run == 1 and incident.state is inc.State.OPEN
    assert pages[0][-1] != pages[1][-1]  # a new run: new dedupe keys


def test_reack_after_leaves_a_quiet_problem_acknowledged():
    incident, pages = run(
        config(reack_after="1h"), range(0, 200), actions={5: lambda i, now: inc.acknowledge(i, "anna", now)}
    )
    assert [m for m, *_ in pages] == [0]
    assert incident.state is inc.State.ACKNOWLEDGED


def test_resolve_after_without_occurrences_stops_escalation():
    incident, pages = run(
        config(resolve_after="20m", repeat=1), range(0, 200), actions={15: lambda i, now: inc.occurred(i, now)}
    )
    assert [m for m, *_ in pages] == [0, 10, 25]  # last seen at 15: resolved at 35
    assert incident.state is inc.State.RESOLVED and incident.resolved_at == T0 + 35 * MIN
    assert inc.occurred(incident, T0 + 40 * MIN) is None  # a later occurrence is a new incident


def test_a_silenced_incident_pages_again_when_the_silence_ends():
    incident, pages = run(
        config(), range(0, 40), actions={2: lambda i, now: inc.silence(i, now + 20 * MIN, "bram", now)}
    )
    assert [(m, step) for m, step, *_ in pages] == [(0, 1), (22, 1), (32, 2)]
    assert incident.run == 1


def test_a_rotation_gap_passes_to_the_next_step_at_once():
    """Nobody is on call (an override leaves a gap): step 1 is skipped and step 2 paged now."""
    rules = parse_rules(
        {
            "people": PEOPLE,
            "roles": {"devs": "678901234567890123"},
            "rotations": {
                "primary": {
                    "members": ["anna"],
                    "every": "weekly",
                    "handover": "mon 09:00",
                    "starts": "2026-01-05",
                    "overrides": [{"who": "nobody", "from": "2026-01-01", "to": "2027-01-01"}],
                }
            },
            "escalation": {"p": {"steps": [{"notify": "oncall:primary", "wait": "10m"}, {"notify": "role:devs"}]}},
        }
    )
    _, pages = run(rules, range(0, 30))
    assert [(m, step, who) for m, step, _, who, *_ in pages] == [(0, 2, ["role:devs"])]
    policy = rules.policies["p"]
    decision = policy.decide(T0, 0, T0, lambda t: rules.resolve(t, T0))
    assert decision.page.gaps == ("oncall:primary",)


def test_the_assignee_is_paged_first():
    rules = config()
    start = inc.open_incident("i1", "fp", "alerts", "boom", rules.policies["p"], T0, assignee="chris")
    _, pages = run(rules, range(0, 12), start=start)
    assert [(m, who) for m, _, _, who, *_ in pages] == [(0, ["chris"]), (10, ["bram"])]


def test_page_mentions_come_from_configured_ids_only():
    rules = config()
    decision = rules.policies["p"].decide(T0, 0, T0 + 26 * MIN, lambda t: rules.resolve(t, T0))
    assert rules.mention(decision.page).text == "<@&678901234567890123>"
    assert rules.directory.mention([Target("person", "anna")]).users == ("345678901234567890",)


@pytest.mark.parametrize(
    "transition, state, allowed",
    [
        (lambda i, now: inc.acknowledge(i, "a", now), inc.State.OPEN, True),
        (lambda i, now: inc.acknowledge(i, "a", now), inc.State.ACKNOWLEDGED, False),
        (lambda i, now: inc.acknowledge(i, "a", now), inc.State.SILENCED, True),
        (lambda i, now: inc.acknowledge(i, "a", now), inc.State.RESOLVED, False),
        (lambda i, now: inc.resolve(i, "a", now), inc.State.ACKNOWLEDGED, True),
        (lambda i, now: inc.resolve(i, "a", now), inc.State.RESOLVED, False),
        (lambda i, now: inc.silence(i, now + 60, "a", now), inc.State.OPEN, True),
        (lambda i, now: inc.silence(i, now + 60, "a", now), inc.State.RESOLVED, False),
        (lambda i, now: inc.take(i, "bram", now), inc.State.OPEN, True),
        (lambda i, now: inc.take(i, "bram", now), inc.State.RESOLVED, False),
    ],
)
def test_transitions_table(transition, state, allowed):
    """Each transition applies only from the states that allow it, bumps the version (compare-and-set) and
    logs who and when."""
    base = inc.open_incident("i", "fp", "alerts", "boom", None, T0)
    base = dataclasses.replace(base, state=state)
    after = transition(base, T0 + 5)
    assert (after is not None) is allowed
    if after is not None:
        assert after.version > base.version
        assert after.events[-1].at == T0 + 5 and after.events[-1].by in ("a", "bram")


def test_take_assigns_and_acknowledges():
    taken = inc.take(inc.open_incident("i", "fp", "alerts", "boom", None, T0), "bram", T0 + 1)
    assert taken.assignee == "bram" and taken.state is inc.State.ACKNOWLEDGED and taken.acked_by == "bram"
    assert [e.kind for e in taken.events] == ["opened", "assigned", "acknowledged"]


@pytest.mark.parametrize(
    "policy, path",
    [
        ({"steps": []}, "escalation.p.steps"),
        ({"steps": [{"wait": "5m"}]}, "escalation.p.steps[0].notify"),
        ({"steps": [{"notify": "zoe"}]}, "escalation.p.steps[0].notify"),
        ({"steps": [{"notify": ["anna", "role:ops"]}]}, "escalation.p.steps[0].notify[1]"),
        ({"steps": [{"notify": "oncall:nope"}]}, "escalation.p.steps[0].notify"),
        ({"steps": [{"notify": "anna", "wait": "10s"}]}, "escalation.p.steps[0].wait"),
        ({"steps": [{"notify": "anna", "wait": "2d"}]}, "escalation.p.steps[0].wait"),
        ({"steps": [{"notify": "anna", "wait": "soon"}]}, "escalation.p.steps[0].wait"),
        ({"steps": [{"notify": "anna"}], "repeat": 9}, "escalation.p.repeat"),
        ({"steps": [{"notify": "anna"}], "reack_after": "eventually"}, "escalation.p.reack_after"),
        ({"steps": [{"notify": "anna", "then": 1}]}, "escalation.p.steps[0].then"),
    ],
)
def test_policy_config_errors_name_the_field(policy, path):
    with pytest.raises(ConfigError, match="config file " + re.escape(path) + ":"):
        parse_rules({"people": PEOPLE, "roles": {"devs": "678901234567890123"}, "escalation": {"p": policy}})
