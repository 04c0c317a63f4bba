"""Business events: ordinary ``logging`` records with ``event.name`` and attributes in ``extra``.

The app knows nothing about OpenTelemetry exporters. Under ``opentelemetry-instrument``
the logging instrumentation's handler on the root logger turns each record into an
OTel log record: ``extra`` keys become attributes (``event.name`` is promoted to the
record's event name) and the active request span supplies trace and span ids.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final

from flask import g, has_app_context

from .money import CURRENCY, from_cents

#: The logger of every business event. It sets its own level to INFO because the root
#: logger's default (WARNING) would drop them; records still propagate to the root,
#: where the OTel logging handler sits.
EVENT_LOGGER: Final = "ozark"

Primitive = str | int | float | bool

_log = logging.getLogger(EVENT_LOGGER)


def emit(
    name: str,
    message: str,
    attributes: Mapping[str, Primitive | None] | None = None,
    *,
    level: int = logging.INFO,
    exc_info: bool = False,
) -> None:
    """Log the business event ``name``; ``None`` attributes are left out.

    The logged-in user, if any, is added as ``user.name`` unless given: every event
    should say who caused it.
    """
    extra: dict[str, Primitive] = {"event.name": name}
    for key, value in (attributes or {}).items():
        if value is None:
            continue
        if not isinstance(value, (str, int, float, bool)):
            raise TypeError(f"event attribute {key!r} must be str/int/float/bool, not {type(value).__name__}")
        extra[key] = value
    if "user.name" not in extra and has_app_context():
        user = g.get("user")
        if user is not None:
            extra["user.name"] = user.username
    _log.log(level, message, extra=extra, exc_info=exc_info)


def money(prefix: str, cents: int) -> dict[str, Primitive]:
    """``{prefix}.amount`` as a float in euros plus ``{prefix}.currency``."""
    return {f"{prefix}.amount": float(from_cents(cents)), f"{prefix}.currency": CURRENCY}
