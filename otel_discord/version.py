"""The package version, kept apart so the User-Agent can read it without importing the SDK."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/otel-discord/otel-discord"
