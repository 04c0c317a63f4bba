"""The one scrubbing rule for text that leaves the process: no token, whatever its shape.

The webhook URL *is* the credential (anyone holding it can post and edit), so every
text otel-discord lets out (log records whichever handler receives them, error
messages, ``doctor``, the fallback file) passes ``redact`` first. It lives here, at
the bottom of the package, so the logger, the settings and every stage can use it
without importing each other.

What is hidden (each replaced by ``****``, so ``redact`` is idempotent):

* the token after ``/webhooks/<id>/`` in any case (``/API/Webhooks/``), with spaces
  or doubled slashes around the id, and with characters Discord never issues
  (``+``, ``~``, ``%``) — a mistyped URL is the likeliest thing to be echoed;
* after a mistyped id (``/webhooks/not-a-number/<token>``) only a token-like tail
  (≥ 20 characters), so an app's own route such as ``/webhooks/github/push`` stays
  readable in its alerts;
* a token-like run after the word "webhook" (``discord webhook <token>``,
  ``WEBHOOK_URL=<token>``) or after a webhook-sized numeric id (``<id>/<token>``);
* bot tokens (``Bot xxx.yyy.zzz``, or the three dotted parts alone) and the value
  of ``Authorization:`` headers and ``Bearer`` credentials.

"Token-like" means long and mixed (letters and digits), so ordinary words, dotted
module paths (lower case) and trace ids in hex are left alone.
"""

from __future__ import annotations

import re

MASK = "****"

_TOKEN_CHARS = r"A-Za-z0-9._~+%=-"
# At least 20 token characters with a letter and a digit among them.
_TOKEN_LIKE = rf"(?=[{_TOKEN_CHARS}]*\d)(?=[{_TOKEN_CHARS}]*[A-Za-z])[{_TOKEN_CHARS}]{{20,}}"
_STOP = r"[^\s/?#'\"&<>]"  # anything but what ends a URL path segment

_WEBHOOK_PATH = re.compile(
    rf"(/webhooks?/+\s*(?:\d+\s*/+\s*(?={_STOP})|{_STOP}+/+(?=[{_TOKEN_CHARS}]{{20}})))(?:(?!\*\*\*\*){_STOP})+",
    re.IGNORECASE,
)
_AFTER_WORD = re.compile(
    rf"((?<![A-Za-z])webhooks?(?:[ _-]?(?:url|token))?[\"']?\s*[:=]?\s*[\"']?)({_TOKEN_LIKE})", re.IGNORECASE
)
_AFTER_ID = re.compile(rf"((?<![\w.])\d{{15,20}}(?:\s*/+\s*|\s+))({_TOKEN_LIKE})")
# Discord bot tokens (and JWTs): three base64url parts; a capital and a digit
# somewhere keep lower-case dotted module paths readable.
_DOTTED = re.compile(
    r"(?<![\w.-])(?=[\w.-]*[A-Z])(?=[\w.-]*\d)[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{16,}(?![\w-])"
)
_BOT = re.compile(r"(\bBot\s+)[A-Za-z0-9._-]{30,}")
_AUTHORIZATION = re.compile(
    r"(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|bot|basic|token)\s+)?+)(?!\*\*\*\*)[^\s\"',;]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(\bbearer\s+)(?:(?=\S*\d)[A-Za-z0-9._~+/=-]{8,}|[A-Za-z0-9._~+/=-]{20,})", re.IGNORECASE)


def redact(text: str) -> str:
    """Hide any webhook or bot token inside free text (exception messages, URLs in logs)."""
    lowered = text.lower()
    if "webhook" in lowered:
        text = _WEBHOOK_PATH.sub(rf"\1{MASK}", text)
        text = _AFTER_WORD.sub(rf"\1{MASK}", text)
    if "authorization" in lowered:
        text = _AUTHORIZATION.sub(rf"\1{MASK}", text)
    if "bearer" in lowered:
        text = _BEARER.sub(rf"\1{MASK}", text)
    if "Bot " in text:
        text = _BOT.sub(rf"\1{MASK}", text)
    if "." in text:
        text = _DOTTED.sub(MASK, text)
    return _AFTER_ID.sub(rf"\1{MASK}", text)


def valid_utf8(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD.

    Python strings may hold them (``os.fsdecode`` of an odd file name, a CSV decoded
    with ``surrogateescape``); UTF-8 cannot, so SQLite and files refuse such text.
    One notice holding one must not block the spool (or the hold store) for every other notice.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
