"""Which notices a route (or a mention rule) applies to.

A ``Matcher`` tests a notice's category, minimum level, kind, event name (globs)
and attributes (``invoice.amount >= 1000``, ``user.name in [anna, bram]``,
``invoice.client == 'Acme*'``). Every test present must hold; an empty matcher
matches everything. Parsing errors name the key path in the config file, e.g.
``config file routes[2].match.level: unknown level 'loud'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any, Final

from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.config.parse import to_decimal as to_number
from otel_discord.notice import Category, Kind, Notice, Severity

MATCH_KEYS: Final = ("category", "level", "kind", "event", "attributes")
_OPERATORS: Final = (">=", "<=", "!=", "==", ">", "<", "in", "not in")
_CONDITION = re.compile(
    r"^\s*(?P<attr>[A-Za-z_][\w.\-/]*)\s*(?P<op>>=|<=|!=|==|=|>|<|not\s+in(?=[\s\[])|in(?=[\s\[]))\s*(?P<value>.+?)\s*$"
)


def parse_level(raw: Any, path: str) -> Severity:
    try:
        return Severity.parse(raw)
    except ValueError as exc:
        raise config_error(path, str(exc)) from None


def parse_category(raw: Any, path: str) -> Category:
    try:
        return Category.parse(raw)
    except ValueError as exc:
        raise config_error(path, str(exc)) from None


def parse_kind(raw: Any, path: str) -> Kind:
    try:
        return Kind(str(raw).strip().lower())
    except ValueError:
        valid = ", ".join(k.value for k in Kind)
        raise config_error(path, f"unknown kind {raw!r} (expected one of: {valid})") from None


def _scalar(value: Any) -> Any:
    # YAML turns 2025-01-01 into a date and 09:00 into a number of minutes; compare text.
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


@dataclass(frozen=True, slots=True)
class Condition:
    """``attribute op value``. A missing attribute satisfies only ``!=`` and ``not in``."""

    attribute: str
    op: str
    value: Any  # a number (Decimal), a string (glob), a bool, or a tuple of those for in/not in
    text: str  # as written, for doctor and errors

    def __call__(self, attributes: Mapping[str, Any]) -> bool:
        if self.attribute not in attributes or attributes[self.attribute] is None:
            return self.op in ("!=", "not in")
        actual = attributes[self.attribute]
        if self.op == "==":
            return _equal(actual, self.value)
        if self.op == "!=":
            return not _equal(actual, self.value)
        if self.op == "in":
            return any(_equal(actual, option) for option in self.value)
        if self.op == "not in":
            return not any(_equal(actual, option) for option in self.value)
        number = to_number(actual)
        if number is None:
            return False
        if self.op == ">=":
            return number >= self.value
        if self.op == "<=":
            return number <= self.value
        if self.op == ">":
            return number > self.value
        return number < self.value  # "<"


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(expected, bool):
        return actual is expected or (isinstance(actual, str) and actual.strip().lower() == str(expected).lower())
    if isinstance(expected, Decimal):
        number = to_number(actual)
        return number is not None and number == expected
    if isinstance(actual, bool):
        actual = str(actual).lower()
    # Strings compare as globs: "Acme*" matches "Acme B.V.".
    return fnmatchcase(str(actual), str(expected))


def _condition_value(raw: Any, op: str, path: str, text: str) -> Any:
    if op in ("in", "not in"):
        if not isinstance(raw, list):
            raise config_error(path, f"{text!r}: '{op}' needs a list, e.g. [a, b]")
        return tuple(_condition_value(item, "==", path, text) for item in raw)
    raw = _scalar(raw)
    if op in (">=", "<=", ">", "<"):
        number = to_number(raw)
        if number is None:
            raise config_error(path, f"{text!r}: '{op}' needs a number, got {raw!r}")
        return number
    if isinstance(raw, bool):
        return raw
    number = to_number(raw) if isinstance(raw, (int, float)) else None
    if number is not None:
        return number
    if isinstance(raw, (list, dict)) or raw is None:
        raise config_error(path, f"{text!r}: expected a number or a text, got {raw!r}")
    return str(raw)


def parse_condition(raw: Any, path: str) -> Condition:
    """Parse ``"invoice.amount >= 1000"``; the value is read as YAML (numbers, 'quoted', [lists])."""
    import yaml

    if not isinstance(raw, str):
        raise config_error(path, f'must be a condition such as "invoice.amount >= 1000", got {raw!r}')
    found = _CONDITION.match(raw)
    if found is None:
        raise config_error(
            path, f"cannot read condition {raw!r} (expected: <attribute> <{'|'.join(_OPERATORS)}> <value>)"
        )
    op = " ".join(found.group("op").split())
    op = "==" if op == "=" else op
    try:
        value = yaml.safe_load(found.group("value"))
    except yaml.YAMLError:
        raise config_error(path, f"cannot read the value of condition {raw!r}") from None
    return Condition(found.group("attr"), op, _condition_value(value, op, path, raw), raw.strip())


@dataclass(frozen=True, slots=True)
class Matcher:
    """All tests present must hold (see the module docstring)."""

    categories: frozenset[Category] = frozenset()
    min_level: Severity | None = None
    kinds: frozenset[Kind] = frozenset()
    events: tuple[str, ...] = ()  # lower-case globs on notice.event_name
    conditions: tuple[Condition, ...] = ()

    def __call__(self, notice: Notice) -> bool:
        if self.min_level is not None and notice.severity < self.min_level:
            return False
        if self.categories and notice.category not in self.categories:
            return False
        if self.kinds and notice.kind not in self.kinds:
            return False
        if self.events:
            name = (notice.event_name or "").lower()
            if not name or not any(fnmatchcase(name, glob) for glob in self.events):
                return False
        return all(condition(notice.attributes) for condition in self.conditions)

    def describe(self) -> str:
        """``category in (invoice, payment) · level ≥ warning · event invoice.*`` (or ``everything``)."""
        parts: list[str] = []
        if self.categories:
            parts.append("category " + "|".join(sorted(c.value.lower() for c in self.categories)))
        if self.min_level is not None:
            parts.append(f"level >= {self.min_level.name.lower()}")
        if self.kinds:
            parts.append("kind " + "|".join(sorted(k.value for k in self.kinds)))
        if self.events:
            parts.append("event " + "|".join(self.events))
        parts.extend(condition.text for condition in self.conditions)
        return " · ".join(parts) or "everything"


def parse_matcher(raw: Any, path: str) -> Matcher:
    """A ``match:`` mapping → ``Matcher``; unknown keys and bad values raise naming the path."""
    spec = mapping(raw, path)
    check_keys(spec, MATCH_KEYS, path)
    categories = frozenset(parse_category(item, f"{path}.category") for item in as_list(spec.get("category")))
    level = parse_level(spec["level"], f"{path}.level") if spec.get("level") is not None else None
    kinds = frozenset(parse_kind(item, f"{path}.kind") for item in as_list(spec.get("kind")))
    events: list[str] = []
    for item in as_list(spec.get("event")):
        if not isinstance(item, str) or not item.strip():
            raise config_error(f"{path}.event", f"must be an event name or glob such as 'invoice.*', got {item!r}")
        events.append(item.strip().lower())
    conditions = tuple(
        parse_condition(item, f"{path}.attributes[{i}]") for i, item in enumerate(as_list(spec.get("attributes")))
    )
    return Matcher(categories, level, kinds, tuple(events), conditions)
