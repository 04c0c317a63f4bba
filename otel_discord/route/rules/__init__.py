"""Notification rules: who is told about an incident, when, and when to stop.

Pure decision objects; each takes the clock as an argument and is tested as a table:

* ``people.py``: ``people:`` and ``roles:`` by name; targets (``anna``, ``role:devs``,
  ``oncall:primary``, ``oncall:primary.next``).
* ``calendars.py``: holiday calendars (dates, ``MM-DD``, a country via ``holidays``).
* ``rotations.py``: on-call rotations with DST-correct wall-clock handovers,
  active windows, holiday cover and overrides.
* ``escalation.py``: policies of ``{notify, wait}`` steps plus ``repeat``; which page
  is due, with one catch-up page after downtime.
* ``incident.py``: incident state (open → acknowledged → resolved, silenced) with an
  event log, and the timer's ``tick``.
* ``silences.py``: silences and maintenance windows that hold and count, never drop.
* ``matching.py``: which notices become incidents (``incidents:``).
* ``acknowledge.py``: reaction emoji and who may acknowledge.
* ``load.py``: ``parse_rules`` / ``load_rules`` read every section once.

This package may import ``notice``, ``config``, ``detect/`` and the rest of ``route/``;
never ``render/`` or ``deliver/``. See docs/notification-rules.md.
"""

from __future__ import annotations

from otel_discord.route.rules.load import NotificationRules, load_rules, parse_rules

__all__ = ["NotificationRules", "load_rules", "parse_rules"]
