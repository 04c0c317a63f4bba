"""Make untrusted text safe to show in a Discord embed.

Text in a ``Notice`` comes from exception messages, span names, SQL and user data.
Shown raw, it can break the layout (a ``````` closing our code block, ``# `` turning a
line into a header), fake a link (``[bank](https://evil)``) or look like a ping. The
real protection against pings is ``allowed_mentions: {"parse": []}`` (payload.py);
defanging here only keeps the text from *looking* like a mention.

Discord's markdown (simple-markdown) treats a backslash before any ASCII punctuation
as a literal, so escaping renders exactly the original characters.
"""

from __future__ import annotations

import re
from typing import Final

from otel_discord.render.limits import ELLIPSIS, truncate, truncate_lines_keep_tail

ZWSP: Final = "\u200b"

# C0/C1 controls except \t and \n, DEL, bidi overrides/isolates (they reorder what a
# reader sees, "Trojan Source"), lone surrogates (not encodable as UTF-8) and the
# noncharacters U+FFFE/U+FFFF. Discord strips invalid Unicode itself; we do it first
# so our length arithmetic matches what arrives.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")
_NEWLINES = re.compile("\r\n?|[\u2028\u2029\x85]")

# Characters that start or end markdown; each gets a backslash. The backslash goes
# first: escaping it after the others would double their escapes. One str.replace
# per character present is ~4x faster than a regex substitution with a template.
_MARKDOWN: Final = ("\\", "*", "_", "~", "`", "|", ">", "#", "-", "[", "]", "(", ")", "<")
# Ordered lists ("1. ") and "+ " bullets start a line; escaping the punctuation
# everywhere would be noise, so only the line-start form is escaped.
_LINE_START = re.compile(r"^([ \t]*)(\d+)\.(?=[ \t])|^([ \t]*)\+(?=[ \t])", re.MULTILINE)
# Bare links stay clickable: Discord's url rule claims them before emphasis, and a
# backslash inside would become part of the link. Same end rule as Discord's.
_BARE_URL = re.compile(r"https?://[^\s<]+[^<.,:;\"')\]\s]")

_MENTION = re.compile(r"@(everyone|here)|<(@[!&]?|#)(?=\d)")
_BACKTICKS = re.compile(r"`(?=`)")
_LANGUAGE = re.compile(r"^[A-Za-z0-9_+\-.#]{1,24}$")


def clean(text: str) -> str:
    """Normalise newlines to ``\\n`` and drop control characters and invalid code points."""
    if not text:
        return ""
    if text.isprintable():  # no Cc, Cf, Cs, Zl, Zp or unassigned code point: nothing below can match
        return text
    if "\r" in text or "\u2028" in text or "\u2029" in text or "\x85" in text:  # what _NEWLINES matches
        text = _NEWLINES.sub("\n", text)
    return _CONTROL.sub("", text)


def defang_mentions(text: str) -> str:
    """Insert a zero-width space so ``@everyone``, ``@here``, ``<@id>``, ``<@&id>``, ``<#id>`` stay inert."""
    if "@" not in text and "<#" not in text:
        return text
    return _MENTION.sub(_defang, text)


def _defang(match: re.Match[str]) -> str:
    if match.group(1) is not None:
        return "@" + ZWSP + match.group(1)
    return "<" + match.group(2)[0] + ZWSP + match.group(2)[1:]


def _escape_plain(text: str) -> str:
    for char in _MARKDOWN:
        if char in text:
            text = text.replace(char, "\\" + char)
    if "." in text or "+" in text:
        text = _LINE_START.sub(_escape_line_start, text)
    return text


def _escape_line_start(match: re.Match[str]) -> str:
    if match.group(2) is not None:
        return f"{match.group(1)}{match.group(2)}\\."
    return f"{match.group(3)}\\+"


def escape_markdown(text: str) -> str:
    """Escape Discord markdown and defang mentions, leaving bare http(s) links clickable."""
    if not text:
        return ""
    if "http" in text:
        parts: list[str] = []
        last = 0
        for match in _BARE_URL.finditer(text):
            parts.append(_escape_plain(text[last : match.start()]))
            # Backticks and pipes are not valid in a URL anyway; encoded (as browsers
            # do) they cannot start a code span or spoiler that runs past the link.
            parts.append(match.group(0).replace("`", "%60").replace("|", "%7C"))
            last = match.end()
        parts.append(_escape_plain(text[last:]))
        text = "".join(parts)
    else:
        text = _escape_plain(text)
    return defang_mentions(text)


def truncate_escaped(text: str, limit: int) -> str:
    """``truncate`` for escaped text: never leaves a dangling backslash before the ellipsis."""
    out = truncate(text, limit)
    if out is text or not out.endswith(ELLIPSIS):
        return out
    body = out[: -len(ELLIPSIS)]
    if (len(body) - len(body.rstrip("\\"))) % 2:
        body = body[:-1]  # half an escape pair: drop the backslash
    return body + ELLIPSIS


def neutralize_backticks(text: str) -> str:
    """Put a zero-width space between adjacent backticks so no ``````` can form."""
    return _BACKTICKS.sub("`" + ZWSP, text) if "``" in text else text


def code_block(text: str, language: str, limit: int, *, cut_before: int = 0) -> str:
    """Wrap ``text`` in a fenced code block of at most ``limit`` characters.

    Backticks inside cannot close the block. When cut, the block keeps its last
    lines (the innermost frames of a traceback) and says how many were cut,
    counting ``cut_before`` lines the caller removed already.
    Returns ``""`` when there is nothing to show or no room for a useful block.
    """
    body = neutralize_backticks(text.strip("\n").rstrip())
    if not body.strip():
        return ""
    lang = language if _LANGUAGE.match(language or "") else ""
    opening = f"```{lang}\n"
    closing = "\n```"
    room = limit - len(opening) - len(closing)
    if room < 16:  # a fence around a few characters helps nobody
        return ""
    return opening + truncate_lines_keep_tail(body, room, cut_before=cut_before) + closing
