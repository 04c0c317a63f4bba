"""Who a notice pings: role and user mentions from the configuration, never from telemetry.

Discord notifies only for mentions in a message's ``content`` (mentions in embeds
never notify) that ``allowed_mentions`` lets through. So a mention is kept as its
text for ``content`` plus the exact role and user ids to allow; text from the
application (titles, log messages) can never add an id to that list.

Config::

    mentions:
      critical: "<@&123456789012345678>"     # every CRITICAL notice
      rules:                                 # more, matched like routes
        - match: {event: "invoice.paid", attributes: ["invoice.amount >= 10000"]}
          mention: "<@234567890123456789>"
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.notice import Notice, Severity
from otel_discord.route.match import Matcher, parse_matcher

_ONE: Final = re.compile(r"<@(?P<role>&)?!?(?P<id>\d{1,20})>")
_ALL: Final = re.compile(r"^\s*(?:<@&?!?\d{1,20}>\s*)+$")


@dataclass(frozen=True, slots=True)
class Mention:
    """Mention text for ``content`` and the ids it may ping."""

    roles: tuple[str, ...] = ()
    users: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return " ".join([f"<@&{r}>" for r in self.roles] + [f"<@{u}>" for u in self.users])

    def __bool__(self) -> bool:
        return bool(self.roles or self.users)

    def __or__(self, other: Mention | None) -> Mention:
        if other is None:
            return self
        return Mention(tuple(dict.fromkeys(self.roles + other.roles)), tuple(dict.fromkeys(self.users + other.users)))

    @classmethod
    def parse_text(cls, text: str | None) -> Mention:
        """The mentions written in ``text`` (a notice's ``mention`` field, set only by routing)."""
        roles: list[str] = []
        users: list[str] = []
        for found in _ONE.finditer(text or ""):
            (roles if found.group("role") else users).append(found.group("id"))
        return cls(tuple(dict.fromkeys(roles)), tuple(dict.fromkeys(users)))


def parse_mention(raw: Any, path: str) -> Mention:
    """``"<@&role_id>"``, ``"<@user_id>"`` or several separated by spaces (or a list of them)."""
    texts = as_list(raw)
    if not texts:
        raise config_error(path, 'needs a mention such as "<@&123456789012345678>"')
    mention = Mention()
    for text in texts:
        if not isinstance(text, str) or not _ALL.match(text):
            raise config_error(
                path,
                f'{text!r} is not a Discord mention (expected "<@&role_id>" or "<@user_id>"; '
                "@everyone and @here are never sent)",
            )
        mention = mention | Mention.parse_text(text)
    return mention


@dataclass(frozen=True, slots=True)
class MentionRule:
    match: Matcher
    mention: Mention


class MentionRules:
    """The ``mentions:`` section: who each notice pings besides its route's own mention."""

    def __init__(self, critical: Mention | None = None, rules: Iterable[MentionRule] = ()) -> None:
        self.critical = critical
        self.rules = tuple(rules)

    def __call__(self, notice: Notice) -> Mention | None:
        found: Mention | None = None
        if self.critical and notice.severity >= Severity.CRITICAL:
            found = self.critical
        for rule in self.rules:
            if rule.match(notice):
                found = rule.mention | found
        return found

    def describe(self) -> list[str]:
        lines = [f"critical → {self.critical.text}"] if self.critical else []
        lines += [f"{rule.match.describe()} → {rule.mention.text}" for rule in self.rules]
        return lines


def parse_mentions(raw: Any) -> MentionRules:
    """Read the ``mentions:`` section (a mention string alone means ``critical:``)."""
    if raw is None:
        return MentionRules()
    if isinstance(raw, (str, list)):
        return MentionRules(parse_mention(raw, "mentions"))
    spec = mapping(raw, "mentions")
    check_keys(spec, ("critical", "rules"), "mentions")
    critical = parse_mention(spec["critical"], "mentions.critical") if spec.get("critical") else None
    rules: list[MentionRule] = []
    for i, item in enumerate(as_list(spec.get("rules"))):
        path = f"mentions.rules[{i}]"
        rule = mapping(item, path)
        check_keys(rule, ("match", "mention"), path)
        if "mention" not in rule:
            raise config_error(path, "needs a mention")
        rules.append(
            MentionRule(
                parse_matcher(rule.get("match"), f"{path}.match"), parse_mention(rule["mention"], f"{path}.mention")
            )
        )
    return MentionRules(critical, rules)
