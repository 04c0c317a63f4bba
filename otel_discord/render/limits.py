"""Discord's embed and message limits, and helpers that cut text to fit them.

Limits are from Discord's docs ("Embed Limits") and its OpenAPI spec (``RichEmbed``);
see ../shared/research/discord-api.md §2. Discord's API is written in Python and
counts Unicode code points (discord-api-docs#1315), so ``len(str)`` is exact here.
All limits are inclusive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

TITLE: Final = 256
DESCRIPTION: Final = 4096
FIELDS: Final = 25
FIELD_NAME: Final = 256
FIELD_VALUE: Final = 1024
FOOTER: Final = 2048
AUTHOR: Final = 256
EMBEDS_PER_MESSAGE: Final = 10
TOTAL_PER_MESSAGE: Final = 6000
CONTENT: Final = 2000
URL: Final = 2048
USERNAME: Final = 80
MENTION_IDS: Final = 100

#: What one rendered embed aims to stay under, so two average embeds can share a message.
EMBED_BUDGET: Final = 5500

ELLIPSIS: Final = "…"


def _text(value: Any) -> int:
    # Discord trims leading and trailing whitespace before counting.
    return len(value.strip()) if isinstance(value, str) else 0


def embed_size(embed: Mapping[str, Any]) -> int:
    """Characters of ``embed`` that count toward the 6000 per-message total.

    Title, description, field names and values, footer text and author name, each
    stripped, in code points. URLs, colour and timestamp do not count.
    """
    texts = [embed.get("title", ""), embed.get("description", "")]
    footer = embed.get("footer")
    if isinstance(footer, Mapping):
        texts.append(footer.get("text", ""))
    author = embed.get("author")
    if isinstance(author, Mapping):
        texts.append(author.get("name", ""))
    for field in embed.get("fields") or ():
        # __class__ first: rendered fields are dicts, and isinstance(x, Mapping) is an ABC check.
        if field.__class__ is dict or isinstance(field, Mapping):
            texts += (field.get("name", ""), field.get("value", ""))
    # This runs twice per alert on the SDK's export thread: one pass in C over all the
    # texts, and the per-text path only for a hand-made embed with a value that is not text.
    try:
        return sum(map(len, map(str.strip, texts)))
    except TypeError:
        return sum(map(_text, texts))


def truncate(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """Cut ``text`` to at most ``limit`` code points, ending in ``marker`` when cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    if len(marker) >= limit:
        return marker[:limit]
    # Trailing whitespace before the marker would be wasted budget.
    return text[: limit - len(marker)].rstrip() + marker


def truncate_tail(text: str, limit: int, marker: str = ELLIPSIS) -> str:
    """Keep the *end* of ``text`` within ``limit``, starting with ``marker`` when cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    if len(marker) >= limit:
        return marker[:limit]
    return marker + text[len(text) - (limit - len(marker)) :]


def truncate_lines_keep_tail(
    text: str, limit: int, note: str = "… {n} earlier lines cut\n", *, cut_before: int = 0
) -> str:
    """Keep the last whole lines of ``text`` that fit in ``limit`` and say how many were cut.

    A Python traceback lists the innermost frame and the exception last, which is
    what a reader needs; the outer frames are the ones to lose. When not even the
    last line fits, its end is kept after an ellipsis. Never exceeds ``limit``.
    ``cut_before`` counts lines the caller already removed from the front, so the
    note stays true (and is shown) even when the rest fits.
    """
    if len(text) <= limit and not cut_before:
        return text
    if limit <= 0:
        return ""
    lines = text.split("\n")
    total = len(lines) + cut_before
    # Without earlier cuts at least one line goes, or the text would have fitted.
    keepable = lines if cut_before else lines[1:]
    kept = 0
    used = 0  # length of the kept lines joined with "\n"
    best: str | None = None
    for line in reversed(keepable):
        used += len(line) + (1 if kept else 0)
        kept += 1
        header = note.format(n=total - kept)
        if len(header) + used > limit:
            break
        best = header + "\n".join(lines[len(lines) - kept :])
    if best is not None:
        return best
    # The last line alone is too long: keep its end (the exception message's tail).
    header = note.format(n=total - 1) if total > 1 else ""
    if len(header) + 2 > limit:
        header = ""
    return header + truncate_tail(lines[-1], limit - len(header))


def head_for(text: str, limit: int) -> str:
    """A prefix of raw ``text`` long enough to fill ``limit`` after cleaning and escaping.

    Cleaning, masking and escaping cost time in proportion to the text, and render
    runs on the SDK's export thread; a 10 MB exception message must not cost 10 MB
    of regex work when 4096 characters will be shown. The cut is moved back to a
    space when one is near, so a masked value (an e-mail) is not split in half.
    """
    cap = 2 * limit + 256
    if len(text) <= cap:
        return text
    space = text.rfind(" ", cap - 128, cap)
    return text[: space if space > 0 else cap]


def tail_lines_for(text: str, limit: int) -> tuple[str, int]:
    """The last whole lines of raw ``text`` that could fill ``limit``, and how many lines were dropped."""
    cap = 2 * limit + 256
    if len(text) <= cap:
        return text, 0
    start = text.find("\n", len(text) - cap)
    if start < 0:
        return text[len(text) - cap :], 0
    return text[start + 1 :], text.count("\n", 0, start + 1)
