"""otel-discord: OpenTelemetry exporters that post what matters to Discord."""

from __future__ import annotations

from typing import Any

from otel_discord.version import __version__

__all__ = ["__version__", "DiscordSpanExporter", "DiscordLogExporter", "DiscordMetricExporter"]


def __getattr__(name: str) -> Any:
    # Lazy, so ``import otel_discord`` stays cheap and the SDK loads only when used.
    if name in __all__[1:]:
        from otel_discord import exporters

        return getattr(exporters, name)
    raise AttributeError(name)
