"""Escalation policies: ordered ``{notify, wait}`` steps plus ``repeat``, and when each page is due.

A policy is walked as a list of *positions*: its steps, then the steps again
``repeat`` more times. Position ``p`` is due ``sum(wait of the positions before
p)`` after the escalation run started (the incident opened, or re-opened after
``reack_after``). The decision needs only what the incident row stores (when the
run started, how many positions were paged), so it is the same in any process and
after any restart:

* the latest due position not paged yet is paged **once**. If several are
  overdue (the process was down, the leader changed), only the latest is
  paged, marked as a catch-up: never a replay of every step;
* a step whose targets all resolve to nobody (a rotation gap) passes straight to
  the next step, and the page says so;
* when the last position's ``wait`` is over, the escalation is exhausted: no more
  pages, and the card says so.

Config::

    escalation:
      critical:
        steps:
          - {notify: [oncall:primary], wait: 10m}
          - {notify: [oncall:primary, oncall:primary.next], wait: 15m}
          - {notify: [role:devs], wait: 30m}
        repeat: 1              # run the chain once more after the last step (0–5)
        reack_after: off       # e.g. 4h: un-acknowledge a problem that keeps firing
        resolve_after: 30m     # no new occurrence for this long: resolved

``wait`` is 1 minute to 24 hours (PagerDuty's minimum, OnCall's maximum); the
last step's ``wait`` is how long after its page the escalation counts as exhausted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_discord.config.files import as_list, check_keys, config_error, mapping
from otel_discord.route.rules import _parse
from otel_discord.route.rules.people import Directory, Target, parse_targets

POLICY_KEYS: Final = ("steps", "repeat", "reack_after", "resolve_after")
STEP_KEYS: Final = ("notify", "wait")
DEFAULT_WAIT: Final = 300.0  # Grafana OnCall's default: 5 minutes
MIN_WAIT: Final = 60.0
MAX_WAIT: Final = 86_400.0
MAX_REPEAT: Final = 5

Resolver = Callable[[Target], "Target | None"]


@dataclass(frozen=True, slots=True)
class Step:
    notify: tuple[Target, ...]
    wait: float


@dataclass(frozen=True, slots=True)
class Page:
    """One escalation page to send: a new message whose mentions are ``who``."""

    position: int  # 0-based over steps × (repeat + 1)
    step: int  # 0-based index into the policy's steps
    loop: int  # 0 = first pass
    who: tuple[Target, ...]  # people and roles (resolved), possibly empty
    catch_up: bool = False  # later positions were overdue: this one page stands for them
    gaps: tuple[str, ...] = ()  # targets nobody covered, e.g. "oncall:primary"


@dataclass(frozen=True, slots=True)
class Decision:
    """What ``Policy.decide`` says: a page to send (or None), and the incident's new timer."""

    page: Page | None
    paged: int  # positions paged in this run, after this decision
    next_at: float | None  # when to look again (None: exhausted)
    exhausted: bool


