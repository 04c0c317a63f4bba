"""Route: decide which channel(s) a notice goes to, and who it pings.

* ``match.py``: ``Matcher`` (category, minimum level, kind, event globs, attribute conditions).
* ``router.py``: ``Router`` (the file's ``routes:`` then the preset's; first match wins
  unless ``continue: true``; otherwise the default channel).
* ``mentions.py``: the ``mentions:`` section and route mentions (configured ids only).
* ``store.py``: where notices wait outside a channel's schedule or over its rate cap.

A stage is a small callable ``Notice -> list[Notice]``; see docs/readme/routing.md.
"""

from __future__ import annotations

from otel_discord.route.match import Condition, Matcher, parse_condition, parse_matcher
from otel_discord.route.mentions import Mention, MentionRules, parse_mention, parse_mentions
from otel_discord.route.router import Route, Router, parse_routes, select

__all__ = [
    "Condition",
    "Matcher",
    "Mention",
    "MentionRules",
    "Route",
    "Router",
    "parse_condition",
    "parse_matcher",
    "parse_mention",
    "parse_mentions",
    "parse_routes",
    "select",
]
