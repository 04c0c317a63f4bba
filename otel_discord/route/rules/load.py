"""All notification rules, read and checked once: ``parse_rules(raw_file)`` → ``NotificationRules``.

The sections are top-level keys of the config file: ``people``, ``roles``,
``calendars``, ``rotations``, ``escalation``, ``incidents``, ``silences``,
``maintenance`` and ``acknowledge`` (docs/notification-rules.md has each with an
example). A file with none of them has no notification rules: nothing escalates
and nothing here runs. Every error is a ``ConfigError`` naming the key path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from otel_discord.config import Settings
from otel_discord.config.parse import FALLBACK_TIMEZONE
from otel_discord.notice import Notice
from otel_discord.route.mentions import Mention
from otel_discord.route.rules import _parse
from otel_discord.route.rules.acknowledge import AckSettings, parse_acknowledge
from otel_discord.route.rules.calendars import Calendar, parse_calendars
from otel_discord.route.rules.escalation import Page, Policy, parse_policies
from otel_discord.route.rules.matching import (
    IncidentRule,
    IncidentRules,
    parse_incident_rules,
)
from otel_discord.route.rules.people import (
    Directory,
    Target,
    parse_directory,
    parse_target,
)
from otel_discord.route.rules.rotations import Rotations, parse_rotations
from otel_discord.route.rules.silences import Silence, parse_maintenance, parse_silences

SECTIONS: Final = (
    "people",
    "roles",
    "calendars",
    "rotations",
    "escalation",
    "incidents",
    "silences",
    "maintenance",
    "acknowledge",
)


@dataclass(frozen=True)
class NotificationRules:
    tz: ZoneInfo
    directory: Directory
    calendars: Mapping[str, Calendar]
    rotations: Rotations
    policies: Mapping[str, Policy]
    incidents: IncidentRules
    silences: tuple[Silence, ...]
    acknowledge: AckSettings = field(default_factory=AckSettings)
    configured: frozenset[str] = frozenset()  # which sections the file has

    def __bool__(self) -> bool:
        return bool(self.incidents)

    def select(self, notice: Notice) -> IncidentRule | None:
        return self.incidents.select(notice)

    def resolve(self, target: Target, now: float) -> Target | None:
        """A person or role for ``target`` at ``now`` (rotations followed); None: nobody."""
        return self.rotations.resolve(target, now)

    def assignee(self, text: str | None, now: float) -> Target | None:
        """The incident's ``assignee`` (stored as text) resolved at ``now``."""
        if not text:
            return None
        target = parse_target(text, "assignee")
        return self.resolve(target, now)

    def mention(self, page: Page) -> Mention:
        """The mention text and exact ids a page may ping."""
        return self.directory.mention(page.who)

    def show(self, target: Target | None) -> str:
        """``anna (<@345…>)``-free text for doctor: names only, never ids."""
        return "nobody" if target is None else str(target)

    def describe(self, now: float) -> dict[str, Any]:
        """The resolved rules for ``otel-discord doctor``: each escalation chain with who is on call now
        and at the next handover."""
        out: dict[str, Any] = {}

        def local(moment: float) -> str:
            return datetime.fromtimestamp(moment, self.tz).strftime("%a %d %b %Y %H:%M %Z")

        rotations = {}
        for name, rotation in self.rotations.items():
            now_on = self.rotations.on_call(name, now)
            handover = rotation.next_handover(now)
            later = self.rotations.on_call(name, handover)
            rotations[name] = {
                "now": f"{self.show(now_on.who)} ({now_on.why})",
                "next handover": f"{local(handover)} → {self.show(later.who)} ({later.why})",
            }
        if rotations:
            out["rotations"] = rotations
        chains = {}
        for name, policy in self.policies.items():

            def show(target: Target, at: float = now) -> str:
                resolved = self.resolve(target, at)
                return str(target) if resolved == target else f"{target} = {self.show(resolved)}"

            chains[name] = policy.describe(show)
        if chains:
            out["escalation"] = chains
        if self.incidents:
            out["incidents"] = self.incidents.describe()
        if self.silences:
            out["silences"] = [s.describe(self.tz) for s in self.silences]
        if self.calendars:
            out["calendars"] = [c.describe() for c in self.calendars.values()]
        return out


def parse_rules(raw_file: Mapping[str, Any], tz: ZoneInfo | None = None) -> NotificationRules:
    """Every notification-rule section of a config file (see the module docstring)."""
    if tz is None:
        tz = _parse.zone(raw_file.get("timezone") or FALLBACK_TIMEZONE, "timezone")
    directory = parse_directory(raw_file.get("people"), raw_file.get("roles"))
    calendars = parse_calendars(raw_file.get("calendars"))
    rotations = parse_rotations(raw_file.get("rotations"), directory, calendars, tz)
    policies = parse_policies(raw_file.get("escalation"), directory, rotations)
    incidents = parse_incident_rules(raw_file.get("incidents"), policies, directory, rotations)
    silences = (*parse_silences(raw_file.get("silences"), tz), *parse_maintenance(raw_file.get("maintenance"), tz))
    acknowledge = parse_acknowledge(raw_file.get("acknowledge"), directory)
    return NotificationRules(
        tz,
        directory,
        calendars,
        rotations,
        policies,
        incidents,
        silences,
        acknowledge,
        frozenset(k for k in SECTIONS if raw_file.get(k) is not None),
    )


def load_rules(settings: Settings) -> NotificationRules:
    """``parse_rules`` on the settings' config file, in its ``TIMEZONE``."""
    return parse_rules(settings.raw_file, settings.timezone)
