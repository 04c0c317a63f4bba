"""``ConfigError``: a setting is missing or invalid, and the message names it.

It scrubs its own message: whatever text a parser, PyYAML or a user's mistake put
into it, a webhook token never leaves the process through an error (the rule lives
in ``webhook_url.redact``, the one scrubbing rule for text that leaves the process).
"""

from __future__ import annotations

from typing import Any

from otel_discord.config.webhook_url import redact


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it and never holds a token."""

    def __init__(self, message: Any = "") -> None:
        super().__init__(redact(str(message)))
