"""Which notices become incidents, which policy escalates them, and who they are assigned to.

Rules are checked in order and the first that matches wins (like routes without
``continue``). A notice needs a fingerprint to become an incident: the incident
is the open group of that fingerprint. A notice no rule takes is posted as usual
and never escalates.

Config::

    incidents:
      - match: {level: critical}
        escalate: critical            # a policy under escalation:
        assign: oncall:primary        # optional: a person, role:<name> or oncall:<rotation>
      - match: {category: btw}
        assign: anna                  # shown on the card; no escalation
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.notice import Notice
from otel_discord.route.match import Matcher, parse_matcher
from otel_discord.route.rules.escalation import Policy
from otel_discord.route.rules.people import Directory, Target, parse_target

RULE_KEYS: Final = ("match", "escalate", "assign")


@dataclass(frozen=True, slots=True)
class IncidentRule:
    match: Matcher
    policy: Policy | None
    assign: Target | None
    origin: str  # "incidents[0]"


class IncidentRules:
    """The ``incidents:`` list; ``select`` is pure."""

    def __init__(self, rules: Iterable[IncidentRule] = ()) -> None:
        self.rules = tuple(rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def select(self, notice: Notice) -> IncidentRule | None:
        """The first rule matching ``notice``; None if it is not an incident (no rule, or no fingerprint)."""
        if not notice.fingerprint:
            return None
        for rule in self.rules:
            if rule.match(notice):
                return rule
        return None

    def describe(self) -> list[str]:
        lines = []
        for rule in self.rules:
            what = f"escalate {rule.policy.name}" if rule.policy else "no escalation"
            who = f", assign {rule.assign}" if rule.assign else ""
            lines.append(f"{rule.origin}: {rule.match.describe()} → {what}{who}")
        return lines


def parse_incident_rules(
    raw: Any, policies: Mapping[str, Policy], directory: Directory, rotations: Iterable[str]
) -> IncidentRules:
    names = tuple(rotations)
    rules = []
    for i, item in enumerate(as_list(raw)):
        path = f"incidents[{i}]"
        spec = mapping(item, path)
        check_keys(spec, RULE_KEYS, path)
        policy = None
        if spec.get("escalate") is not None:
            key = str(spec["escalate"])
            if key not in policies:
                raise config_error(
                    f"{path}.escalate",
                    f"unknown escalation policy {key!r} (escalation: {', '.join(policies) or 'none configured'})",
                )
            policy = policies[key]
        assign = None
        if spec.get("assign") is not None:
            assign = directory.check(parse_target(spec["assign"], f"{path}.assign"), f"{path}.assign", names)
        if policy is None and assign is None:
            raise config_error(path, "needs escalate: and/or assign:")
        rules.append(IncidentRule(parse_matcher(spec.get("match"), f"{path}.match"), policy, assign, path))
    return IncidentRules(rules)
