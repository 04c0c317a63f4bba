"""Outgoing items as JSON text for the spool, and back.

JSON, never pickle: a spool file is data, and reading it must not run code. The
item names its channel (``Settings.channels`` key), never a webhook URL, so a
rotated webhook applies to what was spooled before. ``Notice.attributes`` are
left out: they are routing input, already used, and may hold values JSON cannot
carry. Any webhook token in the text (a user's exception message may quote a
URL) is masked before it reaches the disk.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Final

from otel_discord.deliver.queue import Outgoing
from otel_discord.health.scrub import redact, valid_utf8
from otel_discord.notice import Category, Field, Kind, Notice, Severity

VERSION: Final = 1
_OPTIONAL_TEXT: Final = (
    "code",
    "url",
    "event_name",
    "trace_id",
    "span_id",
    "service",
    "environment",
    "host",
    "channel",
    "mention",
)


def encode(item: Outgoing) -> str:
    """``item`` as one line of JSON (raises ValueError if the embed holds a non-JSON value)."""
    notice = item.notice
    data: dict[str, Any] = {
        "v": VERSION,
        "channel": item.channel,
        "embed": item.embed,
        "size": item.size,
        "content": item.content,
        "flags": item.flags,
        "mention_roles": list(item.mention_roles),
        "mention_users": list(item.mention_users),
        "files": [[name, base64.b64encode(content).decode("ascii"), kind] for name, content, kind in item.files],
        "notice": {
            "kind": notice.kind.value,
            "severity": int(notice.severity),
            "category": notice.category.value,
            "title": notice.title,
            "description": notice.description,
            "fields": [[f.name, f.value, f.inline] for f in notice.fields],
            "code_language": notice.code_language,
            "fingerprint": notice.fingerprint,
            "signal": notice.signal,
            "timestamp": notice.timestamp,
            "count": notice.count,
            "first_seen": notice.first_seen,
            **{name: getattr(notice, name) for name in _OPTIONAL_TEXT},
        },
    }
    return redact(valid_utf8(json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))))


def _text(value: Any, default: str | None = None) -> str | None:
    return value if isinstance(value, str) else default


def _number(value: Any, default: float | None = None) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def decode(text: str) -> Outgoing:
    """The item ``encode`` wrote; ValueError for anything else (a damaged or foreign row)."""
    data = json.loads(text)
    if not isinstance(data, Mapping) or data.get("v") != VERSION:
        raise ValueError("not a spooled item of this version")
    raw = data.get("notice")
    embed = data.get("embed")
    channel = data.get("channel")
    if not isinstance(raw, Mapping) or not isinstance(embed, dict) or not isinstance(channel, str):
        raise ValueError("spooled item lacks its notice, embed or channel")
    fields = tuple(
        Field(str(f[0]), str(f[1]), bool(f[2])) for f in raw.get("fields") or () if isinstance(f, list) and len(f) == 3
    )
    notice = Notice(
        kind=Kind(raw.get("kind")),
        severity=Severity(int(raw.get("severity", Severity.INFO))),
        category=Category(raw.get("category")),
        title=_text(raw.get("title"), "") or "",
        description=_text(raw.get("description"), "") or "",
        fields=fields,
        code_language=_text(raw.get("code_language"), "") or "",
        fingerprint=_text(raw.get("fingerprint"), "") or "",
        signal=_text(raw.get("signal"), "traces") or "traces",
        timestamp=_number(raw.get("timestamp"), 0.0) or 0.0,
        count=max(1, int(_number(raw.get("count"), 1) or 1)),
        first_seen=_number(raw.get("first_seen")),
        **{name: _text(raw.get(name)) for name in _OPTIONAL_TEXT},
    )
    return Outgoing(
        channel=channel,
        embed=embed,
        notice=notice,
        size=int(_number(data.get("size"), 0) or 0),
        content=_text(data.get("content")),
        flags=int(_number(data.get("flags"), 0) or 0),
        mention_roles=tuple(str(r) for r in data.get("mention_roles") or ()),
        mention_users=tuple(str(u) for u in data.get("mention_users") or ()),
        files=tuple(
            (str(f[0]), base64.b64decode(str(f[1])), str(f[2]))
            for f in data.get("files") or ()
            if isinstance(f, list) and len(f) == 3
        ),
    )
