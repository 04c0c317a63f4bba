"""Route matchers: category, minimum level, kind, event globs and attribute conditions."""

from __future__ import annotations

import pytest

from otel_discord.config import ConfigError
from otel_discord.notice import Category, Kind, Notice, Severity
from otel_discord.route.match import parse_condition, parse_matcher


def event(
    name: str = "invoice.paid", severity: Severity = Severity.INFO, category: Category = Category.PAYMENT, **attributes
) -> Notice:
    return Notice(Kind.EVENT, severity, category, name, event_name=name, attributes=attributes)


@pytest.mark.parametrize(
    ("condition", "attributes", "expected"),
    [
        ("invoice.amount >= 1000", {"invoice.amount": 1000.0}, True),
        ("invoice.amount >= 1000", {"invoice.amount": 999.99}, False),
        ("invoice.amount >= 1000", {"invoice.amount": "1250.50"}, True),  # numeric text counts as a number
        ("invoice.amount >= 1000", {"invoice.amount": "n/a"}, False),
        ("invoice.amount >= 1000", {}, False),
        ("invoice.amount > 1000", {"invoice.amount": 1000}, False),
        ("invoice.amount < 10", {"invoice.amount": 9.5}, True),
        ("invoice.amount <= 10", {"invoice.amount": 10}, True),
        ("invoice.currency == EUR", {"invoice.currency": "EUR"}, True),
        ("invoice.currency = EUR", {"invoice.currency": "USD"}, False),
        ("invoice.client == 'Acme*'", {"invoice.client": "Acme B.V."}, True),
        ("invoice.client == 'Acme*'", {"invoice.client": "Bakkerij Acme"}, False),
        ("invoice.client != 'Acme*'", {"invoice.client": "Bakkerij Acme"}, True),
        ("invoice.client != 'Acme*'", {}, True),  # missing: only != and not in hold
        ("user.name in [anna, bram]", {"user.name": "bram"}, True),
        ("user.name in [anna, bram]", {"user.name": "carla"}, False),
        ("user.name not in [anna, bram]", {"user.name": "carla"}, True),
        ("user.name not in [anna, bram]", {}, True),
        ("invoice.paid_late == true", {"invoice.paid_late": True}, True),
        ("invoice.paid_late == true", {"invoice.paid_late": False}, False),
        ("invoice.number == 250090", {"invoice.number": "250090"}, True),
        ("invoice.days_late in [1, 2, 3]", {"invoice.days_late": 2}, True),
    ],
)
def test_condition(condition, attributes, expected):
    """Each operator compares the way the README says: numbers as numbers, text as globs."""
    assert parse_condition(condition, "routes[0].match.attributes[0]")(attributes) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("invoice.amount >= lots", "'>=' needs a number"),
        ("invoice.amount", "cannot read condition"),
        ("user.name in anna", "'in' needs a list"),
        (42, "must be a condition"),
    ],
)
def test_bad_condition_names_the_key_path(text, message):
    """A condition that cannot be read is an error naming where it is in the file."""
    with pytest.raises(ConfigError) as caught:
        parse_condition(text, "routes[1].match.attributes[0]")
    assert str(caught.value).startswith("config file routes[1].match.attributes[0]: ")
    assert message in str(caught.value)


def test_matcher_requires_every_test():
    """Category, minimum level, event glob and conditions must all hold."""
    match = parse_matcher(
        {
            "category": ["invoice", "payment"],
            "level": "info",
            "event": "invoice.*",
            "attributes": ["invoice.amount >= 5000"],
        },
        "routes[0].match",
    )
    assert match(event("invoice.paid", **{"invoice.amount": 7850.0}))
    assert not match(event("invoice.paid", **{"invoice.amount": 10.0}))
    assert not match(event("btw.payment.updated", category=Category.BTW, **{"invoice.amount": 7850.0}))
    assert not match(event("invoice.paid", severity=Severity.DEBUG, **{"invoice.amount": 7850.0}))
    assert not match(event("refund.paid", **{"invoice.amount": 7850.0}))


def test_event_glob_never_matches_notices_without_an_event_name():
    """An error span has no event name, so an event route does not take it."""
    match = parse_matcher({"event": "*"}, "routes[0].match")
    assert not match(Notice(Kind.ERROR, Severity.ERROR, Category.ERROR, "boom"))
    assert match(event("auth.login"))


def test_kind_and_empty_matcher():
    """An empty match takes everything; ``kind`` picks business events apart from errors."""
    assert parse_matcher(None, "routes[0].match")(event())
    by_kind = parse_matcher({"kind": "event"}, "routes[0].match")
    assert by_kind(event())
    assert not by_kind(Notice(Kind.SLOW_QUERY, Severity.WARNING, Category.PERFORMANCE, "slow"))


@pytest.mark.parametrize(
    ("spec", "path", "message"),
    [
        ({"level": "loud"}, "routes[2].match.level", "unknown level 'loud'"),
        ({"category": "money"}, "routes[2].match.category", "unknown category 'money'"),
        ({"kind": "span"}, "routes[2].match.kind", "unknown kind 'span'"),
        ({"levle": "error"}, "routes[2].match.levle", "unknown key"),
        ({"event": ""}, "routes[2].match.event", "must be an event name"),
        ("error", "routes[2].match", "must be a mapping"),
    ],
)
def test_bad_match_names_the_key_path(spec, path, message):
    """Every mistake is a ConfigError whose message starts with the key path."""
    with pytest.raises(ConfigError) as caught:
        parse_matcher(spec, "routes[2].match")
    assert str(caught.value).startswith(f"config file {path}: ")
    assert message in str(caught.value)
