"""Who can be notified: ``people:`` and ``roles:`` by name, and the targets that name them.

Every ping comes from an id written in the configuration, never from telemetry
(see ``route/mentions.py``). People and roles are given names here so the rest of
the rules (rotations, escalation steps, ``assign:``, who may acknowledge) say
``anna`` or ``role:devs`` instead of repeating 18-digit ids.

Config::

    people:
      anna: {discord: "345678901234567890"}
      bram: "456789012345678901"            # the short form
    roles:
      devs: "678901234567890123"

A target is ``anna`` (a person), ``role:devs``, ``oncall:primary`` (whoever the
rotation has on call at that moment) or ``oncall:primary.next`` (the member after
them). ``nobody`` is allowed where a rotation's cover may be empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.route.mentions import Mention
from otel_discord.route.rules import _parse

TargetKind = Literal["person", "role", "oncall", "nobody"]
PERSON_KEYS: Final = ("discord", "name")
NOBODY: Final = "nobody"


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    discord: str  # user id


@dataclass(frozen=True, slots=True)
class Target:
    """One entry of a ``notify:`` list, as written; ``resolve`` turns it into ids at a moment."""

    kind: TargetKind
    name: str = ""  # person, role or rotation name
    next: bool = False  # oncall:<rotation>.next

    def __str__(self) -> str:
        if self.kind == "person":
            return self.name
        if self.kind == "role":
            return f"role:{self.name}"
        if self.kind == "oncall":
            return f"oncall:{self.name}" + (".next" if self.next else "")
        return NOBODY


@dataclass(frozen=True)
class Directory:
    """People and roles by name (the only ids the rules may ping)."""

    people: Mapping[str, Person]
    roles: Mapping[str, str]  # name → role id

    def person_by_id(self, user_id: str) -> Person | None:
        for person in self.people.values():
            if person.discord == user_id:
                return person
        return None

    def mention(self, targets: Iterable[Target]) -> Mention:
        """The ``Mention`` of persons and roles (``oncall`` targets must be resolved first)."""
        users: list[str] = []
        roles: list[str] = []
        for target in targets:
            if target.kind == "person":
                users.append(self.people[target.name].discord)
            elif target.kind == "role":
                roles.append(self.roles[target.name])
        return Mention(tuple(dict.fromkeys(roles)), tuple(dict.fromkeys(users)))

    def check(self, target: Target, path: str, rotations: Iterable[str]) -> Target:
        """``target`` if every name in it is configured, else a ConfigError naming ``path``."""
        if target.kind == "person" and target.name not in self.people:
            raise config_error(path, f"unknown person {target.name!r} (people: {_names(self.people)})")
        if target.kind == "role" and target.name not in self.roles:
            raise config_error(path, f"unknown role {target.name!r} (roles: {_names(self.roles)})")
        if target.kind == "oncall":
            known = list(rotations)
            if target.name not in known:
                raise config_error(path, f"unknown rotation {target.name!r} (rotations: {', '.join(known) or 'none'})")
        return target


def _names(items: Mapping[str, Any]) -> str:
    return ", ".join(items) or "none configured"


def parse_target(raw: Any, path: str, *, allow_nobody: bool = False) -> Target:
    """``anna`` | ``role:devs`` | ``oncall:primary`` | ``oncall:primary.next`` (| ``nobody``)."""
    if not isinstance(raw, str) or not raw.strip():
        raise config_error(path, f"must be a person, role:<name> or oncall:<rotation>, got {raw!r}")
    text = raw.strip()
    prefix, colon, rest = text.partition(":")
    if not colon:
        if text.lower() == NOBODY:
            if not allow_nobody:
                raise config_error(path, "'nobody' is not allowed here")
            return Target("nobody")
        return Target("person", _parse.name(text, path))
    prefix = prefix.strip().lower()
    if prefix == "role":
        return Target("role", _parse.name(rest, path))
    if prefix == "oncall":
        rotation, dot, suffix = rest.strip().rpartition(".")
        if dot and suffix == "next":
            return Target("oncall", _parse.name(rotation, path), next=True)
        return Target("oncall", _parse.name(rest, path))
    raise config_error(path, f"cannot read target {raw!r} (expected a person, role:<name> or oncall:<rotation>)")


def parse_targets(raw: Any, path: str) -> tuple[Target, ...]:
    """A target or a list of them (at least one)."""
    items = as_list(raw)
    if not items:
        raise config_error(path, "names nobody to notify")
    multiple = isinstance(raw, (list, tuple))
    return tuple(parse_target(item, f"{path}[{i}]" if multiple else path) for i, item in enumerate(items))


def parse_directory(people_raw: Any, roles_raw: Any) -> Directory:
    """Read ``people:`` and ``roles:``."""
    people: dict[str, Person] = {}
    for key, spec in mapping(people_raw, "people").items():
        path = f"people.{key}"
        person = _parse.name(key, path)
        if isinstance(spec, Mapping):
            check_keys(spec, PERSON_KEYS, path)
            if "discord" not in spec:
                raise config_error(path, 'needs discord: "<user id>"')
            people[person] = Person(person, _parse.snowflake(spec["discord"], f"{path}.discord"))
        else:
            people[person] = Person(person, _parse.snowflake(spec, path))
    roles = {
        _parse.name(key, f"roles.{key}"): _parse.snowflake(value, f"roles.{key}")
        for key, value in mapping(roles_raw, "roles").items()
    }
    return Directory(people, roles)