@dataclass(frozen=True)
class Policy:
    name: str
    steps: tuple[Step, ...]
    repeat: int = 0
    reack_after: float | None = None
    resolve_after: float | None = None

    @property
    def positions(self) -> int:
        return len(self.steps) * (self.repeat + 1)

    def due_at(self, position: int, started: float) -> float:
        """When ``position`` is due in a run that started at ``started``; ``positions`` = exhausted."""
        n = len(self.steps)
        full, part = divmod(position, n)
        cycle = sum(step.wait for step in self.steps)
        return started + full * cycle + sum(step.wait for step in self.steps[:part])

    def decide(
        self, started: float, paged: int, now: float, resolve: Resolver, first: tuple[Target, ...] = ()
    ) -> Decision:
        """The page due at ``now`` (given ``paged`` positions already paged), see the module docstring.

        ``first`` replaces step 0's targets (the incident's assignee is paged first).
        """
        total = self.positions
        if paged >= total:
            return (
                Decision(None, paged, None, True)
                if now >= self.due_at(total, started)
                else Decision(None, paged, self.due_at(total, started), False)
            )
        latest = paged - 1
        while latest + 1 < total and self.due_at(latest + 1, started) <= now:
            latest += 1
        if latest < paged:  # nothing new is due
            return Decision(None, paged, self.due_at(paged, started), False)
        catch_up = latest > paged
        gaps: list[str] = []
        position = latest
        while True:
            step = position % len(self.steps)
            targets = first if step == 0 and first else self.steps[step].notify
            who, missing = _resolve(targets, resolve)
            gaps += missing
            if who or position + 1 >= total:
                break
            position += 1  # nobody to page here: the next step at once
        page = Page(position, position % len(self.steps), position // len(self.steps), who, catch_up, tuple(gaps))
        after = position + 1
        if after >= total:
            end = self.due_at(total, started)
            return Decision(page, after, end if end > now else None, end <= now)
        return Decision(page, after, max(self.due_at(after, started), now), False)

    def describe(self, show: Callable[[Target], str] = str) -> list[str]:
        lines = [
            f"step {i + 1}: notify {', '.join(show(t) for t in step.notify)}, then wait "
            f"{_parse.show_duration(step.wait)}"
            for i, step in enumerate(self.steps)
        ]
        if self.repeat:
            lines.append(f"repeat the chain {self.repeat} more time(s)")
        lines.append(
            f"resolve after {_parse.show_duration(self.resolve_after)} without occurrences"
            if self.resolve_after
            else "resolve: only by hand or a resolving threshold"
        )
        if self.reack_after:
            lines.append(f"re-page {_parse.show_duration(self.reack_after)} after an acknowledgment if still firing")
        return lines


def _resolve(targets: Iterable[Target], resolve: Resolver) -> tuple[tuple[Target, ...], list[str]]:
    found: list[Target] = []
    gaps: list[str] = []
    for target in targets:
        resolved = resolve(target)
        if resolved is None:
            gaps.append(str(target))
        elif resolved not in found:
            found.append(resolved)
    return tuple(found), gaps


def parse_policy(key: Any, raw: Any, directory: Directory, rotations: Iterable[str]) -> Policy:
    path = f"escalation.{key}"
    name = _parse.name(key, path)
    spec: Mapping[str, Any] = mapping(raw, path)
    check_keys(spec, POLICY_KEYS, path)
    rotation_names = tuple(rotations)
    steps = []
    for i, item in enumerate(as_list(spec.get("steps"))):
        where = f"{path}.steps[{i}]"
        step = mapping(item, where)
        check_keys(step, STEP_KEYS, where)
        if step.get("notify") is None:
            raise config_error(f"{where}.notify", "is required (who this step pages)")
        targets = parse_targets(step["notify"], f"{where}.notify")
        for j, target in enumerate(targets):
            directory.check(
                target, f"{where}.notify" + (f"[{j}]" if isinstance(step["notify"], list) else ""), rotation_names
            )
        wait = (
            DEFAULT_WAIT
            if step.get("wait") is None
            else _parse.duration(step["wait"], f"{where}.wait", minimum=MIN_WAIT, maximum=MAX_WAIT)
        )
        steps.append(Step(targets, wait))
    if not steps:
        raise config_error(f"{path}.steps", "needs at least one step, e.g. - {notify: [oncall:primary], wait: 10m}")
    repeat = spec.get("repeat", 0)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat <= MAX_REPEAT:
        raise config_error(f"{path}.repeat", f"must be a whole number from 0 to {MAX_REPEAT}, got {repeat!r}")
    return Policy(
        name=name,
        steps=tuple(steps),
        repeat=repeat,
        reack_after=_parse.optional_duration(spec.get("reack_after"), f"{path}.reack_after", minimum=MIN_WAIT),
        resolve_after=_parse.optional_duration(spec.get("resolve_after"), f"{path}.resolve_after", minimum=MIN_WAIT),
    )


def parse_policies(raw: Any, directory: Directory, rotations: Iterable[str]) -> dict[str, Policy]:
    names = tuple(rotations)
    return {str(k): parse_policy(k, v, directory, names) for k, v in mapping(raw, "escalation").items()}
