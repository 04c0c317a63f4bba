"""The OpenTelemetry exporters, one module per signal, named by the entry points."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_MODULES = {
    "DiscordSpanExporter": "otel_discord.exporters.spans",
    "DiscordLogExporter": "otel_discord.exporters.logs",
    "DiscordMetricExporter": "otel_discord.exporters.metrics",
}

__all__ = list(_MODULES)


def __getattr__(name: str) -> Any:
    # Lazy: a user who only exports traces never imports the logs or metrics SDK modules.
    if name in _MODULES:
        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(name)
