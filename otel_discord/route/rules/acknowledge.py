"""Acknowledgment by reaction: which emoji mean what, and who may use them.

Webhooks cannot read reactions, so this needs the optional bot token
(``OTEL_EXPORTER_DISCORD_BOT_TOKEN``). The bot pre-adds the emoji to a card that
can escalate, so a person only clicks. Emoji are compared without the U+FE0F
variation selector (``☑️`` and ``☑`` are one reaction to a person).

Config::

    acknowledge:
      emoji: "✅"          # acknowledge: escalation stops
      take: "🙋"           # assign to the reactor and acknowledge
      silence: "🔕"        # silence this incident for silence_for
      silence_for: 4h
      prefill: true        # the bot adds the three reactions
      who: anyone          # anyone (not a bot) | [anna, bram, role:devs]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.route.rules import _parse
from otel_discord.route.rules.people import Directory, Target, parse_target

ACK_KEYS: Final = ("emoji", "take", "silence", "silence_for", "prefill", "who")
_VS16: Final = "\ufe0f"

Action = Literal["acknowledge", "take", "silence"]


def normalize_emoji(text: str) -> str:
    return text.replace(_VS16, "").strip()


@dataclass(frozen=True)
class AckSettings:
    emoji: str = "✅"
    take: str = "🙋"
    silence: str = "🔕"
    silence_for: float = 4 * 3600.0
    prefill: bool = True
    who: tuple[Target, ...] = ()  # () = anyone who is not a bot

    @property
    def actions(self) -> dict[str, Action]:
        """Emoji (normalised) → action, in the order the bot pre-adds them."""
        return {
            normalize_emoji(self.emoji): "acknowledge",
            normalize_emoji(self.take): "take",
            normalize_emoji(self.silence): "silence",
        }

    def action(self, emoji: str) -> Action | None:
        return self.actions.get(normalize_emoji(emoji))

    def allowed(self, user_id: str, role_ids: Iterable[str], directory: Directory, is_bot: bool = False) -> bool:
        """May this Discord user act by reaction? Bots never (the bot's own pre-added reactions)."""
        if is_bot:
            return False
        if not self.who:
            return True
        roles = set(role_ids)
        for target in self.who:
            if target.kind == "person" and directory.people[target.name].discord == user_id:
                return True
            if target.kind == "role" and directory.roles[target.name] in roles:
                return True
        return False

    @property
    def needs_roles(self) -> bool:
        """Whether ``allowed`` needs the reactor's roles (one member look-up per new reactor)."""
        return any(t.kind == "role" for t in self.who)


def parse_acknowledge(raw: Any, directory: Directory) -> AckSettings:
    spec: Mapping[str, Any] = mapping(raw, "acknowledge")
    check_keys(spec, ACK_KEYS, "acknowledge")
    defaults = AckSettings()
    emoji = {}
    for key in ("emoji", "take", "silence"):
        value = spec.get(key, getattr(defaults, key))
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            raise config_error(f"acknowledge.{key}", f'must be one emoji such as "✅" (or name:id), got {value!r}')
        emoji[key] = value.strip()
    if len({normalize_emoji(v) for v in emoji.values()}) != 3:
        raise config_error("acknowledge", "emoji, take and silence must be three different emoji")
    prefill = spec.get("prefill", True)
    if not isinstance(prefill, bool):
        raise config_error("acknowledge.prefill", f"must be true or false, got {prefill!r}")
    who_raw = spec.get("who", "anyone")
    who: tuple[Target, ...] = ()
    if not (isinstance(who_raw, str) and who_raw.strip().lower() == "anyone"):
        targets = []
        for i, item in enumerate(as_list(who_raw)):
            target = parse_target(item, f"acknowledge.who[{i}]")
            if target.kind == "oncall":
                raise config_error(f"acknowledge.who[{i}]", "name people and role:<name>, not rotations")
            targets.append(directory.check(target, f"acknowledge.who[{i}]", ()))
        who = tuple(targets)
    silence_for = (
        defaults.silence_for
        if spec.get("silence_for") is None
        else _parse.duration(spec["silence_for"], "acknowledge.silence_for", minimum=60.0)
    )
    return AckSettings(emoji["emoji"], emoji["take"], emoji["silence"], silence_for, prefill, who)
