"""The ceiling of delivery under Discord's limits, and what delivered messages stand for.

Pure functions over values, independent of the code under test: the packing
here is written from Discord's rules, not taken from ``render/payload.py``, so
a packing bug there shows up as a gap to the ceiling instead of moving it.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from typing import Any, Final

from otel_discord.testing import Message, embed_total

WEBHOOK_LIMIT: Final = 5  # requests per window per webhook (Discord: 2 s)
CHANNEL_LIMIT: Final = 30  # messages per window per channel, all webhooks together (Discord: 60 s)
MAX_EMBEDS: Final = 10
MAX_CHARS: Final = 6000
_DIGEST: Final = re.compile(r"Digest: ([\d,]+) notice")
_SEEN: Final = re.compile(r"×([\d,]+)")


def ideal_messages(embeds: Sequence[dict[str, Any]]) -> list[int]:
    """Pack embeds in order as tightly as Discord allows; returns the index of each message's last embed."""
    ends: list[int] = []
    count = chars = 0
    urls: set[str] = set()
    for i, embed in enumerate(embeds):
        size = embed_total([embed])
        url = embed.get("url")
        if count and (count >= MAX_EMBEDS or chars + size > MAX_CHARS or (url and url in urls)):
            ends.append(i - 1)
            count = chars = 0
            urls = set()
        count += 1
        chars += size
        if url:
            urls.add(url)
    if count:
        ends.append(len(embeds) - 1)
    return ends


def ceiling_seconds(ready: Sequence[float], webhook_window: float, channel_window: float) -> float:
    """When an ideal client sends its last message: ``ready[j]`` is when message j's embeds all exist.

    The webhook bucket is a fixed window opened by its first request; the channel
    window slides; requests take no time. As the strict server counts them.
    """
    sent: deque[float] = deque()
    window_start, used = float("-inf"), 0
    t = 0.0
    for moment in ready:
        t = max(t, moment)
        while True:
            if len(sent) >= CHANNEL_LIMIT:
                t = max(t, sent[-CHANNEL_LIMIT] + channel_window)
            if t >= window_start + webhook_window:
                window_start, used = t, 0
            if used < WEBHOOK_LIMIT:
                break
            t = window_start + webhook_window
        used += 1
        sent.append(t)
    return t


def represented(messages: Sequence[Message]) -> int:
    """Notices the messages stand for: groups by their ×N, digests by their N, anything else 1."""
    total = 0
    for message in messages:
        for embed in message.embeds:
            digest = _DIGEST.search(embed.get("title") or "")
            seen = next((f.get("value", "") for f in embed.get("fields") or () if f.get("name") == "Seen"), "")
            count = _SEEN.search(seen) if seen else None
            if digest:
                total += int(digest.group(1).replace(",", ""))
            elif count:
                total += int(count.group(1).replace(",", ""))
            else:
                total += 1
    return total
