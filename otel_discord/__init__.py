"""otel-discord: OpenTelemetry exporters that post what matters to Discord."""

from otel_discord.version import __version__

__all__ = ["__version__", "DiscordSpanExporter"]


def __getattr__(name: str):
    # Lazy, so ``import otel_discord`` stays cheap and the SDK loads only when used.
    if name == "DiscordSpanExporter":
        from otel_discord.exporters import DiscordSpanExporter

        return DiscordSpanExporter
    raise AttributeError(name)
