"""The incident desk: runs the notification rules' decisions against Discord, one tick at a time.

Pure decisions live in ``route/rules/`` (which notice is an incident, who is on
call, which page is due, what a reaction means); this module only acts on them:

* ``observe(notice, now)`` opens an incident for a notice an ``incidents:`` rule
  takes, or counts another occurrence; ``card_posted`` records its card (the
  grouped message) so the bot can pre-add the acknowledgment reactions.
* ``tick(now)`` (called by the delivery engine's timer in the lease holder, see
  ``DeliveryEngine.every``; it starts no thread of its own) pages what is due as
  new webhook messages in the card's channel, whose mentions come from
  configured ids only; pre-adds reactions as the reaction bucket allows; polls
  each channel with open cards once; applies ✅ / 🙋 / 🔕 and edits the card to
  say who acknowledged and when.

Every page has a dedupe key and is recorded as sent before the request goes
out, so one decision never pages twice (in memory here: the SQLite incident
table that survives restarts is not built yet). Without a bot, escalation still
runs; reaction acknowledgment is off, which ``bot_missing_note`` says once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from otel_discord.config.webhook_url import WebhookURL
from otel_discord.deliver.bot import BotClient, oldest_after, reaction_actions
from otel_discord.deliver.webhook import WebhookClient
from otel_discord.health.log import get_logger
from otel_discord.notice import Notice
from otel_discord.route.rules import NotificationRules
from otel_discord.route.rules import incident as inc

_logger = get_logger(__name__)

BOT_MISSING: Final = (
    "no bot token (OTEL_EXPORTER_DISCORD_BOT_TOKEN): escalation runs and stops on resolve, "
    "silence or exhausted steps; acknowledgment by reaction is off"
)
MAX_INCIDENTS: Final = 1000  # open incidents kept; the oldest resolved go first


@dataclass
class Card:
    channel: str  # channel name (webhook)
    channel_id: str
    message_id: str
    prefill: list[str] = field(default_factory=list)  # emoji still to pre-add


class IncidentDesk:
    """Open incidents of this process and what to do about them (see the module docstring)."""

    def __init__(
        self,
        rules: NotificationRules,
        webhook: Callable[[str], WebhookURL | None],
        client: WebhookClient,
        bot: BotClient | None = None,
    ) -> None:
        self.rules = rules
        self._webhook = webhook
        self._client = client
        self._bot = bot
        self.incidents: dict[str, inc.Incident] = {}  # fingerprint → the open (or last) incident
        self.cards: dict[str, Card] = {}  # incident id → card
        self.sent: set[str] = set()  # dedupe keys of pages handed to Discord
        self.pages: list[tuple[str, str]] = []  # (incident id, dedupe key) in order, for doctor and tests
        if bot is None and rules:
            _logger.info(BOT_MISSING)

    # ------------------------------------------------------------------ notices
    def observe(self, notice: Notice, now: float) -> inc.Incident | None:
        rule = self.rules.select(notice)
        if rule is None:
            return None
        current = self.incidents.get(notice.fingerprint)
        if current is not None:
            repeated = inc.occurred(current, now, max(1, notice.count))
            if repeated is not None:
                self.incidents[notice.fingerprint] = repeated
                return repeated
        opened = inc.open_incident(
            secrets.token_hex(6),
            notice.fingerprint,
            notice.channel or "",
            notice.title,
            rule.policy,
            now,
            str(rule.assign) if rule.assign else None,
        )
        self.incidents[notice.fingerprint] = opened
        self._trim()
        return opened

    def card_posted(self, fingerprint: str, channel_id: str, message_id: str) -> None:
        """The incident's card is message ``message_id``: watch it, and pre-add the reactions."""
        incident = self.incidents.get(fingerprint)
        if incident is None:
            return
        prefill = list(self.rules.acknowledge.actions) if self._bot and self.rules.acknowledge.prefill else []
        self.cards[incident.id] = Card(incident.channel, channel_id, message_id, [self._emoji_text(e) for e in prefill])

    def _emoji_text(self, normalised: str) -> str:
        ack = self.rules.acknowledge
        for emoji in (ack.emoji, ack.take, ack.silence):
            if emoji.replace("\ufe0f", "") == normalised:
                return emoji
        return normalised

    def _trim(self) -> None:
        if len(self.incidents) <= MAX_INCIDENTS:
            return
        for fingerprint, incident in sorted(self.incidents.items(), key=lambda kv: (kv[1].is_open, kv[1].last_seen)):
            if len(self.incidents) <= MAX_INCIDENTS:
                break
            del self.incidents[fingerprint]
            self.cards.pop(incident.id, None)

    # ------------------------------------------------------------------ the timer
    def tick(self, now: float) -> None:
        for fingerprint, incident in list(self.incidents.items()):
            policy = self.rules.policies.get(incident.policy or "")
            changed, order = inc.tick(
                incident, policy, now, lambda t: self.rules.resolve(t, now), self.rules.assignee(incident.assignee, now)
            )
            if changed is not None:
                self.incidents[fingerprint] = incident = changed
            if order is not None and order.dedupe_key not in self.sent:
                self.sent.add(order.dedupe_key)  # before sending: a failed send is not retried as a second page
                self.pages.append((incident.id, order.dedupe_key))
                self._page(incident, order, policy.steps if policy else ())
        if self._bot is not None:
            self._prefill()
            self._poll(now)

    def _page(self, incident: inc.Incident, order: inc.PageOrder, steps: tuple[Any, ...]) -> None:
        webhook = self._webhook(incident.channel)
        if webhook is None:
            _logger.warning("incident %s: channel %r has no webhook; page not sent", incident.id, incident.channel)
            return
        page = order.page
        mention = self.rules.mention(page)
        notes = []
        if page.catch_up:
            notes.append("escalation resumed after a pause: this page stands for the steps missed")
        if page.gaps:
            notes.append("nobody on call for " + ", ".join(page.gaps))
        text = (
            f"🚨 {mention.text} still unacknowledged".strip() if mention else "🚨 still unacknowledged (nobody to page)"
        )
        payload = {
            "content": text[:2000],
            "allowed_mentions": {"parse": [], "users": list(mention.users), "roles": list(mention.roles)},
            "embeds": [
                {
                    "title": incident.title[:256] or "incident",
                    "description": (f"Step {page.step + 1}/{len(steps)}, round {page.loop + 1}. " + " · ".join(notes))[
                        :4096
                    ],
                }
            ],
        }
        outcome = self._client.execute(webhook, payload)
        if not outcome.ok:
            _logger.warning("incident %s: page %s not delivered: %s", incident.id, order.dedupe_key, outcome.describe())

    def _prefill(self) -> None:
        assert self._bot is not None
        for card in self.cards.values():
            while card.prefill:
                outcome = self._bot.add_reaction(card.channel_id, card.message_id, card.prefill[0])
                if outcome.status is None:  # the reaction bucket is empty: next tick
                    return
                card.prefill.pop(0)

    def _poll(self, now: float) -> None:
        assert self._bot is not None
        by_channel: dict[str, list[tuple[inc.Incident, Card]]] = {}
        for incident in self.incidents.values():
            card = self.cards.get(incident.id)
            if card is not None and incident.is_open:
                by_channel.setdefault(card.channel_id, []).append((incident, card))
        ack = self.rules.acknowledge
        for channel_id, watched in by_channel.items():
            outcome = self._bot.messages(channel_id, after=oldest_after(c.message_id for _, c in watched))
            if not outcome.ok or not isinstance(outcome.json, list):
                continue
            shown = {str(m.get("id")): m for m in outcome.json if isinstance(m, dict)}
            for incident, card in watched:
                message = shown.get(card.message_id)
                if message is None:
                    continue
                for emoji in reaction_actions(message, [ack.emoji, ack.take, ack.silence]):
                    reactors, _ = self._bot.all_reactors(channel_id, card.message_id, emoji)
                    for reactor in reactors:
                        if ack.allowed(reactor.user_id, (), self.rules.directory, reactor.bot):
                            self._act(incident, card, ack.action(emoji), reactor.user_id, now)
                            break

    def _act(self, incident: inc.Incident, card: Card, action: str | None, user_id: str, now: float) -> None:
        person = self.rules.directory.person_by_id(user_id)
        who = person.name if person else user_id
        current = self.incidents.get(incident.fingerprint, incident)
        if action == "acknowledge":
            changed = inc.acknowledge(current, who, now)
        elif action == "take":
            changed = inc.take(current, who, now)
        elif action == "silence":
            changed = inc.silence(current, now + self.rules.acknowledge.silence_for, who, now)
        else:
            changed = None
        if changed is None:
            return
        self.incidents[incident.fingerprint] = changed
        self._edit_card(card, changed, user_id, now)

    def _edit_card(self, card: Card, incident: inc.Incident, user_id: str, now: float) -> None:
        webhook = self._webhook(card.channel)
        if webhook is None:
            return
        at = datetime.fromtimestamp(now, self.rules.tz).strftime("%H:%M")
        lines = {
            inc.State.ACKNOWLEDGED: f"✅ Acknowledged by <@{user_id}> at {at}",
            inc.State.SILENCED: f"🔕 Silenced by <@{user_id}> at {at}",
        }
        text = lines.get(incident.state, "")
        if incident.assignee:
            text += f" · Assigned: {incident.assignee}"
        # An edit never notifies; allowed_mentions is resent so the mention cannot ping either way.
        outcome = self._client.edit(webhook, card.message_id, {"content": text, "allowed_mentions": {"parse": []}})
        if not outcome.ok:
            _logger.warning("incident %s: card not edited: %s", incident.id, outcome.describe())
