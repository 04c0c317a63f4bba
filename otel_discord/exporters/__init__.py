"""The OpenTelemetry exporters, one module per signal, named by the entry points."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from otel_discord.exporters.requested import warn_if_missing

_MODULES = {
    "DiscordSpanExporter": "otel_discord.exporters.spans",
    "DiscordLogExporter": "otel_discord.exporters.logs",
    "DiscordMetricExporter": "otel_discord.exporters.metrics",
}

__all__ = list(_MODULES)

# The SDK imports us while it configures exporters: the moment to explain one it will not find.
warn_if_missing()


def __getattr__(name: str) -> Any:
    # Lazy: a user who only exports traces never imports the logs or metrics SDK modules.
    if name in _MODULES:
        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(name)
