"""The one scrubbing rule for text that leaves the process: no webhook token, whatever its shape.

The webhook URL *is* the credential (anyone holding it can post and edit), so every
text otel-discord lets out (log records whichever handler receives them, error
messages, ``doctor``, the fallback file) passes ``redact`` first. It lives here, at
the bottom of the package, so the logger, the settings and every stage can use it
without importing each other.
"""

from __future__ import annotations

import re

# A numeric id is followed by the token, whatever its length. A mistyped id
# (``/webhooks/not-a-number/<token>``) must not leak the token either, but there
# only token-like tails (≥ 20 characters) are hidden, so an app's own route such
# as ``/webhooks/github/push`` stays readable in its alerts.
_TOKEN_IN_TEXT = re.compile(r"(/webhooks?/(?:\d+/(?=[A-Za-z0-9._-])|[^/\s?#'\"]+/(?=[A-Za-z0-9._-]{20})))[A-Za-z0-9._-]+")


def redact(text: str) -> str:
    """Hide any webhook token inside free text (exception messages, URLs in logs)."""
    return _TOKEN_IN_TEXT.sub(r"\1****", text)
