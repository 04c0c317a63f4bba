"""otel-discord's own logger, kept out of the OpenTelemetry logging bridge.

The bridge installs a handler on the root logger. If our warnings propagated
there, a Discord outage would be exported as a log record, which the Discord log
exporter would try to deliver, which would fail and log again: a feedback loop.
So the ``otel_discord`` logger does not propagate; it writes to stderr itself.
"""

from __future__ import annotations

import logging
import sys
import traceback

from otel_discord.health.scrub import redact

ROOT_NAME = "otel_discord"


class RedactFilter(logging.Filter):
    """Masks webhook tokens in a record's message and traceback before it is formatted.

    Defence in depth: our code never passes a token to a logger, but an exception
    from a third-party library (requests puts the URL in its messages) might
    carry one into a traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format; let the handler report it as usual
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


REDACT_FILTER = RedactFilter()


def _configure_root() -> logging.Logger:
    root = logging.getLogger(ROOT_NAME)
    if not getattr(root, "_otel_discord_configured", False):
        root.propagate = False
        # On the logger (not only the handler) so records reaching handlers that users
        # or tests attach to "otel_discord" are masked too. A logger's filters do not run
        # for records coming up from its children, so get_logger puts it on each child too.
        root.addFilter(REDACT_FILTER)
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(REDACT_FILTER)
        handler.setFormatter(logging.Formatter("otel-discord %(levelname)s: %(message)s"))
        root.addHandler(handler)
        if root.level == logging.NOTSET:
            root.setLevel(logging.WARNING)
        root._otel_discord_configured = True  # type: ignore[attr-defined]
    return root


def get_logger(name: str) -> logging.Logger:
    """Return ``otel_discord.<name>`` (or the package logger itself)."""
    _configure_root()
    full = name if name == ROOT_NAME or name.startswith(ROOT_NAME + ".") else f"{ROOT_NAME}.{name}"
    logger = logging.getLogger(full)
    if REDACT_FILTER not in logger.filters:
        logger.addFilter(REDACT_FILTER)  # masked at the source, whichever handler receives it
    return logger
