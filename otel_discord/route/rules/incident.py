"""Incident state: open → acknowledged → resolved (plus silenced until a time), with who and when.

An incident is the open group of one fingerprint: its card is the grouped message.
``Incident`` is an immutable value; each transition returns a new one with
``version + 1`` and one more ``Event`` (who did what, when), or ``None`` when the
transition does not apply (acknowledging a resolved incident, say). A store saves
a transition with compare-and-set on ``version``, so the CLI, a reaction and the
timer can race without losing a change.

``tick`` is the timer's decision, pure given ``now`` and a target resolver:

* ``resolve_after`` without a new occurrence resolves (and stops escalation);
* a silence that ran out re-opens the incident (a new escalation run) if it
  still fires, else resolves it;
* ``reack_after`` after an acknowledgment, if it is still firing (seen since),
  un-acknowledges it and restarts escalation from step 1 (off by default);
* an open incident pages what its policy says is due (``escalation.py``).

Each page gets a unique ``dedupe_key`` (incident, run, position): whoever sends
pages records the key before sending and never sends a key twice, so a crash
between deciding and sending cannot page twice.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from otel_discord.route.rules.escalation import Page, Policy
from otel_discord.route.rules.people import Target

MAX_EVENTS: Final = 50  # the card and doctor show the latest; the audit log keeps all


class State(str, enum.Enum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Event:
    at: float
    kind: str  # opened, paged, acknowledged, assigned, silenced, unsilenced, reopened, resolved, exhausted
    by: str = ""  # a person's name, a Discord user id, "cli", "timer"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PageOrder:
    """A page the timer decided on; ``dedupe_key`` makes sending it idempotent."""

    incident: str
    dedupe_key: str
    page: Page
    reopened: bool = False  # the first page after reack_after or a silence's end


@dataclass(frozen=True)
class Incident:
    id: str
    fingerprint: str
    channel: str
    title: str
    policy: str | None
    opened_at: float
    last_seen: float
    state: State = State.OPEN
    count: int = 1
    run: int = 0  # escalation runs: a re-opening starts a new one
    run_started: float = 0.0
    paged: int = 0  # positions paged in this run
    next_at: float | None = None  # when the timer should look again
    exhausted: bool = False
    assignee: str | None = None  # a target as text: "anna", "role:devs"
    acked_by: str | None = None
    acked_at: float | None = None
    silenced_until: float | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    version: int = 0
    events: tuple[Event, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.state is not State.RESOLVED

    def _next(self, event: Event, **changes: object) -> Incident:
        events = (*self.events, event)[-MAX_EVENTS:]
        return dataclasses.replace(self, version=self.version + 1, events=events, **changes)  # type: ignore[arg-type]

    def dedupe_key(self, position: int) -> str:
        return f"incident:{self.id}:run:{self.run}:pos:{position}"


def open_incident(
    incident_id: str,
    fingerprint: str,
    channel: str,
    title: str,
    policy: Policy | None,
    now: float,
    assignee: str | None = None,
) -> Incident:
    """A new incident, due for its first page at once (if it has a policy)."""
    return Incident(
        id=incident_id,
        fingerprint=fingerprint,
        channel=channel,
        title=title,
        policy=policy.name if policy else None,
        opened_at=now,
        last_seen=now,
        run_started=now,
        next_at=now if policy else None,
        assignee=assignee,
        version=1,
        events=(Event(now, "opened", "", title),) + ((Event(now, "assigned", "rule", assignee),) if assignee else ()),
    )


def occurred(incident: Incident, now: float, count: int = 1) -> Incident | None:
    """Another occurrence (the card's count grows); None if the incident is resolved (open a new one)."""
    if not incident.is_open:
        return None
    return dataclasses.replace(
        incident, last_seen=max(incident.last_seen, now), count=incident.count + count, version=incident.version + 1
    )


def acknowledge(incident: Incident, by: str, now: float) -> Incident | None:
    """Someone has it in hand: escalation stops (until ``reack_after``, if set)."""
    if incident.state not in (State.OPEN, State.SILENCED):
        return None
    return incident._next(
        Event(now, "acknowledged", by),
        state=State.ACKNOWLEDGED,
        acked_by=by,
        acked_at=now,
        next_at=None,
        silenced_until=None,
    )


def assign(incident: Incident, who: str, by: str, now: float) -> Incident | None:
    if not incident.is_open or incident.assignee == who:
        return None
    return incident._next(Event(now, "assigned", by, who), assignee=who)


def take(incident: Incident, who: str, now: float) -> Incident | None:
    """🙋: assign to the taker and acknowledge."""
    assigned = assign(incident, who, who, now) or incident
    acked = acknowledge(assigned, who, now)
    return acked or (assigned if assigned is not incident else None)


def silence(incident: Incident, until: float, by: str, now: float) -> Incident | None:
    if not incident.is_open or until <= now:
        return None
    return incident._next(
        Event(now, "silenced", by, f"until {until:.0f}"), state=State.SILENCED, silenced_until=until, next_at=until
    )


def resolve(incident: Incident, by: str, now: float, reason: str = "") -> Incident | None:
    if not incident.is_open:
        return None
    return incident._next(
        Event(now, "resolved", by, reason), state=State.RESOLVED, resolved_at=now, resolved_by=by, next_at=None
    )


def _reopen(incident: Incident, now: float, why: str) -> Incident:
    return incident._next(
        Event(now, "reopened", "timer", why),
        state=State.OPEN,
        run=incident.run + 1,
        run_started=now,
        paged=0,
        exhausted=False,
        next_at=now,
        acked_by=None,
        acked_at=None,
        silenced_until=None,
    )


def tick(
    incident: Incident,
    policy: Policy | None,
    now: float,
    resolve_target: Callable[[Target], Target | None],
    assignee: Target | None = None,
) -> tuple[Incident | None, PageOrder | None]:
    """The timer's decision at ``now``: the changed incident (None: unchanged) and a page to send."""
    if not incident.is_open:
        return None, None
    current = incident
    changed = False
    resolve_after = policy.resolve_after if policy else None
    firing = resolve_after is None or now < incident.last_seen + resolve_after
    if not firing:
        return resolve(incident, "timer", now, "no new occurrence"), None
    reopened = False
    if current.state is State.SILENCED and current.silenced_until is not None and now >= current.silenced_until:
        current, changed, reopened = _reopen(current, now, "silence ended"), True, True
    elif (
        current.state is State.ACKNOWLEDGED
        and policy is not None
        and policy.reack_after is not None
        and current.acked_at is not None
        and now >= current.acked_at + policy.reack_after
    ):
        if current.last_seen > current.acked_at:
            current, changed, reopened = _reopen(current, now, "still firing after the acknowledgment"), True, True
    if current.state is not State.OPEN or policy is None or current.exhausted:
        if (
            current.state is State.ACKNOWLEDGED
            and policy is not None
            and policy.reack_after is not None
            and current.acked_at is not None
            and current.next_at != current.acked_at + policy.reack_after
        ):
            current, changed = dataclasses.replace(current, next_at=current.acked_at + policy.reack_after), True
        return (current if changed else None), None
    if current.next_at is not None and now < current.next_at:
        return (current if changed else None), None
    first = (assignee,) if assignee is not None else ()
    decision = policy.decide(current.run_started, current.paged, now, resolve_target, first)
    order = None
    if decision.page is not None:
        page = decision.page
        detail = f"step {page.step + 1}/{len(policy.steps)}, loop {page.loop + 1}" + (
            " (catch-up)" if page.catch_up else ""
        )
        current = current._next(Event(now, "paged", "timer", detail), paged=decision.paged)
        order = PageOrder(current.id, current.dedupe_key(page.position), page, reopened)
    if decision.exhausted and not current.exhausted:
        current = current._next(Event(now, "exhausted", "timer", "every step paged"), exhausted=True)
    current = dataclasses.replace(current, next_at=decision.next_at)
    return current, order
