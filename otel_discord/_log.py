"""otel-discord's own logger, kept out of the OpenTelemetry logging bridge.

The bridge installs a handler on the root logger. If our warnings propagated
there, a Discord outage would be exported as a log record, which the Discord log
exporter would try to deliver, which would fail and log again: a feedback loop.
So the ``otel_discord`` logger does not propagate; it writes to stderr itself.
"""

from __future__ import annotations

import logging
import sys

ROOT_NAME = "otel_discord"


def _configure_root() -> logging.Logger:
    root = logging.getLogger(ROOT_NAME)
    if not getattr(root, "_otel_discord_configured", False):
        root.propagate = False
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("otel-discord %(levelname)s: %(message)s"))
        root.addHandler(handler)
        if root.level == logging.NOTSET:
            root.setLevel(logging.WARNING)
        root._otel_discord_configured = True  # type: ignore[attr-defined]
    return root


def get_logger(name: str) -> logging.Logger:
    """Return ``otel_discord.<name>`` (or the package logger itself)."""
    _configure_root()
    if name == ROOT_NAME or name.startswith(ROOT_NAME + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{ROOT_NAME}.{name}")
