"""Route: decide which channel(s) a notice goes to.

A stage is a small callable ``Notice -> list[Notice]`` (an empty list drops the
notice). With no routing configuration every notice goes to the default
channel; the config file's ``routes`` add channels per category, level and
event (see the README's routing section).
"""

from __future__ import annotations

from otel_discord.config import Settings
from otel_discord.notice import Notice


class Router:
    """Assign ``notice.channel``; a notice may go to several channels."""

    def __init__(self, settings: Settings) -> None:
        default = settings.default_channel
        self._default = default.name if default is not None else None

    def __call__(self, notice: Notice) -> list[Notice]:
        if self._default is None:
            return []
        return [notice.replace(channel=self._default)]
