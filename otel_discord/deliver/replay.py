"""Replays after a long outage: one summary message instead of a burst of stale alerts.

When the notices at the head of a channel have waited longer than
``REPLAY_COLLAPSE_AFTER`` (Discord was down, the process was stopped, or a flood
outran the channel's budget), nobody wants 37 error embeds at once. The sender
posts one message instead: "While Discord was unreachable for 14 min: 37 errors
in 5 groups", with the groups listed by count. The details are written to the
fallback log (reason ``collapsed``), so nothing is lost for good. The audit
channel is never collapsed: every audit notice is delivered as itself.

Pure functions: the clock comes in as ``now`` (unix seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from otel_discord.deliver.queue import Entry
from otel_discord.notice import Kind, Severity
from otel_discord.render import limits
from otel_discord.render.style import color_for

REASON: Final = "collapsed"
TITLE: Final = "Notices held back while Discord was unreachable"
_LINE_TITLE: Final = 120
_NOUNS: Final = {
    Kind.ERROR: ("error", "errors"),
    Kind.SLOW_QUERY: ("slow query", "slow queries"),
    Kind.SLOW_REQUEST: ("slow request", "slow requests"),
    Kind.EVENT: ("event", "events"),
    Kind.SUMMARY: ("summary", "summaries"),
    Kind.SYSTEM: ("system notice", "system notices"),
    Kind.THRESHOLD: ("threshold alert", "threshold alerts"),
    Kind.DIGEST: ("digest", "digests"),
}


def due(entry: Entry, now: float, collapse_after: float) -> bool:
    """Whether ``entry`` has waited long enough to be collapsed rather than replayed."""
    return not entry.solo and now - entry.wall >= collapse_after


def duration(seconds: float) -> str:
    """``45 s``, ``14 min``, ``3 h 20 min``, ``2 days``."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{round(hours / 24)} days"


def _counted(n: int, kind: Kind) -> str:
    singular, plural = _NOUNS.get(kind, ("notice", "notices"))
    return f"{n:,} {singular if n == 1 else plural}"


def summarize(entries: Sequence[Entry], now: float) -> tuple[str, dict[str, Any]]:
    """The content line and the embed of one summary message for ``entries`` (oldest first)."""
    by_kind: dict[Kind, int] = {}
    groups: dict[str, list[Any]] = {}  # key → [count, title, first position]
    worst = Severity.DEBUG
    for position, entry in enumerate(entries):
        notice = entry.item.notice
        by_kind[notice.kind] = by_kind.get(notice.kind, 0) + notice.count
        worst = max(worst, notice.severity)
        key = entry.group or f"#{entry.seq}"
        found = groups.setdefault(key, [0, str(entry.item.embed.get("title") or notice.kind.value), position])
        found[0] += notice.count
    kinds = sorted(by_kind.items(), key=lambda pair: -pair[1])
    parts = [_counted(n, kind) for kind, n in kinds]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    n_groups = len(groups)
    oldest = min(entry.wall for entry in entries)
    content = (
        f"While Discord was unreachable for {duration(now - oldest)}: {listed} "
        f"in {n_groups:,} {'group' if n_groups == 1 else 'groups'}"
    )
    lines: list[str] = []
    used = 0
    ordered = sorted(groups.values(), key=lambda g: (-g[0], g[2]))
    for i, (count, title, _) in enumerate(ordered):
        short = title if len(title) <= _LINE_TITLE else title[: _LINE_TITLE - 1] + "…"
        line = f"**×{count:,}** {short}"
        rest = len(ordered) - i - 1
        if used + len(line) + 40 > limits.DESCRIPTION:
            lines.append(f"… and {len(ordered) - i:,} more")
            break
        lines.append(line)
        used += len(line) + 1
        if rest == 0:
            break
    embed: dict[str, Any] = {
        "title": TITLE,
        "description": "\n".join(lines),
        "color": color_for(worst, None),
        "footer": {"text": f"Details of each: {REASON!r} in the fallback log (dropped.jsonl)"},
    }
    return content, embed
